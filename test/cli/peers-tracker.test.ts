/**
 * `torrent tracker` (bittorrent-tracker's server) and `torrent peers`, end to end: a real
 * python3-libtorrent seeder announces to our tracker, `torrent peers` finds it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, runCli } from '../helpers/cli.js';
import { ltCreate, ltSeed, type LtSeeder } from '../helpers/lt.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { startProcess, type Proc } from '../helpers/processes.js';
import { pollUntil } from '../helpers/poll.js';
import { needs } from '../helpers/requirements.js';

/** Real clients this file runs; missing ones fail in CI and skip elsewhere. */
const tools = needs('python3-libtorrent');

const work = mkdtempSync(join(tmpdir(), 'torrent-cli-peers-'));
let tracker: Proc;
let httpUrl = '';
let udpUrl = '';
let seeder: LtSeeder;
const torrent = join(work, 'x.torrent');

beforeAll(async () => {
  tracker = startProcess(process.execPath, [bin, 'tracker', '--host', '127.0.0.1', '--port', '0', '--interval', '5']);
  const m = await tracker.waitFor(/(http:\/\/\S+)\n(udp:\/\/\S+)\n/, 15_000);
  httpUrl = m[1]!;
  udpUrl = m[2]!;
  mkdirSync(join(work, 'seed'));
  writeFileSync(join(work, 'seed', 'x.bin'), bytes(100_000, 5));
  await ltCreate(join(work, 'seed', 'x.bin'), torrent, { tracker: httpUrl });
  seeder = await ltSeed(torrent, join(work, 'seed'));
}, 60_000);

afterAll(async () => {
  await seeder?.stop();
  await tracker?.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(tools.skip)(`torrent tracker + torrent peers${tools.note}`, () => {
  it('prints the announce URLs on stdout', () => {
    expect(httpUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/announce$/);
    expect(udpUrl).toMatch(/^udp:\/\/127\.0\.0\.1:\d+$/);
  });

  it('finds the seeder over HTTP and over UDP, as text and as JSON', async () => {
    // The seeder announces on start; poll until the tracker lists it.
    let last = '';
    await pollUntil(
      async () => {
        const r = await runCli(['peers', torrent]);
        expect(r.code, r.stderr).toBe(0);
        last = r.stdout;
        return r.stdout.trim().split('\n').includes(`127.0.0.1:${seeder.port}`);
      },
      { timeoutMs: 20_000, intervalMs: 500, what: `the seeder's port ${seeder.port} from torrent peers`, detail: () => last },
    );
    const j = await runCli(['peers', torrent, '--json', '--tracker', udpUrl]);
    expect(j.code, j.stderr).toBe(0);
    const peers = JSON.parse(j.stdout) as { ip: string; port: number; tracker: string }[];
    expect(peers).toContainEqual({ ip: '127.0.0.1', port: seeder.port, tracker: expect.stringMatching(/^(http|udp):/) as unknown as string });
  }, 40_000);

  it('exits 1 with one line per failed tracker when none answers', async () => {
    const t = join(work, 'dead.torrent');
    writeFileSync(t, makeTorrent({ name: 'd', data: bytes(10), announce: 'http://127.0.0.1:9/announce' }));
    const r = await runCli(['peers', t, '--tracker', 'udp://127.0.0.1:9', '--timeout', '2']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/tracker http:\/\/127\.0\.0\.1:9\/announce: /);
    expect(r.stderr).toMatch(/tracker udp:\/\/127\.0\.0\.1:9: /);
    expect(r.stderr).toMatch(/none of 2 tracker\(s\) answered/);
  }, 20_000);

  it('uses only its own trackers for a private torrent', async () => {
    const t = join(work, 'private.torrent');
    writeFileSync(t, makeTorrent({ name: 'p', data: bytes(10), announce: 'http://127.0.0.1:9/announce', private: true }));
    const r = await runCli(['peers', t, '--tracker', httpUrl, '--timeout', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/private torrent/);
    expect(r.stderr).not.toContain(httpUrl);
  }, 20_000);

  it('exits 2 for bad input and when there is no tracker at all', async () => {
    expect((await runCli(['peers', join(work, 'missing.torrent')])).code).toBe(2);
    const t = join(work, 'none.torrent');
    writeFileSync(t, makeTorrent({ name: 'n', data: bytes(10) }));
    const r = await runCli(['peers', t]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no trackers/);
  });

  it('the tracker stops on SIGINT with exit 130', async () => {
    const t = startProcess(process.execPath, [bin, 'tracker', '--host', '127.0.0.1', '--port', '0']);
    await t.waitFor(/udp:\/\//, 10_000);
    t.child.kill('SIGINT');
    expect(await t.exited).toBe(130);
  }, 20_000);
});
