/** storage/hash-files: piece hashes over files read as one stream equal hashing the concatenation. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TorrentError } from '../../src/errors.js';
import { hashAllPieces, hashFiles, type HashSource } from '../../src/storage/hash-files.js';
import { bytes, pieceHashes } from '../helpers/make-torrent.js';

const dir = mkdtempSync(join(tmpdir(), 'torrent-hash-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function files(datas: Buffer[]): HashSource[] {
  return datas.map((d) => {
    const path = join(dir, `f${n++}`);
    writeFileSync(path, d);
    return { path, length: d.length };
  });
}

describe('hashFiles', () => {
  const layouts: [string, number[]][] = [
    ['one file, whole pieces', [65_536]],
    ['one file, short last piece', [70_001]],
    ['files ending mid-piece', [10_000, 30_000, 5, 50_000]],
    ['empty files at the start, middle and end', [0, 20_000, 0, 0, 16_384, 0]],
    ['many tiny files in one piece', Array.from({ length: 50 }, (_, i) => i + 1)],
    ['a file ending exactly on a piece boundary', [16_384, 16_384, 1]],
  ];
  for (const chunk of [999, 4096, 16_384, 1 << 20]) {
    it.each(layouts)(`%s (reads of ${chunk} bytes)`, async (_, lengths) => {
      const datas = lengths.map((l, i) => bytes(l, i + 1));
      const want = pieceHashes(Buffer.concat(datas), 16_384);
      expect(await hashAllPieces(files(datas), 16_384, { chunkBytes: chunk })).toEqual(want);
    });
  }

  it('yields one 20-byte hash per piece, in order, and reports progress up to the total', async () => {
    const datas = [bytes(40_000, 5), bytes(9_000, 6)];
    const seen: number[] = [];
    const out: Buffer[] = [];
    for await (const h of hashFiles(files(datas), 16_384, { chunkBytes: 10_000, onProgress: (b) => seen.push(b) })) out.push(h);
    expect(out).toHaveLength(3);
    expect(out.every((h) => h.length === 20)).toBe(true);
    expect(Buffer.concat(out)).toEqual(pieceHashes(Buffer.concat(datas), 16_384));
    expect(seen.at(-1)).toBe(49_000);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
  });

  it('only empty files: no pieces', async () => {
    expect(await hashAllPieces(files([Buffer.alloc(0), Buffer.alloc(0)]), 16_384)).toEqual(Buffer.alloc(0));
  });

  it('hashes only the listed length of a file that grew', async () => {
    const [f] = files([bytes(30_000, 8)]);
    const want = pieceHashes(bytes(30_000, 8).subarray(0, 20_000), 16_384);
    expect(await hashAllPieces([{ path: f!.path, length: 20_000 }], 16_384)).toEqual(want);
  });

  it('a file shorter than listed (changed while hashing) is an error, not zeros', async () => {
    const [f] = files([bytes(1_000, 8)]);
    await expect(hashAllPieces([{ path: f!.path, length: 2_000 }], 16_384)).rejects.toThrow(/changed while being hashed/);
  });

  it('a missing file is a typed error', async () => {
    const err = await hashAllPieces([{ path: join(dir, 'nope'), length: 5 }], 16_384).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TorrentError);
    expect((err as TorrentError).message).toMatch(/no such file/);
  });

  it('stopping early closes cleanly', async () => {
    const datas = [bytes(200_000, 9)];
    const it = hashFiles(files(datas), 16_384, { chunkBytes: 16_384 });
    const first = await it.next();
    expect(first.done).toBe(false);
    await it.return(undefined);
    expect((await it.next()).done).toBe(true);
  });
});
