/** `torrent download` from an aria2c seeder and from a transmission-cli seeder (dialled with --peer). */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { ltCreate } from '../helpers/lt.js';
import { bytes } from '../helpers/make-torrent.js';
import { aria2Seed, transmissionConfig, transmissionRun, type RealPeer } from '../helpers/real-clients.js';
import { needs } from '../helpers/requirements.js';

/** Real clients this file runs; missing ones fail in CI and skip elsewhere. */
const tools = needs('python3-libtorrent', 'aria2c', 'transmission-cli');

const work = mkdtempSync(join(tmpdir(), 'torrent-dl-real-'));
const seedDir = join(work, 'seed');
const torrent = join(work, 'x.torrent');
const data = bytes(2 * 1024 * 1024 + 777, 11);
const running: RealPeer[] = [];

const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');

beforeAll(async () => {
  mkdirSync(seedDir);
  writeFileSync(join(seedDir, 'x.bin'), data);
  await ltCreate(join(seedDir, 'x.bin'), torrent, { pieceLength: 32768 });
}, 60_000);

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
  rmSync(work, { recursive: true, force: true });
});

async function downloadFrom(peer: RealPeer, name: string): Promise<void> {
  const out = join(work, `out-${name}`);
  const r = await runCli(['download', torrent, '-o', out, '--port', '0', '--timeout', '60', '--quiet', '--peer', `127.0.0.1:${peer.port}`], {
    env: { TORRENT_CACHE_DIR: join(work, `cache-${name}`) },
    timeoutMs: 120_000,
  });
  expect(r.code, `${r.stderr}\n--- ${name} ---\n${peer.proc.output().slice(-1500)}`).toBe(0);
  expect(sha1(readFileSync(join(out, 'x.bin')))).toBe(sha1(data));
}

describe.skipIf(tools.skip)(`download from real clients${tools.note}`, () => {
  it('from an aria2c seeder', async () => {
    const peer = await aria2Seed(torrent, seedDir);
    running.push(peer);
    await downloadFrom(peer, 'aria2');
  }, 120_000);

  it('from a transmission-cli seeder', async () => {
    const peer = await transmissionRun(torrent, seedDir, transmissionConfig(work, 'seed'));
    running.push(peer);
    await downloadFrom(peer, 'transmission');
  }, 120_000);
});
