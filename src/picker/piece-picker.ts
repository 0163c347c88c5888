/**
 * The piece picker: which blocks to ask a peer for next. A data structure with verbs, no
 * sockets, timers or events; peers are opaque numbers and randomness is injected. How many
 * blocks to request and from whom is the caller's policy. As in
 * arvidn/libtorrent/include/libtorrent/aux_/piece_picker.hpp.
 *
 * Words (BEP 3): a *piece* is the hashed unit; a *block* is a 16 KiB request inside a piece
 * (the last block of the last piece may be shorter). `BlockRef.block` is the block's index
 * within its piece.
 *
 * ## States (each piece is in exactly one)
 *
 * | state           | held as                                    | char |
 * | --------------- | ------------------------------------------ | ---- |
 * | not-wanted      | priority 0, no block state, not queued     | `-`  |
 * | wanted          | priority >= 1, queued in the RarityQueue   | `.`  |
 * | in-progress     | a PartialPiece with some block not received| `r`/`R` |
 * | awaiting-verify | a PartialPiece with every block received   | `u`  |
 * | verified        | bit set in `verifiedBits`                  | `V`  |
 *
 * Priority is an attribute, not a state: an in-progress piece whose priority drops to 0 stays
 * in progress (its received blocks are kept, its outstanding requests may still land) but no
 * new block of it is picked until its priority rises again.
 *
 * Transitions, and the only methods that make them (anything else throws):
 * - wanted <-> not-wanted: `setPriority` / `setWanted`.
 * - wanted | not-wanted -> in-progress: first `markRequested` of one of its blocks.
 * - in-progress -> wanted | not-wanted: `abortRequest` / `abortPeer` leaving no request and no
 *   received block (block state is dropped, so memory follows pieces in flight only).
 * - in-progress -> awaiting-verify: `markReceived` of its last missing block.
 * - awaiting-verify -> verified: `pieceVerified`; -> wanted | not-wanted: `pieceFailed`.
 * - wanted | not-wanted -> verified: `setHave` (resume data).
 *
 * Each block of an in-progress piece is *free* (no requester, not received), *requested*
 * (by a non-empty set of peers, each at most once) or *received* (from exactly one peer, no
 * requesters left). Only pieces in progress carry block state.
 *
 * ## Order of a pick, per priority level from highest to lowest
 * 1. free blocks of pieces this peer already has requests in (whole pieces per peer);
 * 2. free blocks of in-progress pieces nobody is requesting from (finish what is started);
 * 3. new pieces, whole, in the order new-pieces.ts chooses: lowest index in sequential mode; a
 *    random one while fewer than `randomFirstPieces` pieces are verified (get something to trade
 *    quickly); otherwise rarest first with random ties;
 * 4. free blocks of pieces other peers are downloading.
 * Only when none of these yields a block (no free block in any wanted piece the peer has) is
 * the peer in endgame (and only once every available wanted piece is started): it gets blocks
 * requested from others but not yet received, those with the fewest requesters first, then the
 * most recently requested (the back of another peer's queue, where a cancel still saves the
 * bytes).
 *
 * ## Cost
 * New pieces come from the RarityQueue (see rarity-queue.ts) through the NewPieceSelector (see
 * new-pieces.ts): a few steps for a peer holding a fair share of what we need, at most a budget
 * of queue entries plus O(pieceCount / 8) byte reads of the peer's bitfield otherwise. The order
 * among started pieces comes from the StartedPieceOrder (see started-pieces.ts), which visits
 * `withFree` (started pieces having a free block: a few hundred with 200 peers) and, in the
 * endgame, the outstanding blocks of the holders the peer outruns. Memory: a few bytes per piece
 * plus per-block state (partial-piece.ts) for pieces in flight.
 *
 * Contract: a peer passed to `pick` is counted in availability (`addBitfield`/`addHave`, or
 * `addSeed` with a complete bitfield). A piece no counted peer has is taken to be unavailable to
 * any peer without the complete set, which lets picks skip pieces nobody has.
 */
import { Bitfield } from '../util/bitfield.js';
import { forEachSetBit, NewPieceSelector, type PieceSink } from './new-pieces.js';
import { FREE, PartialPiece, RECEIVED, REQUESTED } from './partial-piece.js';
import { MAX_PRIORITY, RarityQueue } from './rarity-queue.js';
import { SHARED, StartedPieceOrder } from './started-pieces.js';

export { MAX_PRIORITY } from './rarity-queue.js';

export type BlockRef = { piece: number; block: number };

export interface PickerOptions {
  pieceCount: number;
  pieceLength: number;
  /** The last piece may be shorter; so may the last block of the last piece. */
  totalLength: number;
  /** Default 16384 (BEP 3 practice; the largest request most clients serve). */
  blockSize?: number;
  /** Injected randomness in [0, 1). */
  random: () => number;
  /** Default 4: until this many pieces are verified, pick random available pieces, not rarest. */
  randomFirstPieces?: number;
}

export interface PickResult {
  blocks: BlockRef[];
  /** True when `blocks` are endgame picks: already requested from other peers (duplicates). */
  endgame: boolean;
}

export interface ReceiveResult {
  /** Already received, not requested from this peer, or piece not in progress: nothing changed. */
  duplicate: boolean;
  /** Peers that also had the block outstanding (their requests are dropped): send them cancel. */
  otherPeers: number[];
  /** Every block of the piece is now received: hash it. */
  pieceComplete: boolean;
}

export const DEFAULT_BLOCK_SIZE = 16384;
export const DEFAULT_RANDOM_FIRST_PIECES = 4;

/**
 * Turns the new pieces the selector chooses into whole-piece blocks of the current pick. One per
 * picker, aimed at each pick's array, so a pick creates no callback for the selector.
 */
class WholePieceSink implements PieceSink {
  blocks: BlockRef[] = [];
  max = 0;

  constructor(
    private readonly picker: PiecePicker,
    private readonly blocksPerPiece: number,
  ) {}

  take(piece: number): boolean {
    const blocks = this.blocks;
    const n = this.picker.blocksInPiece(piece);
    for (let b = 0; b < n && blocks.length < this.max; b++) blocks.push({ piece, block: b });
    return blocks.length < this.max;
  }

  /** Upper bound on new pieces that can fill the blocks left (only the last piece is short). */
  room(): number {
    return Math.ceil((this.max - this.blocks.length) / this.blocksPerPiece) + 1;
  }
}

export class PiecePicker {
  readonly pieceCount: number;
  readonly pieceLength: number;
  readonly totalLength: number;
  readonly blockSize: number;
  private readonly lastPieceLength: number;
  /** Blocks in a full piece; block keys are piece * blocksPerPiece + block. */
  private readonly blocksPerPiece: number;

  /** Non-seed peers having each piece; availability adds `seeds`. */
  private readonly peerCount: Int32Array;
  private seeds = 0;
  /** Blocks first requested so far: orders endgame duplicates, latest first. */
  private requestSeq = 0;
  private readonly priority: Uint8Array;
  private readonly verifiedBits: Bitfield;
  private verifiedTotal = 0;
  private wantedLeftCount: number;
  private wantedLeftBytes: number;

  private readonly queue: RarityQueue;
  /** The order untouched pieces are tried in; owns the sequential mode and cursor. */
  private readonly newPieces: NewPieceSelector;
  private readonly sink: WholePieceSink;
  private readonly partials = new Map<number, PartialPiece>();
  /** In-progress pieces having at least one free block. */
  private readonly withFree = new Set<number>();
  /** Each peer's outstanding requests, as block keys. */
  private readonly outstanding = new Map<number, Set<number>>();
  /** Contributors of a piece's last failed attempt, until it is requested again or verified. */
  private readonly failedContributors = new Map<number, number[]>();
  /** The order among started pieces (started-pieces.ts), reading the state above. */
  private readonly started: StartedPieceOrder;

  constructor(opts: PickerOptions) {
    const { pieceCount, pieceLength, totalLength } = opts;
    const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
    const randomFirstPieces = opts.randomFirstPieces ?? DEFAULT_RANDOM_FIRST_PIECES;
    if (!Number.isInteger(pieceCount) || pieceCount < 1) throw new RangeError(`pieceCount ${pieceCount}: need an integer >= 1`);
    if (!Number.isInteger(pieceLength) || pieceLength < 1) throw new RangeError(`pieceLength ${pieceLength}: need an integer >= 1`);
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError(`blockSize ${blockSize}: need an integer >= 1`);
    if (!Number.isInteger(randomFirstPieces) || randomFirstPieces < 0) {
      throw new RangeError(`randomFirstPieces ${randomFirstPieces}: need an integer >= 0`);
    }
    if (!Number.isSafeInteger(totalLength) || totalLength <= (pieceCount - 1) * pieceLength || totalLength > pieceCount * pieceLength) {
      throw new RangeError(`totalLength ${totalLength} does not fit ${pieceCount} pieces of ${pieceLength}`);
    }
    this.pieceCount = pieceCount;
    this.pieceLength = pieceLength;
    this.totalLength = totalLength;
    this.blockSize = blockSize;
    this.lastPieceLength = totalLength - (pieceCount - 1) * pieceLength;
    this.blocksPerPiece = Math.ceil(pieceLength / blockSize);

    this.peerCount = new Int32Array(pieceCount);
    this.priority = new Uint8Array(pieceCount).fill(1);
    this.verifiedBits = new Bitfield(pieceCount);
    this.wantedLeftCount = pieceCount;
    this.wantedLeftBytes = totalLength;
    this.queue = new RarityQueue(pieceCount, opts.random);
    for (let p = 0; p < pieceCount; p++) this.queue.insert(p, 1, 0);
    this.newPieces = new NewPieceSelector(this.queue, this.priority, this.peerCount, opts.random, randomFirstPieces);
    this.sink = new WholePieceSink(this, this.blocksPerPiece);
    const { partials, withFree, outstanding, priority, blocksPerPiece } = this;
    this.started = new StartedPieceOrder({ partials, withFree, outstanding, priority, blocksPerPiece }, pieceCount);
  }

  // ---- geometry ----

  pieceSize(piece: number): number {
    this.checkPiece(piece);
    return piece === this.pieceCount - 1 ? this.lastPieceLength : this.pieceLength;
  }

  blocksInPiece(piece: number): number {
    return Math.ceil(this.pieceSize(piece) / this.blockSize);
  }

  blockLength(piece: number, block: number): number {
    const size = this.pieceSize(piece);
    if (!this.validBlock(piece, block)) throw new RangeError(`block ${block} outside piece ${piece}`);
    return Math.min(this.blockSize, size - block * this.blockSize);
  }

  // ---- availability ----

  addBitfield(bits: Bitfield): void {
    this.checkBitfield(bits);
    forEachSetBit(bits, 0, (p) => {
      this.addHave(p);
      return true;
    });
  }

  addHave(piece: number): void {
    this.checkPiece(piece);
    const count = this.peerCount[piece]!;
    if (this.queue.queued(piece)) this.queue.increment(piece, this.priority[piece]!, count);
    this.peerCount[piece] = count + 1;
  }

  /** A peer left. Throws, changing nothing, if some piece's count would go negative. */
  removeBitfield(bits: Bitfield): void {
    this.checkBitfield(bits);
    forEachSetBit(bits, 0, (p) => {
      if (this.peerCount[p]! <= 0) throw new RangeError(`piece ${p}: removing a peer nobody counted`);
      return true;
    });
    forEachSetBit(bits, 0, (p) => {
      const count = this.peerCount[p]!;
      if (this.queue.queued(p)) this.queue.decrement(p, this.priority[p]!, count);
      this.peerCount[p] = count - 1;
      return true;
    });
  }

  /** A peer having every piece; counted apart so it costs O(1) (it does not change the order). */
  addSeed(): void {
    this.seeds++;
  }

  removeSeed(): void {
    if (this.seeds === 0) throw new RangeError('removeSeed without a seed');
    this.seeds--;
  }

  availability(piece: number): number {
    this.checkPiece(piece);
    return this.peerCount[piece]! + this.seeds;
  }

  // ---- wanted set ----

  setWanted(piece: number, wanted: boolean): void {
    this.checkPiece(piece);
    if (!wanted) this.setPriority(piece, 0);
    else if (this.priority[piece] === 0) this.setPriority(piece, 1);
  }

  /** 0 = not wanted, 1 = normal (default), up to MAX_PRIORITY; higher is picked first. */
  setPriority(piece: number, priority: number): void {
    this.checkPiece(piece);
    if (!Number.isInteger(priority) || priority < 0 || priority > MAX_PRIORITY) {
      throw new RangeError(`priority ${priority}: need an integer 0..${MAX_PRIORITY}`);
    }
    const old = this.priority[piece]!;
    if (old === priority) return;
    if (!this.verifiedBits.has(piece)) {
      if (old === 0) this.countWanted(piece, +1);
      else if (priority === 0) this.countWanted(piece, -1);
    }
    if (this.queue.queued(piece)) this.queue.remove(piece, old, this.peerCount[piece]!);
    this.priority[piece] = priority;
    this.enqueueIfWanted(piece);
  }

  /** Priority >= 1 (whether or not it is verified yet). */
  isWanted(piece: number): boolean {
    this.checkPiece(piece);
    return this.priority[piece]! > 0;
  }

  setSequential(on: boolean): void {
    this.newPieces.sequential = on;
  }

  // ---- requesting ----

  /**
   * `opts.newPieces: false` limits the pick to pieces already in progress (the caller is at its
   * memory cap for pieces being assembled and must finish some before starting others).
   * `opts.endgameMax` bounds the duplicates an endgame pick may return (default `max`): a
   * duplicate costs the bytes of one of the two copies, so a fast peer with a deep queue should
   * not take a copy of every block in flight. `opts.outruns(holder)` says whether this peer is
   * expected to bring a block in well before `holder` would: an endgame duplicate is only taken
   * from holders it outruns (among equally slow peers a duplicate only doubles the bytes).
   */
  pick(peer: number, peerHas: Bitfield, max: number, opts: { newPieces?: boolean; endgameMax?: number; outruns?: (holder: number) => boolean } = {}): PickResult {
    this.checkBitfield(peerHas);
    const allowNew = opts.newPieces !== false;
    const blocks: BlockRef[] = [];
    if (!(max >= 1)) return { blocks, endgame: false };
    const seed = peerHas.complete;
    const sink = this.sink;
    sink.blocks = blocks;
    sink.max = max;

    const candidates = this.started.candidates(peer, peerHas, max, this.newPieces.sequential);
    let c = 0;
    for (let level = MAX_PRIORITY; level >= 1 && blocks.length < max; level--) {
      while (blocks.length < max && c < candidates.length && candidates[c]!.level === level && candidates[c]!.kind < SHARED) {
        this.takeFree(candidates[c++]!.piece, blocks, max);
      }
      if (allowNew && blocks.length < max) this.newPieces.pick(level, peerHas, seed, this.verifiedTotal, sink);
      while (blocks.length < max && c < candidates.length && candidates[c]!.level === level) {
        this.takeFree(candidates[c++]!.piece, blocks, max);
      }
    }
    if (blocks.length > 0) return { blocks, endgame: false };
    // Endgame only once every available wanted piece is started: while some are not (this peer
    // lacks them, or the caller holds new pieces back), a duplicate would be bytes thrown away.
    if (this.unstartedAvailable() > 0) return { blocks, endgame: false };
    const dups = this.started.endgame(peer, peerHas, Math.min(max, opts.endgameMax ?? max), opts.outruns).map((k) => this.unkey(k));
    return { blocks: dups, endgame: dups.length > 0 };
  }

  /** Wanted pieces not yet started that some counted peer has (or any, with a seed connected). */
  private unstartedAvailable(): number {
    let n = 0;
    for (let level = MAX_PRIORITY; level >= 1; level--) {
      const v = this.queue.view(level);
      if (v) n += this.seeds > 0 ? v.size : v.size - v.counted;
    }
    return n;
  }

  /** Throws if the piece is verified, the block received, or already requested by this peer. */
  markRequested(peer: number, b: BlockRef): void {
    const { piece, block } = b;
    if (!this.validBlock(piece, block)) throw new RangeError(`no block ${block} in piece ${piece}`);
    if (this.verifiedBits.has(piece)) throw new Error(`markRequested: piece ${piece} is verified`);
    let pp = this.partials.get(piece);
    if (pp) {
      const state = pp.state[block];
      if (state === RECEIVED) throw new Error(`markRequested: block ${piece}/${block} already received`);
      if (state === REQUESTED && pp.requesters[block]!.includes(peer)) {
        throw new Error(`markRequested: peer ${peer} already has block ${piece}/${block} outstanding`);
      }
    } else {
      pp = this.startPiece(piece);
    }
    if (pp.state[block] === FREE) {
      pp.state[block] = REQUESTED;
      pp.requesters[block] = [peer];
      pp.requestedSeq[block] = ++this.requestSeq;
      pp.requested++;
      this.setFree(piece, pp, pp.free - 1);
    } else {
      pp.requesters[block]!.push(peer);
    }
    let set = this.outstanding.get(peer);
    if (!set) {
      set = new Set();
      this.outstanding.set(peer, set);
    }
    set.add(this.key(piece, block));
  }

  abortRequest(peer: number, b: BlockRef): void {
    const { piece, block } = b;
    if (!this.validBlock(piece, block)) throw new RangeError(`no block ${block} in piece ${piece}`);
    const set = this.outstanding.get(peer);
    const key = this.key(piece, block);
    if (!set || !set.delete(key)) return; // not outstanding (already received, or never asked): fine
    if (set.size === 0) this.outstanding.delete(peer);
    const pp = this.partials.get(piece)!;
    const reqs = pp.requesters[block]!;
    reqs.splice(reqs.indexOf(peer), 1);
    if (reqs.length > 0) return;
    pp.requesters[block] = undefined;
    pp.state[block] = FREE;
    pp.requested--;
    this.setFree(piece, pp, pp.free + 1);
    if (pp.requested === 0 && pp.received === 0) this.dropPartial(piece);
  }

  abortPeer(peer: number): BlockRef[] {
    const set = this.outstanding.get(peer);
    if (!set) return [];
    const refs = [...set].map((k) => this.unkey(k));
    for (const r of refs) this.abortRequest(peer, r);
    return refs;
  }

  markReceived(peer: number, b: BlockRef): ReceiveResult {
    const { piece, block } = b;
    const ignored: ReceiveResult = { duplicate: true, otherPeers: [], pieceComplete: false };
    if (!this.validBlock(piece, block)) return ignored;
    const pp = this.partials.get(piece);
    if (!pp || pp.state[block] !== REQUESTED) return ignored;
    const reqs = pp.requesters[block]!;
    // Only from a peer we asked: unsolicited data (or data after we gave up on the request) is
    // dropped, so a lying peer cannot fill a piece and contributors() names only peers we chose.
    if (!reqs.includes(peer)) return ignored;
    const key = this.key(piece, block);
    for (const r of reqs) {
      const set = this.outstanding.get(r)!;
      set.delete(key);
      if (set.size === 0) this.outstanding.delete(r);
    }
    pp.requesters[block] = undefined;
    pp.state[block] = RECEIVED;
    pp.senders[block] = peer;
    pp.requested--;
    pp.received++;
    return { duplicate: false, otherPeers: reqs.filter((r) => r !== peer), pieceComplete: pp.complete };
  }

  /**
   * Peers that sent blocks of the piece, ascending. While it is in flight: this attempt's. After
   * `pieceFailed`: the failed attempt's, until the piece is requested again. Ask before
   * `pieceVerified` if you need them for a verified piece.
   */
  contributors(piece: number): number[] {
    this.checkPiece(piece);
    const pp = this.partials.get(piece);
    if (!pp) return [...(this.failedContributors.get(piece) ?? [])];
    const peers = new Set<number>();
    for (const s of pp.senders) if (s !== undefined) peers.add(s);
    return [...peers].sort((a, b) => a - b);
  }

  /** Throws unless the piece is awaiting verification (all blocks received). */
  pieceVerified(piece: number): void {
    this.completePartial(piece, 'pieceVerified');
    this.partials.delete(piece);
    this.failedContributors.delete(piece);
    this.markVerified(piece);
  }

  /** Throws unless the piece is awaiting verification. Its blocks all become free again. */
  pieceFailed(piece: number): void {
    this.completePartial(piece, 'pieceFailed');
    this.failedContributors.set(piece, this.contributors(piece));
    this.dropPartial(piece);
  }

  /** Verified by a resume check. No-op if already verified; throws if the piece is in flight. */
  setHave(piece: number): void {
    this.checkPiece(piece);
    if (this.verifiedBits.has(piece)) return;
    if (this.partials.has(piece)) throw new Error(`setHave: piece ${piece} is in progress`);
    if (this.queue.queued(piece)) this.queue.remove(piece, this.priority[piece]!, this.peerCount[piece]!);
    this.failedContributors.delete(piece);
    this.markVerified(piece);
  }

  /**
   * A verified piece is no longer held (its file was changed from outside, or it cannot be
   * read): it becomes wanted again, as if never verified. No-op for a piece not verified.
   */
  pieceLost(piece: number): void {
    this.checkPiece(piece);
    if (!this.verifiedBits.has(piece)) return;
    this.verifiedBits.clear(piece);
    this.verifiedTotal--;
    if (this.priority[piece]! > 0) this.countWanted(piece, 1);
    this.enqueueIfWanted(piece);
  }

  /**
   * Wanted, not verified, and no block of it requested or received: a whole piece another
   * source (a web seed) may take. O(1).
   */
  isUntouched(piece: number): boolean {
    return piece >= 0 && piece < this.pieceCount && this.priority[piece]! > 0 && !this.verifiedBits.has(piece) && !this.partials.has(piece);
  }

  has(piece: number): boolean {
    return this.verifiedBits.has(piece);
  }

  /**
   * How many pieces set in `bits` are wanted and not verified: what makes a peer interesting.
   * A byte at a time (a seed's bitfield, ANDed with the pieces we lack), so a new peer costs
   * O(pieces / 8) plus its useful pieces, not a call per piece.
   */
  neededIn(bits: Bitfield): number {
    this.checkBitfield(bits);
    const theirs = bits.buffer;
    const ours = this.verifiedBits.buffer;
    const priority = this.priority;
    let n = 0;
    for (let i = 0; i < theirs.length; i++) {
      const useful = theirs[i]! & ~ours[i]!;
      if (useful === 0) continue;
      // Spare bits past the last piece are zero in both bitfields, so p < pieceCount here.
      for (let bit = 0, p = i * 8; bit < 8; bit++, p++) if ((useful & (0x80 >> bit)) !== 0 && priority[p]! > 0) n++;
    }
    return n;
  }

  get verifiedCount(): number {
    return this.verifiedTotal;
  }

  /** Every wanted (priority >= 1) piece is verified. */
  get done(): boolean {
    return this.wantedLeftCount === 0;
  }

  /** A copy of the verified pieces (mutating it does not affect the picker). O(pieceCount). */
  get verified(): Bitfield {
    return new Bitfield(this.pieceCount, this.verifiedBits.buffer);
  }

  /** Bytes of wanted pieces not yet verified (received but unverified bytes still count). */
  wantedBytesLeft(): number {
    return this.wantedLeftBytes;
  }

  toString(): string {
    let s = '';
    for (let p = 0; p < this.pieceCount; p++) {
      const pp = this.partials.get(p);
      if (pp) s += pp.complete ? 'u' : pp.free === 0 ? 'R' : 'r';
      else if (this.verifiedBits.has(p)) s += 'V';
      else s += this.priority[p] === 0 ? '-' : '.';
    }
    return s;
  }

  /**
   * Throws if any invariant in the module comment is broken. For tests: O(pieceCount + blocks
   * in flight).
   */
  assertInvariants(): void {
    const fail = (msg: string): never => {
      throw new Error(`picker invariant: ${msg}`);
    };
    let wantedLeft = 0;
    let wantedBytes = 0;
    let firstQueued = this.pieceCount;
    for (let p = 0; p < this.pieceCount; p++) {
      const verified = this.verifiedBits.has(p);
      const partial = this.partials.has(p);
      const queued = this.queue.queued(p);
      const prio = this.priority[p]!;
      if (Number(verified) + Number(partial) + Number(queued) > 1) fail(`piece ${p} in several states`);
      if (queued !== (!verified && !partial && prio > 0)) fail(`piece ${p}: queued=${queued}, priority ${prio}`);
      if (queued && firstQueued === this.pieceCount) firstQueued = p;
      if (!verified && prio > 0) {
        wantedLeft++;
        wantedBytes += this.pieceSize(p);
      }
      if (this.peerCount[p]! < 0) fail(`piece ${p}: negative peer count`);
      if (verified && this.failedContributors.has(p)) fail(`piece ${p}: verified with failed contributors`);
    }
    const cursor = this.newPieces.cursor;
    if (cursor > firstQueued) fail(`sequential cursor ${cursor} past queued piece ${firstQueued}`);
    if (wantedLeft !== this.wantedLeftCount) fail(`wanted left ${this.wantedLeftCount}, counted ${wantedLeft}`);
    if (wantedBytes !== this.wantedLeftBytes) fail(`wanted bytes ${this.wantedLeftBytes}, counted ${wantedBytes}`);
    if (this.verifiedTotal !== this.verifiedBits.count) fail('verified count');
    if (this.seeds < 0) fail('negative seeds');
    this.queue.assertValid(
      (p) => this.priority[p]!,
      (p) => this.peerCount[p]!,
    );

    let requests = 0;
    for (const [piece, pp] of this.partials) {
      if (pp.blockCount !== this.blocksInPiece(piece)) fail(`piece ${piece}: block count`);
      let free = 0;
      let requested = 0;
      let received = 0;
      for (let b = 0; b < pp.blockCount; b++) {
        const reqs = pp.requesters[b];
        const sender = pp.senders[b];
        switch (pp.state[b]) {
          case FREE:
            free++;
            if (reqs !== undefined || sender !== undefined) fail(`block ${piece}/${b}: free but has peers`);
            break;
          case REQUESTED:
            requested++;
            if (!reqs || reqs.length === 0 || sender !== undefined) fail(`block ${piece}/${b}: requested without requesters`);
            if (new Set(reqs).size !== reqs!.length) fail(`block ${piece}/${b}: a peer requested twice`);
            for (const r of reqs!) {
              if (!this.outstanding.get(r)?.has(this.key(piece, b))) fail(`block ${piece}/${b}: peer ${r} not outstanding`);
            }
            requests += reqs!.length;
            break;
          case RECEIVED:
            received++;
            if (reqs !== undefined || sender === undefined) fail(`block ${piece}/${b}: received but requested or senderless`);
            break;
          default:
            fail(`block ${piece}/${b}: state ${pp.state[b]}`);
        }
      }
      if (free !== pp.free || requested !== pp.requested || received !== pp.received) fail(`piece ${piece}: block counts`);
      if (requested === 0 && received === 0) fail(`piece ${piece}: in progress with nothing requested or received`);
      if (this.withFree.has(piece) !== free > 0) fail(`piece ${piece}: withFree`);
    }
    for (const p of this.withFree) if (!this.partials.has(p)) fail(`withFree piece ${p} not in progress`);
    let outstandingTotal = 0;
    for (const [peer, set] of this.outstanding) {
      if (set.size === 0) fail(`peer ${peer}: empty outstanding set kept`);
      outstandingTotal += set.size;
    }
    if (outstandingTotal !== requests) fail(`${outstandingTotal} outstanding entries, ${requests} requests`);
  }

  // ---- private: picking ----

  private takeFree(piece: number, blocks: BlockRef[], max: number): void {
    const pp = this.partials.get(piece)!;
    for (let b = 0; b < pp.blockCount && blocks.length < max; b++) {
      if (pp.state[b] === FREE) blocks.push({ piece, block: b });
    }
  }

  // ---- private: state changes ----

  private startPiece(piece: number): PartialPiece {
    if (this.queue.queued(piece)) this.queue.remove(piece, this.priority[piece]!, this.peerCount[piece]!);
    this.failedContributors.delete(piece);
    const pp = new PartialPiece(this.blocksInPiece(piece));
    this.partials.set(piece, pp);
    this.withFree.add(piece);
    return pp;
  }

  /** Forget a piece's block state; it goes back to wanted (queued) or not-wanted. */
  private dropPartial(piece: number): void {
    const pp = this.partials.get(piece)!;
    for (let b = 0; b < pp.blockCount; b++) {
      const reqs = pp.requesters[b];
      if (reqs) throw new Error(`piece ${piece}: dropping block state with block ${b} outstanding`);
    }
    this.partials.delete(piece);
    this.withFree.delete(piece);
    this.enqueueIfWanted(piece);
  }

  private enqueueIfWanted(piece: number): void {
    if (this.priority[piece] === 0 || this.verifiedBits.has(piece) || this.partials.has(piece)) return;
    this.queue.insert(piece, this.priority[piece]!, this.peerCount[piece]!);
    this.newPieces.queued(piece);
  }

  private setFree(piece: number, pp: PartialPiece, free: number): void {
    pp.free = free;
    if (free > 0) this.withFree.add(piece);
    else this.withFree.delete(piece);
  }

  private completePartial(piece: number, verb: string): PartialPiece {
    this.checkPiece(piece);
    const pp = this.partials.get(piece);
    if (!pp || !pp.complete) throw new Error(`${verb}: piece ${piece} is not awaiting verification`);
    return pp;
  }

  private markVerified(piece: number): void {
    this.verifiedBits.set(piece);
    this.verifiedTotal++;
    if (this.priority[piece]! > 0) this.countWanted(piece, -1);
  }

  private countWanted(piece: number, delta: 1 | -1): void {
    this.wantedLeftCount += delta;
    this.wantedLeftBytes += delta * this.pieceSize(piece);
  }

  // ---- private: helpers ----

  private key(piece: number, block: number): number {
    return piece * this.blocksPerPiece + block;
  }

  private unkey(key: number): BlockRef {
    const piece = Math.floor(key / this.blocksPerPiece);
    return { piece, block: key - piece * this.blocksPerPiece };
  }

  private validBlock(piece: number, block: number): boolean {
    return (
      Number.isInteger(piece) &&
      piece >= 0 &&
      piece < this.pieceCount &&
      Number.isInteger(block) &&
      block >= 0 &&
      block < this.blocksInPiece(piece)
    );
  }

  private checkPiece(piece: number): void {
    if (!Number.isInteger(piece) || piece < 0 || piece >= this.pieceCount) {
      throw new RangeError(`piece ${piece} outside 0..${this.pieceCount - 1}`);
    }
  }

  private checkBitfield(bits: Bitfield): void {
    if (bits.length !== this.pieceCount) throw new RangeError(`bitfield of ${bits.length} bits for ${this.pieceCount} pieces`);
  }
}
