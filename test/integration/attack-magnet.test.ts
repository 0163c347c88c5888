/**
 * Issue 17, cause 4: in the magnet phase, peers that handshake and go silent cannot hold every
 * slot. As many silent peers as the client has slots (30 with `download --max-peers 30`, 50 for
 * `info --fetch`, whose limit is fixed) are named first, by --peer; each finishes the BEP 3 and
 * BEP 10 handshakes without offering the metadata (no metadata_size) and then says nothing. A
 * tracker that answers only once every silent peer is connected names the honest seeder (our own
 * `torrent seed`, which serves the metadata, BEP 9). The honest peer must be used: the metadata
 * arrives and `download` completes, `info --fetch` prints the file. The audit saw `download`
 * wait forever and `info --fetch` fail at its timeout.
 *
 * Real sockets on loopback: the built CLI (dist/, `npx tsc -p .` first), the silent peers and the
 * held tracker of test/helpers/flood-peer.ts. Bounded by --timeout and the runner's kill.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { bin, runCli } from '../helpers/cli.js';
import { startFloodServer, startHeldTracker, type FloodServer } from '../helpers/flood-peer.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { startProcess, type Proc } from '../helpers/processes.js';

const work = mkdtempSync(join(tmpdir(), 'torrent-attack-magnet-'));
const PIECE_LENGTH = 32 * 1024;
const data = bytes(512 * 1024 + 99, 44);
const torrentBytes = makeTorrent({ name: 'magnet.bin', data, pieceLength: PIECE_LENGTH });
const infoHash = parseTorrent(torrentBytes).infoHash!;
const magnet = `magnet:?xt=urn:btih:${infoHash.toString('hex')}&dn=magnet.bin`;
const torrentPath = join(work, 'magnet.torrent');
const seedDir = join(work, 'seed');
mkdirSync(seedDir);
writeFileSync(join(seedDir, 'magnet.bin'), data);
writeFileSync(torrentPath, torrentBytes);

/** `download --max-peers` in the first test: the silent peers take every slot. */
const DOWNLOAD_SLOTS = 30;
/** `info --fetch` connects to at most 50 peers (cli/peer-sources.ts). */
const FETCH_SLOTS = 50;
/** Once every silent peer is connected, the tracker waits this long more (shapes the scenario). */
const TRACKER_HOLD_MS = 2_000;
/** The client's own --timeout: long enough to outlast any per-peer metadata deadline. */
const CLIENT_TIMEOUT_S = 90;
const TEST_TIMEOUT_MS = (CLIENT_TIMEOUT_S + 40) * 1000;

const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');
const cleanups: (() => Promise<void>)[] = [];
let runs = 0;

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

async function honestSeeder(): Promise<number> {
  const proc: Proc = startProcess(process.execPath, [bin, 'seed', torrentPath, seedDir, '--port', '0', '--no-dht'], {
    env: { TORRENT_CACHE_DIR: join(work, `cache-seed-${++runs}`), NO_COLOR: '1' },
  });
  cleanups.push(() => proc.kill('SIGKILL'));
  return Number((await proc.waitFor(/on port (\d+)/, 30_000))[1]);
}

/** `n` silent peers, each on a port of its own; the tracker names `honestPort` once all are connected. */
async function silentSwarm(n: number, honestPort: number): Promise<{ silent: FloodServer[]; trackerUrl: string; announces: () => number }> {
  const silent: FloodServer[] = [];
  for (let i = 0; i < n; i++) silent.push(await startFloodServer({ infoHash, pieceCount: 0 }));
  cleanups.push(async () => {
    await Promise.all(silent.map((s) => s.close()));
  });
  const allConnected = (): boolean => silent.every((s) => s.connections.some((c) => c.stats.handshook));
  const tracker = await startHeldTracker([honestPort], allConnected, TRACKER_HOLD_MS);
  cleanups.push(() => tracker.close());
  return { silent, trackerUrl: tracker.url, announces: () => tracker.announces };
}

function connectedSilent(silent: FloodServer[]): number {
  return silent.filter((s) => s.connections.some((c) => c.stats.handshook)).length;
}

describe('magnet phase with every slot held by silent peers', () => {
  it(`download --max-peers ${DOWNLOAD_SLOTS}: ${DOWNLOAD_SLOTS} silent peers, the honest one is still used`, async () => {
    const honestPort = await honestSeeder();
    const { silent, trackerUrl, announces } = await silentSwarm(DOWNLOAD_SLOTS, honestPort);
    const out = join(work, 'out-download');
    const r = await runCli(
      ['download', magnet, '-o', out, '--port', '0', '--no-dht', '--quiet', '--max-peers', String(DOWNLOAD_SLOTS),
        '--timeout', String(CLIENT_TIMEOUT_S), '--tracker', trackerUrl, ...silent.flatMap((s) => ['--peer', s.address])],
      { env: { TORRENT_CACHE_DIR: join(work, 'cache-download') }, timeoutMs: TEST_TIMEOUT_MS - 10_000 },
    );
    // Every slot was taken by a silent peer before the honest one was named...
    expect(connectedSilent(silent), r.stderr).toBe(DOWNLOAD_SLOTS);
    expect(announces()).toBeGreaterThan(0);
    // ...and the download still got the metadata and the data.
    expect(r.code, r.stderr).toBe(0);
    expect(sha1(readFileSync(join(out, 'magnet.bin')))).toBe(sha1(data));
    // Room was made by closing silent peers.
    const dropped = silent.flatMap((s) => s.connections).filter((c) => c.stats.handshook && c.stats.closedByRemote);
    expect(dropped.length).toBeGreaterThan(0);
  }, TEST_TIMEOUT_MS);

  it(`info --fetch: ${FETCH_SLOTS} silent peers, the honest one is still used`, async () => {
    const honestPort = await honestSeeder();
    const { silent, trackerUrl, announces } = await silentSwarm(FETCH_SLOTS, honestPort);
    const r = await runCli(
      ['info', magnet, '--fetch', '--no-dht', '--json', '--timeout', String(CLIENT_TIMEOUT_S), '--tracker', trackerUrl,
        ...silent.flatMap((s) => ['--peer', s.address])],
      { env: { TORRENT_CACHE_DIR: join(work, 'cache-fetch') }, timeoutMs: TEST_TIMEOUT_MS - 10_000 },
    );
    expect(connectedSilent(silent), r.stderr).toBe(FETCH_SLOTS);
    expect(announces()).toBeGreaterThan(0);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('magnet.bin');
    expect(r.stdout).toContain(String(data.length));
  }, TEST_TIMEOUT_MS);
});
