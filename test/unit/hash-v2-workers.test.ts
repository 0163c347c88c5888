/**
 * storage/hash-files hashV2Files (`torrent create --v2/--hybrid`), on worker threads and on
 * this thread: each file's tree equals metainfo's FileMerkleHasher over the same bytes, and the
 * hybrid's SHA-1 pieces equal hashing the stream padded per file, for any layout and job or read
 * size; a file shorter than listed, or missing, is the v1 path's error; without threads (small
 * inputs, or no built worker script) it hashes on this thread.
 *
 * The worker script is the built one (dist/storage/hash-worker.js): run `npx tsc -p .` first.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { TorrentError } from '../../src/errors.js';
import { FileMerkleHasher } from '../../src/metainfo/index.js';
import { hashAllPieces, hashV2Files, type HashSource } from '../../src/storage/hash-files.js';
import { builtScript, threadCount, threadCountSettled } from '../helpers/built.js';
import { bytes, pieceHashes } from '../helpers/make-torrent.js';

const script = builtScript('storage', 'hash-worker.js');

const dir = mkdtempSync(join(tmpdir(), 'torrent-hash-v2-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function files(datas: Buffer[]): HashSource[] {
  return datas.map((d) => {
    const path = join(dir, `f${n++}`);
    writeFileSync(path, d);
    return { path, length: d.length };
  });
}

/** FileMerkleHasher per file, SHA-1 of the padded stream, from the whole bytes at once. */
function reference(datas: Buffer[], pieceLength: number, v1: boolean, padLast: boolean) {
  const trees = datas.map((d) => new FileMerkleHasher(pieceLength).update(d).digest());
  const stream = Buffer.concat(
    datas.map((d, i) => {
      const padded = padLast || i < datas.length - 1;
      const pad = padded && d.length % pieceLength !== 0 ? pieceLength - (d.length % pieceLength) : 0;
      return Buffer.concat([d, Buffer.alloc(pad)]);
    }),
  );
  return { trees, pieces: v1 ? pieceHashes(stream, pieceLength) : null };
}

describe('hashV2Files', () => {
  it('equals FileMerkleHasher and the padded SHA-1 stream for any layout and job size (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 200_000 }), { minLength: 1, maxLength: 5 }),
        fc.constantFrom(16_384, 32_768, 65_536),
        fc.integer({ min: 1, max: 300_000 }),
        fc.boolean(),
        fc.boolean(),
        async (lengths, pieceLength, chunkBytes, v1, padLast) => {
          const datas = lengths.map((l, i) => bytes(l, i + 70));
          const got = await hashV2Files(files(datas), pieceLength, { v1, padLast, workers: 2, workerUrl: script, chunkBytes });
          expect(got).toEqual(reference(datas, pieceLength, v1, padLast));
        },
      ),
      { numRuns: 20 },
    );
  });

  it('on this thread, equals FileMerkleHasher and the padded SHA-1 stream for any layout and read size (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 200_000 }), { minLength: 1, maxLength: 5 }),
        fc.constantFrom(16_384, 32_768, 65_536),
        fc.integer({ min: 1_000, max: 300_000 }),
        fc.boolean(),
        fc.boolean(),
        async (lengths, pieceLength, chunkBytes, v1, padLast) => {
          const datas = lengths.map((l, i) => bytes(l, i + 90));
          const got = await hashV2Files(files(datas), pieceLength, { v1, padLast, workers: 0, chunkBytes });
          expect(got).toEqual(reference(datas, pieceLength, v1, padLast));
        },
      ),
      { numRuns: 20 },
    );
  });

  it.each([2, 0])('reports progress up to the bytes of the files, in order (%i threads)', async (workers) => {
    const datas = [bytes(100_000, 1), bytes(0, 2), bytes(70_000, 3)];
    const seen: number[] = [];
    await hashV2Files(files(datas), 16_384, { v1: true, padLast: true, workers, workerUrl: script, chunkBytes: 32_768, onProgress: (b) => seen.push(b) });
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.at(-1)).toBe(170_000);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
  });

  it.each([2, 0])('a file shorter than listed is the error v1 hashing gives, and no thread is left (%i threads)', async (workers) => {
    const before = threadCount();
    const [f] = files([bytes(40_000, 9)]);
    const listed = [{ path: f!.path, length: 50_000 }];
    const v2 = await hashV2Files(listed, 16_384, { v1: false, padLast: false, workers, workerUrl: script }).catch((e: unknown) => e);
    const v1 = await hashAllPieces(listed, 16_384, { workers: 0 }).catch((e: unknown) => e);
    expect(v2).toBeInstanceOf(TorrentError);
    expect((v2 as TorrentError).code).toBe('ERR_DISK');
    expect((v2 as TorrentError).message).toBe((v1 as TorrentError).message);
    expect(await threadCountSettled(before)).toBe(before);
  });

  it.each([2, 0])('a missing file is the error v1 hashing gives (%i threads)', async (workers) => {
    const listed = [{ path: join(dir, 'nope'), length: 5 }];
    const v2 = await hashV2Files(listed, 16_384, { v1: true, padLast: true, workers, workerUrl: script }).catch((e: unknown) => e);
    const v1 = await hashAllPieces(listed, 16_384, { workers: 0 }).catch((e: unknown) => e);
    expect(v2).toBeInstanceOf(TorrentError);
    expect((v2 as TorrentError).message).toBe((v1 as TorrentError).message);
  });

  it('hashes on this thread without threads: small inputs, or no built worker script (sources)', async () => {
    const datas = [bytes(1_000, 4), bytes(40_000, 5)];
    const listed = files(datas);
    const want = reference(datas, 16_384, true, false);
    expect(await hashV2Files(listed, 16_384, { v1: true, padLast: false })).toEqual(want);
    expect(await hashV2Files(listed, 16_384, { v1: true, padLast: false, workers: 2 })).toEqual(want);
  });
});
