/**
 * The v2 magnet's torrent cache (src/session/metainfo-cache.ts): a file is used only when its info
 * dictionary hashes to the magnet's info hashes, and what is loaded is the torrent the session
 * would build from that info dictionary and the kept layers for the magnet in hand (its trackers
 * and web seeds, not those of the run that wrote the file).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeTorrentFromMetadata, parseMagnet, torrentFromMetadata, type Magnet } from '../../src/metainfo/index.js';
import { cachedTorrentPath, loadCachedTorrent, saveCachedTorrent } from '../../src/session/metainfo-cache.js';
import { bytes } from '../helpers/make-torrent.js';
import { v2Fixture } from '../helpers/v2-fixture.js';

const BLOCK = 16 * 1024;
const fx = v2Fixture(
  'cached',
  [
    { path: 'a.bin', data: bytes(5 * BLOCK + 9, 31) }, // 6 pieces: a layer
    { path: 'b.bin', data: bytes(3 * BLOCK, 32) }, // 3 pieces: a layer
  ],
  BLOCK,
);
const other = v2Fixture('other', [{ path: 'c.bin', data: bytes(3 * BLOCK, 33) }], BLOCK);

const withSources = (uri: string, trackers: string[], webSeeds: string[]): Magnet =>
  parseMagnet(`${uri}${trackers.map((t) => `&tr=${encodeURIComponent(t)}`).join('')}${webSeeds.map((w) => `&ws=${encodeURIComponent(w)}`).join('')}`);

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const cacheDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'metainfo-cache-'));
  dirs.push(d);
  return d;
};

describe('loadCachedTorrent', () => {
  it('gives back the torrent saved for this magnet as it stands, layers included', async () => {
    const dir = cacheDir();
    const magnet = withSources(fx.magnet, ['http://t1.example/announce', 'http://t2.example/announce'], ['http://seed.example/']);
    const torrent = encodeTorrentFromMetadata(fx.meta.infoBytes, magnet, fx.meta.pieceLayers);
    expect(await saveCachedTorrent(dir, magnet, torrent)).toBeNull();
    const got = await loadCachedTorrent(dir, magnet);
    expect(got!.bytes).toEqual(torrent);
    expect(got!.meta).toEqual(torrentFromMetadata(fx.meta.infoBytes, magnet, fx.meta.pieceLayers).meta);
    expect(got!.meta.pieceLayers.size).toBe(2);
  });

  it("builds a file saved for another magnet with the same info hash around this magnet's trackers and web seeds", async () => {
    const dir = cacheDir();
    const before = withSources(fx.magnet, ['http://old.example/announce'], []);
    const now = withSources(fx.magnet, ['http://new.example/announce'], ['http://seed.example/']);
    expect(await saveCachedTorrent(dir, before, encodeTorrentFromMetadata(fx.meta.infoBytes, before, fx.meta.pieceLayers))).toBeNull();
    const got = await loadCachedTorrent(dir, now);
    expect(got!.bytes).toEqual(encodeTorrentFromMetadata(fx.meta.infoBytes, now, fx.meta.pieceLayers));
    expect(got!.meta.announce).toEqual([['http://new.example/announce']]);
    expect(got!.meta.urlList).toEqual(['http://seed.example/']);
    expect(got!.meta.pieceLayers).toEqual(fx.meta.pieceLayers);
  });

  it('refuses a file whose info dictionary is not the magnet\'s, and one that is not a torrent', async () => {
    const dir = cacheDir();
    const magnet = parseMagnet(fx.magnet);
    expect(await loadCachedTorrent(dir, magnet)).toBeNull(); // none yet
    const path = cachedTorrentPath(dir, magnet);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, encodeTorrentFromMetadata(other.meta.infoBytes, magnet, other.meta.pieceLayers));
    expect(await loadCachedTorrent(dir, magnet)).toBeNull();
    writeFileSync(path, Buffer.from('d4:infod'));
    expect(await loadCachedTorrent(dir, magnet)).toBeNull();
    // A hybrid-style magnet naming a SHA-1 the info dictionary does not hash to.
    writeFileSync(path, encodeTorrentFromMetadata(fx.meta.infoBytes, magnet, fx.meta.pieceLayers));
    expect(await loadCachedTorrent(dir, { ...magnet, infoHash: Buffer.alloc(20, 1) })).toBeNull();
    expect(await loadCachedTorrent(dir, magnet)).not.toBeNull();
  });
});
