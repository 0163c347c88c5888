/**
 * parseTorrent reads info.files while the decoder streams it (FileListStream). A bad entry's
 * error waits until the file list's turn: the verdict and the message are the ones of reading
 * the whole decoded list after every earlier check.
 */
import { describe, expect, it } from 'vitest';
import { encode, type Encodable } from '../../src/bencode/index.js';
import { MetainfoError, TorrentError } from '../../src/errors.js';
import { parseTorrent } from '../../src/metainfo/index.js';

const torrent = (info: Record<string, Encodable>, top: Record<string, Encodable> = {}): Buffer =>
  encode({ ...top, info: { name: 'x', 'piece length': 16384, pieces: Buffer.alloc(20), ...info } });

const message = (t: Buffer): string => {
  try {
    parseTorrent(t);
  } catch (e) {
    expect(e).toBeInstanceOf(TorrentError);
    return (e as Error).message;
  }
  throw new Error('parsed');
};

describe('parseTorrent with a streamed file list', () => {
  it('reads every entry, offsets in order', () => {
    const files = Array.from({ length: 5 }, (_, i) => ({ length: 100 * (i + 1), path: [`d${i % 2}`, `f${i}`] }));
    const meta = parseTorrent(torrent({ files }));
    expect(meta.files.map((f) => [f.path.join('/'), f.length, f.offset])).toEqual([
      ['d0/f0', 100, 0],
      ['d1/f1', 200, 100],
      ['d0/f2', 300, 300],
      ['d1/f3', 400, 600],
      ['d0/f4', 500, 1000],
    ]);
  });

  it('reports a bad entry only after the checks that come before the file list', () => {
    const bad = [{ length: 1, path: ['a'] }, { length: 'x', path: ['b'] }];
    expect(message(torrent({ files: bad }))).toMatch(/info\.files\[1\]\.length is a string, not an integer/);
    expect(message(torrent({ files: bad, 'piece length': 0 }))).toMatch(/piece length is 0/);
    expect(message(torrent({ files: bad, name: '' }))).toMatch(/info\.name is empty/);
    // A later bencode error wins over any entry: the input was never a torrent.
    expect(message(Buffer.concat([torrent({ files: bad }), Buffer.from('x')]))).toMatch(/trailing bytes/);
  });

  it('reports the first bad entry, not a later one', () => {
    const files = [{ length: 1, path: ['a'] }, { length: 2, path: [] }, 7, { length: 3 }];
    expect(message(torrent({ files }))).toMatch(/info\.files\[1\]\.path is an empty list/);
  });

  it('gives the same verdicts as before for an empty list and a list that is not one', () => {
    expect(message(torrent({ files: [] }))).toMatch(/info\.files is empty/);
    expect(message(torrent({ files: 3 }))).toMatch(/info\.files is not a list/);
    expect(message(torrent({ files: { a: 1 } }))).toMatch(/info\.files is not a list/);
  });

  it('uses the info dictionary a duplicate-key torrent keeps (the first)', () => {
    // Hand-written: encode would sort and drop the duplicate.
    const first = 'd5:filesld6:lengthi5e4:pathl1:aeee4:name1:x12:piece lengthi16384e6:pieces20:' + '\0'.repeat(20) + 'e';
    const second = 'd5:filesld6:lengthi9e4:pathl1:beee4:name1:y12:piece lengthi16384e6:pieces20:' + '\0'.repeat(20) + 'e';
    const meta = parseTorrent(Buffer.from(`d4:info${first}4:info${second}e`, 'latin1'));
    expect(meta.files.map((f) => f.path.join('/'))).toEqual(['a']);
    expect(meta.name).toBe('x');
    // A duplicate files key inside info: the first list is the one read.
    const dupFiles = 'd5:filesld6:lengthi5e4:pathl1:aeee5:filesld6:lengthi9e4:pathl1:beee4:name1:x12:piece lengthi16384e6:pieces20:' + '\0'.repeat(20) + 'e';
    expect(parseTorrent(Buffer.from(`d4:info${dupFiles}e`, 'latin1')).files.map((f) => f.length)).toEqual([5]);
  });

  it('throws only typed errors for entries of every wrong type', () => {
    for (const entry of [1, Buffer.from('s'), [], { length: -1, path: ['a'] }, { length: 1, path: 'a' }, { length: 1, path: [1] }]) {
      expect(() => parseTorrent(torrent({ files: [{ length: 1, path: ['ok'] }, entry as Encodable] }))).toThrow(MetainfoError);
    }
  });
});
