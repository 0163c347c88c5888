/**
 * A hybrid torrent (BEP 52) is in two swarms: the v1 one under its SHA-1 info hash and the v2 one
 * under its SHA-256 info hash truncated to 20 bytes. Against python3-libtorrent on loopback:
 * - a tracker that knows the seeder only in the v2 swarm: we announce under both hashes, dial
 *   the peer it names with the v2 hash, and download;
 * - a libtorrent leecher that knows the torrent only by its btmh magnet (the v2 swarm) dials our
 *   seeder of the hybrid .torrent, encrypted as libtorrent does by default, and is served.
 */
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectAlbum, ltCreateV2, writeAlbum } from '../helpers/album.js';
import { bin, runCli } from '../helpers/cli.js';
import { repoRoot } from '../helpers/corpus.js';
import { ltSeed, type LtSeeder } from '../helpers/lt.js';
import { bytes } from '../helpers/make-torrent.js';
import { freeTcpPort } from '../helpers/opentracker.js';
import { waitForPort } from '../helpers/real-clients.js';
import { needs } from '../helpers/requirements.js';
import { scratch } from '../helpers/scratch.js';

const tools = needs('python3-libtorrent');
const PY = '/usr/bin/python3';
const LT_MAGNET = join(repoRoot, 'test', 'helpers', 'lt_magnet.py');
const sc = scratch('hybrid-swarms');
const work = sc.root;
const { fresh, start } = sc;
const seedDir = join(work, 'seed');
const album = 'album';
const files: [string, Buffer][] = [
  ['a.bin', bytes(700_000, 71)],
  ['b/c.bin', bytes(250_000, 72)],
];
const seeders: LtSeeder[] = [];
const closers: (() => Promise<void>)[] = [];

const hybrid = () => ltCreateV2(join(seedDir, album), join(work, 'hybrid.torrent'), '--hybrid', 65536);

/** `info_hash` of an announce's raw query, percent-decoded byte by byte (it is binary, not UTF-8). */
function rawInfoHash(url: string): Buffer | null {
  const m = /[?&]info_hash=([^&]*)/.exec(url);
  if (!m) return null;
  const out: number[] = [];
  const s = m[1]!;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%') {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(s.charCodeAt(i));
  }
  return Buffer.from(out);
}

/** An HTTP tracker that lists `peer` to announces for `swarm` only, and records every info hash asked. */
async function swarmTracker(swarm: Buffer, peer: { host: string; port: number }): Promise<{ url: string; asked: string[]; close: () => Promise<void> }> {
  const asked: string[] = [];
  const server: Server = createServer((req, res) => {
    const ih = rawInfoHash(req.url ?? '');
    if (ih) asked.push(ih.toString('hex'));
    const compact = Buffer.alloc(6);
    peer.host.split('.').forEach((o, i) => (compact[i] = Number(o)));
    compact.writeUInt16BE(peer.port, 4);
    const peers = ih?.equals(swarm) ? compact : Buffer.alloc(0);
    res.end(Buffer.concat([Buffer.from(`d8:intervali1800e5:peers${peers.length}:`), peers, Buffer.from('e')]));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/announce`, asked, close: () => new Promise<void>((r) => server.close(() => r())) };
}

beforeAll(() => writeAlbum(seedDir, album, files));

afterEach(async () => {
  await Promise.all(seeders.splice(0).map((s) => s.stop()));
  await Promise.all(closers.splice(0).map((c) => c()));
  await sc.cleanup();
});

afterAll(() => sc.remove());

describe.skipIf(tools.skip)(`a hybrid torrent in both its swarms${tools.note}`, () => {
  it('announces under both info hashes and downloads from a peer only the v2 swarm names, greeting it with the v2 hash', { timeout: 120_000 }, async () => {
    const t = hybrid();
    const seeder = await ltSeed(t.path, seedDir);
    seeders.push(seeder);
    const v2 = t.meta.infoHashV2!.subarray(0, 20);
    const tracker = await swarmTracker(v2, { host: '127.0.0.1', port: seeder.port });
    closers.push(tracker.close);
    const out = fresh('out');
    const r = await runCli(['download', t.path, '-o', out, '--port', '0', '--no-dht', '--timeout', '30', '-q', '--tracker', tracker.url], {
      env: { TORRENT_CACHE_DIR: fresh('cache') },
      timeoutMs: 90_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expectAlbum(out, album, files);
    expect(new Set(tracker.asked)).toEqual(new Set([t.meta.infoHash!.toString('hex'), v2.toString('hex')]));
  });

  it('serves a libtorrent leecher that knows the torrent only by its btmh magnet (the v2 swarm), encrypted', { timeout: 120_000 }, async () => {
    const t = hybrid();
    const port = await freeTcpPort();
    const ours = start(process.execPath, [bin, 'seed', t.path, seedDir, '--port', String(port), '--no-dht', '-q'], { TORRENT_CACHE_DIR: fresh('cache') });
    await waitForPort(port, 20_000, ours);
    const out = fresh('lt');
    const magnet = `magnet:?xt=urn:btmh:1220${t.meta.infoHashV2!.toString('hex')}&dn=${album}`;
    const leech = start(PY, [LT_MAGNET, magnet, out, '--peer', `127.0.0.1:${port}`, '--timeout', '60']);
    expect(await leech.exited, leech.output()).toBe(0);
    expectAlbum(out, album, files);
  });
});
