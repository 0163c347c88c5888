/**
 * The order among pieces already started, for one pick: which started pieces a peer should take
 * free blocks from, and, in the endgame, which blocks requested from others it should ask for
 * too. Block bookkeeping stays in piece-picker.ts, which hands this module read-only views of its
 * started pieces (`StartedPieces`); the order among untouched pieces is new-pieces.ts's.
 *
 * ## Order
 * - Candidates with free blocks, best first: higher priority, then the peer's own pieces (it has
 *   requests in them: whole pieces per peer), then abandoned ones (nobody is requesting from
 *   them), then shared ones (other peers are), then fewest free blocks (unless sequential), then
 *   lowest index. piece-picker.ts takes own and abandoned ones before new pieces, shared ones
 *   after.
 * - Endgame blocks: only those whose every holder this peer outruns (the caller's test), higher
 *   priority first, then fewer holders, then the most recently requested (the back of another
 *   peer's queue, where a cancel still saves the bytes).
 *
 * ## Cost
 * Each pick visits every started piece having a free block (a few hundred with 200 peers) and,
 * in the endgame, the outstanding blocks of the holders this peer outruns; both keep only the
 * best `max` in a TopK instead of sorting. The peer's own pieces are marked with a per-pick stamp
 * (one Uint32Array per torrent), so a pick builds no set.
 */
import type { Bitfield } from '../util/bitfield.js';
import type { PartialPiece } from './partial-piece.js';
import { MAX_PRIORITY } from './rarity-queue.js';
import { TopK } from './top-k.js';

/** Category of a started piece for one pick (lower goes first within a priority level). */
export const OWN = 0;
export const ABANDONED = 1;
export const SHARED = 3;

export interface Candidate {
  piece: number;
  level: number;
  kind: number;
}

/** The picker's started pieces, as this module reads them (never changes them). */
export interface StartedPieces {
  readonly partials: ReadonlyMap<number, PartialPiece>;
  /** Started pieces having at least one free block. */
  readonly withFree: ReadonlySet<number>;
  /** Each peer's outstanding requests, as block keys (piece * blocksPerPiece + block). */
  readonly outstanding: ReadonlyMap<number, ReadonlySet<number>>;
  readonly priority: Uint8Array;
  readonly blocksPerPiece: number;
}

export class StartedPieceOrder {
  /** Per piece, the stamp of the last pick that found the picking peer with requests in it. */
  private readonly ownStamp: Uint32Array;
  private stamp = 0;

  constructor(
    private readonly s: StartedPieces,
    pieceCount: number,
  ) {
    this.ownStamp = new Uint32Array(pieceCount);
  }

  /**
   * The started pieces with free blocks this peer has, best first. Each gives at least one block,
   * so only the best `max` can be reached: those are kept, not every piece in progress sorted.
   */
  candidates(peer: number, peerHas: Bitfield, max: number, sequential: boolean): Candidate[] {
    const { partials, withFree, priority } = this.s;
    if (withFree.size === 0) return [];
    const stamp = this.nextStamp();
    const set = this.s.outstanding.get(peer);
    if (set) for (const k of set) this.ownStamp[Math.floor(k / this.s.blocksPerPiece)] = stamp;
    const best = new TopK(max);
    for (const piece of withFree) {
      const level = priority[piece]!;
      if (level === 0 || !peerHas.has(piece)) continue;
      const pp = partials.get(piece)!;
      best.offer(candidateRank(level, this.kind(piece, pp, stamp), sequential ? 0 : pp.free, piece), piece);
    }
    return best.drain().map((piece) => ({ piece, level: priority[piece]!, kind: this.kind(piece, partials.get(piece)!, stamp) }));
  }

  /**
   * Block keys for an endgame pick, best first, at most `max`: blocks outstanding at other peers
   * that this one has and is not requesting, whose every holder it outruns (`outruns` absent:
   * all). Walks the outstanding blocks of the holders it outruns only: among many peers of one
   * speed that is few or none, where a scan of every block in flight was the cost.
   */
  endgame(peer: number, peerHas: Bitfield, max: number, outruns?: (holder: number) => boolean): number[] {
    if (max < 1) return [];
    const { partials, priority, blocksPerPiece } = this.s;
    const beats = new Map<number, boolean>();
    const beaten = (h: number): boolean => {
      if (!outruns) return true;
      let v = beats.get(h);
      if (v === undefined) beats.set(h, (v = outruns(h)));
      return v;
    };
    const best = new TopK(max);
    const seen = new Set<number>();
    for (const [holder, set] of this.s.outstanding) {
      if (holder === peer || set.size === 0 || !beaten(holder)) continue;
      for (const k of set) {
        if (seen.has(k)) continue;
        seen.add(k);
        const piece = Math.floor(k / blocksPerPiece);
        const level = priority[piece]!;
        if (level === 0 || !peerHas.has(piece)) continue;
        const pp = partials.get(piece)!;
        const block = k - piece * blocksPerPiece;
        const reqs = pp.requesters[block]!;
        if (reqs.includes(peer) || !reqs.every(beaten)) continue;
        best.offer(endgameRank(level, reqs.length, pp.requestedSeq[block]!), k);
      }
    }
    return best.drain();
  }

  private kind(piece: number, pp: PartialPiece, stamp: number): number {
    return this.ownStamp[piece] === stamp ? OWN : pp.requested === 0 ? ABANDONED : SHARED;
  }

  /** A number no piece of `ownStamp` holds yet (the marks of earlier picks are all smaller). */
  private nextStamp(): number {
    if (this.stamp === 0xffffffff) {
      this.ownStamp.fill(0);
      this.stamp = 0;
    }
    return ++this.stamp;
  }
}

/**
 * A candidate's rank, lower first: higher priority, then kind, then fewer free blocks, then
 * lower index. Exact in a double: 5 + 16 + 32 bits (free blocks beyond 2^16 - 1, pieces over
 * 1 GiB, rank as that many).
 */
function candidateRank(level: number, kind: number, free: number, piece: number): number {
  return (((MAX_PRIORITY - level) * 4 + kind) * 2 ** 16 + Math.min(free, 2 ** 16 - 1)) * 2 ** 32 + piece;
}

/**
 * An endgame candidate's rank, lower first: higher priority, then fewer holders, then the latest
 * requested (it waits at the back of its peer's queue, so when our copy wins the cancel reaches
 * that peer before it sends the block; an early one is already on the wire, and both copies would
 * arrive). A block's request number is unique, so no two candidates tie. Exact in a double:
 * 3 + 8 + 41 bits.
 */
function endgameRank(level: number, holders: number, seq: number): number {
  return ((MAX_PRIORITY - level) * 256 + Math.min(holders, 255)) * 2 ** 41 + (2 ** 41 - seq);
}
