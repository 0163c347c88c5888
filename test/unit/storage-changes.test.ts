/**
 * Issue 17, causes 6 and 7 (storage side): no success over missing data. FileStorage names the
 * pieces whose files changed from outside; resume data records only what is on disk now, is not
 * trusted over deleted, truncated or edited files, nor when it was edited to claim everything;
 * saving it never throws.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseTorrent, type Metainfo } from '../../src/metainfo/index.js';
import { checkExisting } from '../../src/storage/check.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import { loadResume, resumePath, saveResume, type ResumeData } from '../../src/storage/resume.js';
import { Bitfield } from '../../src/util/bitfield.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'torrent-storage-changes-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const PL = 16384;
// a.bin: pieces 0-1; b.bin: pieces 2-3 (ends mid-piece 3); c.bin: piece 3; plus an empty file.
const data = [bytes(2 * PL, 1), bytes(PL + 5000, 2), bytes(6000, 3)];
const meta: Metainfo = parseTorrent(
  makeTorrent({
    name: 'root',
    pieceLength: PL,
    files: [
      { path: ['a.bin'], data: data[0]! },
      { path: ['b.bin'], data: data[1]! },
      { path: ['c.bin'], data: data[2]! },
      { path: ['empty'], data: Buffer.alloc(0) },
    ],
  }),
);
const whole = Buffer.concat(data);
const piece = (p: number): Buffer => whole.subarray(p * PL, Math.min(whole.length, (p + 1) * PL));
const hex = meta.infoHash!.toString('hex');
const all = (): Bitfield => Bitfield.fromString('1111');

async function complete(root: string): Promise<FileStorage> {
  const st = new FileStorage({ root, meta, selected: null });
  await st.createEmptyFiles();
  for (let p = 0; p < meta.pieceCount; p++) await st.writePiece(p, [piece(p)]);
  return st;
}

/** Moves a file's mtime well away from what we saw, as an outside edit that kept the size would. */
function touchLater(path: string): void {
  const later = new Date(Date.now() + 60_000);
  utimesSync(path, later, later);
}

describe('FileStorage.changedFiles', () => {
  it('names nothing while the files are as we wrote them', async () => {
    const st = await complete(tmp());
    expect(await st.changedFiles((p) => all().has(p))).toEqual({ files: [], pieces: [] });
    await st.close();
  });

  it('a deleted file: its pieces are forgotten, and the next write makes it again', async () => {
    const root = tmp();
    const st = await complete(root);
    const a = join(root, 'root', 'a.bin');
    unlinkSync(a); // while our descriptor for it may still be open
    expect(await st.changedFiles((p) => all().has(p))).toEqual({ files: [0], pieces: [0, 1] });
    await st.writePiece(0, [piece(0)]);
    await st.writePiece(1, [piece(1)]);
    expect(readFileSync(a).equals(data[0]!)).toBe(true);
    expect(await st.changedFiles((p) => all().has(p))).toEqual({ files: [], pieces: [] });
    await st.close();
  });

  it('a truncated file, an edited one (same size, new mtime) and a replaced one each count', async () => {
    const root = tmp();
    const st = await complete(root);
    truncateSync(join(root, 'root', 'b.bin'), 100);
    expect(await st.changedFiles((p) => all().has(p))).toEqual({ files: [1], pieces: [2, 3] });

    const st2 = await complete(tmp());
    const root2 = dirs.at(-1)!;
    touchLater(join(root2, 'root', 'c.bin'));
    expect(await st2.changedFiles((p) => all().has(p))).toEqual({ files: [2], pieces: [3] });

    const st3 = await complete(tmp());
    const root3 = dirs.at(-1)!;
    const a = join(root3, 'root', 'a.bin');
    const copy = readFileSync(a);
    unlinkSync(a);
    writeFileSync(a, copy); // same bytes and size, another inode
    expect((await st3.changedFiles((p) => all().has(p))).files).toEqual([0]);
    await Promise.all([st.close(), st2.close(), st3.close()]);
  });

  it('only pieces asked about are named; a deleted empty file is named with no piece', async () => {
    const root = tmp();
    const st = await complete(root);
    unlinkSync(join(root, 'root', 'b.bin'));
    unlinkSync(join(root, 'root', 'empty'));
    expect(await st.changedFiles((p) => p === 3)).toEqual({ files: [1, 3], pieces: [3] });
    await st.close();
  });

  it('a piece whose bytes sit in the part file is forgotten when the part file goes', async () => {
    const root = tmp();
    const st = new FileStorage({ root, meta, selected: new Set([2]) }); // c.bin only: b.bin's tail goes to the part file
    await st.writePiece(3, [piece(3)]);
    expect(await st.changedFiles((p) => p === 3)).toEqual({ files: [], pieces: [] });
    unlinkSync(join(root, '.root.parts'));
    expect(await st.changedFiles((p) => p === 3)).toEqual({ files: [], pieces: [3] });
    await st.close();
  });
});

describe('resume data records only what is on disk now', () => {
  it('a snapshot leaves out the pieces of a file deleted since it was written', async () => {
    const root = tmp();
    const st = await complete(root);
    unlinkSync(join(root, 'root', 'a.bin'));
    const snap = await st.resumeSnapshot(hex, all());
    expect(snap.changed.pieces).toEqual([0, 1]);
    expect(new Bitfield(4, Buffer.from(snap.data.verified, 'base64')).toString()).toBe('0011');
    expect(snap.data.files[0]).toBeNull(); // no baseline left for the deleted file
    await st.close();
  });

  it('a snapshot never blesses an outside edit: the next start re-hashes and rejects the piece', async () => {
    const root = tmp();
    const st = await complete(root);
    const c = join(root, 'root', 'c.bin');
    const bad = readFileSync(c);
    bad[10]! ^= 0xff; // c.bin is 6000 bytes
    writeFileSync(c, bad);
    touchLater(c);
    const snap = await st.resumeSnapshot(hex, all());
    await st.close();
    expect(new Bitfield(4, Buffer.from(snap.data.verified, 'base64')).toString()).toBe('1110');
    const st2 = new FileStorage({ root, meta, selected: null });
    const r = await checkExisting({ storage: st2, meta, wanted: () => true, resume: snap.data });
    expect(r.verified.toString()).toBe('1110');
    expect(r.trusted).toBe(3);
    expect(r.hashed).toBe(1);
    await st2.close();
  });

  it('a round trip through save and load is trusted while the files stay as they were', async () => {
    const root = tmp();
    const cache = tmp();
    const st = await complete(root);
    const path = resumePath(cache, hex, root);
    expect(await saveResume(path, (await st.resumeSnapshot(hex, all())).data)).toEqual({ ok: true });
    await st.close();
    const resume = await loadResume(path, hex, meta.pieceCount, meta.files.length);
    const st2 = new FileStorage({ root, meta, selected: null });
    expect(await checkExisting({ storage: st2, meta, wanted: () => true, resume })).toMatchObject({ trusted: 4, hashed: 0 });
    await st2.close();
  });
});

describe('the start-up check does not trust resume data over missing or changed files', () => {
  async function savedThenStats(root: string): Promise<ResumeData> {
    const st = await complete(root);
    const snap = await st.resumeSnapshot(hex, all());
    await st.close();
    return snap.data;
  }

  it('a file deleted after the save: its pieces are neither trusted nor verified', async () => {
    const root = tmp();
    const resume = await savedThenStats(root);
    unlinkSync(join(root, 'root', 'a.bin'));
    const st = new FileStorage({ root, meta, selected: null });
    const r = await checkExisting({ storage: st, meta, wanted: () => true, resume });
    expect(r.verified.toString()).toBe('0011');
    expect(r.trusted).toBe(2);
    await st.close();
  });

  it('a file truncated after the save (mtime put back): its pieces are re-hashed and fail', async () => {
    const root = tmp();
    const resume = await savedThenStats(root);
    const b = join(root, 'root', 'b.bin');
    truncateSync(b, 100);
    const recorded = resume.files[1]!;
    utimesSync(b, new Date(recorded.mtimeMs), new Date(recorded.mtimeMs));
    const st = new FileStorage({ root, meta, selected: null });
    const r = await checkExisting({ storage: st, meta, wanted: () => true, resume });
    expect(r.verified.toString()).toBe('1100');
    expect(r.trusted).toBe(2);
    await st.close();
  });

  it('resume data edited to claim every piece, with no data on disk, claims nothing', async () => {
    const root = tmp();
    mkdirSync(join(root, 'root'));
    const forged: ResumeData = {
      version: 1,
      infoHash: hex,
      pieceCount: meta.pieceCount,
      verified: Buffer.from([0xf0]).toString('base64'),
      files: meta.files.map(() => null),
    };
    const st = new FileStorage({ root, meta, selected: null });
    const r = await checkExisting({ storage: st, meta, wanted: () => true, resume: forged });
    expect(r).toMatchObject({ trusted: 0, hashed: 0 });
    expect(r.verified.count).toBe(0);
    await st.close();
  });

  it('forged stats that match files too short to hold the pieces are not trusted', async () => {
    const root = tmp();
    mkdirSync(join(root, 'root'));
    for (const name of ['a.bin', 'b.bin', 'c.bin']) writeFileSync(join(root, 'root', name), 'x');
    const st = new FileStorage({ root, meta, selected: null });
    const now = await st.fileStats();
    const forged: ResumeData = { version: 1, infoHash: hex, pieceCount: 4, verified: Buffer.from([0xf0]).toString('base64'), files: now };
    const r = await checkExisting({ storage: st, meta, wanted: () => true, resume: forged });
    expect(r.trusted).toBe(0);
    expect(r.verified.count).toBe(0);
    await st.close();
  });
});

describe('saving resume data is best effort', () => {
  const snapshot: ResumeData = { version: 1, infoHash: hex, pieceCount: 4, verified: 'AA==', files: meta.files.map(() => null) };

  it('a folder in the way of the resume file: a warning, nothing thrown, no temp file left', async () => {
    const cache = tmp();
    const path = join(cache, 'resume.json');
    mkdirSync(path);
    writeFileSync(join(path, 'keep'), 'x'); // a non-empty folder cannot be renamed over
    const r = await saveResume(path, snapshot);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.warning).toContain(path);
    expect((await readdir(cache)).sort()).toEqual(['resume.json']);
  });

  it('a cache folder that cannot be created: a warning, nothing thrown', async () => {
    const cache = tmp();
    writeFileSync(join(cache, 'file'), 'x');
    const r = await saveResume(join(cache, 'file', 'resume', 'r.json'), snapshot);
    expect(r.ok).toBe(false);
  });
});
