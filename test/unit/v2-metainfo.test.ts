/**
 * BEP 52 at the torrent level (src/metainfo/v2.ts, build.ts for v2 and hybrids) and the v2 check
 * of data on disk (src/storage/check-v2.ts): torrents built in memory from file contents, parsed
 * back by our strict parser, pieces mapped to their files, each piece checked against its layer,
 * a hybrid checked against both hash sets and refused when they disagree, and the structural
 * comparison of a hybrid's two file lists.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MetainfoError } from '../../src/errors.js';
import { buildTorrent, type BuildInput } from '../../src/metainfo/build.js';
import {
  checkFilePieceLayer,
  fileTree,
  hybridFilesDiffer,
  parseTorrent,
  v2PieceMap,
  verifyHybridPiece,
  verifyV2Piece,
  type Metainfo,
  type TorrentFile,
} from '../../src/metainfo/index.js';
import { checkExistingV2 } from '../../src/storage/check-v2.js';
import { FileStorage } from '../../src/storage/index.js';
import { bytes } from '../helpers/make-torrent.js';

const PIECE = 32768;
const FILES: [string[], Buffer][] = [
  [['a.bin'], bytes(3 * PIECE + 100, 1)], // 4 pieces, a piece layer
  [['b', 'empty'], Buffer.alloc(0)],
  [['b', 'small'], bytes(1000, 2)], // one piece: its root is its piece hash
  [['c.bin'], bytes(2 * PIECE, 3)], // exactly two pieces
];

/** The v1 stream of a hybrid: each file followed by zeros to a piece boundary. */
function paddedStream(files: [string[], Buffer][]): Buffer {
  return Buffer.concat(files.flatMap(([, d]) => [d, Buffer.alloc(d.length % PIECE === 0 ? 0 : PIECE - (d.length % PIECE))]));
}

function sha1Pieces(stream: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let o = 0; o < stream.length; o += PIECE) out.push(createHash('sha1').update(stream.subarray(o, o + PIECE)).digest());
  return Buffer.concat(out);
}

function build(version: 2 | 'hybrid', over: Partial<BuildInput> = {}): Metainfo {
  const bytesOut = buildTorrent({
    name: 'album',
    files: FILES.map(([path, d]) => ({ path, length: d.length })),
    pieceLength: PIECE,
    pieces: version === 'hybrid' ? sha1Pieces(paddedStream(FILES)) : null,
    version,
    trees: FILES.map(([, d]) => fileTree(d, PIECE)),
    announce: [],
    urlList: [],
    private: false,
    comment: null,
    createdBy: null,
    creationDate: null,
    ...over,
  });
  return parseTorrent(bytesOut);
}

const work = mkdtempSync(join(tmpdir(), 'torrent-v2-unit-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function writeData(dir: string, files: [string[], Buffer][]): void {
  for (const [path, d] of files) {
    mkdirSync(join(dir, 'album', ...path.slice(0, -1)), { recursive: true });
    writeFileSync(join(dir, 'album', ...path), d);
  }
}

describe('v2 and hybrid torrents built, parsed and checked', () => {
  it('a v2-only torrent parses back with its file tree, aligned files and every piece layer', () => {
    const meta = build(2);
    expect(meta.version).toBe(2);
    expect(meta.infoHash).toBeNull();
    expect(meta.files.filter((f) => !f.pad).map((f) => f.path.join('/'))).toEqual(['a.bin', 'b/empty', 'b/small', 'c.bin']);
    expect(meta.pieceCount).toBe(4 + 1 + 2);
    expect([...meta.pieceLayers.keys()].sort()).toEqual(
      [fileTree(FILES[0]![1], PIECE)!.root, fileTree(FILES[3]![1], PIECE)!.root].map((r) => r.toString('hex')).sort(),
    );
    expect(meta.warnings).toEqual([]);
  });

  it('v2PieceMap: each torrent piece is one piece of one file', () => {
    const map = v2PieceMap(build(2));
    expect(map.map((p) => (p ? `${p.file.path.join('/')}#${p.pieceInFile}:${p.length}` : null))).toEqual([
      'a.bin#0:32768',
      'a.bin#1:32768',
      'a.bin#2:32768',
      'a.bin#3:100',
      'b/small#0:1000',
      'c.bin#0:32768',
      'c.bin#1:32768',
    ]);
  });

  it('verifyV2Piece: right data is ok (with or without its zero pad), wrong data or nonzero pad is bad, no layer is unknown', () => {
    const meta = build(2);
    const map = v2PieceMap(meta);
    const stream = paddedStream(FILES);
    for (let p = 0; p < meta.pieceCount; p++) {
      const piece = stream.subarray(p * PIECE, (p + 1) * PIECE);
      expect(verifyV2Piece(meta, map[p]!, piece), `piece ${p}`).toBe('ok');
      expect(verifyV2Piece(meta, map[p]!, piece.subarray(0, map[p]!.length)), `piece ${p} unpadded`).toBe('ok');
      const bad = Buffer.from(piece);
      bad[0]! ^= 1;
      expect(verifyV2Piece(meta, map[p]!, bad), `piece ${p} flipped`).toBe('bad');
    }
    const tail = Buffer.from(stream.subarray(3 * PIECE, 4 * PIECE));
    tail[PIECE - 1] = 1; // a byte of the pad, not of the file
    expect(verifyV2Piece(meta, map[3]!, tail)).toBe('bad');
    expect(verifyV2Piece(meta, map[0]!, stream.subarray(0, PIECE), new Map())).toBe('unknown');
    // A one-piece file needs no layer: its pieces root is the check.
    expect(verifyV2Piece(meta, map[4]!, stream.subarray(4 * PIECE, 5 * PIECE), new Map())).toBe('ok');
  });

  it('checkFilePieceLayer: the layer from the torrent is ok; a changed one is wrong-root; a short one wrong-size', () => {
    const meta = build(2);
    const a = meta.files.find((f) => f.path.join('/') === 'a.bin')!;
    const layer = meta.pieceLayers.get(a.piecesRoot!.toString('hex'))!;
    expect(checkFilePieceLayer(a, layer, PIECE)).toBe('ok');
    const bad = Buffer.from(layer);
    bad[40]! ^= 1;
    expect(checkFilePieceLayer(a, bad, PIECE)).toBe('wrong-root');
    expect(checkFilePieceLayer(a, layer.subarray(32), PIECE)).toBe('wrong-size');
  });

  it('a piece layer in the .torrent that does not match its root is dropped with a warning (the session fetches it)', () => {
    const good = build(2);
    const a = FILES[0]![1];
    const tree = fileTree(a, PIECE)!;
    const wrong = Buffer.from(tree.pieceLayer);
    wrong[0]! ^= 1;
    const meta = build(2, { trees: FILES.map(([, d], i) => (i === 0 ? { root: tree.root, pieceLayer: wrong } : fileTree(d, PIECE))) });
    expect(meta.infoHashV2).toEqual(good.infoHashV2);
    expect(meta.pieceLayers.has(tree.root.toString('hex'))).toBe(false);
    expect(meta.warnings.join('\n')).toMatch(/piece layer of a\.bin does not match its pieces root/);
  });

  it('a hybrid: every piece passes both hash sets', () => {
    const meta = build('hybrid');
    expect(meta.version).toBe('hybrid');
    const map = v2PieceMap(meta);
    const stream = paddedStream(FILES);
    for (let p = 0; p < meta.pieceCount; p++) {
      expect(verifyHybridPiece(meta, p, map[p] ?? null, stream.subarray(p * PIECE, (p + 1) * PIECE))).toEqual({ v1: true, v2: 'ok' });
    }
    const bad = Buffer.from(stream.subarray(0, PIECE));
    bad[5]! ^= 1;
    expect(verifyHybridPiece(meta, 0, map[0]!, bad)).toEqual({ v1: false, v2: 'bad' });
  });

  it('a hybrid whose v1 hash of a piece describes other data than its merkle tree is refused, naming the piece', () => {
    const other = Buffer.from(paddedStream(FILES));
    other[2 * PIECE + 7]! ^= 0xff; // piece 2 of a.bin
    const meta = build('hybrid', { pieces: sha1Pieces(other) });
    const map = v2PieceMap(meta);
    const real = paddedStream(FILES);
    expect(() => verifyHybridPiece(meta, 2, map[2]!, real.subarray(2 * PIECE, 3 * PIECE))).toThrow(MetainfoError);
    expect(() => verifyHybridPiece(meta, 2, map[2]!, real.subarray(2 * PIECE, 3 * PIECE))).toThrow(
      /v1 and v2 hashes of this hybrid torrent disagree on piece 2 \(a\.bin\)/,
    );
    // The other pieces agree.
    expect(verifyHybridPiece(meta, 1, map[1]!, real.subarray(PIECE, 2 * PIECE))).toEqual({ v1: true, v2: 'ok' });
  });

  it('checkExistingV2 on disk: all pieces of the data; a changed byte loses only its piece; a missing file only its own', async () => {
    const meta = build(2);
    const dir = join(work, 'disk');
    writeData(dir, FILES);
    const check = async (): Promise<number[]> => {
      const storage = new FileStorage({ root: dir, meta, selected: null });
      try {
        const r = await checkExistingV2({ storage, meta, wanted: () => true });
        const out: number[] = [];
        for (let p = 0; p < meta.pieceCount; p++) if (r.verified.has(p)) out.push(p);
        return out;
      } finally {
        await storage.close();
      }
    };
    expect(await check()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const changed = Buffer.from(FILES[3]![1]);
    changed[PIECE + 3]! ^= 1;
    writeFileSync(join(dir, 'album', 'c.bin'), changed);
    expect(await check()).toEqual([0, 1, 2, 3, 4, 5]);
    rmSync(join(dir, 'album', 'a.bin'));
    expect(await check()).toEqual([4, 5]);
  });

  it('checkExistingV2 on a hybrid whose hash sets disagree throws the MetainfoError', async () => {
    const other = Buffer.from(paddedStream(FILES));
    other[5 * PIECE]! ^= 1; // piece 5: c.bin's first
    const meta = build('hybrid', { pieces: sha1Pieces(other) });
    const dir = join(work, 'disk-hybrid');
    writeData(dir, FILES);
    const storage = new FileStorage({ root: dir, meta, selected: null });
    try {
      await expect(checkExistingV2({ storage, meta, wanted: () => true })).rejects.toThrow(/disagree on piece 5 \(c\.bin\)/);
    } finally {
      await storage.close();
    }
  });
});

describe('hybridFilesDiffer: a hybrid\'s v1 list against its v2 tree', () => {
  const f = (path: string, length: number, offset: number, extra: Partial<TorrentFile> = {}): TorrentFile => ({
    path: path.split('/'),
    length,
    offset,
    pad: false,
    executable: false,
    hidden: false,
    symlink: null,
    piecesRoot: null,
    ...extra,
  });
  const pad = (length: number, offset: number): TorrentFile => f(`.pad/${length}`, length, offset, { pad: true });
  const v2 = [f('a', 100, 0), pad(PIECE - 100, 100), f('b', 5, PIECE), pad(PIECE - 5, PIECE + 5)];

  it('the same layout is consistent', () => {
    expect(hybridFilesDiffer(v2, v2)).toBeNull();
  });

  it.each([
    ['a missing file', [f('a', 100, 0), pad(PIECE - 100, 100)], '1 files against 2'],
    ['another order', [f('b', 5, 0), pad(PIECE - 5, 5), f('a', 100, PIECE)], 'file 0 is "b" against "a"'],
    ['another length', [f('a', 101, 0), pad(PIECE - 101, 101), f('b', 5, PIECE)], 'a is 101 bytes against 100'],
    ['no pad aligning the second file', [f('a', 100, 0), f('b', 5, 100)], 'b starts at byte 100 against 32768'],
    ['an executable bit on one side', [f('a', 100, 0, { executable: true }), pad(PIECE - 100, 100), f('b', 5, PIECE)], 'a has different attributes'],
    ['a pad over file data', [f('a', 100, 0), pad(PIECE - 100, 100), pad(10, PIECE), f('b', 5, PIECE)], 'covers file data'],
  ])('%s differs', (_name, v1, why) => {
    expect(hybridFilesDiffer(v1 as TorrentFile[], v2)).toContain(why);
  });
});
