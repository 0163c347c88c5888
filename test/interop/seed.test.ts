/**
 * Our client as a seeder: python3-libtorrent, aria2c and transmission-cli leechers each finish
 * with correct bytes; two of our clients trade through opentracker; a mixed swarm finishes;
 * `torrent seed` with partial data.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { bin, runCli } from '../helpers/cli.js';
import { ltCreate, ltLeech } from '../helpers/lt.js';
import { bytes } from '../helpers/make-torrent.js';
import { startOpentracker, type RunningOpentracker } from '../helpers/opentracker.js';
import { startProcess, type Proc } from '../helpers/processes.js';
import { aria2Leech, transmissionConfig, transmissionRun } from '../helpers/real-clients.js';
import { freeTcpPort } from '../helpers/opentracker.js';
import { pollUntil } from '../helpers/poll.js';
import { needs } from '../helpers/requirements.js';

/** Real clients this file runs; missing ones fail in CI and skip elsewhere. */
const tools = needs('python3-libtorrent', 'opentracker', 'aria2c', 'transmission-cli');

const work = mkdtempSync(join(tmpdir(), 'torrent-seed-'));
const seedDir = join(work, 'seed');
const torrent = join(work, 'x.torrent');
const data = bytes(3 * 1024 * 1024 + 4321, 21);
const procs: Proc[] = [];
let tracker: RunningOpentracker;
let seederPort = 0;

const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');

function ours(args: string[], name: string): Proc {
  const p = startProcess(process.execPath, [bin, ...args], { env: { TORRENT_CACHE_DIR: join(work, `cache-${name}`), NO_COLOR: '1' } });
  procs.push(p);
  return p;
}

async function startSeeder(name: string, extra: string[] = []): Promise<number> {
  const p = ours(['seed', torrent, seedDir, '--port', '0', ...extra], name);
  const m = await p.waitFor(/on port (\d+)/, 30_000);
  return Number(m[1]);
}

async function waitForFile(path: string, want: Buffer, timeoutMs: number, proc: Proc): Promise<void> {
  await pollUntil(() => existsSync(path) && readFileSync(path).equals(want), {
    timeoutMs,
    intervalMs: 250,
    what: `${path} to be complete`,
    detail: () => proc.output().slice(-1500),
  });
}

beforeAll(async () => {
  mkdirSync(seedDir);
  writeFileSync(join(seedDir, 'x.bin'), data);
  await ltCreate(join(seedDir, 'x.bin'), torrent, { pieceLength: 65536 });
  tracker = await startOpentracker([parseTorrent(readFileSync(torrent)).infoHash!]);
  await ltCreate(join(seedDir, 'x.bin'), torrent, { pieceLength: 65536, tracker: tracker.httpUrl });
  seederPort = await startSeeder('main');
}, 90_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  await tracker?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(tools.skip)(`seeding to real clients${tools.note}`, () => {
  it('a python3-libtorrent leecher gets correct bytes', async () => {
    const dir = join(work, 'lt');
    const leech = ltLeech(torrent, dir, [`127.0.0.1:${seederPort}`], 60);
    procs.push(leech);
    await leech.waitFor(/done/, 70_000);
    expect(sha1(readFileSync(join(dir, 'x.bin')))).toBe(sha1(data));
  }, 90_000);

  it('an aria2c leecher (finding us through opentracker) gets correct bytes', async () => {
    const dir = join(work, 'aria2');
    const leech = aria2Leech(torrent, dir, await freeTcpPort());
    procs.push(leech);
    expect(await leech.exited, leech.output().slice(-1500)).toBe(0);
    expect(sha1(readFileSync(join(dir, 'x.bin')))).toBe(sha1(data));
  }, 90_000);

  it('a transmission-cli leecher (which we dial) gets correct bytes', async () => {
    const dir = join(work, 'transmission');
    mkdirSync(dir);
    const tr = await transmissionRun(torrent, dir, transmissionConfig(work, 'leech'));
    procs.push(tr.proc);
    // transmission drops 127.x peers from trackers, so a seeder must dial it.
    await startSeeder('to-transmission', ['--peer', `127.0.0.1:${tr.port}`]);
    await waitForFile(join(dir, 'x.bin'), data, 80_000, tr.proc);
  }, 120_000);
});

describe.skipIf(tools.skip)(`our client on both sides${tools.note}`, () => {
  it('one of ours seeds, another leeches, found through opentracker only', async () => {
    const out = join(work, 'ours');
    const r = await runCli(['download', torrent, '-o', out, '--port', '0', '--timeout', '60', '--quiet'], {
      env: { TORRENT_CACHE_DIR: join(work, 'cache-ours') },
      timeoutMs: 90_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(sha1(readFileSync(join(out, 'x.bin')))).toBe(sha1(data));
  }, 120_000);

  it('a swarm of one seeder and three leechers (ours, libtorrent, aria2c) all finish', async () => {
    const oursOut = join(work, 'swarm-ours');
    const ltOut = join(work, 'swarm-lt');
    const ariaOut = join(work, 'swarm-aria2');
    const ltL = ltLeech(torrent, ltOut, [`127.0.0.1:${seederPort}`], 90);
    const ariaL = aria2Leech(torrent, ariaOut, await freeTcpPort());
    procs.push(ltL, ariaL);
    const r = await runCli(['download', torrent, '-o', oursOut, '--port', '0', '--timeout', '60', '--quiet', '--seed-time', '0'], {
      env: { TORRENT_CACHE_DIR: join(work, 'cache-swarm') },
      timeoutMs: 100_000,
    });
    expect(r.code, r.stderr).toBe(0);
    await ltL.waitFor(/done/, 90_000);
    expect(await ariaL.exited).toBe(0);
    for (const dir of [oursOut, ltOut, ariaOut]) expect(sha1(readFileSync(join(dir, 'x.bin'))), dir).toBe(sha1(data));
  }, 150_000);
});

describe.skipIf(tools.skip)(`torrent seed with partial data${tools.note}`, () => {
  it('says so and seeds what it has; --require-complete exits 1; nothing at all exits 1', async () => {
    const partial = join(work, 'partial');
    mkdirSync(partial);
    writeFileSync(join(partial, 'x.bin'), data);
    truncateSync(join(partial, 'x.bin'), Math.floor(data.length / 2));
    const p = ours(['seed', torrent, partial, '--port', '0'], 'partial');
    await p.waitFor(/seeding \d+ of \d+ pieces of x\.bin .*incomplete/, 30_000);
    p.child.kill('SIGINT');
    expect(await p.exited).toBe(130);

    const strict = await runCli(['seed', torrent, partial, '--port', '0', '--require-complete'], { env: { TORRENT_CACHE_DIR: join(work, 'cache-strict') } });
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/^torrent: x\.bin is incomplete in .*: \d+ of 49 pieces\n/);

    const empty = await runCli(['seed', torrent, join(work, 'nothing-here'), '--port', '0'], { env: { TORRENT_CACHE_DIR: join(work, 'cache-empty') } });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/nothing to seed/);
  }, 60_000);
});
