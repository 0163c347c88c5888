/**
 * Issue 17, cause 2: per-peer output is bounded. A hostile peer that stops reading and floods
 * (ut_metadata requests or interested/not-interested against `torrent seed`; unchoke/choke or
 * interested/not-interested, from a peer that has every piece, against `torrent download`) must not make the client queue replies without limit: the
 * process's RSS stays within a bound of where it was when the flood began, the flooding peer is
 * dropped (the client closes its connection), and SIGINT still ends the process with exit 130.
 *
 * Real processes on loopback: the built CLI (dist/, `npx tsc -p .` first) and the flooder of
 * test/helpers/flood-peer.ts in this process. Every wait is for an event (the flooder's socket
 * closed by the client, the process exiting), bounded by a deadline that only fails the test.
 * RSS is read from /proc/<pid>/status (VmRSS) while waiting. How high it peaks, before and after
 * the fix, is measured by bench/floods.mjs.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { bin } from '../helpers/cli.js';
import { dialFloodPeer, rssKiB, startFloodServer, type FloodConnection, type FloodServer } from '../helpers/flood-peer.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { pollUntil } from '../helpers/poll.js';
import { startProcess, type Proc } from '../helpers/processes.js';

const work = mkdtempSync(join(tmpdir(), 'torrent-attack-floods-'));
const PIECE_LENGTH = 64 * 1024;
/** 2 MiB of data: the torrent's size plays no part in a flood, it only has to exist. */
const data = bytes(2 * 1024 * 1024, 17);
const torrentBytes = makeTorrent({ name: 'flood.bin', data, pieceLength: PIECE_LENGTH });
const meta = parseTorrent(torrentBytes);
const infoHash = meta.infoHash!;
const pieceCount = Math.ceil(data.length / PIECE_LENGTH);
const torrentPath = join(work, 'flood.torrent');
const seedDir = join(work, 'seed');
mkdirSync(seedDir);
writeFileSync(join(seedDir, 'flood.bin'), data);
writeFileSync(torrentPath, torrentBytes);

/**
 * How much the process may grow under one flood. What the client may legitimately hold for one
 * peer: its write queue bound (8 MiB, peer-connection.ts WRITE_LIMIT_BYTES), the seeder's read
 * cache (32 MiB) and V8 heap headroom. The audit saw +670 MB (metadata), +280 MB (interest) and
 * +2,300 MB (choke); 96 MiB is far under all three and above the honest worst case.
 */
const RSS_GROWTH_BOUND_KIB = 96 * 1024;
/**
 * How long the client may take to drop a peer that stopped reading: its write queue has to fill
 * the kernel's socket buffers, then pass 2 MiB, then stall for WRITE_STALL_MS (60 s), and the
 * ut_metadata answers are rate limited to 8 a second. A deadline that only fails the test.
 */
const DROP_DEADLINE_MS = 150_000;
/** SIGINT must end the process within this (the CLI's graceful stop has its own shorter bound). */
const SIGNAL_DEADLINE_MS = 10_000;
/** How often VmRSS is sampled while waiting: often enough to see a peak that lasts a second. */
const RSS_SAMPLE_MS = 100;
const TEST_TIMEOUT_MS = DROP_DEADLINE_MS + 60_000;

const procs: Proc[] = [];
const floods: FloodConnection[] = [];
const servers: FloodServer[] = [];
let runs = 0;

afterEach(async () => {
  for (const f of floods.splice(0)) f.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

function ours(args: string[]): Proc {
  const n = ++runs;
  const p = startProcess(process.execPath, [bin, ...args], { env: { TORRENT_CACHE_DIR: join(work, `cache-${n}`), NO_COLOR: '1' } });
  procs.push(p);
  return p;
}

/** Samples the process's VmRSS until `until` settles; returns the peak (KiB). */
async function peakRssWhile<T>(pid: number, until: Promise<T>): Promise<{ value: T; peakKiB: number }> {
  let peakKiB = rssKiB(pid) ?? 0;
  const timer = setInterval(() => {
    peakKiB = Math.max(peakKiB, rssKiB(pid) ?? 0);
  }, RSS_SAMPLE_MS);
  try {
    const value = await until;
    peakKiB = Math.max(peakKiB, rssKiB(pid) ?? 0);
    return { value, peakKiB };
  } finally {
    clearInterval(timer);
  }
}

/** The flooder's connection ended by the client (the positive event), within the deadline. */
function droppedByClient(c: () => FloodConnection | undefined, proc: Proc): Promise<FloodConnection> {
  return pollUntil(() => {
    const conn = c();
    return conn && conn.stats.closedAt !== null ? conn : null;
  }, {
    timeoutMs: DROP_DEADLINE_MS,
    intervalMs: 250,
    what: 'the client to drop the flooding peer',
    detail: () => `flood: ${JSON.stringify(c()?.stats)}\n${proc.output().slice(-1500)}`,
  });
}

/** SIGINT ends the process with 130 within the deadline. */
async function expectSigintHonoured(proc: Proc): Promise<void> {
  proc.child.kill('SIGINT');
  const code = await Promise.race([
    proc.exited,
    new Promise<'hung'>((r) => {
      const t = setTimeout(() => r('hung'), SIGNAL_DEADLINE_MS);
      void proc.exited.then(() => clearTimeout(t));
    }),
  ]);
  expect(code, proc.output().slice(-1500)).toBe(130);
}

async function seeder(): Promise<{ proc: Proc; port: number }> {
  const proc = ours(['seed', torrentPath, seedDir, '--port', '0', '--no-dht']);
  const m = await proc.waitFor(/on port (\d+)/, 30_000);
  return { proc, port: Number(m[1]) };
}

describe('a peer that floods and never reads', () => {
  it('ut_metadata requests against torrent seed: bounded RSS, dropped, SIGINT exits 130', async () => {
    const { proc, port } = await seeder();
    const baseKiB = rssKiB(proc.child.pid!)!;
    const flood = dialFloodPeer('127.0.0.1', port, { infoHash, pieceCount, flood: 'metadata-requests', stopReading: true });
    floods.push(flood);
    const { value: conn, peakKiB } = await peakRssWhile(proc.child.pid!, droppedByClient(() => flood, proc));
    expect(conn.stats.handshook).toBe(true);
    expect(conn.stats.floodMessages, 'the flood never started').toBeGreaterThan(1000);
    expect(conn.stats.closedByRemote).toBe(true);
    expect(peakKiB - baseKiB, `RSS ${baseKiB} KiB -> peak ${peakKiB} KiB`).toBeLessThan(RSS_GROWTH_BOUND_KIB);
    await expectSigintHonoured(proc);
  }, TEST_TIMEOUT_MS);

  it('interested / not-interested against torrent seed: bounded RSS, dropped, SIGINT exits 130', async () => {
    const { proc, port } = await seeder();
    const baseKiB = rssKiB(proc.child.pid!)!;
    const flood = dialFloodPeer('127.0.0.1', port, { infoHash, pieceCount, flood: 'interest', stopReading: true });
    floods.push(flood);
    const { value: conn, peakKiB } = await peakRssWhile(proc.child.pid!, droppedByClient(() => flood, proc));
    expect(conn.stats.handshook).toBe(true);
    expect(conn.stats.floodMessages, 'the flood never started').toBeGreaterThan(1000);
    expect(conn.stats.closedByRemote).toBe(true);
    expect(peakKiB - baseKiB, `RSS ${baseKiB} KiB -> peak ${peakKiB} KiB`).toBeLessThan(RSS_GROWTH_BOUND_KIB);
    await expectSigintHonoured(proc);
  }, TEST_TIMEOUT_MS);

  for (const kind of ['choke', 'interest'] as const) {
    const what = kind === 'choke' ? 'unchoke / choke' : 'interested / not-interested';
    it(`${what} against torrent download: bounded RSS, dropped, SIGINT exits 130`, async () => {
      const server = await startFloodServer({ infoHash, pieceCount, haveAll: true, flood: kind, stopReading: true });
      servers.push(server);
      const out = join(work, `out-${runs + 1}`);
      const proc = ours(['download', torrentPath, '-o', out, '--port', '0', '--no-dht', '--peer', server.address]);
      // The baseline: once the client has connected to the flooder (the flood starts right after).
      // An encrypted (MSE) attempt first is refused by the flooder and does not count.
      await pollUntil(() => server.connections.some((c) => c.stats.handshook), {
        timeoutMs: 30_000,
        what: 'the download to connect to the flooding peer',
        detail: () => proc.output().slice(-1500),
      });
      const baseKiB = rssKiB(proc.child.pid!)!;
      const { value: conn, peakKiB } = await peakRssWhile(proc.child.pid!, droppedByClient(() => server.connections.find((c) => c.stats.handshook), proc));
      expect(conn.stats.floodMessages, 'the flood never started').toBeGreaterThan(1000);
      expect(conn.stats.closedByRemote).toBe(true);
      expect(peakKiB - baseKiB, `RSS ${baseKiB} KiB -> peak ${peakKiB} KiB`).toBeLessThan(RSS_GROWTH_BOUND_KIB);
      await expectSigintHonoured(proc);
    }, TEST_TIMEOUT_MS);
  }
});
