/**
 * Issue 17, cause 3: connection slots cannot be held by idle peers. `torrent seed` (default
 * --max-peers 50) is first filled by 50 hostile connections, either all finishing the handshake
 * and then sending one byte a second (zero bytes: parts of keep-alives, so the stream stays
 * valid and looks alive), or all trickling their handshake one byte a second (a handshake
 * deadline must not be extended by it). A real leecher (python3-libtorrent, lt_peer.py leech,
 * which retries its dial every second) must still get in and complete, with correct bytes; with
 * the drippers, the seeder must have made room by closing some itself; every trickled handshake
 * must be cut before it completed.
 *
 * Real sockets on loopback: the built CLI (dist/, `npx tsc -p .` first), the flooder of
 * test/helpers/flood-peer.ts. Bounded by the leecher's own --timeout and the test timeout.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { bin } from '../helpers/cli.js';
import { dialFloodPeer, type FloodConnection } from '../helpers/flood-peer.js';
import { ltLeech } from '../helpers/lt.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { pollUntil } from '../helpers/poll.js';
import { startProcess, type Proc } from '../helpers/processes.js';
import { needs } from '../helpers/requirements.js';
import { HANDSHAKE_BYTES } from '../../src/wire/index.js';

const tools = needs('python3-libtorrent');

const work = mkdtempSync(join(tmpdir(), 'torrent-attack-slots-'));
const PIECE_LENGTH = 64 * 1024;
const data = bytes(1024 * 1024 + 4321, 33);
const torrentBytes = makeTorrent({ name: 'slots.bin', data, pieceLength: PIECE_LENGTH });
const infoHash = parseTorrent(torrentBytes).infoHash!;
const pieceCount = Math.ceil(data.length / PIECE_LENGTH);
const torrentPath = join(work, 'slots.torrent');
const seedDir = join(work, 'seed');
mkdirSync(seedDir);
writeFileSync(join(seedDir, 'slots.bin'), data);
writeFileSync(torrentPath, torrentBytes);

/** The seeder's default --max-peers: the hostile connections take every slot. */
const SLOTS = 50;
/** One byte a second, as in the audit. */
const BYTE_EVERY_MS = 1000;
/**
 * The leecher's own give-up time. Eviction may wait for a peer to be old enough to judge
 * (EVICT_MIN_AGE_MS, 30 s in session.ts), then the leecher retries each second.
 */
const LEECH_TIMEOUT_S = 120;
const TEST_TIMEOUT_MS = (LEECH_TIMEOUT_S + 60) * 1000;

const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');
const procs: Proc[] = [];
const hostile: FloodConnection[] = [];

afterAll(async () => {
  for (const h of hostile) h.close();
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  rmSync(work, { recursive: true, force: true });
});

async function startSeeder(name: string): Promise<{ proc: Proc; port: number }> {
  const proc = startProcess(process.execPath, [bin, 'seed', torrentPath, seedDir, '--port', '0', '--no-dht'], {
    env: { TORRENT_CACHE_DIR: join(work, `cache-${name}`), NO_COLOR: '1' },
  });
  procs.push(proc);
  return { proc, port: Number((await proc.waitFor(/on port (\d+)/, 30_000))[1]) };
}

/** A python3-libtorrent leecher against `port` completes with the right bytes. */
async function leecherCompletes(port: number, name: string): Promise<void> {
  const dir = join(work, `leech-${name}`);
  const leech = ltLeech(torrentPath, dir, [`127.0.0.1:${port}`], LEECH_TIMEOUT_S);
  procs.push(leech);
  await leech.waitFor(/^done /m, (LEECH_TIMEOUT_S + 10) * 1000);
  expect(sha1(readFileSync(join(dir, 'slots.bin')))).toBe(sha1(data));
}

describe.skipIf(tools.skip)(`torrent seed with every slot held by hostile peers${tools.note}`, () => {
  it('50 peers that handshake then send one byte a second: a real leecher gets in, idle peers evicted', async () => {
    const { proc, port } = await startSeeder('drip');
    const drippers: FloodConnection[] = [];
    for (let i = 0; i < SLOTS; i++) drippers.push(dialFloodPeer('127.0.0.1', port, { infoHash, pieceCount, dripByteMs: BYTE_EVERY_MS }));
    hostile.push(...drippers);
    // Every dripper holds a slot: the seeder answered its handshake.
    await pollUntil(() => drippers.every((d) => d.stats.handshook), {
      timeoutMs: 30_000,
      what: `the seeder to accept ${SLOTS} idle peers`,
      detail: () => `${drippers.filter((d) => d.stats.handshook).length} handshook\n${proc.output().slice(-1500)}`,
    });
    await leecherCompletes(port, 'drip');
    // The room was made by the seeder closing idle connections itself.
    const evicted = drippers.filter((d) => d.stats.closedByRemote);
    expect(evicted.length, proc.output().slice(-1500)).toBeGreaterThan(0);
  }, TEST_TIMEOUT_MS);

  it('50 peers that trickle their handshake one byte a second: each is cut before it completes, a real leecher completes', async () => {
    const { proc, port } = await startSeeder('trickle');
    const tricklers: FloodConnection[] = [];
    for (let i = 0; i < SLOTS; i++) tricklers.push(dialFloodPeer('127.0.0.1', port, { infoHash, pieceCount, handshakeByteMs: BYTE_EVERY_MS }));
    hostile.push(...tricklers);
    // Started while every slot is taken by a trickler.
    await pollUntil(() => tricklers.every((t) => t.stats.bytesWritten > 0), { timeoutMs: 30_000, what: 'the tricklers to start' });
    await leecherCompletes(port, 'trickle');
    // Every trickler was cut by the seeder (the positive event), and none got its handshake in.
    await pollUntil(() => tricklers.every((t) => t.stats.closedAt !== null), {
      timeoutMs: 60_000,
      what: 'the seeder to cut every trickled handshake',
      detail: () => `${tricklers.filter((t) => t.stats.closedAt !== null).length} cut\n${proc.output().slice(-1500)}`,
    });
    for (const t of tricklers) {
      expect(t.stats.closedByRemote).toBe(true);
      expect(t.stats.bytesWritten).toBeLessThan(HANDSHAKE_BYTES);
    }
  }, TEST_TIMEOUT_MS);
});
