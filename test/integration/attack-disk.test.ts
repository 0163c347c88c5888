/**
 * Issue 17, cause 5: disk errors end the run quickly and never lie. `torrent download` into
 * - a tmpfs of 4 MiB (a 12 MiB torrent: ENOSPC part way), and
 * - a read-only tmpfs (EROFS on the first file created)
 * must exit 1 with exactly one `torrent:` line (and at most a hint), well before anything else
 * would have stopped it: the process is killed at DISK_ERROR_DEADLINE_MS (the audit saw 30 s of
 * spinning), and its --timeout is longer still. With `--json`, no `progress` event may report
 * more `verified` bytes than the pieces that are really on disk and hash right after the exit
 * (the audit saw 4 MiB `verified` with 2 MiB on disk), and an `error` event comes before the exit.
 *
 * The mounts need root (`mount -t tmpfs`); where mounting fails the tests skip, saying why. Real
 * sockets on loopback: the built CLI (dist/, `npx tsc -p .` first), an honest scripted seeder.
 * How long ENOSPC takes to end the run is measured by bench/floods.mjs, not asserted here.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { startScriptedPeer, type ScriptedPeer } from '../helpers/scripted-peer.js';

const work = mkdtempSync(join(tmpdir(), 'torrent-attack-disk-'));
const PIECE_LENGTH = 256 * 1024;
/** Three times the tmpfs: the disk fills part way through. */
const data = bytes(12 * 1024 * 1024, 55);
const torrentBytes = makeTorrent({ name: 'disk.bin', data, pieceLength: PIECE_LENGTH });
const infoHash = parseTorrent(torrentBytes).infoHash!;
const torrentPath = join(work, 'disk.torrent');
writeFileSync(torrentPath, torrentBytes);

/** The tmpfs size: a third of the data. */
const TMPFS_SIZE = '4m';
/**
 * The run is killed after this: a disk error must end it well within it. The audit saw the error
 * only after 30 s; our bound leaves room for a slow, shared machine and still catches that.
 */
const DISK_ERROR_DEADLINE_MS = 20_000;
/**
 * The seeder is paced so that filling the disk takes about two seconds: long enough for several
 * `progress` events (every 500 ms) to report `verified` while pieces are being written.
 */
const SEED_RATE = 2 * 1024 * 1024;
/** The client's own --timeout, longer than the deadline, so it cannot be what ends the run. */
const CLIENT_TIMEOUT_S = 60;
const TEST_TIMEOUT_MS = 60_000;

/** Mounts a tmpfs at `dir`; returns why not, or null when mounted. */
function mountTmpfs(dir: string, options: string): string | null {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'pipe', timeout: 10_000 });
    return null;
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    return (err.stderr?.toString().trim() || err.message).split('\n')[0]!;
  }
}

const mounts: string[] = [];
const fullDir = join(work, 'full');
const roDir = join(work, 'ro');
const fullWhyNot = mountTmpfs(fullDir, `size=${TMPFS_SIZE},mode=0755`);
if (fullWhyNot === null) mounts.push(fullDir);
const roWhyNot = mountTmpfs(roDir, `size=${TMPFS_SIZE},ro`);
if (roWhyNot === null) mounts.push(roDir);

const peers: ScriptedPeer[] = [];
let runs = 0;

afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

afterAll(() => {
  for (const m of mounts) execFileSync('umount', [m], { stdio: 'pipe', timeout: 10_000 });
  rmSync(work, { recursive: true, force: true });
});

async function download(out: string, json: boolean): Promise<CliResult> {
  const seeder = await startScriptedPeer({ data, pieceLength: PIECE_LENGTH, infoHash, rateBytesPerSec: SEED_RATE });
  peers.push(seeder);
  const n = ++runs;
  return runCli(
    ['download', torrentPath, '-o', out, '--port', '0', '--no-dht', '--timeout', String(CLIENT_TIMEOUT_S), '--peer', seeder.address,
      ...(json ? ['--json', '--quiet'] : ['--quiet'])],
    { env: { TORRENT_CACHE_DIR: join(work, `cache-${n}`) }, timeoutMs: DISK_ERROR_DEADLINE_MS },
  );
}

/** Ended by itself (not killed at the deadline), exit 1, one `torrent:` line, at most a hint. */
function expectOneErrorLine(r: CliResult, pattern: RegExp): void {
  expect(r.signal, `killed at the ${DISK_ERROR_DEADLINE_MS} ms deadline:\n${r.stderr}`).toBeNull();
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr.trimEnd().split('\n').filter((l) => l !== '');
  expect(lines.filter((l) => l.startsWith('torrent: ')), r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^torrent: /);
  expect(lines[0]).toMatch(pattern);
  expect(lines.length, r.stderr).toBeLessThanOrEqual(2);
  if (lines[1] !== undefined) expect(lines[1]).toMatch(/^hint: /);
}

/** Bytes of the pieces that are on disk now and hash right. */
function verifiedOnDisk(file: string): number {
  if (!existsSync(file)) return 0;
  const disk = readFileSync(file);
  let ok = 0;
  for (let o = 0; o < data.length; o += PIECE_LENGTH) {
    const want = createHash('sha1').update(data.subarray(o, o + PIECE_LENGTH)).digest();
    const piece = disk.subarray(o, Math.min(o + PIECE_LENGTH, data.length));
    if (piece.length === Math.min(PIECE_LENGTH, data.length - o) && createHash('sha1').update(piece).digest().equals(want)) {
      ok += piece.length;
    }
  }
  return ok;
}

const NO_SPACE = /space|full|ENOSPC/i;
const READ_ONLY = /read-only|EROFS|permission|not writable/i;

describe.skipIf(fullWhyNot !== null)(`download into a full disk (tmpfs ${TMPFS_SIZE})${fullWhyNot ? ` (skipped: mount -t tmpfs failed: ${fullWhyNot})` : ''}`, () => {
  it('exits 1 by itself with one torrent: line', async () => {
    const out = join(fullDir, 'plain');
    const r = await download(out, false);
    expectOneErrorLine(r, NO_SPACE);
    rmSync(out, { recursive: true, force: true });
  }, TEST_TIMEOUT_MS);

  it('--json never reports more verified bytes than are on disk, and ends with an error event', async () => {
    const out = join(fullDir, 'json');
    const r = await download(out, true);
    expect(r.signal, `killed at the ${DISK_ERROR_DEADLINE_MS} ms deadline:\n${r.stderr}`).toBeNull();
    expect(r.code, r.stderr).toBe(1);
    const events = r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    const progress = events.filter((e) => e.event === 'progress');
    const reported = Math.max(0, ...progress.map((e) => Number(e.verified)));
    const onDisk = verifiedOnDisk(join(out, 'disk.bin'));
    // The disk filled up part way, and progress reported verified bytes meanwhile (otherwise
    // this test proves nothing)...
    expect(onDisk).toBeLessThan(data.length);
    expect(reported, r.stdout.slice(-1500)).toBeGreaterThan(0);
    // ...and what --json called verified is on disk.
    expect(reported, `reported ${reported} verified, ${onDisk} on disk`).toBeLessThanOrEqual(onDisk);
    const last = events[events.length - 1];
    expect(last?.event, r.stdout.slice(-500)).toBe('error');
    expect(String(last?.message)).toMatch(NO_SPACE);
    expect(events.filter((e) => e.event === 'done')).toEqual([]);
    rmSync(out, { recursive: true, force: true });
  }, TEST_TIMEOUT_MS);
});

describe.skipIf(roWhyNot !== null)(`download into a read-only folder${roWhyNot ? ` (skipped: mount -o ro failed: ${roWhyNot})` : ''}`, () => {
  it('exits 1 by itself with one torrent: line', async () => {
    const r = await download(roDir, false);
    expectOneErrorLine(r, READ_ONLY);
  }, TEST_TIMEOUT_MS);
});
