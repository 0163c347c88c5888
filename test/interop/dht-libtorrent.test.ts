/**
 * Our Dht (BEP 5) against python3-libtorrent DHT nodes on loopback (test/helpers/lt_dht.py, which
 * turns off libtorrent's one-node-per-IP and rate-limit rules that a one-host network breaks, and
 * bootstraps from the nodes we give only). Nothing here reaches the internet.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Dht } from '../../src/dht/index.js';
import { parseTorrent } from '../../src/metainfo/index.js';
import { repoRoot } from '../helpers/corpus.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { startProcess, type Proc } from '../helpers/processes.js';
import { pollUntil } from '../helpers/poll.js';
import { needs } from '../helpers/requirements.js';

/** Real clients this file runs; missing ones fail in CI and skip elsewhere. */
const tools = needs('python3-libtorrent');

const PY = '/usr/bin/python3';
const SCRIPT = join(repoRoot, 'test', 'helpers', 'lt_dht.py');
const work = mkdtempSync(join(tmpdir(), 'torrent-dht-lt-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface LtNode {
  tcpPort: number;
  dhtPort: number;
  proc: Proc;
}

async function ltDht(args: string[]): Promise<LtNode> {
  const proc = startProcess(PY, [SCRIPT, '--port', '0', ...args]);
  cleanups.push(() => proc.kill());
  const m = await proc.waitFor(/^ready (\d+) (\d+)$/m, 30_000);
  return { tcpPort: Number(m[1]), dhtPort: Number(m[2]), proc };
}

/** One of our nodes on 127.0.0.1, bootstrapped from these loopback DHT ports only. */
async function ours(bootstrapPorts: number[]): Promise<{ dht: Dht; warnings: string[] }> {
  const warnings: string[] = [];
  const dht = await Dht.start({
    port: 0,
    host: '127.0.0.1',
    bootstrap: bootstrapPorts.map((port) => ({ host: '127.0.0.1', port })),
    stateFile: null,
    onWarning: (m) => warnings.push(m),
    lookupIntervalMs: 1000,
  });
  cleanups.push(() => dht.close());
  return { dht, warnings };
}

const waitFor = (cond: () => boolean, timeoutMs: number, what: string): Promise<true> => pollUntil(cond, { timeoutMs, what });

describe.skipIf(tools.skip)(`DHT interop with libtorrent${tools.note}`, () => {
  it('a lookup bootstrapped only from a libtorrent node finds the libtorrent seeder', { timeout: 90_000 }, async () => {
    const seedDir = join(work, 'seed');
    mkdirSync(seedDir, { recursive: true });
    const data = bytes(300_000, 5);
    writeFileSync(join(seedDir, 'dht.bin'), data);
    const torrentFile = join(work, 'dht.torrent');
    const torrent = makeTorrent({ name: 'dht.bin', data, pieceLength: 32768 });
    writeFileSync(torrentFile, torrent);
    const infoHash = parseTorrent(torrent).infoHash!;
    const hex = infoHash.toString('hex');

    // A plain libtorrent node, and a libtorrent seeder that knows only that node and announces to
    // it. --node, not --bootstrap: libtorrent never lists its bootstrap routers in `nodes` replies.
    const plain = await ltDht([]);
    const seeder = await ltDht(['--node', `127.0.0.1:${plain.dhtPort}`, '--torrent', torrentFile, '--save', seedDir, '--announce-every', '1']);
    await plain.proc.waitFor(new RegExp(`^announce ${hex} 127\\.0\\.0\\.1 ${seeder.tcpPort}$`, 'm'), 30_000);

    // One of ours knows only the seeder's node (libtorrent lists itself for a torrent it seeds),
    // the other only the plain node (which stores the seeder's announce_peer).
    for (const via of [seeder, plain]) {
      const { dht, warnings } = await ours([via.dhtPort]);
      const found: { host: string; port: number }[] = [];
      dht.lookup(infoHash, (p) => found.push(p));
      await waitFor(() => found.some((p) => p.port === seeder.tcpPort), 30_000, `the seeder's port ${seeder.tcpPort} (found ${JSON.stringify(found)})`);
      expect(found).toContainEqual({ host: '127.0.0.1', port: seeder.tcpPort });
      // libtorrent's compact `nodes` reply named the other libtorrent node, and it answered us.
      await waitFor(() => dht.nodeCount >= 2, 5_000, 'the other libtorrent node in our table');
      expect(warnings).toEqual([]);
    }
  });

  it('libtorrent accepts our announce_peer (its token, our port)', { timeout: 60_000 }, async () => {
    const plain = await ltDht([]);
    const { dht, warnings } = await ours([plain.dhtPort]);
    const infoHash = Buffer.from('5a'.repeat(20), 'hex');
    await dht.announce(infoHash, 45678);
    await plain.proc.waitFor(new RegExp(`^announce ${infoHash.toString('hex')} 127\\.0\\.0\\.1 45678$`, 'm'), 15_000);
    expect(warnings).toEqual([]);
  });
  it('a libtorrent seeder bootstrapped from our node announces to it, and our other node finds it', { timeout: 60_000 }, async () => {
    const seedDir = join(work, 'seed3');
    mkdirSync(seedDir, { recursive: true });
    const data = bytes(100_000, 9);
    writeFileSync(join(seedDir, 'three.bin'), data);
    const torrentFile = join(work, 'three.torrent');
    const torrent = makeTorrent({ name: 'three.bin', data, pieceLength: 16384 });
    writeFileSync(torrentFile, torrent);
    const infoHash = parseTorrent(torrent).infoHash!;

    const first = await ours([]);
    const port = first.dht.port;
    const seeder = await ltDht(['--bootstrap', `127.0.0.1:${port}`, '--torrent', torrentFile, '--save', seedDir, '--announce-every', '1']);
    const second = await ours([port]);
    const found: number[] = [];
    second.dht.lookup(infoHash, (p) => found.push(p.port));
    await waitFor(() => found.includes(seeder.tcpPort), 30_000, `the seeder's port ${seeder.tcpPort} (found ${JSON.stringify(found)})`);
    expect(first.warnings).toEqual([]);
    expect(second.warnings).toEqual([]);
  });
});
