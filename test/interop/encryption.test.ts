/**
 * Encrypted connections (MSE/PE, `--encryption`) against real peers on loopback: python3-libtorrent
 * forcing RC4 both ways, aria2c requiring crypto, transmission-cli at its default setting and
 * requiring encryption, two of ours with `require`, and `require` against a plaintext-only peer.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { bin, runCli } from '../helpers/cli.js';
import { repoRoot } from '../helpers/corpus.js';
import { ltCreate } from '../helpers/lt.js';
import { bytes } from '../helpers/make-torrent.js';
import { freeTcpPort, startOpentracker, type RunningOpentracker } from '../helpers/opentracker.js';
import { waitForPort } from '../helpers/real-clients.js';
import { needs } from '../helpers/requirements.js';
import { scratch } from '../helpers/scratch.js';

const tools = needs('python3-libtorrent', 'opentracker', 'aria2c', 'transmission-cli');
const PY = '/usr/bin/python3';
const LT = join(repoRoot, 'test', 'helpers', 'lt_enc_peer.py');

const sc = scratch('enc');
const work = sc.root;
const { fresh, start } = sc;
const seedDir = join(work, 'seed');
const name = 'enc.bin';
const data = bytes(2 * 1024 * 1024 + 777, 11);
const torrentPath = join(work, 'enc.torrent');
let tracker: RunningOpentracker;

function sha1(b: Buffer): string {
  return createHash('sha1').update(b).digest('hex');
}



async function ltSeeder(enc: 'forced' | 'disabled'): Promise<number> {
  const p = start(PY, [LT, 'seed', torrentPath, seedDir, '--enc', enc]);
  return Number((await p.waitFor(/ready (\d+)/, 60_000))[1]);
}

/** Our seeder on a known port, printing nothing until stopped. */
async function ourSeeder(extra: string[]): Promise<number> {
  const port = await freeTcpPort();
  const p = start(process.execPath, [bin, 'seed', torrentPath, seedDir, '--port', String(port), '--no-dht', '-q', ...extra], {
    TORRENT_CACHE_DIR: fresh('cache'),
  });
  await waitForPort(port, 20_000, p);
  return port;
}

async function download(extra: string[]): Promise<{ code: number | null; stderr: string; stdout: string; out: string }> {
  const out = fresh('out');
  const r = await runCli(['download', torrentPath, '-o', out, '--port', '0', '--no-dht', '--timeout', '30', '-q', ...extra], {
    env: { TORRENT_CACHE_DIR: fresh('cache') },
    timeoutMs: 90_000,
  });
  return { ...r, out };
}

function expectFile(dir: string): void {
  expect(sha1(readFileSync(join(dir, name)))).toBe(sha1(data));
}

const ARIA2 = ['--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false', '--enable-peer-exchange=false', '--file-allocation=none', '--summary-interval=0', '--console-log-level=warn'];
const ARIA2_CRYPTO = ['--bt-require-crypto=true', '--bt-min-crypto-level=arc4'];

beforeAll(async () => {
  mkdirSync(seedDir);
  writeFileSync(join(seedDir, name), data);
  await ltCreate(join(seedDir, name), torrentPath, { pieceLength: 65536 });
  tracker = await startOpentracker([parseTorrent(readFileSync(torrentPath)).infoHash!]);
  await ltCreate(join(seedDir, name), torrentPath, { pieceLength: 65536, tracker: tracker.httpUrl });
}, 120_000);

afterEach(async () => {
  await sc.cleanup();
});

afterAll(async () => {
  await tracker?.stop();
  sc.remove();
});

describe.skipIf(tools.skip)(`encrypted connections${tools.note}`, () => {
  it.each([['prefer'], ['require']])('downloads from a libtorrent seeder that forces RC4, with --encryption %s', async (mode) => {
    const port = await ltSeeder('forced');
    const r = await download(['--peer', `127.0.0.1:${port}`, '--encryption', mode]);
    expect(r.code, r.stderr).toBe(0);
    expectFile(r.out);
  });

  it.each([['prefer'], ['require']])('seeds to a libtorrent leecher that forces RC4, with --encryption %s', async (mode) => {
    const port = await ourSeeder(['--encryption', mode]);
    const out = fresh('lt-leech');
    const leech = start(PY, [LT, 'leech', torrentPath, out, '--enc', 'forced', '--peer', `127.0.0.1:${port}`, '--timeout', '60']);
    expect(await leech.exited, leech.output()).toBe(0);
    expectFile(out);
  });

  it('two of ours with --encryption require', async () => {
    const port = await ourSeeder(['--encryption', 'require']);
    const r = await download(['--peer', `127.0.0.1:${port}`, '--encryption', 'require', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expectFile(r.out);
    const peers = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; state?: string; transport?: string });
    expect(peers.some((e) => e.event === 'peer' && e.state === 'connected' && e.transport === 'tcp+rc4')).toBe(true);
  });

  it('require against a plaintext-only peer: no connection, the reason in --json, exit 1 at --timeout', async () => {
    const port = await ltSeeder('disabled');
    const out = fresh('out');
    const r = await runCli(['download', torrentPath, '-o', out, '--port', '0', '--no-dht', '--timeout', '3', '--json', '--encryption', 'require', '--peer', `127.0.0.1:${port}`], {
      env: { TORRENT_CACHE_DIR: fresh('cache') },
      timeoutMs: 60_000,
    });
    expect(r.code).toBe(1);
    const events = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; state?: string; reason?: string });
    expect(events.some((e) => e.event === 'peer' && e.state === 'connected')).toBe(false);
    expect(events.find((e) => e.event === 'peer' && e.state === 'closed')?.reason).toMatch(/^connect-failed: .*(closed|no-vc|timeout)/);
    expect(events[events.length - 1]!.event).toBe('error');
    expect(r.stderr).toMatch(/^torrent: /m);
  });

  it('an aria2c leecher that requires crypto gets the file from our seeder (through opentracker)', async () => {
    await ourSeeder(['--encryption', 'require']);
    const out = fresh('aria2-leech');
    const leech = start('aria2c', [...ARIA2, ...ARIA2_CRYPTO, `--listen-port=${await freeTcpPort()}`, '--seed-time=0', `--dir=${out}`, '--bt-stop-timeout=60', torrentPath]);
    expect(await leech.exited, leech.output()).toBe(0);
    expectFile(out);
  });

  it('downloads with --encryption require from an aria2c seeder that requires crypto', async () => {
    const port = await freeTcpPort();
    const seeder = start('aria2c', [...ARIA2, ...ARIA2_CRYPTO, `--listen-port=${port}`, '--seed-ratio=0.0', '--bt-seed-unverified=true', '--check-integrity=false', `--dir=${seedDir}`, torrentPath]);
    await waitForPort(port, 20_000, seeder);
    const r = await download(['--peer', `127.0.0.1:${port}`, '--encryption', 'require']);
    expect(r.code, r.stderr).toBe(0);
    expectFile(r.out);
  });

  it('a transmission-cli leecher at its default encryption setting gets the file (we dial it)', async () => {
    const port = await freeTcpPort();
    const dir = fresh('tr-leech');
    const cfg = fresh('tr-cfg');
    const tr = start('transmission-cli', ['-g', cfg, '-w', dir, '-p', String(port), '-M', '-B', torrentPath], { HOME: cfg });
    await waitForPort(port, 20_000, tr);
    await ourSeeder(['--peer', `127.0.0.1:${port}`]);
    await tr.waitFor(/Seeding|State changed from "Incomplete" to "Complete"/, 90_000);
    expectFile(dir);
  });

  it('downloads from a transmission-cli seeder that requires encryption (-er), which we dial', async () => {
    const port = await freeTcpPort();
    const cfg = fresh('tr-cfg');
    const tr = start('transmission-cli', ['-g', cfg, '-w', seedDir, '-p', String(port), '-er', '-M', '-B', torrentPath], { HOME: cfg });
    await waitForPort(port, 20_000, tr);
    await tr.waitFor(/Seeding/, 60_000);
    const r = await download(['--peer', `127.0.0.1:${port}`]);
    expect(r.code, r.stderr).toBe(0);
    expectFile(r.out);
  });
});
