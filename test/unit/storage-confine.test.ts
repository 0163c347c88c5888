/**
 * Issue 17, cause 11: no file is opened through a symbolic link that leads out of the output
 * folder. A link planted under the torrent's name, as a sub-folder or in place of a file is
 * refused with ERR_DISK naming the path, and nothing is written (or read) outside.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TorrentError } from '../../src/errors.js';
import { parseTorrent, type Metainfo } from '../../src/metainfo/index.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'torrent-storage-confine-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const PL = 16384;
const a = bytes(PL, 1);
const b = bytes(PL, 2);
const multi: Metainfo = parseTorrent(
  makeTorrent({
    name: 'victim',
    pieceLength: PL,
    files: [
      { path: ['a.bin'], data: a },
      { path: ['sub', 'b.bin'], data: b },
      { path: ['empty'], data: Buffer.alloc(0) },
    ],
  }),
);
const single: Metainfo = parseTorrent(makeTorrent({ name: 'one.bin', pieceLength: PL, data: a }));

/** Runs `fn`, expecting an ERR_DISK refusal that names `path`. */
async function refused(fn: () => Promise<unknown>, path: string): Promise<TorrentError> {
  const e = await fn().then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TorrentError);
  const te = e as TorrentError;
  expect(te.code).toBe('ERR_DISK');
  expect(te.message).toContain(path);
  expect(te.message).toMatch(/symbolic link|not a folder/);
  return te;
}

describe('FileStorage never follows a link out of the output folder', () => {
  it('a link under the torrent name to a folder outside: every write and create refused, nothing lands outside', async () => {
    const root = tmp();
    const outside = tmp();
    symlinkSync(outside, join(root, 'victim'));
    const st = new FileStorage({ root, meta: multi, selected: null });
    const e = await refused(() => st.writePiece(0, [a]), join(root, 'victim'));
    expect(e.message).toContain(outside);
    await refused(() => st.writePiece(1, [b]), join(root, 'victim'));
    await refused(() => st.createEmptyFiles(), join(root, 'victim'));
    await refused(() => st.readPiece(0), join(root, 'victim'));
    await st.close();
    expect(readdirSync(outside)).toEqual([]);
  });

  it('a link in place of a file: refused, and the target keeps its bytes', async () => {
    const root = tmp();
    const outside = tmp();
    const target = join(outside, 'precious');
    writeFileSync(target, 'do not overwrite');
    mkdirSync(join(root, 'victim'));
    symlinkSync(target, join(root, 'victim', 'a.bin'));
    const st = new FileStorage({ root, meta: multi, selected: null });
    await refused(() => st.writePiece(0, [a]), join(root, 'victim', 'a.bin'));
    await refused(() => st.readBlock(0, 0, 10), join(root, 'victim', 'a.bin'));
    // The other file is unaffected: one planted link does not stop the rest.
    await st.writePiece(1, [b]);
    await st.close();
    expect(readFileSync(target, 'utf8')).toBe('do not overwrite');
    expect(readFileSync(join(root, 'victim', 'sub', 'b.bin')).equals(b)).toBe(true);
  });

  it('a link as a sub-folder, a dangling link, and a single-file torrent', async () => {
    const root = tmp();
    const outside = tmp();
    mkdirSync(join(root, 'victim'));
    symlinkSync(outside, join(root, 'victim', 'sub'));
    symlinkSync(join(outside, 'not-yet'), join(root, 'one.bin'));
    const st = new FileStorage({ root, meta: multi, selected: null });
    await refused(() => st.writePiece(1, [b]), join(root, 'victim', 'sub'));
    await st.close();
    const st1 = new FileStorage({ root, meta: single, selected: null });
    await refused(() => st1.writePiece(0, [a]), join(root, 'one.bin'));
    await st1.close();
    expect(readdirSync(outside)).toEqual([]);
    expect(existsSync(join(outside, 'not-yet'))).toBe(false);
  });

  it('the part file is confined too', async () => {
    const root = tmp();
    const outside = tmp();
    symlinkSync(join(outside, 'parts'), join(root, '.victim.parts'));
    const st = new FileStorage({ root, meta: multi, selected: new Set([0]) }); // sub/b.bin goes to the part file
    await refused(() => st.writePiece(1, [b]), join(root, '.victim.parts'));
    await st.close();
    expect(readdirSync(outside)).toEqual([]);
  });

  it('a file where a folder must be is refused, not written around', async () => {
    const root = tmp();
    mkdirSync(join(root, 'victim'));
    writeFileSync(join(root, 'victim', 'sub'), 'a file');
    const st = new FileStorage({ root, meta: multi, selected: null });
    await refused(() => st.writePiece(1, [b]), join(root, 'victim', 'sub'));
    await st.close();
  });

  it('links that stay inside the output folder, and an output folder that is itself a link, are used', async () => {
    const real = tmp();
    const linkedRoot = join(tmp(), 'out');
    symlinkSync(real, linkedRoot); // the user's own choice of folder
    mkdirSync(join(real, 'elsewhere'));
    symlinkSync(join(real, 'elsewhere'), join(real, 'victim'));
    const st = new FileStorage({ root: linkedRoot, meta: multi, selected: null });
    await st.createEmptyFiles();
    await st.writePiece(0, [a]);
    await st.writePiece(1, [b]);
    await st.close();
    expect(readFileSync(join(real, 'elsewhere', 'a.bin')).equals(a)).toBe(true);
    expect(readFileSync(join(real, 'elsewhere', 'sub', 'b.bin')).equals(b)).toBe(true);
    expect(lstatSync(join(real, 'elsewhere', 'empty')).isFile()).toBe(true);
  });
});
