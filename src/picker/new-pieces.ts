/**
 * Which untouched piece a peer starts next: the order in which the picker tries pieces nobody
 * has started, one priority level at a time. Block bookkeeping (which blocks of a piece are free,
 * requested, received) stays in piece-picker.ts; this module never sees a block. As in
 * arvidn/libtorrent/src/piece_picker.cpp (`pick_pieces`: sequential, random, rarest-first).
 *
 * ## Order, within one level
 * - sequential mode: lowest index first (streaming reads the file front to back);
 * - while fewer than `randomFirstPieces` pieces are verified: a random piece the peer has, so a
 *   new download gets something to trade quickly instead of the rarest piece, which is slow to
 *   fetch from the few peers having it (BEP 3 leaves the choice to the client);
 * - otherwise rarest first, ties in the RarityQueue's random order.
 * Each chosen piece goes to a `PieceSink` at once, in that order, until the sink says it is full.
 *
 * ## State and invariants
 * Reads the RarityQueue's levels and the picker's priority and peer-count arrays (the picker owns
 * them); owns only the sequential cursor, the mode flag and its use of the random source.
 * - No queued piece has an index below `cursor`: the picker reports every piece it queues
 *   (`queued`), which lowers the cursor; a pick raises it lazily past pieces no longer queued.
 * - A piece is offered to the sink at most once per call, and only if it is queued at the level
 *   asked for and the peer has it.
 *
 * ## Cost
 * A pick scans the level's array from the front and stops at the first pieces the peer has, so a
 * peer holding a fair share of what we need costs a few steps. When that scan has not finished
 * within a budget (a peer that has few of the pieces we still need), the same answer is computed
 * from the peer's bitfield instead, skipping empty bytes: O(pieceCount / 8) byte reads, still
 * exact. What is kept for the sink is bounded by `sink.room()`, never by the level's size.
 */
import type { Bitfield } from '../util/bitfield.js';
import type { LevelView, RarityQueue } from './rarity-queue.js';
import { TopK } from './top-k.js';

/**
 * Random-first probes before falling back to a bitfield scan; each probe hits with the chance
 * that the peer has a random queued piece, so 64 misses means the peer has little we need.
 */
const RANDOM_PROBES = 64;
/** Queue entries a rarest-first scan looks at before switching to the peer's bitfield. */
const MIN_SCAN_BUDGET = 1024;
/** A sequential level this small is searched through its queue rather than the peer's bits. */
const SMALL_LEVEL = 4096;

/** Receives the pieces a pick chooses, best first. */
export interface PieceSink {
  /** Start this piece; returns whether the sink wants more pieces after it. */
  take(piece: number): boolean;
  /** At least as many pieces as the sink can still take: bounds what a pick keeps in hand. */
  room(): number;
}

export class NewPieceSelector {
  /** Lowest index first instead of rarest (the picker also orders pieces in progress by it). */
  sequential = false;
  private readonly pieceCount: number;
  /** No queued piece has a lower index (lowered when a piece is queued, raised lazily). */
  private seqCursor = 0;

  /**
   * `priority` and `peerCount` are the picker's per-piece arrays, read (never written) to tell
   * whether a piece found in the peer's bitfield is queued at the level being picked.
   */
  constructor(
    private readonly queue: RarityQueue,
    private readonly priority: Uint8Array,
    private readonly peerCount: Int32Array,
    private readonly random: () => number,
    private readonly randomFirstPieces: number,
  ) {
    this.pieceCount = priority.length;
  }

  /** The sequential cursor: no queued piece is below it (checked by the picker's invariants). */
  get cursor(): number {
    return this.seqCursor;
  }

  /** The picker queued `piece` (again): a sequential pick must be able to find it. */
  queued(piece: number): void {
    if (piece < this.seqCursor) this.seqCursor = piece;
  }

  /**
   * Offers the sink queued pieces of `level` the peer has, best first, until it is full or none
   * is left. `seed`: the peer has every piece, so pieces no counted peer has are candidates too.
   * Call only while the sink wants more.
   */
  pick(level: number, peerHas: Bitfield, seed: boolean, verifiedCount: number, sink: PieceSink): void {
    const view = this.queue.view(level);
    if (!view) return;
    const lo = seed ? 0 : view.counted;
    if (lo >= view.size) return;
    if (this.sequential) this.pickSequential(level, view, lo, peerHas, seed, sink);
    else if (verifiedCount < this.randomFirstPieces) this.pickRandom(level, view, lo, peerHas, seed, sink);
    else this.pickRarest(level, view, lo, peerHas, seed, sink);
  }

  /** A queued piece of this level the peer can give us (see the picker's availability contract). */
  private eligible(piece: number, level: number, seed: boolean): boolean {
    return this.queue.queued(piece) && this.priority[piece] === level && (seed || this.peerCount[piece]! > 0);
  }

  private pickRarest(level: number, view: LevelView, lo: number, peerHas: Bitfield, seed: boolean, sink: PieceSink): void {
    const end = Math.min(view.size, lo + MIN_SCAN_BUDGET + (this.pieceCount >>> 6));
    let more = true;
    let i = lo;
    for (; i < end && more; i++) {
      const p = view.order[i]!;
      if (peerHas.has(p)) more = sink.take(p);
    }
    if (!more || i >= view.size) return;
    // The peer has little of what we need: find the best remaining ranks from its bitfield.
    const from = i;
    const best = new TopK(sink.room());
    forEachSetBit(peerHas, 0, (p) => {
      if (this.eligible(p, level, seed)) {
        const r = this.queue.rank(p);
        if (r >= from) best.offer(r, p);
      }
      return true;
    });
    for (const p of best.drain()) if (!sink.take(p)) break;
  }

  private pickRandom(level: number, view: LevelView, lo: number, peerHas: Bitfield, seed: boolean, sink: PieceSink): void {
    const chosen = new Set<number>();
    const span = view.size - lo;
    let more = true;
    for (let t = 0; t < RANDOM_PROBES && more; t++) {
      const p = view.order[lo + this.randomBelow(span)]!;
      if (!chosen.has(p) && peerHas.has(p)) {
        chosen.add(p);
        more = sink.take(p);
      }
    }
    if (!more) return;
    // Uniform sample (reservoir) among the rest of what the peer has.
    const want = sink.room();
    const sample: number[] = [];
    let seen = 0;
    forEachSetBit(peerHas, 0, (p) => {
      if (chosen.has(p) || !this.eligible(p, level, seed)) return true;
      seen++;
      if (sample.length < want) sample.push(p);
      else {
        const j = this.randomBelow(seen);
        if (j < want) sample[j] = p;
      }
      return true;
    });
    for (const p of sample) if (!sink.take(p)) break;
  }

  private pickSequential(level: number, view: LevelView, lo: number, peerHas: Bitfield, seed: boolean, sink: PieceSink): void {
    while (this.seqCursor < this.pieceCount && !this.queue.queued(this.seqCursor)) this.seqCursor++;
    if (view.size - lo <= SMALL_LEVEL) {
      // Few pieces at this level (typically a read-ahead window): lowest indexes from the queue.
      const best = new TopK(sink.room());
      for (let i = lo; i < view.size; i++) {
        const p = view.order[i]!;
        if (peerHas.has(p)) best.offer(p, p);
      }
      for (const p of best.drain()) if (!sink.take(p)) break;
      return;
    }
    forEachSetBit(peerHas, this.seqCursor, (p) => !this.eligible(p, level, seed) || sink.take(p));
  }

  private randomBelow(n: number): number {
    return Math.min(n - 1, Math.floor(this.random() * n));
  }
}

/**
 * Calls `visit` for each set bit at or after `from`, ascending, until it returns false. Skips
 * zero bytes, so a sparse bitfield of n bits costs about n / 8 reads.
 */
export function forEachSetBit(bits: Bitfield, from: number, visit: (index: number) => boolean): void {
  const buf = bits.buffer;
  const n = bits.length;
  for (let byte = from >> 3; byte < buf.length; byte++) {
    let v = buf[byte]!;
    if (byte === from >> 3) v &= 0xff >> (from & 7);
    while (v !== 0) {
      const bit = Math.clz32(v) - 24;
      v &= ~(0x80 >> bit);
      const index = (byte << 3) + bit;
      if (index >= n) return;
      if (!visit(index)) return;
    }
  }
}
