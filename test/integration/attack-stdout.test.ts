/**
 * Issue 17, cause 9: `download --stdout` into a pipe nobody reads still ends on a signal. The
 * child's stdout is a pipe this test never reads, so once the pipe is full every write of the
 * client blocks. SIGINT must then end it with exit 130, and SIGTERM with exit 143, within a
 * deadline (the audit saw both signals, twice, swallowed while the session waited on the stream).
 *
 * The signal is sent after the event that proves the client is stuck on the pipe: the seeder has
 * sent it more than the pipe and every buffer between can hold. Real sockets on loopback: the
 * built CLI (dist/, `npx tsc -p .` first), an honest scripted seeder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { bin } from '../helpers/cli.js';
import { repoRoot } from '../helpers/corpus.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { pollUntil } from '../helpers/poll.js';
import { startScriptedPeer, type ScriptedPeer } from '../helpers/scripted-peer.js';

const work = mkdtempSync(join(tmpdir(), 'torrent-attack-stdout-'));
const PIECE_LENGTH = 64 * 1024;
/** 8 MiB: far more than a pipe (64 KiB) and the stream's own buffers hold. */
const data = bytes(8 * 1024 * 1024, 99);
const torrentBytes = makeTorrent({ name: 'pipe.bin', data, pieceLength: PIECE_LENGTH });
const infoHash = parseTorrent(torrentBytes).infoHash!;
const torrentPath = join(work, 'pipe.torrent');
writeFileSync(torrentPath, torrentBytes);

/**
 * What the seeder must have sent before the client is surely blocked on its stdout: a pipe
 * (64 KiB), the stdout stream's high-water mark and a verified piece or two many times over.
 */
const STUCK_AFTER_BYTES = 2 * 1024 * 1024;
/** The signal must end the process within this (the CLI's graceful stop has its own shorter bound). */
const SIGNAL_DEADLINE_MS = 10_000;
const TEST_TIMEOUT_MS = 60_000;

const peers: ScriptedPeer[] = [];
const children: ChildProcess[] = [];
let runs = 0;

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    c.stdout?.destroy();
    c.stderr?.destroy();
  }
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** Exit code, or 'hung' when the process did not exit within SIGNAL_DEADLINE_MS. */
function exitWithin(child: ChildProcess): Promise<number | string | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve(child.exitCode ?? child.signalCode);
      return;
    }
    const t = setTimeout(() => resolve('hung'), SIGNAL_DEADLINE_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(t);
      resolve(code ?? signal);
    });
  });
}

async function stuckOnStdout(extra: string[]): Promise<{ child: ChildProcess; stderr: () => string }> {
  const seeder = await startScriptedPeer({ data, pieceLength: PIECE_LENGTH, infoHash });
  peers.push(seeder);
  const n = ++runs;
  const child = spawn(
    process.execPath,
    [bin, 'download', torrentPath, '--stdout', '-o', join(work, `out-${n}`), '--port', '0', '--no-dht', '--quiet', '--peer', seeder.address, ...extra],
    { cwd: repoRoot, env: { ...process.env, NO_COLOR: '1', TORRENT_CACHE_DIR: join(work, `cache-${n}`) }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  // stdout is never read: no 'data' listener, the stream stays paused and the pipe fills.
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await pollUntil(() => seeder.stats.blockBytesSent >= STUCK_AFTER_BYTES, {
    timeoutMs: 30_000,
    what: `the seeder to send ${STUCK_AFTER_BYTES} bytes`,
    detail: () => `sent ${seeder.stats.blockBytesSent}\n${err.slice(-1500)}`,
  });
  return { child, stderr: () => err };
}

describe('download --stdout into a pipe nobody reads', () => {
  it('SIGINT ends it with exit 130', async () => {
    const { child, stderr } = await stuckOnStdout([]);
    expect(child.exitCode, 'ended before the signal').toBeNull();
    child.kill('SIGINT');
    expect(await exitWithin(child), stderr()).toBe(130);
  }, TEST_TIMEOUT_MS);

  it('SIGTERM ends it with exit 143 (with --no-save)', async () => {
    const { child, stderr } = await stuckOnStdout(['--no-save']);
    expect(child.exitCode, 'ended before the signal').toBeNull();
    child.kill('SIGTERM');
    expect(await exitWithin(child), stderr()).toBe(143);
  }, TEST_TIMEOUT_MS);
});
