/**
 * Issue 17, cause 13: work per file is bounded. Counts the file-system calls in flight while
 * storage creates, stats, checks and watches thousands of files (never more than
 * FILE_OP_CONCURRENCY at once, where one call per file used to start all at once), and counts
 * the process's open descriptors while writing to hundreds of files (never more than
 * MAX_OPEN_FILES held). Peak memory for 100,000 files is measured in bench/memory.mjs.
 */
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { FILE_OP_CONCURRENCY, mapBounded } from '../../src/storage/bounded.js';
import { checkExisting } from '../../src/storage/check.js';
import { FileStorage, MAX_OPEN_FILES } from '../../src/storage/file-storage.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';

const fsCalls = vi.hoisted(() => ({ inFlight: 0, max: 0, total: 0 }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const track =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      fsCalls.inFlight++;
      fsCalls.total++;
      fsCalls.max = Math.max(fsCalls.max, fsCalls.inFlight);
      try {
        return await fn(...args);
      } finally {
        fsCalls.inFlight--;
      }
    };
  const mocked = { ...real, open: track(real.open), stat: track(real.stat), lstat: track(real.lstat), mkdir: track(real.mkdir) };
  return { ...mocked, default: mocked };
});

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'torrent-storage-bounded-'));
  dirs.push(d);
  return d;
};
beforeEach(() => {
  fsCalls.max = 0;
  fsCalls.total = 0;
});
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const openDescriptors = (): number => readdirSync('/proc/self/fd').length;
/**
 * Descriptors of files under `root`: the storage's own. The whole process's count also moves with
 * the disk-writer thread (its event loop's descriptors, its script while it loads), which under a
 * loaded suite was caught mid-start one over the bound.
 */
const descriptorsUnder = (root: string): number =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith(root + '/');
    } catch {
      return false; // closed between the listing and the look
    }
  }).length;

describe('mapBounded', () => {
  it('keeps at most `limit` calls pending, results in order', async () => {
    let pending = 0;
    let most = 0;
    const out = await mapBounded(1000, 7, async (i) => {
      pending++;
      most = Math.max(most, pending);
      await new Promise((r) => setImmediate(r));
      pending--;
      return i * 2;
    });
    expect(most).toBe(7);
    expect(out).toEqual(Array.from({ length: 1000 }, (_, i) => i * 2));
  });

  it('rethrows the first failure after the started calls settle, and starts no more', async () => {
    let started = 0;
    let settled = 0;
    const run = mapBounded(100, 4, async (i) => {
      started++;
      await new Promise((r) => setImmediate(r));
      settled++;
      if (i === 5) throw new Error('boom');
    });
    await expect(run).rejects.toThrow('boom');
    expect(settled).toBe(started);
    expect(started).toBeLessThan(100);
  });
});

describe('FileStorage with thousands of files', () => {
  const N = 5_000;
  const files = Array.from({ length: N }, (_, i) => ({ path: [`d${i % 50}`, `f${i}`], data: Buffer.alloc(0) }));
  files.push({ path: ['last.bin'], data: Buffer.from('x') });
  const meta = parseTorrent(makeTorrent({ name: 'many', pieceLength: 16384, files }));

  it(`creates, stats, checks and watches ${N} empty files with at most FILE_OP_CONCURRENCY calls in flight`, async () => {
    const root = tmp();
    const st = new FileStorage({ root, meta, selected: null });
    await st.createEmptyFiles();
    expect(readdirSync(join(root, 'many', 'd0'))).toHaveLength(N / 50);
    await st.writePiece(0, [Buffer.from('x')]);
    const stats = await st.fileStats();
    expect(stats.filter((s) => s !== null)).toHaveLength(N + 1);
    const checked = await checkExisting({ storage: st, meta, wanted: () => true, resume: null });
    expect(checked.verified.count).toBe(1);
    expect(await st.changedFiles((p) => p === 0)).toEqual({ files: [], pieces: [] });
    await st.close();
    expect(fsCalls.total).toBeGreaterThan(3 * N); // the work did happen, per file
    expect(fsCalls.max).toBeLessThanOrEqual(FILE_OP_CONCURRENCY);
    expect(fsCalls.inFlight).toBe(0);
  });

  it('holds at most MAX_OPEN_FILES descriptors while writing to hundreds of files', async () => {
    const count = 3 * MAX_OPEN_FILES;
    const datas = Array.from({ length: count }, (_, i) => bytes(100, i + 1));
    const small = parseTorrent(makeTorrent({ name: 'small', pieceLength: 16384, files: datas.map((data, i) => ({ path: [`f${i}`], data })) }));
    const all = Buffer.concat(datas);
    const before = openDescriptors();
    const root = tmp();
    const st = new FileStorage({ root, meta: small, selected: null });
    let most = 0;
    for (let p = 0; p < small.pieceCount; p++) {
      await st.writePiece(p, [all.subarray(p * 16384, (p + 1) * 16384)]);
      most = Math.max(most, descriptorsUnder(root));
    }
    for (let p = 0; p < small.pieceCount; p++) expect((await st.readPiece(p))!.equals(all.subarray(p * 16384, (p + 1) * 16384))).toBe(true);
    most = Math.max(most, descriptorsUnder(root));
    await st.close();
    expect(descriptorsUnder(root)).toBe(0);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(MAX_OPEN_FILES);
    expect(openDescriptors()).toBe(before);
  });
});
