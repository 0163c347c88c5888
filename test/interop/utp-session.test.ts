/**
 * uTP (BEP 29) in `download` and `seed` against real peers on loopback: a python3-libtorrent with
 * TCP disabled both ways, transmission-cli (its uTP is on by default), and two of ours with
 * `--transport utp`. `--json` peer events show which transport carried each connection.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bin, runCli } from '../helpers/cli.js';
import { repoRoot } from '../helpers/corpus.js';
import { ltCreate } from '../helpers/lt.js';
import { bytes } from '../helpers/make-torrent.js';
import { freeTcpPort } from '../helpers/opentracker.js';
import { waitForPort } from '../helpers/real-clients.js';
import { needs } from '../helpers/requirements.js';
import { scratch } from '../helpers/scratch.js';

const tools = needs('python3-libtorrent', 'transmission-cli');
const PY = '/usr/bin/python3';
const LT = join(repoRoot, 'test', 'helpers', 'lt_utp_peer.py');

const sc = scratch('utp');
const work = sc.root;
const { fresh, start } = sc;
const seedDir = join(work, 'seed');
const name = 'utp.bin';
const data = bytes(3 * 1024 * 1024 + 4321, 13);
const torrentPath = join(work, 'utp.torrent');

const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');



interface PeerEvent {
  event: string;
  state?: string;
  transport?: string;
}

async function download(extra: string[]): Promise<{ code: number | null; stderr: string; events: PeerEvent[]; out: string }> {
  const out = fresh('out');
  const r = await runCli(['download', torrentPath, '-o', out, '--port', '0', '--no-dht', '--timeout', '30', '--json', '-q', ...extra], {
    env: { TORRENT_CACHE_DIR: fresh('cache') },
    timeoutMs: 90_000,
  });
  const events = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as PeerEvent);
  return { code: r.code, stderr: r.stderr, events, out };
}

/** Our seeder on a known port (TCP and uTP share its number). */
async function ourSeeder(extra: string[]): Promise<number> {
  const port = await freeTcpPort();
  const p = start(process.execPath, [bin, 'seed', torrentPath, seedDir, '--port', String(port), '--no-dht', '-q', ...extra], { TORRENT_CACHE_DIR: fresh('cache') });
  await waitForPort(port, 20_000, p);
  return port;
}

const connectedOver = (events: PeerEvent[]): string[] => events.filter((e) => e.event === 'peer' && e.state === 'connected').map((e) => e.transport ?? '');

beforeAll(async () => {
  mkdirSync(seedDir);
  writeFileSync(join(seedDir, name), data);
  await ltCreate(join(seedDir, name), torrentPath, { pieceLength: 65536 });
}, 60_000);

afterEach(async () => {
  await sc.cleanup();
});

afterAll(() => {
  sc.remove();
});

describe.skipIf(tools.skip)(`uTP${tools.note}`, () => {
  it.each([['both'], ['utp']])('downloads from a libtorrent seeder with TCP disabled, --transport %s', async (mode) => {
    const seeder = start(PY, [LT, 'seed', torrentPath, seedDir]);
    const port = Number((await seeder.waitFor(/ready (\d+)/, 60_000))[1]);
    const r = await download(['--peer', `127.0.0.1:${port}`, '--transport', mode]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha1(readFileSync(join(r.out, name)))).toBe(sha1(data));
    expect(connectedOver(r.events).every((t) => t.startsWith('utp'))).toBe(true);
    expect(connectedOver(r.events).length).toBeGreaterThan(0);
  });

  it('serves a libtorrent leecher with TCP disabled, which dials our uTP port', async () => {
    const port = await ourSeeder([]);
    const out = fresh('lt');
    const leech = start(PY, [LT, 'leech', torrentPath, out, '--peer', `127.0.0.1:${port}`, '--timeout', '60']);
    expect(await leech.exited, leech.output()).toBe(0);
    expect(sha1(readFileSync(join(out, name)))).toBe(sha1(data));
  });

  it('two of ours over uTP only', async () => {
    const port = await ourSeeder(['--transport', 'utp']);
    const r = await download(['--peer', `127.0.0.1:${port}`, '--transport', 'utp']);
    expect(r.code, r.stderr).toBe(0);
    expect(sha1(readFileSync(join(r.out, name)))).toBe(sha1(data));
    expect(connectedOver(r.events)).toEqual([expect.stringMatching(/^utp/)]);
  });

  it('downloads from a transmission-cli seeder over uTP only (we dial it)', async () => {
    const port = await freeTcpPort();
    const cfg = fresh('tr-cfg');
    const tr = start('transmission-cli', ['-g', cfg, '-w', seedDir, '-p', String(port), '-M', '-B', torrentPath], { HOME: cfg });
    await waitForPort(port, 20_000, tr);
    await tr.waitFor(/Seeding/, 60_000);
    const r = await download(['--peer', `127.0.0.1:${port}`, '--transport', 'utp']);
    expect(r.code, r.stderr).toBe(0);
    expect(sha1(readFileSync(join(r.out, name)))).toBe(sha1(data));
    expect(connectedOver(r.events).every((t) => t.startsWith('utp'))).toBe(true);
  });

  it('seeds to a transmission-cli leecher over uTP only (we dial it)', async () => {
    const port = await freeTcpPort();
    const dir = fresh('tr-leech');
    const cfg = fresh('tr-cfg');
    const tr = start('transmission-cli', ['-g', cfg, '-w', dir, '-p', String(port), '-M', '-B', torrentPath], { HOME: cfg });
    await waitForPort(port, 20_000, tr);
    await ourSeeder(['--transport', 'utp', '--peer', `127.0.0.1:${port}`]);
    await tr.waitFor(/Seeding|State changed from "Incomplete" to "Complete"/, 90_000);
    expect(sha1(readFileSync(join(dir, name)))).toBe(sha1(data));
  });
});
