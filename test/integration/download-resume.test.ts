/**
 * Interrupted downloads resume: the CLI downloads a 16 MiB torrent from a scripted seeder paced at
 * 2 MiB/s, is stopped about half way (SIGKILL, or SIGINT / SIGTERM for a graceful stop), then run
 * again. The second run ends with byte-identical data and fetches far less than the whole torrent,
 * counted at the seeder.
 *
 * Runs the built CLI (dist/): `npx tsc -p .` first.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { bin, runCli } from '../helpers/cli.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { startProcess, type Proc } from '../helpers/processes.js';
import { startScriptedPeer, type ScriptedPeer } from '../helpers/scripted-peer.js';
import { pollUntil } from '../helpers/poll.js';

const work = mkdtempSync(join(tmpdir(), 'torrent-resume-'));
const PIECE_LENGTH = 256 * 1024;
const data = bytes(16 * 1024 * 1024, 7);
const torrentBytes = makeTorrent({ name: 'resume.bin', data, pieceLength: PIECE_LENGTH });
const infoHash = parseTorrent(torrentBytes).infoHash!;
const torrentPath = join(work, 'resume.torrent');
writeFileSync(torrentPath, torrentBytes);
/** About 8 s for the whole torrent: time enough to stop it half way. */
const RATE = 2 * 1024 * 1024;
const TEST_TIMEOUT_MS = 120_000;

const peers: ScriptedPeer[] = [];
const procs: Proc[] = [];
let cases = 0;

afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

function sha1(b: Buffer): string {
  return createHash('sha1').update(b).digest('hex');
}

function setup(): { out: string; cache: string; args: (seeder: ScriptedPeer) => string[] } {
  const n = ++cases;
  const out = join(work, `out-${n}`);
  const cache = join(work, `cache-${n}`);
  return {
    out,
    cache,
    args: (seeder) => ['download', torrentPath, '-o', out, '--port', '0', '--timeout', '30', '--quiet', '--peer', seeder.address],
  };
}

async function seeder(): Promise<ScriptedPeer> {
  const p = await startScriptedPeer({ data, pieceLength: PIECE_LENGTH, infoHash, rateBytesPerSec: RATE });
  peers.push(p);
  return p;
}

const until = (cond: () => boolean, timeoutMs: number, what: string): Promise<true> => pollUntil(cond, { timeoutMs, what });

async function exitWithin(p: Proc, timeoutMs: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the CLI did not exit within ${timeoutMs} ms:\n${p.output()}`)), timeoutMs);
  });
  try {
    return await Promise.race([p.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts a download and stops it with `signal` once the seeder has sent half the torrent. */
async function interruptHalfWay(signal: NodeJS.Signals): Promise<{ out: string; cache: string; seed: ScriptedPeer; args: string[]; code: number | null; proc: Proc }> {
  const { out, cache, args } = setup();
  const seed = await seeder();
  const proc = startProcess(process.execPath, [bin, ...args(seed)], { env: { TORRENT_CACHE_DIR: cache, NO_COLOR: '1' } });
  procs.push(proc);
  await until(() => seed.stats.blockBytesSent >= data.length / 2, 30_000, 'half the torrent to be served');
  proc.child.kill(signal);
  const code = await exitWithin(proc, 15_000);
  return { out, cache, seed, args: args(seed), code, proc };
}

/** The second run: completes, byte-identical, and fetches < 70 % of the torrent from the seeder. */
async function resumeAndCheck(seed: ScriptedPeer, args: string[], cache: string, out: string): Promise<void> {
  seed.resetStats();
  const r = await runCli(args, { env: { TORRENT_CACHE_DIR: cache }, timeoutMs: 60_000 });
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toBe('');
  expect(sha1(readFileSync(join(out, 'resume.bin')))).toBe(sha1(data));
  expect(seed.stats.blockBytesSent, `second run fetched ${seed.stats.blockBytesSent} of ${data.length} bytes`).toBeLessThan(0.7 * data.length);
}

describe('download resume', () => {
  it('after SIGKILL half way, a second run fetches only what is missing', async () => {
    const { out, cache, seed, args, code, proc } = await interruptHalfWay('SIGKILL');
    expect(code).toBeNull();
    expect(proc.child.signalCode).toBe('SIGKILL');
    await resumeAndCheck(seed, args, cache, out);
  }, TEST_TIMEOUT_MS);

  it('SIGINT half way exits 130, and a second run completes', async () => {
    const { out, cache, seed, args, code, proc } = await interruptHalfWay('SIGINT');
    expect(code, proc.output()).toBe(130);
    expect(proc.output().trimEnd().split('\n')).toEqual([expect.stringMatching(/^torrent: .*SIGINT/)]);
    await resumeAndCheck(seed, args, cache, out);
  }, TEST_TIMEOUT_MS);

  it('SIGTERM half way exits 143, and a second run completes', async () => {
    const { out, cache, seed, args, code, proc } = await interruptHalfWay('SIGTERM');
    expect(code, proc.output()).toBe(143);
    expect(proc.output().trimEnd().split('\n')).toEqual([expect.stringMatching(/^torrent: .*SIGTERM/)]);
    await resumeAndCheck(seed, args, cache, out);
  }, TEST_TIMEOUT_MS);
});
