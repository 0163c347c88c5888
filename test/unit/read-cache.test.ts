/**
 * The upload read cache on its own, over memory storage whose reads are counted and released by
 * hand: one read a piece however many blocks and loads ask for it, blocks handed out as views
 * without waiting once the piece is in memory, least-recently-used eviction past its size,
 * read-ahead within its own bound, a piece that cannot be read never cached, and the memory of
 * dropped pieces read into again only once every block lent from it is back.
 */
import { describe, expect, it } from 'vitest';
import { TorrentError } from '../../src/errors.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { ReadCache } from '../../src/storage/read-cache.js';
import type { Storage } from '../../src/storage/storage.js';
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

/**
 * Storage whose pieces (piece p full of byte p) are read into the buffer offered, as FileStorage's
 * are, recording what each read was offered. Typed as the Storage the cache is given, whose
 * readPiece takes `into`: the MemoryStorage underneath only fills in the rest of the interface,
 * its own readPiece (which takes no `into`) is never called.
 */
function intoStore() {
  const store: Storage = new MemoryStorage(() => PIECE);
  const offered: (Buffer | undefined)[] = [];
  store.readPiece = async (piece, into) => {
    offered.push(into);
    const out = into && into.length >= PIECE ? into.subarray(0, PIECE) : Buffer.allocUnsafe(PIECE);
    return out.fill(piece);
  };
  return { store, offered };
}

describe('read cache buffer reuse', () => {
  it('reads the next piece into the memory of one dropped, once every block lent from it is back', async () => {
    const { store, offered } = intoStore();
    const cache = new ReadCache(store, 2 * PIECE);
    await cache.load(0);
    const a = cache.get(0, 0, 16384)!;
    const b = cache.get(0, 16384, 16384)!;
    await cache.load(1);
    await cache.load(2); // drops piece 0, whose blocks a and b are still lent
    await cache.load(3); // drops piece 1, lent nothing: its memory is free
    expect(offered).toEqual([undefined, undefined, undefined, undefined]);
    await cache.load(4);
    const m1 = offered[4]!.buffer;
    cache.release(a);
    await cache.load(5); // piece 0's memory is still lent (b): piece 2's, dropped by load(4), is used
    expect(offered[5]!.buffer).not.toBe(b.buffer);
    expect(offered[5]!.buffer).not.toBe(m1);
    expect(a.every((x) => x === 0) && b.every((x) => x === 0)).toBe(true); // never read into while lent
    cache.release(b);
    await cache.load(6);
    expect(offered[6]!.buffer).toBe(b.buffer); // back from the stream: piece 6 lands in it
    expect(cache.get(6, 0, 16384)!.every((x) => x === 6)).toBe(true);
  });

  it('keeps no more free memory than its size, and reads every later piece into reused memory', async () => {
    const { store, offered } = intoStore();
    const cache = new ReadCache(store, 3 * PIECE);
    for (let p = 0; p < 40; p++) await cache.load(p);
    expect(cache['free'].length * PIECE).toBeLessThanOrEqual(3 * PIECE);
    // After the first three, every load reads into the memory of a piece dropped before it.
    expect(offered.slice(0, 3)).toEqual([undefined, undefined, undefined]);
    expect(offered.slice(4).every((b) => b !== undefined)).toBe(true);
    expect(new Set(offered.slice(4).map((b) => b!.buffer)).size).toBeLessThanOrEqual(4);
  });
});

describe('read cache buffer reuse, small pieces', () => {
  it("never offers memory cut from Node's shared pool to be read into", async () => {
    const SMALL = 1000; // allocUnsafe gives sizes this small a slice of a shared 8 KiB slab
    const store: Storage = new MemoryStorage(() => SMALL);
    const offered: (Buffer | undefined)[] = [];
    store.readPiece = async (piece, into) => {
      offered.push(into);
      return Buffer.allocUnsafe(SMALL).fill(piece);
    };
    // Room for a whole slab or two: a slab's first slice (offset 0) would otherwise look like memory of its own.
    const cache = new ReadCache(store, 16 * 1024);
    for (let p = 0; p < 60; p++) await cache.load(p);
    expect(offered.every((b) => b === undefined)).toBe(true);
  });
});

