import { describe, expect, it } from 'vitest';
import { RarityQueue } from '../../src/picker/rarity-queue.js';
import { seeded } from '../helpers/prng.js';

/** The level's pieces in queue order. */
function orderOf(q: RarityQueue, level: number): number[] {
  const v = q.view(level);
  return v ? Array.from(v.order.subarray(0, v.size)) : [];
}

describe('rarity queue', () => {
  it('keeps each level sorted by peer count under random changes', () => {
    const rnd = seeded(9);
    const n = 60;
    const q = new RarityQueue(n, rnd);
    const level = new Array<number>(n).fill(0); // 0 = not queued
    const count = new Array<number>(n).fill(0);
    for (let step = 0; step < 5000; step++) {
      const p = Math.floor(rnd() * n);
      const r = rnd();
      if (level[p] === 0) {
        if (r < 0.5) {
          level[p] = 1 + Math.floor(rnd() * 3);
          q.insert(p, level[p]!, count[p]!);
        } else if (r < 0.8) count[p]!++;
        else if (count[p]! > 0) count[p]!--;
      } else if (r < 0.1) {
        q.remove(p, level[p]!, count[p]!);
        level[p] = 0;
      } else if (r < 0.6) {
        q.increment(p, level[p]!, count[p]!);
        count[p]!++;
      } else if (count[p]! > 0) {
        q.decrement(p, level[p]!, count[p]!);
        count[p]!--;
      }
      q.assertValid(
        (x) => level[x]!,
        (x) => count[x]!,
      );
      for (let lv = 1; lv <= 3; lv++) {
        const o = orderOf(q, lv);
        expect(o.map((x) => count[x]!)).toEqual(o.map((x) => count[x]!).sort((a, b) => a - b));
        expect(o.sort((a, b) => a - b)).toEqual([...Array(n).keys()].filter((x) => level[x] === lv));
        const v = q.view(lv);
        if (v) expect(v.counted).toBe(o.filter((x) => count[x] === 0).length);
      }
    }
  });

  it('orders equally rare pieces uniformly at random, also after moves', () => {
    const tally = new Map<string, number>();
    for (let seed = 1; seed <= 2400; seed++) {
      const q = new RarityQueue(4, seeded(seed));
      for (let p = 0; p < 4; p++) q.insert(p, 1, 0);
      // Move everything up one bucket in index order, then down and up again.
      for (let p = 0; p < 4; p++) q.increment(p, 1, 0);
      q.decrement(2, 1, 1);
      q.increment(2, 1, 0);
      const key = orderOf(q, 1).join('');
      tally.set(key, (tally.get(key) ?? 0) + 1);
    }
    expect(tally.size).toBe(24); // every permutation of 4 appears...
    for (const c of tally.values()) expect(c).toBeGreaterThan(50); // ...about 100 times each
  });
});
