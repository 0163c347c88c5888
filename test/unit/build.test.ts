/** metainfo/build: defaultPieceLength's table, and .torrent bytes our own strict parser accepts. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decode, encode, isDict, type BDict } from '../../src/bencode/index.js';
import { MetainfoError } from '../../src/errors.js';
import { buildTorrent, defaultPieceLength, isValidPieceLength, type BuildInput } from '../../src/metainfo/build.js';
import { MAX_PIECES, parseTorrent } from '../../src/metainfo/index.js';
import { bytes, pieceHashes } from '../helpers/make-torrent.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

function base(over: Partial<BuildInput> & Pick<BuildInput, 'pieces' | 'pieceLength'>): BuildInput {
  return {
    name: 'x',
    files: [],
    announce: [],
    urlList: [],
    private: false,
    comment: null,
    createdBy: null,
    creationDate: null,
    ...over,
  };
}

describe('defaultPieceLength (libtorrent create_torrent table: piece ≈ 10·√total)', () => {
  it.each([
    [1, 16 * KiB],
    [2_684_355, 16 * KiB], // libtorrent's first threshold, inclusive
    [2_684_356, 32 * KiB],
    [10 * MiB, 32 * KiB],
    [40 * MiB, 64 * KiB],
    [100 * MiB, 128 * KiB],
    [650 * MiB, 256 * KiB],
    [700 * MiB, 512 * KiB],
    [1 * GiB, 512 * KiB],
    [4 * GiB, 1 * MiB],
    [10 * GiB, 1 * MiB],
    [40 * GiB, 2 * MiB],
    [100 * GiB, 4 * MiB],
    [500 * GiB, 8 * MiB],
    [700_000_000_000, 8 * MiB],
    [703_687_441_778, 16 * MiB],
    [10 * 1024 * GiB, 16 * MiB],
  ])('%d bytes -> %d', (total, piece) => {
    expect(defaultPieceLength(total)).toBe(piece);
  });

  it('grows past 16 MiB only to stay within MAX_PIECES', () => {
    const total = 64 * 1024 * GiB; // 64 TiB: 4M pieces of 16 MiB
    const p = defaultPieceLength(total);
    expect(p).toBe(32 * MiB);
    expect(Math.ceil(total / p)).toBeLessThanOrEqual(MAX_PIECES);
  });

  it('keeps the piece count bounded, between ~160 and ~84k, for 2.6 MB to 650 GiB', () => {
    for (let total = 3 * MiB; total < 650 * GiB; total *= 1.7) {
      const count = Math.ceil(total / defaultPieceLength(total));
      expect(count).toBeGreaterThan(80);
      expect(count).toBeLessThanOrEqual(83_887);
      expect(isValidPieceLength(defaultPieceLength(total))).toBe(true);
    }
  });
});

describe('isValidPieceLength', () => {
  it.each([
    [16 * KiB, true],
    [256 * KiB, true],
    [512 * MiB, true],
    [8 * KiB, false],
    [1024 * MiB, false],
    [48 * KiB, false],
    [0, false],
    [NaN, false],
  ])('%d -> %s', (n, ok) => expect(isValidPieceLength(n)).toBe(ok));
});

describe('buildTorrent', () => {
  it('single-file: parses with parseTorrent, info hash = SHA-1 of the info bytes', () => {
    const data = bytes(100_000, 3);
    const t = buildTorrent(
      base({
        name: 'file.bin',
        length: data.length,
        pieceLength: 16 * KiB,
        pieces: pieceHashes(data, 16 * KiB),
        announce: [['http://t.example/announce']],
        creationDate: 1_700_000_000,
        createdBy: 'torrent/test',
        comment: 'hello',
      }),
    );
    const m = parseTorrent(t);
    expect(m.multiFile).toBe(false);
    expect(m.name).toBe('file.bin');
    expect(m.length).toBe(100_000);
    expect(m.pieceCount).toBe(7);
    expect(m.pieces).toEqual(pieceHashes(data, 16 * KiB));
    expect(m.announce).toEqual([['http://t.example/announce']]);
    expect(m.comment).toBe('hello');
    expect(m.createdBy).toBe('torrent/test');
    expect(m.creationDate).toBe(1_700_000_000);
    expect(m.private).toBe(false);
    expect(m.warnings).toEqual([]);
    const info = decode(t) as BDict;
    expect(info.has('announce-list')).toBe(false); // one tracker: announce only
    expect(m.infoHash!.toString('hex')).toBe(createHash('sha1').update(m.infoBytes).digest('hex'));
  });

  it('multi-file: files, private, source, several trackers and web seeds', () => {
    const a = bytes(20_000, 1);
    const b = bytes(0, 2);
    const c = bytes(30_000, 3);
    const t = buildTorrent(
      base({
        name: 'album',
        files: [
          { path: ['a.bin'], length: a.length },
          { path: ['empty'], length: 0 },
          { path: ['sub', 'c.bin'], length: c.length },
        ],
        pieceLength: 16 * KiB,
        pieces: pieceHashes(Buffer.concat([a, b, c]), 16 * KiB),
        announce: [['http://a.example/announce'], ['udp://b.example:80']],
        urlList: ['http://w1.example/', 'http://w2.example/'],
        private: true,
        source: 'SRC',
      }),
    );
    const m = parseTorrent(t);
    expect(m.multiFile).toBe(true);
    expect(m.files.map((f) => [f.path.join('/'), f.length, f.offset])).toEqual([
      ['a.bin', 20_000, 0],
      ['empty', 0, 20_000],
      ['sub/c.bin', 30_000, 20_000],
    ]);
    expect(m.private).toBe(true);
    expect(m.announce).toEqual([['http://a.example/announce'], ['udp://b.example:80']]);
    expect(m.urlList).toEqual(['http://w1.example/', 'http://w2.example/']);
    expect(m.creationDate).toBeNull();
    const root = decode(t) as BDict;
    expect((root.get('announce') as Buffer).toString()).toBe('http://a.example/announce');
    const info = root.get('info') as BDict;
    expect((info.get('source') as Buffer).toString()).toBe('SRC');
    expect(info.get('private')).toBe(1);
  });

  it('one web seed is written as a string (BEP 19), as mktorrent and libtorrent do', () => {
    const data = bytes(10, 1);
    const t = buildTorrent(base({ length: 10, pieceLength: 16 * KiB, pieces: pieceHashes(data, 16 * KiB), urlList: ['http://w.example/x'] }));
    expect(Buffer.isBuffer((decode(t) as BDict).get('url-list'))).toBe(true);
    expect(parseTorrent(t).urlList).toEqual(['http://w.example/x']);
  });

  it('writes canonical bencode: keys in byte order at every level, so a re-encode is identical', () => {
    const data = bytes(40_000, 9);
    const t = buildTorrent(
      base({
        name: 'n',
        files: [
          { path: ['b'], length: 20_000 },
          { path: ['a'], length: 20_000 },
        ],
        pieceLength: 16 * KiB,
        pieces: pieceHashes(data, 16 * KiB),
        announce: [['http://a/'], ['http://b/']],
        urlList: ['http://w/'],
        private: true,
        comment: 'c',
        createdBy: 'me',
        creationDate: 1,
        source: 's',
      }),
    );
    const root = decode(t);
    expect(isDict(root) && root.softError).toBe(false);
    expect(encode(root as BDict).equals(t)).toBe(true);
    expect([...(root as BDict).entries.keys()]).toEqual([
      'announce', 'announce-list', 'comment', 'created by', 'creation date', 'info', 'url-list',
    ]);
    const info = (root as BDict).get('info') as BDict;
    expect([...info.entries.keys()]).toEqual(['files', 'name', 'piece length', 'pieces', 'private', 'source']);
    // Files stay in the order given: the caller owns the order.
    expect(parseTorrent(t).files.map((f) => f.path[0])).toEqual(['b', 'a']);
  });

  it('the same input gives the same bytes (no hidden clock or randomness)', () => {
    const data = bytes(5_000, 4);
    const input = base({ length: 5_000, pieceLength: 16 * KiB, pieces: pieceHashes(data, 16 * KiB) });
    expect(buildTorrent(input).equals(buildTorrent(input))).toBe(true);
  });

  it.each<[string, Partial<BuildInput>, RegExp]>([
    ['0 bytes', { length: 0, pieces: Buffer.alloc(0) }, /0 bytes/],
    ['piece length not a power of two', { pieceLength: 20_000 }, /power of two/],
    ['piece length below 16 KiB', { pieceLength: 8192 }, /power of two/],
    ['wrong number of hashes', { pieces: Buffer.alloc(40) }, /piece hashes/],
    ['name with a slash', { name: 'a/b' }, /name/],
    ['name ..', { name: '..' }, /name/],
  ])('refuses %s', (_, over, pattern) => {
    const input = base({ length: 10, pieceLength: 16 * KiB, pieces: Buffer.alloc(20), ...over });
    expect(() => buildTorrent(input)).toThrow(MetainfoError);
    expect(() => buildTorrent(input)).toThrow(pattern);
  });
});
