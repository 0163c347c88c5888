/**
 * The order untouched pieces are offered in (new-pieces.ts), without the picker around it: a
 * RarityQueue built from per-piece peer counts and levels, and a sink that records what it is
 * given. The selector's own random source is scripted where the test pins a random order, so an
 * expected list says exactly which draw chose which piece.
 */
import { describe, expect, it } from 'vitest';
import { forEachSetBit, NewPieceSelector, type PieceSink } from '../../src/picker/new-pieces.js';
import { RarityQueue } from '../../src/picker/rarity-queue.js';
import { Bitfield } from '../../src/util/bitfield.js';
import { seeded } from '../helpers/prng.js';

interface World {
  queue: RarityQueue;
  priority: Uint8Array;
  peerCount: Int32Array;
  selector: NewPieceSelector;
}

/**
 * Pieces queued with `counts[p]` peers each, at level `levels[p]` (default 1; 0 = not queued).
 * The queue shuffles ties with `queueSeed`; the selector draws from `random`.
 */
function world(counts: number[], opts: { levels?: number[]; queueSeed?: number; random?: () => number; randomFirst?: number } = {}): World {
  const n = counts.length;
  const queue = new RarityQueue(n, seeded(opts.queueSeed ?? 1));
  const priority = new Uint8Array(n);
  const peerCount = new Int32Array(n);
  for (let p = 0; p < n; p++) {
    priority[p] = opts.levels?.[p] ?? 1;
    peerCount[p] = counts[p]!;
    if (priority[p]! > 0) queue.insert(p, priority[p]!, peerCount[p]!);
  }
  const random = opts.random ?? (() => {
    throw new Error('this test expects no random draw by the selector');
  });
  const selector = new NewPieceSelector(queue, priority, peerCount, random, opts.randomFirst ?? 0);
  return { queue, priority, peerCount, selector };
}

/** Takes up to `capacity` pieces and records them; throws if offered one after saying it is full. */
class RecordingSink implements PieceSink {
  readonly taken: number[] = [];
  constructor(private readonly capacity: number) {}
  take(piece: number): boolean {
    if (this.taken.length >= this.capacity) throw new Error(`offered piece ${piece} after the sink was full`);
    this.taken.push(piece);
    return this.taken.length < this.capacity;
  }
  room(): number {
    return this.capacity - this.taken.length;
  }
}

/** Draws exactly `values`, in order; a further draw throws. */
function scripted(values: number[]): { random: () => number; left: () => number } {
  let i = 0;
  return {
    random: () => {
      if (i >= values.length) throw new Error(`random drawn ${i + 1} times, scripted ${values.length}`);
      return values[i++]!;
    },
    left: () => values.length - i,
  };
}

function pick(w: World, peerHas: Bitfield, capacity: number, o: { level?: number; seed?: boolean; verified?: number } = {}): number[] {
  const sink = new RecordingSink(capacity);
  w.selector.pick(o.level ?? 1, peerHas, o.seed ?? false, o.verified ?? 0, sink);
  return sink.taken;
}

/** The level's pieces in queue order. */
function orderOf(q: RarityQueue, level = 1): number[] {
  const v = q.view(level);
  return v ? Array.from(v.order.subarray(0, v.size)) : [];
}

const all = (n: number): Bitfield => Bitfield.full(n);
const bits = (s: string): Bitfield => Bitfield.fromString(s);

describe('new pieces: rarest first', () => {
  it('offers the rarest pieces first and equally rare ones in the queue order, not by index', () => {
    const counts = [3, 1, 4, 2, 1, 2, 1];
    const w = world(counts, { queueSeed: 4 });
    const got = pick(w, all(7), 10);
    // Pinned for this seed: a change of order (or of tie-breaking) fails here.
    expect(got).toEqual([6, 4, 1, 3, 5, 0, 2]);
    expect(got).toEqual(orderOf(w.queue));
    expect(got.map((p) => counts[p])).toEqual([1, 1, 1, 2, 2, 3, 4]);
  });

  it('breaks ties differently for different queue seeds, always within the rarest bucket', () => {
    const firsts = new Set<number>();
    for (let seed = 1; seed <= 40; seed++) {
      const w = world([2, 1, 1, 1, 2], { queueSeed: seed });
      const [first] = pick(w, all(5), 1);
      expect([1, 2, 3]).toContain(first);
      firsts.add(first!);
    }
    expect([...firsts].sort()).toEqual([1, 2, 3]);
  });

  it('skips what the peer lacks and, unless it is a seed, what no counted peer has', () => {
    const w = world([0, 2, 1, 0, 3], { queueSeed: 2 });
    expect(pick(w, bits('11011'), 10)).toEqual([1, 4]);
    const seedOrder = orderOf(w.queue).filter((p) => p !== 2);
    expect(pick(w, bits('11011'), 10, { seed: true })).toEqual(seedOrder);
    expect(seedOrder.slice(0, 2).sort()).toEqual([0, 3]); // the uncounted pieces lead the queue
  });

  it('stops as soon as the sink is full, and offers nothing at a level with no queued piece', () => {
    const w = world([1, 2, 3, 4], { levels: [1, 1, 1, 2] });
    expect(pick(w, all(4), 2)).toEqual([0, 1]);
    expect(pick(w, all(4), 10, { level: 2 })).toEqual([3]);
    expect(pick(w, all(4), 10, { level: 3 })).toEqual([]);
  });

  it('finds a sparse peer’s rarest pieces past the scan budget from its bitfield, in queue order', () => {
    const n = 3000; // budget 1024 + 3000/64 = 1070 queue entries
    const w = world(new Array<number>(n).fill(1), { queueSeed: 7 });
    const order = orderOf(w.queue);
    const far = [2990, 1500, 2200, 1900, 2600].map((i) => order[i]!); // ranks past the budget
    const near = order[700]!; // found by the scan itself
    const has = new Bitfield(n);
    for (const p of [...far, near]) has.set(p);
    const byRank = [...far].sort((a, b) => order.indexOf(a) - order.indexOf(b));
    expect(pick(w, has, 1)).toEqual([near]);
    expect(pick(w, has, 3)).toEqual([near, ...byRank.slice(0, 2)]);
    expect(pick(w, has, 10)).toEqual([near, ...byRank]); // the scanned piece is not offered twice
  });
});

describe('new pieces: random first pieces', () => {
  it('draws random queue positions while fewer than randomFirstPieces are verified', () => {
    const r = scripted([0.99, 0.99, 0, 0.45]);
    const w = world([1, 1, 1, 1, 1], { queueSeed: 3, random: r.random, randomFirst: 2 });
    const order = orderOf(w.queue);
    // floor(0.99 * 5) = 4, then 4 again (already chosen, skipped), 0, floor(0.45 * 5) = 2.
    expect(pick(w, all(5), 3, { verified: 1 })).toEqual([order[4], order[0], order[2]]);
    expect(r.left()).toBe(0);
  });

  it('switches to rarest first once randomFirstPieces are verified', () => {
    const w = world([3, 1, 2], { randomFirst: 2 }); // the default random throws if drawn
    expect(pick(w, all(3), 10, { verified: 2 })).toEqual([1, 2, 0]);
  });

  it('after 64 missed probes, samples the peer’s pieces uniformly (reservoir), in sample order', () => {
    const n = 100;
    const counts = new Array<number>(n).fill(1);
    const front = orderOf(world(counts, { queueSeed: 5 }).queue)[0]!;
    const mine = [10, 50, 90, 95].filter((p) => p !== front);
    expect(mine).toHaveLength(4);
    const has = new Bitfield(n);
    for (const p of mine) has.set(p);
    // 64 probes all land on queue position 0 (a piece the peer lacks). Then room() = 2 keeps 10
    // and 50; 90 (third seen) replaces slot floor(0.5 * 3) = 1, 95 (fourth) slot floor(0.1 * 4) = 0.
    const r = scripted([...new Array<number>(64).fill(0), 0.5, 0.1]);
    const w = world(counts, { queueSeed: 5, random: r.random, randomFirst: 4 });
    expect(pick(w, has, 2)).toEqual([95, 90]);
    expect(r.left()).toBe(0);
    // A draw at or past the sample size replaces nothing.
    const r1 = scripted([...new Array<number>(64).fill(0), 0.7, 0.6]);
    const w1 = world(counts, { queueSeed: 5, random: r1.random, randomFirst: 4 });
    expect(pick(w1, has, 2)).toEqual([10, 50]);
    // With room for all of them nothing is drawn after the probes: bitfield order.
    const r2 = scripted(new Array<number>(64).fill(0));
    const w2 = world(counts, { queueSeed: 5, random: r2.random, randomFirst: 4 });
    expect(pick(w2, has, 10)).toEqual([10, 50, 90, 95]);
  });
});

describe('new pieces: sequential', () => {
  it('offers lowest indexes first on a small level, whatever the rarity', () => {
    const w = world([5, 1, 4, 2, 3, 1, 1, 2]);
    w.selector.sequential = true;
    expect(pick(w, bits('01111111'), 3)).toEqual([1, 2, 3]);
  });

  it('moves the cursor past pieces no longer queued and back to one queued again', () => {
    const w = world(new Array<number>(10).fill(1));
    w.selector.sequential = true;
    for (const p of [0, 1, 2]) w.queue.remove(p, 1, 1); // started elsewhere
    expect(w.selector.cursor).toBe(0); // raised lazily, by a pick
    expect(pick(w, all(10), 2)).toEqual([3, 4]);
    expect(w.selector.cursor).toBe(3);
    w.queue.insert(1, 1, 1); // piece 1 failed its hash check: wanted again
    w.selector.queued(1);
    expect(w.selector.cursor).toBe(1);
    expect(pick(w, all(10), 3)).toEqual([1, 3, 4]);
    w.selector.queued(7); // above the cursor: no change
    expect(w.selector.cursor).toBe(1);
  });

  it('on a big level walks the peer’s bitfield from the cursor, pieces of this level only', () => {
    const n = 5000; // over the 4096 a level may have to be searched through its queue
    const levels = new Array<number>(n).fill(1);
    levels[101] = 2;
    const w = world(new Array<number>(n).fill(1), { levels });
    w.selector.sequential = true;
    expect(pick(w, all(n), 2)).toEqual([0, 1]);
    for (let p = 0; p < 100; p++) w.queue.remove(p, 1, 1);
    expect(pick(w, all(n), 2)).toEqual([100, 102]);
    expect(w.selector.cursor).toBe(100);
    w.queue.insert(42, 1, 1);
    // The walk starts at the cursor: until the selector hears of piece 42 it does not see it.
    expect(pick(w, all(n), 2)).toEqual([100, 102]);
    w.selector.queued(42);
    expect(pick(w, all(n), 2)).toEqual([42, 100]);
  });
});

describe('forEachSetBit', () => {
  it('visits set bits at or after `from` in order, and stops when told to', () => {
    const b = bits('1010000011000001');
    const seen: number[] = [];
    forEachSetBit(b, 2, (i) => {
      seen.push(i);
      return true;
    });
    expect(seen).toEqual([2, 8, 9, 15]);
    const firstTwo: number[] = [];
    forEachSetBit(b, 0, (i) => {
      firstTwo.push(i);
      return firstTwo.length < 2;
    });
    expect(firstTwo).toEqual([0, 2]);
    const odd = new Bitfield(11);
    odd.set(10);
    const tail: number[] = [];
    forEachSetBit(odd, 9, (i) => tail.push(i) > 0);
    expect(tail).toEqual([10]);
  });
});
