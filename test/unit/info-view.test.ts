/**
 * `info --json` text: torrentInfoJson stringifies the file list a chunk at a time, and must print
 * exactly what JSON.stringify(infoFromTorrent(meta)) prints, whatever the torrent holds.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { infoFromTorrent, torrentInfoJson } from '../../src/cli/info-view.js';
import { parseTorrent } from '../../src/metainfo/index.js';
import { corpusDir } from '../helpers/corpus.js';
import { makeTorrent } from '../helpers/make-torrent.js';
import { needs } from '../helpers/requirements.js';

const corpus = needs('corpus');

const same = (bytes: Buffer): void => {
  const meta = parseTorrent(bytes);
  expect(torrentInfoJson(meta)).toBe(JSON.stringify(infoFromTorrent(meta)));
};

/** `n` files of 3 bytes; with `padEvery`, a pad file after every padEvery-th. */
function manyFiles(n: number, padEvery = 0): Buffer {
  const files = [];
  for (let i = 0; i < n; i++) {
    files.push({ path: [`d${i % 7}`, `f${i}.bin`], data: Buffer.alloc(3) });
    if (padEvery > 0 && i % padEvery === 0) files.push({ path: ['.pad', '5'], data: Buffer.alloc(5), attr: 'p' });
  }
  return makeTorrent({ name: 'many', pieceLength: 16384, files });
}

describe('torrentInfoJson', () => {
  it('equals JSON.stringify of the view for a single-file torrent', () => {
    same(makeTorrent({ name: 'one.iso', data: Buffer.alloc(40_000), announce: 'http://t.example/a', comment: 'c "q" \\ \u0001' }));
  });

  it('equals it for names and paths that need escaping', () => {
    same(
      makeTorrent({
        name: 'quote"back\\slash',
        files: [
          { path: ['a"b', 'c\\d'], data: Buffer.alloc(10) },
          { path: ['ünï cødé', '日本語.txt'], data: Buffer.alloc(20) },
          { path: ['tab\there', 'line\nbreak', '\u2028sep'], data: Buffer.alloc(30) },
          { path: ['x'], data: Buffer.alloc(1) },
        ],
        urlList: ['http://m.example/a b'],
        announceList: [['http://a.example/x'], ['udp://b.example:1']],
      }),
    );
  });

  it('equals it across chunk boundaries, with pad files left out, and chunks of pads only', () => {
    for (const n of [1, 4095, 4096, 4097, 8192, 9000]) same(manyFiles(n));
    same(manyFiles(9000, 3));
    // A whole chunk of pad files between real ones.
    const files = [{ path: ['a'], data: Buffer.alloc(1) }];
    for (let i = 0; i < 5000; i++) files.push({ path: ['.pad', '1'], data: Buffer.alloc(1), attr: 'p' } as never);
    files.push({ path: ['b'], data: Buffer.alloc(1) });
    same(makeTorrent({ name: 'pads', files }));
  });

  it.skipIf(corpus.skip)(`equals it for every torrent of the corpus that parses${corpus.note}`, () => {
    const dir = join(corpusDir, 'torrents');
    let parsed = 0;
    for (const name of readdirSync(dir)) {
      let meta;
      try {
        meta = parseTorrent(readFileSync(join(dir, name)));
      } catch {
        continue;
      }
      parsed++;
      expect(torrentInfoJson(meta), name).toBe(JSON.stringify(infoFromTorrent(meta)));
    }
    expect(parsed).toBeGreaterThan(50);
  });
});
