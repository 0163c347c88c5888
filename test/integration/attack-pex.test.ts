/**
 * Issue 17, cause 1: peer sources cannot be poisoned. A peer we are connected to sends ut_pex
 * (BEP 11) naming thousands of fake addresses (one 2,200-contact message, or a stream of them)
 * before a tracker names the honest seeder; `torrent download` must still dial the seeder and
 * finish. The audit saw the old peer pool refuse every address past 2,000 and hang forever.
 *
 * Real sockets on loopback: the built CLI (dist/, `npx tsc -p .` first), a tiny HTTP tracker
 * in this process that holds its first answer until the PEX flood has been written (plus a
 * moment for the client to read it), the flooder of test/helpers/flood-peer.ts (every fake
 * contact is on 127.x, so dials stay on this machine and are refused), and the honest seeder of
 * test/helpers/scripted-peer.ts. The download's own --timeout and the runner's kill bound it.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { runCli } from '../helpers/cli.js';
import { startFloodServer, startHeldTracker, type FloodServer } from '../helpers/flood-peer.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { startScriptedPeer, type ScriptedPeer } from '../helpers/scripted-peer.js';

const work = mkdtempSync(join(tmpdir(), 'torrent-attack-pex-'));
const PIECE_LENGTH = 64 * 1024;
const data = bytes(1024 * 1024 + 777, 11);
const torrentBytes = makeTorrent({ name: 'pex.bin', data, pieceLength: PIECE_LENGTH });
const infoHash = parseTorrent(torrentBytes).infoHash!;
const pieceCount = Math.ceil(data.length / PIECE_LENGTH);
const torrentPath = join(work, 'pex.torrent');
writeFileSync(torrentPath, torrentBytes);

/**
 * After the flood is written, the tracker still waits this long before it names the seeder, so
 * that the client has read (and acted on) the fake contacts first, as in the audit ("the honest
 * seeder that the tracker names three seconds later"). Shapes the scenario; asserts nothing.
 */
const TRACKER_HOLD_MS = 3_000;
const DOWNLOAD_TIMEOUT_S = 60;
const TEST_TIMEOUT_MS = 120_000;

const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');

const cleanups: (() => Promise<void>)[] = [];
let runs = 0;

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

async function poisonedDownload(pexAddresses: number, pexPerMessage: number): Promise<void> {
  const honest = await startScriptedPeer({ data, pieceLength: PIECE_LENGTH, infoHash });
  cleanups.push(() => honest.close());
  const poisoner: FloodServer = await startFloodServer({ infoHash, pieceCount, flood: 'pex', pexAddresses, pexPerMessage });
  cleanups.push(() => poisoner.close());
  const flooded = (): boolean => poisoner.connections.some((c) => c.stats.floodDone);
  const tracker = await startHeldTracker([honest.port], flooded, TRACKER_HOLD_MS);
  cleanups.push(() => tracker.close());

  const n = ++runs;
  const out = join(work, `out-${n}`);
  const r = await runCli(
    ['download', torrentPath, '-o', out, '--port', '0', '--no-dht', '--quiet', '--timeout', String(DOWNLOAD_TIMEOUT_S),
      '--peer', poisoner.address, '--tracker', tracker.url],
    { env: { TORRENT_CACHE_DIR: join(work, `cache-${n}`) }, timeoutMs: (DOWNLOAD_TIMEOUT_S + 30) * 1000 },
  );

  // The poison was delivered whole, on a connection the client had accepted as a peer...
  const poisoned = poisoner.connections.find((c) => c.stats.floodDone);
  expect(poisoned, `the PEX flood was never written\n${r.stderr}`).toBeDefined();
  expect(poisoned!.stats.handshook).toBe(true);
  expect(poisoned!.stats.floodMessages).toBe(Math.ceil(pexAddresses / pexPerMessage));
  // ...before the tracker named the honest seeder, who was then dialled and served the data.
  expect(tracker.announces).toBeGreaterThan(0);
  expect(honest.stats.connections.filter((c) => c.handshook).length, r.stderr).toBeGreaterThan(0);
  expect(r.code, r.stderr).toBe(0);
  expect(sha1(readFileSync(join(out, 'pex.bin')))).toBe(sha1(data));
  expect(honest.stats.blockBytesSent).toBe(data.length);
}

describe('PEX poisoning before the tracker names the seeder', () => {
  it('one ut_pex message with 2,200 fake addresses', async () => {
    await poisonedDownload(2_200, 2_200);
  }, TEST_TIMEOUT_MS);

  it('a stream of ut_pex messages with 10,000 fake addresses, 200 each', async () => {
    await poisonedDownload(10_000, 200);
  }, TEST_TIMEOUT_MS);
});
