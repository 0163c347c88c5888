/**
 * `torrent download` against python3-libtorrent seeders found through a real opentracker (HTTP
 * and UDP), or given with --peer: single-file, multi-file with pad files, --select, two seeders.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { runCli } from '../helpers/cli.js';
import { ltCreate, ltSeed, type LtSeeder } from '../helpers/lt.js';
import { bytes } from '../helpers/make-torrent.js';
import { startOpentracker, type RunningOpentracker } from '../helpers/opentracker.js';
import { needs } from '../helpers/requirements.js';

/** Real clients this file runs; missing ones fail in CI and skip elsewhere. */
const tools = needs('python3-libtorrent', 'opentracker');

const work = mkdtempSync(join(tmpdir(), 'torrent-dl-lt-'));
const cache = join(work, 'cache');
let tracker: RunningOpentracker;
const seeders: LtSeeder[] = [];

const single = { dir: join(work, 'seed1'), name: 'single.bin', torrent: join(work, 'single.torrent') };
const multi = { dir: join(work, 'seed2'), name: 'album', torrent: join(work, 'multi.torrent') };
const singleData = bytes(3 * 1024 * 1024 + 12345, 7);
const multiFiles: [string, Buffer][] = [
  ['a.flac', bytes(700_000, 1)],
  ['sub/b.txt', bytes(12_345, 2)],
  ['sub/deeper/c.bin', bytes(1_500_000, 3)],
  ['empty', Buffer.alloc(0)],
];

function sha1(b: Buffer): string {
  return createHash('sha1').update(b).digest('hex');
}

async function download(torrent: string, out: string, extra: string[] = []): Promise<Awaited<ReturnType<typeof runCli>>> {
  return runCli(['download', torrent, '-o', out, '--port', '0', '--timeout', '60', '--quiet', ...extra], {
    env: { TORRENT_CACHE_DIR: cache },
    timeoutMs: 120_000,
  });
}

beforeAll(async () => {
  mkdirSync(single.dir);
  writeFileSync(join(single.dir, single.name), singleData);
  mkdirSync(join(multi.dir, multi.name, 'sub', 'deeper'), { recursive: true });
  for (const [p, d] of multiFiles) writeFileSync(join(multi.dir, multi.name, p), d);
  // opentracker runs in whitelist mode: make the torrents first (their hashes do not depend on
  // the tracker URL), then start it, then remake them with its URL.
  await ltCreate(join(single.dir, single.name), single.torrent, { pieceLength: 65536 });
  await ltCreate(join(multi.dir, multi.name), multi.torrent, { pieceLength: 32768, pad: true });
  const hashes = [single.torrent, multi.torrent].map((t) => parseTorrent(readFileSync(t)).infoHash!);
  tracker = await startOpentracker(hashes);
  await ltCreate(join(single.dir, single.name), single.torrent, { pieceLength: 65536, tracker: tracker.httpUrl });
  await ltCreate(join(multi.dir, multi.name), multi.torrent, { pieceLength: 32768, pad: true, tracker: tracker.httpUrl });
  seeders.push(await ltSeed(single.torrent, single.dir));
  seeders.push(await ltSeed(multi.torrent, multi.dir));
}, 120_000);

afterAll(async () => {
  await Promise.all(seeders.map((s) => s.stop()));
  await tracker?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(tools.skip)(`download from python3-libtorrent${tools.note}`, () => {
  it('single file through opentracker over HTTP', async () => {
    const out = join(work, 'out-http');
    const r = await download(single.torrent, out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(sha1(readFileSync(join(out, single.name)))).toBe(sha1(singleData));
  }, 120_000);

  it('single file through opentracker over UDP', async () => {
    const out = join(work, 'out-udp');
    const torrent = join(work, 'single-udp.torrent');
    await ltCreate(join(single.dir, single.name), torrent, { pieceLength: 65536, tracker: tracker.udpUrl });
    const r = await download(torrent, out);
    expect(r.code, r.stderr).toBe(0);
    expect(sha1(readFileSync(join(out, single.name)))).toBe(sha1(singleData));
  }, 120_000);

  it('multi-file with pad files; pad files are never written', async () => {
    const out = join(work, 'out-multi');
    const r = await download(multi.torrent, out);
    expect(r.code, r.stderr).toBe(0);
    for (const [p, d] of multiFiles) expect(sha1(readFileSync(join(out, multi.name, p))), p).toBe(sha1(d));
    expect(existsSync(join(out, multi.name, '.pad'))).toBe(false);
  }, 120_000);

  it('with --peer only (no tracker)', async () => {
    const out = join(work, 'out-peer');
    const torrent = join(work, 'single-notracker.torrent');
    await ltCreate(join(single.dir, single.name), torrent, { pieceLength: 65536 });
    const r = await download(torrent, out, ['--peer', `127.0.0.1:${seeders[0]!.port}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha1(readFileSync(join(out, single.name)))).toBe(sha1(singleData));
  }, 120_000);

  it('with --select: only the chosen file is created', async () => {
    const out = join(work, 'out-select');
    const listed = JSON.parse((await runCli(['info', '--json', multi.torrent])).stdout).files as { path: string }[];
    const index = listed.findIndex((f) => f.path === 'sub/b.txt');
    const r = await download(multi.torrent, out, ['--select', String(index)]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha1(readFileSync(join(out, multi.name, 'sub/b.txt')))).toBe(sha1(multiFiles[1]![1]));
    expect(existsSync(join(out, multi.name, 'a.flac'))).toBe(false);
    expect(existsSync(join(out, multi.name, 'sub/deeper/c.bin'))).toBe(false);
  }, 120_000);

  it('from two seeders at once', async () => {
    const secondDir = join(work, 'seed1b');
    mkdirSync(secondDir);
    writeFileSync(join(secondDir, single.name), singleData);
    const second = await ltSeed(single.torrent, secondDir);
    seeders.push(second);
    const out = join(work, 'out-two');
    const r = await runCli(
      ['download', single.torrent, '-o', out, '--port', '0', '--timeout', '60', '--quiet', '--peer', `127.0.0.1:${second.port}`, '--peer', `127.0.0.1:${seeders[0]!.port}`],
      { env: { TORRENT_CACHE_DIR: cache }, timeoutMs: 120_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(sha1(readFileSync(join(out, single.name)))).toBe(sha1(singleData));
  }, 120_000);
});
