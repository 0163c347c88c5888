/**
 * storage/check-hashing, what both start-up checks share: progress is reported every 64 pieces
 * and at the end (at once when nothing is left to read), and a pool is started only when there is
 * something to hash, threads are asked for and the worker script is built, and is gone once the
 * work settles, whether it returns or throws.
 *
 * The worker script is the built one (dist/storage/hash-worker.js): run `npx tsc -p .` first.
 */
import { describe, expect, it } from 'vitest';
import { CheckProgress, withCheckPool } from '../../src/storage/check-hashing.js';
import { builtScript, threadCount, threadCountSettled } from '../helpers/built.js';

const script = builtScript('storage', 'hash-worker.js');

describe('CheckProgress', () => {
  it('reports on crossing each 64 pieces and at the end, counting the pieces not read from the start', () => {
    const seen: [number, number][] = [];
    const progress = new CheckProgress(200, 60, (checked, total) => seen.push([checked, total]));
    expect(seen).toEqual([]);
    progress.add(3); // 63
    expect(seen).toEqual([]);
    progress.add(1); // 64
    progress.add(10); // 74
    progress.add(60); // 134
    progress.add(66); // 200
    expect(seen).toEqual([
      [64, 200],
      [134, 200],
      [200, 200],
    ]);
  });

  it('reports at once when nothing is left to read, and never for no candidates', () => {
    const seen: [number, number][] = [];
    new CheckProgress(5, 5, (checked, total) => seen.push([checked, total]));
    new CheckProgress(0, 0, (checked, total) => seen.push([checked, total]));
    expect(seen).toEqual([[5, 5]]);
  });
});

describe('withCheckPool', () => {
  it('no pool for nothing to hash, few bytes, no threads asked for, or no built script (sources)', async () => {
    const pools = [
      await withCheckPool({ workers: 2, workerUrl: script }, 0, 0, async (pool) => pool),
      await withCheckPool({ workerUrl: script }, 10, 1_000, async (pool) => pool),
      await withCheckPool({ workers: 0, workerUrl: script }, 10, 1 << 30, async (pool) => pool),
      await withCheckPool({ workers: 2 }, 10, 1 << 30, async (pool) => pool),
    ];
    expect(pools).toEqual([null, null, null, null]);
  });

  it('a pool of the threads asked for, closed once the work returns or throws', async () => {
    const before = threadCount();
    const size = await withCheckPool({ workers: 2, workerUrl: script }, 10, 1_000, async (pool) => {
      expect(threadCount()).toBe(before + 2);
      return pool?.size;
    });
    expect(size).toBe(2);
    expect(await threadCountSettled(before)).toBe(before);
    const failure = new Error('hashing failed');
    await expect(withCheckPool({ workers: 1, workerUrl: script }, 10, 1_000, async () => Promise.reject(failure))).rejects.toBe(failure);
    expect(await threadCountSettled(before)).toBe(before);
  });
});
