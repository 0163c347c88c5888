/**
 * The upload read cache on its own, over memory storage whose reads are counted and released by
 * hand: one read a piece however many blocks and loads ask for it, blocks handed out as views
 * without waiting once the piece is in memory, least-recently-used eviction past its size,
 * read-ahead within its own bound, and a piece that cannot be read never cached.
 */
import { describe, expect, it } from 'vitest';
import { TorrentError } from '../../src/errors.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { ReadCache } from '../../src/storage/read-cache.js';
import { settle } from '../helpers/fake-clock.js';

const PIECE = 4 * 16384;

/** Storage of `count` pieces (piece p full of byte p) whose reads wait until `release()`. */
function gatedStore(count: number) {
  const store = new MemoryStorage(() => PIECE);
  for (let p = 0; p < count; p++) void store.writePiece(p, [Buffer.alloc(PIECE, p)]);
  const reads: number[] = [];
  const gates: (() => void)[] = [];
  const readPiece = store.readPiece.bind(store);
  store.readPiece = (piece) => {
    reads.push(piece);
    return new Promise<void>((r) => gates.push(r)).then(() => readPiece(piece));
  };
  const release = async () => {
    for (const g of gates.splice(0)) g();
    await settle();
  };
  return { store, reads, release };
}

describe('read cache', () => {
  it('reads a piece once for every load and block of it, then hands out views at once', async () => {
    const { store, reads, release } = gatedStore(4);
    const cache = new ReadCache(store, 4 * PIECE);
    expect(cache.get(1, 0, 16384)).toBeNull();
    const loads = [cache.load(1), cache.load(1)];
    expect(cache.prefetch(1)).toBe(true); // already being read: joins it
    expect(cache.isLoading(1)).toBe(true);
    await release();
    await Promise.all(loads);
    expect(reads).toEqual([1]);
    const block = cache.get(1, 16384, 16384)!;
    expect(block.length).toBe(16384);
    expect(block.every((b) => b === 1)).toBe(true);
    expect(cache.bytes).toEqual({ loaded: PIECE, loading: 0 });
    await cache.load(1); // in memory: no read
    expect(reads).toEqual([1]);
    expect(() => cache.get(1, PIECE - 16384, 2 * 16384)).toThrow(TorrentError);
  });

  it('keeps at most its size, dropping the least recently used piece first', async () => {
    const { store, reads, release } = gatedStore(4);
    const cache = new ReadCache(store, 2 * PIECE);
    for (const p of [0, 1]) {
      const l = cache.load(p);
      await release();
      await l;
    }
    cache.get(0, 0, 16384); // 0 is now the most recently used
    const l = cache.load(2);
    await release();
    await l;
    expect([0, 1, 2].map((p) => cache.has(p))).toEqual([true, false, true]);
    expect(cache.bytes.loaded).toBe(2 * PIECE);
    const again = cache.load(1);
    await release();
    await again;
    expect(reads).toEqual([0, 1, 2, 1]);
    expect(cache.bytes.loaded).toBe(2 * PIECE);
  });

  it('reads ahead one piece until it knows their size, then within its bound', async () => {
    const { store, reads, release } = gatedStore(8);
    const cache = new ReadCache(store, 8 * PIECE, 3 * PIECE);
    expect(cache.prefetch(0)).toBe(true);
    expect(cache.prefetch(1)).toBe(false); // size unknown: the first read counts as the whole bound
    await release();
    expect(cache.has(0)).toBe(true);
    expect([1, 2, 3, 4].map((p) => cache.prefetch(p))).toEqual([true, true, true, false]);
    expect(cache.bytes.loading).toBe(3 * PIECE);
    // A load someone waits for is never held back by the bound.
    const needed = cache.load(5);
    expect(reads).toEqual([0, 1, 2, 3, 5]);
    await release();
    await needed;
    expect(cache.bytes).toEqual({ loaded: 5 * PIECE, loading: 0 });
  });

  it('does not cache a piece that cannot be read: the next load reads the disk again', async () => {
    const { store, reads, release } = gatedStore(2);
    const cache = new ReadCache(store, 4 * PIECE);
    store.release(1);
    expect(cache.prefetch(1)).toBe(true);
    await release();
    expect(cache.has(1)).toBe(false);
    expect(cache.isLoading(1)).toBe(false);
    const failed = cache.load(1);
    const outcome = failed.then(
      () => null,
      (e: unknown) => (e as TorrentError).code,
    );
    await release();
    expect(await outcome).toBe('ERR_DISK');
    expect(reads).toEqual([1, 1]);
    expect(cache.bytes).toEqual({ loaded: 0, loading: 0 });
  });
});
