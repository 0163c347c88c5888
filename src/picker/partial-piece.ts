/**
 * The block state of one started piece: which blocks are free, requested (and by whom, since
 * when) or received (and from whom). piece-picker.ts owns every instance and every change to
 * one; started-pieces.ts reads them to order a pick.
 *
 * Invariants (kept by piece-picker.ts, checked by its assertInvariants): `free`, `requested` and
 * `received` count the blocks in each state; a requested block has at least one requester, each
 * at most once; a received block has its sender and no requester.
 */

export const FREE = 0;
export const REQUESTED = 1;
export const RECEIVED = 2;

export class PartialPiece {
  readonly state: Uint8Array;
  /** For requested blocks: the peers that have it outstanding (usually one; more in endgame). */
  readonly requesters: (number[] | undefined)[];
  /** For received blocks: the peer that sent it. */
  readonly senders: (number | undefined)[];
  /** For requested blocks: when it was first requested, as the picker's request count then. */
  readonly requestedSeq: Float64Array;
  free: number;
  requested = 0;
  received = 0;

  constructor(readonly blockCount: number) {
    this.state = new Uint8Array(blockCount);
    this.requesters = new Array<number[] | undefined>(blockCount);
    this.senders = new Array<number | undefined>(blockCount);
    this.requestedSeq = new Float64Array(blockCount);
    this.free = blockCount;
  }

  get complete(): boolean {
    return this.received === this.blockCount;
  }
}
