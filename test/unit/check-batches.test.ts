/**
 * The start-up check (storage/check.ts) in batches: whether its pieces are hashed by worker
 * threads reading descriptors the storage lends (FileStorage.lendPieces, hash-pool hashSpans) or
 * on this thread from reusable buffers (readPiecesInto), the verdict on every piece equals reading
 * that piece alone and hashing it, across batch boundaries, files ending mid-batch, missing and
 * cut files, pad files, the part file and corrupt pieces. Read errors are the same typed error
 * both ways; lent descriptors are released.
 *
 * The worker script is the built one (dist/storage/hash-worker.js): run `npx tsc -p .` first.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { TorrentError } from '../../src/errors.js';
import { parseTorrent, type Metainfo } from '../../src/metainfo/index.js';
import { checkExisting } from '../../src/storage/check.js';
import { FileStorage, type LentSpan } from '../../src/storage/file-storage.js';
import { HashPool } from '../../src/storage/hash-pool.js';
import { builtScript } from '../helpers/built.js';
import { bytes, makeTorrent, type FileSpec } from '../helpers/make-torrent.js';
import { pollUntil } from '../helpers/poll.js';

const script = builtScript('storage', 'hash-worker.js');

const dir = mkdtempSync(join(tmpdir(), 'torrent-check-batches-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const tmp = (): string => mkdtempSync(join(dir, `r${n++}-`));
/** Descriptors this process has open. */
const fds = (): number => readdirSync('/proc/self/fd').length;

/** Writes the files of a multi-file torrent named `t` under `root` (pad files are not written). */
function writeFiles(root: string, files: FileSpec[]): void {
  for (const f of files) {
    if (f.attr === 'p') continue;
    const path = join(root, 't', ...f.path);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, f.data);
  }
}

/** The verdict piece by piece, each read alone: what the check must agree with. */
async function oracle(storage: FileStorage, meta: Metainfo): Promise<string> {
  let out = '';
  for (let p = 0; p < meta.pieceCount; p++) {
    const data = await storage.readPiece(p);
    const ok = data !== null && createHash('sha1').update(data).digest().equals(meta.pieces!.subarray(p * 20, p * 20 + 20));
    out += ok ? '1' : '0';
  }
  return out;
}

async function check(root: string, meta: Metainfo, workers: number, batchBytes: number, selected: ReadonlySet<number> | null = null): Promise<string> {
  const storage = new FileStorage({ root, meta, selected });
  try {
    const r = await checkExisting({ storage, meta, wanted: () => true, resume: null, workers, workerUrl: script, batchBytes });
    return r.verified.toString();
  } finally {
    await storage.close();
  }
}

async function expected(root: string, meta: Metainfo, selected: ReadonlySet<number> | null = null): Promise<string> {
  const storage = new FileStorage({ root, meta, selected });
  try {
    return await oracle(storage, meta);
  } finally {
    await storage.close();
  }
}

describe('checkExisting in batches', () => {
  const pieceLength = 4_096;
  const files: FileSpec[] = [
    { path: ['a.bin'], data: bytes(10_000, 1) },
    { path: ['b.bin'], data: bytes(3, 2) },
    { path: ['c.bin'], data: bytes(20_000, 3) },
    { path: ['.pad', '1673'], data: Buffer.alloc(4096 - ((10_000 + 3 + 20_000) % 4096)), attr: 'p' },
    { path: ['d.bin'], data: bytes(9_000, 4) },
    { path: ['e.bin'], data: bytes(0, 5) },
    { path: ['f.bin'], data: bytes(12_345, 6) },
  ];
  const meta = parseTorrent(makeTorrent({ name: 't', pieceLength, files }));

  /** Damage applied to a fresh copy of the files before checking. */
  const cases: [string, (root: string) => void, string | null][] = [
    ['all present', () => undefined, '1'.repeat(meta.pieceCount)],
    ['a file missing in the middle', (root) => unlinkSync(join(root, 't', 'c.bin')), null],
    ['a file cut short', (root) => truncateSync(join(root, 't', 'd.bin'), 5_000), null],
    ['the last file cut short', (root) => truncateSync(join(root, 't', 'f.bin'), 12_000), null],
    [
      'a corrupt byte',
      (root) => {
        const p = join(root, 't', 'c.bin');
        const b = bytes(20_000, 3);
        b[15_000]! ^= 1; // c.bin is 20 000 bytes
        writeFileSync(p, b);
      },
      null,
    ],
  ];
  for (const [name, damage, whole] of cases) {
    it(`${name}: workers and this thread agree with reading each piece alone, whatever the batch size`, async () => {
      const root = tmp();
      writeFiles(root, files);
      damage(root);
      const want = await expected(root, meta);
      if (whole !== null) expect(want).toBe(whole);
      else expect(want).toContain('0');
      for (const batchBytes of [1, 3 * pieceLength, 5 * pieceLength + 7, 1 << 20]) {
        expect(await check(root, meta, 2, batchBytes)).toBe(want);
        expect(await check(root, meta, 0, batchBytes)).toBe(want);
      }
    });
  }

  it('pieces with bytes in the part file (unselected files) verify from it, both ways', async () => {
    const root = tmp();
    const selected = new Set([0, 2, 6]); // a, c, f: b and d live in the part file
    const storage = new FileStorage({ root, meta, selected });
    try {
      const all = Buffer.concat(files.map((f) => f.data));
      for (let p = 0; p < meta.pieceCount; p++) {
        await storage.writePiece(p, [all.subarray(p * pieceLength, (p + 1) * pieceLength)]);
      }
    } finally {
      await storage.close();
    }
    const want = await expected(root, meta, selected);
    expect(want).toBe('1'.repeat(meta.pieceCount));
    expect(await check(root, meta, 2, 2 * pieceLength, selected)).toBe(want);
    expect(await check(root, meta, 0, 2 * pieceLength, selected)).toBe(want);
  });

  it('any layout and damage: both ways equal the piece-by-piece verdict (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ length: fc.integer({ min: 0, max: 6_000 }), fate: fc.constantFrom('keep', 'drop', 'cut', 'flip') }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 3_000 }),
        fc.integer({ min: 1, max: 10_000 }),
        async (specs, pl, batchBytes) => {
          const fs: FileSpec[] = specs.map((s, i) => ({ path: [`f${i}`], data: bytes(s.length, i + 40) }));
          if (fs.every((f) => f.data.length === 0)) return;
          const m = parseTorrent(makeTorrent({ name: 't', pieceLength: pl, files: fs }));
          const root = tmp();
          writeFiles(root, fs);
          specs.forEach((s, i) => {
            const path = join(root, 't', `f${i}`);
            if (s.fate === 'drop') unlinkSync(path);
            else if (s.fate === 'cut') truncateSync(path, Math.floor(s.length / 2));
            else if (s.fate === 'flip' && s.length > 0) {
              const b = Buffer.from(fs[i]!.data);
              b[s.length >> 1]! ^= 0x80; // s.length > 0, so within the file
              writeFileSync(path, b);
            }
          });
          const want = await expected(root, m);
          expect(await check(root, m, 2, batchBytes)).toBe(want);
          expect(await check(root, m, 0, batchBytes)).toBe(want);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('a read error is the same typed error with workers as on this thread', async () => {
    const root = tmp();
    writeFiles(root, files);
    // A folder where a file should be: it opens, and reading it fails (EISDIR).
    unlinkSync(join(root, 't', 'c.bin'));
    mkdirSync(join(root, 't', 'c.bin'));
    const run = (workers: number): Promise<unknown> => check(root, meta, workers, 3 * pieceLength).catch((e: unknown) => e);
    const here = await run(0);
    const there = await run(2);
    expect(here).toBeInstanceOf(TorrentError);
    expect(there).toBeInstanceOf(TorrentError);
    expect((there as TorrentError).code).toBe('ERR_DISK');
    expect((there as TorrentError).code).toBe((here as TorrentError).code);
    expect((there as TorrentError).message).toBe((here as TorrentError).message);
  });

  it('leaves no descriptor open once the storage is closed, with many small files', async () => {
    const many: FileSpec[] = Array.from({ length: 150 }, (_, i) => ({ path: [`s${i}`], data: bytes(300 + i, i + 60) }));
    const m = parseTorrent(makeTorrent({ name: 't', pieceLength: 4_096, files: many }));
    const root = tmp();
    writeFiles(root, many);
    const before = fds();
    expect(await check(root, m, 2, 64 * 1024)).toBe('1'.repeat(m.pieceCount));
    // Descriptors the cache evicted close in the background once their last reader is done.
    await pollUntil(() => fds() === before, { timeoutMs: 3_000, what: `${before} descriptors open`, detail: () => `${fds()} open` });
  });
});

describe('FileStorage.lendPieces', () => {
  const files: FileSpec[] = [
    { path: ['a.bin'], data: bytes(5_000, 7) },
    { path: ['.pad', '3192'], data: Buffer.alloc(3_192), attr: 'p' },
    { path: ['b.bin'], data: bytes(6_000, 8) },
  ];
  const meta = parseTorrent(makeTorrent({ name: 't', pieceLength: 8_192, files }));

  it('lends open descriptors in stream order, zeros for pads and absent for missing files, and holds them only while fn runs', async () => {
    const root = tmp();
    writeFiles(root, [files[0]!]);
    const storage = new FileStorage({ root, meta, selected: null });
    try {
      const before = fds();
      let seen: LentSpan[] = [];
      const got = await storage.lendPieces(0, 2, async (spans) => {
        seen = spans;
        const first = spans[0];
        // a.bin is on disk, so the first span is its descriptor; anything else fails the lend here.
        if (first?.kind !== 'fd') throw new Error(`first span: ${first?.kind ?? 'none'}, expected fd`);
        const fd = first.fd;
        const buf = Buffer.alloc(100);
        readSync(fd, buf, 0, 100, 10);
        return buf;
      });
      expect(got).toEqual(files[0]!.data.subarray(10, 110));
      expect(seen.map((s) => [s.kind, s.length])).toEqual([
        ['fd', 5_000],
        ['zeros', 3_192],
        ['absent', 6_000],
      ]);
      expect(seen[0]).toMatchObject({ position: 0, path: join(root, 't', 'a.bin') });
      // The descriptor stays in the storage's cache (closed with it), not leaked per lend.
      await storage.lendPieces(0, 1, async () => undefined);
      expect(fds()).toBe(before + 1);
    } finally {
      await storage.close();
    }
  });

  it('a worker reading lent spans marks pieces with bytes not on disk as missing', async () => {
    const root = tmp();
    writeFiles(root, [files[0]!]);
    const storage = new FileStorage({ root, meta, selected: null });
    const pool = new HashPool(script, 1);
    try {
      const r = await storage.lendPieces(0, 2, (spans) => pool.hashSpans(spans, 8_192));
      expect([...r.missing]).toEqual([0, 1]);
      const first = Buffer.concat([files[0]!.data, Buffer.alloc(3_192)]);
      expect(r.digests.subarray(0, 20)).toEqual(createHash('sha1').update(first).digest());
    } finally {
      await pool.close();
      await storage.close();
    }
  });
});
