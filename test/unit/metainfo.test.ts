import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decode, encode, type BDict } from '../../src/bencode/index.js';
import { MetainfoError, TorrentError } from '../../src/errors.js';
import { parseTorrent } from '../../src/metainfo/index.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';

const fails = (t: Buffer, pattern: RegExp): void => {
  expect(() => parseTorrent(t)).toThrow(pattern);
  try {
    parseTorrent(t);
  } catch (e) {
    expect(e).toBeInstanceOf(TorrentError);
    expect((e as TorrentError).exitCode).toBe(2);
  }
};

describe('parseTorrent: v1', () => {
  it('parses a single-file torrent', () => {
    const data = bytes(40_000);
    const t = makeTorrent({ name: 'file.bin', data, announce: 'http://t.example/announce', comment: 'hi' });
    const m = parseTorrent(t);
    expect(m.version).toBe(1);
    expect(m.name).toBe('file.bin');
    expect(m.multiFile).toBe(false);
    expect(m.length).toBe(40_000);
    expect(m.pieceCount).toBe(3);
    expect(m.files).toHaveLength(1);
    expect(m.files[0]!.path).toEqual(['file.bin']);
    expect(m.announce).toEqual([['http://t.example/announce']]);
    expect(m.comment).toBe('hi');
    expect(m.infoHashV2).toBeNull();
  });

  it('hashes the info bytes as they stand, not a re-encode', () => {
    // Unsorted keys: a re-encode would sort them and change the hash.
    const info = Buffer.from('d6:lengthi5e4:name1:a6:pieces20:AAAAAAAAAAAAAAAAAAAA12:piece lengthi16384ee', 'latin1');
    const t = Buffer.concat([Buffer.from('d4:info', 'latin1'), info, Buffer.from('e', 'latin1')]);
    const m = parseTorrent(t);
    expect(m.infoHash!.toString('hex')).toBe(createHash('sha1').update(info).digest('hex'));
    expect(m.infoHash!.equals(createHash('sha1').update(encode(decode(info) as BDict)).digest())).toBe(false);
    expect(m.infoBytes.equals(info)).toBe(true);
  });

  it('parses multi-file torrents with offsets across files and pad files', () => {
    const t = makeTorrent({
      name: 'dir',
      files: [
        { path: ['a.txt'], data: bytes(100, 1) },
        { path: ['.pad', '16284'], data: Buffer.alloc(16284), attr: 'p' },
        { path: ['sub', 'b.bin'], data: bytes(20_000, 2), attr: 'x' },
      ],
    });
    const m = parseTorrent(t);
    expect(m.multiFile).toBe(true);
    expect(m.files.map((f) => [f.path.join('/'), f.offset, f.length, f.pad])).toEqual([
      ['a.txt', 0, 100, false],
      ['.pad/16284', 100, 16284, true],
      ['sub/b.bin', 16384, 20_000, false],
    ]);
    expect(m.length).toBe(20_100);
    expect(m.totalLength).toBe(36_384);
    expect(m.files[2]!.executable).toBe(true);
  });

  it('prefers name.utf-8 and path.utf-8', () => {
    const t = makeTorrent({
      name: 'latin',
      files: [{ path: ['x'], data: bytes(10) }],
      info: { 'name.utf-8': 'ünï', files: [{ length: 10, path: ['x'], 'path.utf-8': ['ÿ'] }] },
    });
    const m = parseTorrent(t);
    expect(m.name).toBe('ünï');
    expect(m.files[0]!.path).toEqual(['ÿ']);
  });

  it('reads announce-list tiers, url-list as string or list, private', () => {
    const t = makeTorrent({
      name: 'x',
      data: bytes(10),
      announce: 'http://ignored.example/a',
      announceList: [['http://a/1', ' http://a/2 '], [], ['udp://b:1']],
      urlList: 'http://mirror.example/x',
      private: true,
    });
    const m = parseTorrent(t);
    expect(m.announce).toEqual([['http://a/1', 'http://a/2'], ['udp://b:1']]);
    expect(m.urlList).toEqual(['http://mirror.example/x']);
    expect(m.private).toBe(true);
  });

  it('keeps every path inside the torrent folder', () => {
    const t = makeTorrent({
      name: '../../evil',
      files: [
        { path: ['..', '..', 'etc', 'passwd'], data: bytes(5) },
        { path: ['/abs', 'x'], data: bytes(5) },
        { path: ['a\\..\\..\\b'], data: bytes(5) },
      ],
    });
    const m = parseTorrent(t);
    expect(m.name).toBe('....evil');
    expect(m.files.map((f) => f.path.join('/'))).toEqual(['etc/passwd', 'abs/x', 'a....b']);
  });

  it.each([
    [{ info: { pieces: Buffer.alloc(19) } }, /info.pieces is 19 bytes, not a multiple of 20/],
    [{ info: { pieces: Buffer.alloc(40) } }, /info.pieces has 2 piece hashes, but the files need 1/],
    [{ info: { 'piece length': 0 } }, /piece length is 0/],
    [{ info: { 'piece length': -16384 } }, /piece length is -16384, negative/],
    [{ info: { 'piece length': '16384' } }, /piece length is a string, not an integer/],
    [{ info: { name: 7 } }, /info.name is not a string/],
    [{ info: { name: '' } }, /info.name is empty/],
    [{ info: { name: '..' } }, /not a usable file name/],
    [{ info: { length: -1 } }, /info.length is -1, negative/],
    [{ info: { length: 2n ** 60n } }, /info.length is .* too large/] as const,
    [{ info: { length: 0, pieces: Buffer.alloc(0) } }, /total length of 0/],
    [{ info: { 'piece length': 2 ** 30 } }, /more than 536870912/],
    [{ info: { files: [] } }, /no files/],
    [{ info: { files: [{ length: 10 }] } }, /info.files\[0\].path is missing/],
    [{ info: { files: [{ length: 10, path: [] }] } }, /path is an empty list/],
    [{ info: { files: [{ length: 10, path: ['a', 3] }] } }, /has an element that is not a string/],
    [{ info: { files: 'x' } }, /info.files is not a list/],
    [{ info: { files: [{ length: 1, path: ['a'], attr: 'l', 'symlink path': [1] }] } }, /symlink path has an element/],
    [{ info: { length: 16384 * 3_000_000, pieces: Buffer.alloc(0) } }, /pieces, more than/],
    [{ info: { 'meta version': 3 } }, /meta version 3 is not supported/],
  ])('rejects bad field %#: %s', (change, pattern) => {
    fails(makeTorrent({ name: 'x', data: bytes(10), ...change }), pattern);
  });

  it('rejects input that is not a torrent', () => {
    fails(Buffer.from('i42e'), /not a bencoded dictionary/);
    fails(Buffer.from('d3:fooi1ee'), /info is missing/);
    fails(Buffer.from('d4:infoi1ee'), /info is not a dictionary/);
    fails(Buffer.from('d4:info'), /invalid bencoding/);
    fails(Buffer.from('<html>'), /invalid bencoding/);
  });

  it('rejects an oversized file before decoding it', () => {
    const big = Buffer.alloc(50 * 1024 * 1024 + 1);
    expect(() => parseTorrent(big)).toThrow(MetainfoError);
  });
});

describe('parseTorrent: v2', () => {
  const root = createHash('sha256').update('x').digest();
  const v2 = (tree: Record<string, unknown>, extra: Record<string, unknown> = {}): Buffer =>
    encode({ info: { 'file tree': tree, 'meta version': 2, name: 'v2dir', 'piece length': 16384, ...extra } } as never);

  it('lists a v2 file tree with piece-aligned offsets and a v2 piece count', () => {
    const t = v2({
      a: { '': { length: 100, 'pieces root': root } },
      b: { c: { '': { length: 16384 * 2, 'pieces root': root } } },
      empty: { '': { length: 0 } },
    });
    const m = parseTorrent(t);
    expect(m.version).toBe(2);
    expect(m.infoHash).toBeNull();
    expect(m.infoHashV2).toHaveLength(32);
    expect(m.files.filter((f) => !f.pad).map((f) => [f.path.join('/'), f.offset, f.length])).toEqual([
      ['a', 0, 100],
      ['b/c', 16384, 32768],
      ['empty', 49152, 0],
    ]);
    expect(m.pieceCount).toBe(3);
  });

  it.each([
    [{ a: { '': { length: 100 } } }, /no valid pieces root/],
    [{ a: { '': { length: 100, 'pieces root': Buffer.alloc(32) } } }, /no valid pieces root/],
    [{ a: { '': { length: 100, 'pieces root': root, attr: 'p' } } }, /pad attribute/],
    [{ a: { length: 100 } }, /not a dictionary/],
    [{}, /no files/],
  ])('rejects tree %#', (tree, pattern) => {
    fails(v2(tree as Record<string, unknown>), pattern);
  });

  it('rejects a v2 piece length that is not a power of two of at least 16 KiB', () => {
    fails(v2({ a: { '': { length: 1, 'pieces root': root } } }, { 'piece length': 24576 }), /power of two/);
    fails(v2({ a: { '': { length: 1, 'pieces root': root } } }, { 'piece length': 8192 }), /power of two/);
  });

  it('rejects unsorted keys inside a v2 info dict', () => {
    const good = v2({ a: { '': { length: 1, 'pieces root': root } }, b: { '': { length: 1, 'pieces root': root } } });
    const bad = Buffer.from(good.toString('latin1').replace('1:ad0:', '1:Xd0:').replace('1:bd0:', '1:ad0:').replace('1:Xd0:', '1:bd0:'), 'latin1');
    expect(() => parseTorrent(good)).not.toThrow();
    fails(bad, /unsorted or duplicate keys/);
  });
});
