/**
 * The queue of pieces nobody has started yet, in the order the picker would take them: one array
 * per priority level, each sorted by how many (non-seed) peers have the piece, rarest first, with
 * a uniformly random order among pieces of equal availability. As in
 * arvidn/libtorrent/src/piece_picker.cpp (`m_pieces` with `m_priority_boundaries`).
 *
 * Layout of one level: `order[0..size)` holds its pieces; bucket `a` (pieces that exactly `a`
 * peers have) is the contiguous range `[start[a], start[a+1])`, the last bucket ending at `size`.
 * `pos[piece]` is the piece's index in its level's `order`, or -1 when the piece is not queued.
 *
 * Why this shape: availability changes one step at a time (a HAVE, a bitfield, a peer leaving),
 * and moving a piece to the neighbouring bucket is one swap with the bucket's edge plus one
 * boundary shift, O(1). Scanning `order` from the front visits pieces rarest first, so a pick
 * usually stops after a handful of elements. Inserting or removing a piece bubbles it through
 * the buckets above it: O(number of distinct availabilities), i.e. O(peers), not O(pieces).
 *
 * Random ties: every time a piece lands in a bucket it is swapped with a uniformly chosen
 * element of that bucket (one step of inside-out Fisher-Yates), and every removal moves an
 * element from a fixed position into the hole; both keep each bucket a uniformly random
 * permutation, so "first in the bucket" is a fair coin among equally rare pieces.
 *
 * The queue does not own a piece's level or peer count (the picker does): callers pass them in,
 * and must pass the values the piece was queued under.
 */

/** Highest piece priority; like libtorrent's `top_priority`, a small range keeps levels cheap. */
export const MAX_PRIORITY = 7;

/** Smallest array a level starts with; it doubles as pieces arrive, up to the piece count. */
const MIN_LEVEL_CAPACITY = 1024;

class Level {
  order: Int32Array;
  size = 0;
  /** start[a] = first index of bucket a; start[0] is always 0; trailing empty buckets trimmed. */
  readonly start: number[] = [0];

  constructor(capacity: number) {
    this.order = new Int32Array(capacity);
  }
}

/** Read-only look at one level, for the picker's scans. Valid until the queue next changes. */
export interface LevelView {
  readonly order: Int32Array;
  readonly size: number;
  /** Index of the first piece that at least one counted peer has (start of bucket 1). */
  readonly counted: number;
}

export class RarityQueue {
  private readonly levels: (Level | undefined)[] = [];
  private readonly pos: Int32Array;

  constructor(
    private readonly pieceCount: number,
    private readonly random: () => number,
  ) {
    this.pos = new Int32Array(pieceCount).fill(-1);
  }

  queued(piece: number): boolean {
    return this.pos[piece]! >= 0;
  }

  /** The piece's position in its level: lower is picked first. Only for queued pieces. */
  rank(piece: number): number {
    return this.pos[piece]!;
  }

  view(level: number): LevelView | undefined {
    const l = this.levels[level];
    if (!l || l.size === 0) return undefined;
    return { order: l.order, size: l.size, counted: l.start.length > 1 ? l.start[1]! : l.size };
  }

  insert(piece: number, level: number, count: number): void {
    const l = this.level(level);
    if (l.size === l.order.length) {
      const grown = new Int32Array(Math.min(this.pieceCount, Math.max(MIN_LEVEL_CAPACITY, l.order.length * 2)));
      grown.set(l.order);
      l.order = grown;
    }
    while (l.start.length <= count) l.start.push(l.size);
    l.order[l.size] = piece;
    this.pos[piece] = l.size;
    l.size++;
    // The new piece sits in the top bucket; walk it down, keeping every bucket's size.
    for (let b = l.start.length - 1; b > count; b--) {
      const first = l.start[b]!;
      this.swap(l, this.pos[piece]!, first);
      l.start[b] = first + 1;
    }
    this.shuffleIn(l, this.pos[piece]!, l.start[count]!, this.end(l, count));
  }

  remove(piece: number, level: number, count: number): void {
    const l = this.level(level);
    const top = l.start.length - 1;
    for (let b = count; b < top; b++) {
      const last = l.start[b + 1]! - 1;
      this.swap(l, this.pos[piece]!, last);
      l.start[b + 1] = last;
    }
    this.swap(l, this.pos[piece]!, l.size - 1);
    l.size--;
    this.pos[piece] = -1;
    this.trim(l);
  }

  /** The piece's peer count went from `count` to `count + 1`. */
  increment(piece: number, level: number, count: number): void {
    const l = this.level(level);
    while (l.start.length <= count + 1) l.start.push(l.size);
    const last = l.start[count + 1]! - 1;
    this.swap(l, this.pos[piece]!, last);
    l.start[count + 1] = last;
    this.shuffleIn(l, last, last, this.end(l, count + 1));
  }

  /** The piece's peer count went from `count` to `count - 1`. */
  decrement(piece: number, level: number, count: number): void {
    const l = this.level(level);
    const first = l.start[count]!;
    this.swap(l, this.pos[piece]!, first);
    l.start[count] = first + 1;
    this.shuffleIn(l, first, l.start[count - 1]!, first + 1);
    this.trim(l);
  }

  /** Throws unless positions, buckets and sizes agree with `level`/`count` (tests only; O(n)). */
  assertValid(levelOf: (piece: number) => number, countOf: (piece: number) => number): void {
    let total = 0;
    for (let lv = 0; lv < this.levels.length; lv++) {
      const l = this.levels[lv];
      if (!l) continue;
      total += l.size;
      if (l.start[0] !== 0) throw new Error(`level ${lv}: bucket 0 starts at ${l.start[0]}`);
      for (let b = 0; b < l.start.length; b++) {
        const from = l.start[b]!;
        const to = this.end(l, b);
        if (from > to) throw new Error(`level ${lv}: bucket ${b} runs backwards`);
        for (let i = from; i < to; i++) {
          const p = l.order[i]!;
          if (this.pos[p] !== i) throw new Error(`piece ${p}: pos ${this.pos[p]} but found at ${i}`);
          if (levelOf(p) !== lv) throw new Error(`piece ${p} queued at level ${lv}, priority ${levelOf(p)}`);
          if (countOf(p) !== b) throw new Error(`piece ${p} in bucket ${b}, peer count ${countOf(p)}`);
        }
      }
      if (l.start.length > 1 && l.start[l.start.length - 1] === l.size) throw new Error(`level ${lv}: untrimmed`);
    }
    let positioned = 0;
    for (let p = 0; p < this.pieceCount; p++) if (this.pos[p]! >= 0) positioned++;
    if (positioned !== total) throw new Error(`${positioned} pieces have positions, ${total} are queued`);
  }

  private level(level: number): Level {
    let l = this.levels[level];
    if (!l) {
      l = new Level(Math.min(this.pieceCount, MIN_LEVEL_CAPACITY));
      this.levels[level] = l;
    }
    return l;
  }

  private end(l: Level, bucket: number): number {
    return bucket + 1 < l.start.length ? l.start[bucket + 1]! : l.size;
  }

  private trim(l: Level): void {
    while (l.start.length > 1 && l.start[l.start.length - 1] === l.size) l.start.pop();
  }

  /** Swap the element at `at` with a uniformly chosen one in [from, to) (which contains `at`). */
  private shuffleIn(l: Level, at: number, from: number, to: number): void {
    const span = to - from;
    if (span <= 1) return;
    this.swap(l, at, from + Math.min(span - 1, Math.floor(this.random() * span)));
  }

  private swap(l: Level, i: number, j: number): void {
    if (i === j) return;
    const a = l.order[i]!;
    const b = l.order[j]!;
    l.order[i] = b;
    l.order[j] = a;
    this.pos[b] = i;
    this.pos[a] = j;
  }
}
