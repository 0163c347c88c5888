/**
 * storage/check-v2 on worker threads: for v2-only and hybrid torrents, the threads' merkle
 * hashes (and SHA-1s) read through lent descriptors give the same verdicts, `hashed` and
 * `unknown` counts as judging each piece's bytes on this thread with metainfo/v2.ts, across batch
 * boundaries, missing and cut files, changed bytes, unknown piece layers; and a hybrid whose hash
 * sets disagree is the same MetainfoError both ways.
 *
 * The worker script is the built one (dist/storage/hash-worker.js): run `npx tsc -p .` first.
 */
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MetainfoError } from '../../src/errors.js';
import { buildTorrent, fileTree, parseTorrent, pieceHash, type Metainfo } from '../../src/metainfo/index.js';
import { checkExistingV2, type CheckV2Result } from '../../src/storage/check-v2.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import { builtScript } from '../helpers/built.js';
import { bytes, pieceHashes } from '../helpers/make-torrent.js';
import { v2Fixture } from '../helpers/v2-fixture.js';

const script = builtScript('storage', 'hash-worker.js');

const dir = mkdtempSync(join(tmpdir(), 'torrent-check-v2-workers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** Four 16 KiB blocks a piece, so a small file's tree (width: its blocks, to a power of two) differs from a piece's. */
const PIECE = 65_536;
const BLOCK = 16_384;
const FILES = [
  { path: 'a.bin', data: bytes(5 * PIECE + 300, 1) }, // a piece layer, a short last piece
  { path: 'b/small', data: bytes(1_000, 2) }, // one block: its root is its only leaf
  { path: 'b/two-blocks', data: bytes(BLOCK + 1, 3) }, // one piece, a tree two leaves wide
  { path: 'c.bin', data: bytes(3 * PIECE, 4) }, // whole pieces
];

let n = 0;
function writeData(files: { path: string; data: Buffer }[]): string {
  const root = mkdtempSync(join(dir, `r${n++}-`));
  for (const f of files) {
    const p = join(root, 't', ...f.path.split('/'));
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.data);
  }
  return root;
}

type Summary = Pick<CheckV2Result, 'hashed' | 'unknown'> & { verified: string };

async function run(root: string, meta: Metainfo, workers: number, batchBytes?: number): Promise<Summary> {
  const storage = new FileStorage({ root, meta, selected: null });
  try {
    const r = await checkExistingV2({ storage, meta, wanted: () => true, workers, workerUrl: script, ...(batchBytes ? { batchBytes } : {}) });
    return { verified: r.verified.toString(), hashed: r.hashed, unknown: r.unknown };
  } finally {
    await storage.close();
  }
}

describe('checkExistingV2 on worker threads', () => {
  const damages: [string, (root: string) => void][] = [
    ['nothing', () => undefined],
    ['a file missing', (root) => unlinkSync(join(root, 't', 'b', 'two-blocks'))],
    ['a file cut mid-block', (root) => truncateSync(join(root, 't', 'a.bin'), 3 * PIECE + BLOCK + 5_000)],
    [
      'a byte changed',
      (root) => {
        const b = Buffer.from(FILES[3]!.data);
        b[PIECE + BLOCK + 77]! ^= 0x10; // c.bin is 3 pieces long
        writeFileSync(join(root, 't', 'c.bin'), b);
      },
    ],
  ];
  for (const version of [2, 'hybrid'] as const) {
    const fx = v2Fixture('t', FILES, PIECE, version);
    for (const [name, damage] of damages) {
      it(`${version === 2 ? 'v2' : 'hybrid'}, ${name}: the threads' verdicts equal this thread's, whatever the batch size`, async () => {
        const root = writeData(FILES);
        damage(root);
        const here = await run(root, fx.meta, 0);
        if (name === 'nothing') expect(here.verified).toBe('1'.repeat(fx.meta.pieceCount));
        else expect(here.verified).toContain('0');
        for (const batchBytes of [1, 2 * PIECE, 4 << 20]) expect(await run(root, fx.meta, 2, batchBytes)).toEqual(here);
      });
    }
    it(`${version === 2 ? 'v2' : 'hybrid'}: without piece layers the pieces of multi-piece files are unknown, the same both ways`, async () => {
      const root = writeData(FILES);
      const here = await run(root, fx.bare, 0);
      expect(here.unknown).toBeGreaterThan(0);
      expect(await run(root, fx.bare, 2, 3 * PIECE)).toEqual(here);
    });
  }

  it('a hybrid whose hash sets disagree is the same MetainfoError with threads as here', async () => {
    const fx = v2Fixture('t', FILES, PIECE, 'hybrid');
    // The same files and trees, but the SHA-1 of piece 7 taken over other bytes: v2 accepts the
    // data on disk, v1 refuses it, so no data can satisfy both.
    const stream = Buffer.from(fx.data);
    stream[PIECE * 7 + 9]! ^= 1; // b/two-blocks, the only piece of its file
    const meta = parseTorrent(
      buildTorrent({
        name: 't',
        files: FILES.map((f) => ({ path: f.path.split('/'), length: f.data.length })),
        pieceLength: PIECE,
        pieces: pieceHashes(stream, PIECE),
        version: 'hybrid',
        trees: FILES.map((f) => fileTree(f.data, PIECE)),
        announce: [],
        urlList: [],
        private: false,
        comment: null,
        createdBy: null,
        creationDate: null,
      }),
    );
    const root = writeData(FILES);
    const here = await run(root, meta, 0).catch((e: unknown) => e);
    const there = await run(root, meta, 2, 3 * PIECE).catch((e: unknown) => e);
    expect(here).toBeInstanceOf(MetainfoError);
    expect((here as Error).message).toMatch(/disagree on piece 7 \(b\/two-blocks\)/);
    expect(there).toBeInstanceOf(MetainfoError);
    expect((there as Error).message).toBe((here as Error).message);
  });

  it('hashSpansV2 reports a piece whose bytes after its file data are not zero', async () => {
    const root = mkdtempSync(join(dir, `r${n++}-`));
    const data = bytes(BLOCK + 1, 5);
    const path = join(root, 'f');
    writeFileSync(path, Buffer.concat([data, Buffer.from([0, 0, 7, 0])]));
    const { HashPool } = await import('../../src/storage/hash-pool.js');
    const pool = new HashPool(script, 1);
    const fd = openSync(path, 'r');
    try {
      const spans = [{ kind: 'fd' as const, fd, path, position: 0, length: data.length + 4 }];
      const piece = [{ dataLength: data.length, fileLength: data.length }];
      const dirty = await pool.hashSpansV2(spans, PIECE, piece, true);
      expect([...dirty.zeroTail]).toEqual([0]);
      expect(Buffer.from(dirty.roots)).toEqual(pieceHash(data, data.length, PIECE));
      const clean = await pool.hashSpansV2([{ ...spans[0]!, length: data.length + 2 }], PIECE, piece, true);
      expect([...clean.zeroTail]).toEqual([1]);
      expect(clean.digests).toEqual(createHash('sha1').update(Buffer.concat([data, Buffer.alloc(2)])).digest());
    } finally {
      closeSync(fd);
      await pool.close();
    }
  });
});
