import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseTorrent, type Metainfo } from '../../src/metainfo/index.js';
import { checkExisting } from '../../src/storage/check.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import { PieceMap } from '../../src/storage/piece-map.js';
import { loadResume, resumePath, saveResume } from '../../src/storage/resume.js';
import { safeJoin } from '../../src/storage/safe-path.js';
import { TorrentError } from '../../src/errors.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'torrent-storage-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const files: [string[], Buffer, string?][] = [
  [['a.bin'], bytes(10_000, 1)],
  [['.pad', '6384'], Buffer.alloc(6384), 'p'],
  [['sub', 'b.bin'], bytes(20_000, 2)],
  [['empty'], Buffer.alloc(0)],
  [['c.bin'], bytes(5_000, 3)],
];
const meta: Metainfo = parseTorrent(
  makeTorrent({ name: 'root', pieceLength: 16384, files: files.map(([path, data, attr]) => ({ path, data, attr })) }),
);
const whole = Buffer.concat(files.map(([, d]) => d));
const piece = (p: number): Buffer => whole.subarray(p * 16384, Math.min(whole.length, (p + 1) * 16384));
const blocksOf = (b: Buffer, size = 4096): Buffer[] => {
  const out: Buffer[] = [];
  for (let o = 0; o < b.length; o += size) out.push(b.subarray(o, o + size));
  return out;
};

describe('PieceMap', () => {
  const map = new PieceMap(meta.files, meta.pieceLength, meta.totalLength);

  it('maps pieces across file boundaries, pad files flagged, empty files skipped', () => {
    expect(map.pieceCount).toBe(3);
    expect(map.pieceSpans(0)).toEqual([
      { fileIndex: 0, fileOffset: 0, rangeOffset: 0, length: 10_000, pad: false },
      { fileIndex: 1, fileOffset: 0, rangeOffset: 10_000, length: 6384, pad: true },
    ]);
    expect(map.pieceSpans(1)).toEqual([{ fileIndex: 2, fileOffset: 0, rangeOffset: 0, length: 16384, pad: false }]);
    expect(map.pieceSpans(2)).toEqual([
      { fileIndex: 2, fileOffset: 16384, rangeOffset: 0, length: 3616, pad: false },
      { fileIndex: 4, fileOffset: 0, rangeOffset: 3616, length: 5000, pad: false },
    ]);
    expect(map.pieceSize(2)).toBe(8616);
  });

  it('maps a block inside a file and reports which pieces hold a file', () => {
    expect(map.spans(16384 + 100, 50)).toEqual([{ fileIndex: 2, fileOffset: 100, rangeOffset: 0, length: 50, pad: false }]);
    expect(map.filePieces(2)).toEqual([1, 2]);
    expect(map.filePieces(3)).toBeNull();
    expect(() => map.spans(0, meta.totalLength + 1)).toThrow(RangeError);
  });
});

describe('safeJoin', () => {
  it('refuses anything that could leave the folder', () => {
    const root = tmp();
    expect(safeJoin(root, ['a', 'b'])).toBe(join(root, 'a', 'b'));
    for (const bad of [['..'], ['a', '..', '..'], ['/etc'], ['a/b'], ['a\\b'], [''], ['.'], ['x\0y']]) {
      expect(() => safeJoin(root, bad), JSON.stringify(bad)).toThrow(TorrentError);
    }
  });
});

describe('FileStorage', () => {
  it('writes pieces from blocks into the right files, never pad files, and reads them back', async () => {
    const root = tmp();
    const st = new FileStorage({ root, meta, selected: null });
    await st.createEmptyFiles();
    for (const p of [2, 0, 1]) await st.writePiece(p, blocksOf(piece(p)));
    expect(readFileSync(join(root, 'root', 'a.bin')).equals(files[0]![1])).toBe(true);
    expect(readFileSync(join(root, 'root', 'sub', 'b.bin')).equals(files[2]![1])).toBe(true);
    expect(readFileSync(join(root, 'root', 'c.bin')).equals(files[4]![1])).toBe(true);
    expect(readFileSync(join(root, 'root', 'empty')).length).toBe(0);
    expect(existsSync(join(root, 'root', '.pad'))).toBe(false);
    expect((await st.readPiece(0))!.equals(piece(0))).toBe(true);
    expect((await st.readBlock(2, 3000, 2000)).equals(piece(2).subarray(3000, 5000))).toBe(true);
    await st.close();
  });

  it('puts bytes of unselected files in a part file and creates only selected files', async () => {
    const root = tmp();
    const st = new FileStorage({ root, meta, selected: new Set([4]) }); // c.bin only
    await st.writePiece(2, [piece(2)]);
    expect(existsSync(join(root, 'root', 'sub', 'b.bin'))).toBe(false);
    expect(readFileSync(join(root, 'root', 'c.bin')).equals(files[4]![1])).toBe(true);
    expect(existsSync(join(root, '.root.parts'))).toBe(true);
    expect((await st.readPiece(2))!.equals(piece(2))).toBe(true);
    // Never written: a missing file reads as null, a hole in the sparse part file as zeros;
    // either way it can never pass as the real data.
    expect((await st.readPiece(0))?.equals(piece(0)) ?? false).toBe(false);
    await st.close();
  });

  it('keeps no more descriptors open than its limit, across many files', async () => {
    const many = parseTorrent(
      makeTorrent({ name: 'many', pieceLength: 16384, files: Array.from({ length: 200 }, (_, i) => ({ path: [`f${i}`], data: bytes(100, i + 1) })) }),
    );
    const all = Buffer.concat(Array.from({ length: 200 }, (_, i) => bytes(100, i + 1)));
    const root = tmp();
    const st = new FileStorage({ root, meta: many, selected: null });
    for (let p = 0; p < many.pieceCount; p++) await st.writePiece(p, [all.subarray(p * 16384, (p + 1) * 16384)]);
    for (let i = 0; i < 200; i++) expect(readFileSync(join(root, 'many', `f${i}`)).equals(bytes(100, i + 1))).toBe(true);
    await st.close();
  });
});

describe('resume data and the start-up check', () => {
  it('hashes what is on disk when there is no resume data', async () => {
    const root = tmp();
    const st = new FileStorage({ root, meta, selected: null });
    await st.writePiece(0, [piece(0)]);
    await st.writePiece(2, [piece(2)]);
    const r = await checkExisting({ storage: st, meta, wanted: () => true, resume: null });
    expect(r.verified.toString()).toBe('101');
    expect(r.trusted).toBe(0);
    await st.close();
  });

  it('trusts resume data for unchanged files and re-hashes changed ones', async () => {
    const root = tmp();
    const cache = tmp();
    const st = new FileStorage({ root, meta, selected: null });
    for (let p = 0; p < 3; p++) await st.writePiece(p, [piece(p)]);
    const path = resumePath(cache, meta.infoHash!.toString('hex'), root);
    await saveResume(path, { version: 1, infoHash: meta.infoHash!.toString('hex'), pieceCount: 3, verified: Buffer.from([0xe0]).toString('base64'), files: await st.fileStats() });
    const resume = await loadResume(path, meta.infoHash!.toString('hex'), 3, meta.files.length);
    expect(resume).not.toBeNull();
    const r1 = await checkExisting({ storage: st, meta, wanted: () => true, resume });
    expect(r1).toMatchObject({ trusted: 3, hashed: 0 });
    await st.close();
    // Corrupt c.bin behind our back: its size stays, its mtime changes.
    const c = join(root, 'root', 'c.bin');
    const bad = Buffer.from(files[4]![1]);
    bad[0]! ^= 0xff; // c.bin is 5000 bytes
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(c, bad);
    const st2 = new FileStorage({ root, meta, selected: null });
    const r2 = await checkExisting({ storage: st2, meta, wanted: () => true, resume });
    expect(r2.verified.toString()).toBe('110');
    expect(r2.hashed).toBe(1);
    await st2.close();
  });

  it('ignores resume data that is corrupt or for another torrent', async () => {
    const cache = tmp();
    const path = join(cache, 'r.json');
    writeFileSync(path, '{not json');
    expect(await loadResume(path, 'x', 3, 5)).toBeNull();
    writeFileSync(path, JSON.stringify({ version: 1, infoHash: 'other', pieceCount: 3, verified: 'AA==', files: [] }));
    expect(await loadResume(path, meta.infoHash!.toString('hex'), 3, 5)).toBeNull();
  });
});
