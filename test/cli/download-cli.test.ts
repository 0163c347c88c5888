/**
 * `torrent download` as scripts use it: --json events, --stdout bytes (saved or not), a reader
 * that closes the pipe early, and the exit code of each kind of failure. The seeder is our own
 * `torrent seed` (the interop tests cover the real clients).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, runCli } from '../helpers/cli.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { startProcess, type Proc } from '../helpers/processes.js';

const work = mkdtempSync(join(tmpdir(), 'torrent-dl-cli-'));
const data = bytes(3 * 1024 * 1024 + 999, 31);
const single = join(work, 'single.torrent');
const multi = join(work, 'multi.torrent');
const multiFiles = [
  { path: ['a.txt'], data: bytes(40_000, 1) },
  { path: ['b', 'c.bin'], data: bytes(700_000, 2) },
];
let seeder: Proc;
let multiSeeder: Proc;
let port = 0;
let multiPort = 0;
let n = 0;

const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');
const cache = (): string => join(work, `cache-${++n}`);

beforeAll(async () => {
  mkdirSync(join(work, 'seed', 'multi', 'b'), { recursive: true });
  writeFileSync(join(work, 'seed', 'single.bin'), data);
  for (const f of multiFiles) writeFileSync(join(work, 'seed', 'multi', ...f.path), f.data);
  writeFileSync(single, makeTorrent({ name: 'single.bin', data, pieceLength: 32768 }));
  writeFileSync(multi, makeTorrent({ name: 'multi', files: multiFiles, pieceLength: 16384 }));
  seeder = startProcess(process.execPath, [bin, 'seed', single, join(work, 'seed'), '--port', '0'], { env: { TORRENT_CACHE_DIR: cache() } });
  multiSeeder = startProcess(process.execPath, [bin, 'seed', multi, join(work, 'seed'), '--port', '0'], { env: { TORRENT_CACHE_DIR: cache() } });
  port = Number((await seeder.waitFor(/on port (\d+)/, 20_000))[1]);
  multiPort = Number((await multiSeeder.waitFor(/on port (\d+)/, 20_000))[1]);
}, 40_000);

afterAll(async () => {
  await Promise.all([seeder?.kill(), multiSeeder?.kill()]);
  rmSync(work, { recursive: true, force: true });
});

/** Runs the CLI and keeps stdout as bytes. */
function runRaw(args: string[]): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, TORRENT_CACHE_DIR: cache(), NO_COLOR: '1' } });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
  });
}

describe('--json', () => {
  it('prints only newline-delimited JSON events with the documented keys', async () => {
    const out = join(work, 'json');
    const r = await runCli(['download', single, '-o', out, '--port', '0', '--peer', `127.0.0.1:${port}`, '--json', '-q'], {
      env: { TORRENT_CACHE_DIR: cache() },
    });
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const kinds = events.map((e) => e.event);
    expect(kinds[0]).toBe('start');
    expect(kinds[kinds.length - 1]).toBe('done');
    expect(kinds).toContain('file-done');
    expect(new Set(kinds)).toEqual(new Set(['start', 'peer', 'progress', 'file-done', 'done']));
    const peerEvents = events.filter((e) => e.event === 'peer');
    expect(peerEvents[0]).toMatchObject({ event: 'peer', address: `127.0.0.1:${port}`, state: 'connected', transport: expect.stringMatching(/^tcp/) });
    for (const p of peerEvents) expect(Object.keys(p).every((k) => ['event', 'address', 'state', 'reason', 'transport'].includes(k))).toBe(true);
    expect(Object.keys(events[0]!).sort()).toEqual(['event', 'files', 'infoHash', 'infoHashV2', 'length', 'name', 'path', 'pieceCount'].sort());
    const progress = events.filter((e) => e.event === 'progress');
    for (const p of progress) {
      for (const k of ['downloaded', 'uploaded', 'length', 'downloadRate', 'uploadRate', 'peers', 'encryptedPeers', 'utpPeers', 'webSeeds', 'verifiedPieces']) {
        expect(typeof p[k], k).toBe('number');
      }
    }
    expect(progress[progress.length - 1]).toMatchObject({ verifiedPieces: 97, length: data.length });
    const done = events[events.length - 1]!;
    expect(done).toMatchObject({ event: 'done', path: join(out, 'single.bin') });
    expect(typeof done.elapsedMs).toBe('number');
    expect(events.find((e) => e.event === 'file-done')).toEqual({ event: 'file-done', path: 'single.bin' });
  }, 60_000);

  it('ends with an error event, then exit 1, when no data comes before --timeout', async () => {
    const r = await runCli(['download', single, '-o', join(work, 'json-fail'), '--port', '0', '--timeout', '2', '--json', '-q'], {
      env: { TORRENT_CACHE_DIR: cache() },
    });
    expect(r.code).toBe(1);
    const last = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(last).toMatchObject({ event: 'error', code: 'ERR_NO_PEERS' });
    expect(r.stderr).toMatch(/^torrent: no peers found in 2 s\nhint: /);
  }, 30_000);
});

describe('--stdout', () => {
  it('writes exactly the file, in order, and still saves it', async () => {
    const out = join(work, 'stdout');
    const r = await runRaw(['download', single, '-o', out, '--port', '0', '--peer', `127.0.0.1:${port}`, '--stdout', '-q']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(sha1(r.stdout)).toBe(sha1(data));
    expect(sha1(readFileSync(join(out, 'single.bin')))).toBe(sha1(data));
  }, 60_000);

  it('with --no-save writes nothing to disk', async () => {
    const out = join(work, 'nosave');
    const r = await runRaw(['download', single, '-o', out, '--port', '0', '--peer', `127.0.0.1:${port}`, '--stdout', '--no-save', '-q']);
    expect(r.code, r.stderr).toBe(0);
    expect(sha1(r.stdout)).toBe(sha1(data));
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  }, 60_000);

  it('streams one file of a multi-file torrent chosen with --select', async () => {
    const r = await runRaw(['download', multi, '-o', join(work, 'sel'), '--port', '0', '--peer', `127.0.0.1:${multiPort}`, '--select', '1', '--stdout', '-q']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.equals(multiFiles[1]!.data)).toBe(true);
  }, 60_000);

  it('ends quietly with exit 0 when the reader closes early (| head -c 1000)', async () => {
    const errFile = join(work, 'head.err');
    const script = `"${process.execPath}" "${bin}" download "${single}" -o "${join(work, 'head')}" --port 0 --peer 127.0.0.1:${port} --stdout --no-save -q 2>"${errFile}" | head -c 1000 | wc -c; echo "status=\${PIPESTATUS[0]}"`;
    const out = await new Promise<string>((resolve) => {
      const child = spawn('bash', ['-c', script], { env: { ...process.env, TORRENT_CACHE_DIR: cache() } });
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.on('close', () => resolve(text));
    });
    expect(out).toMatch(/^1000\nstatus=0\n$/);
    expect(readFileSync(errFile, 'utf8')).toBe('');
  }, 60_000);
});

describe('exit codes', () => {
  it.each([
    ['--stdout of a multi-file torrent without --select', [multi, '--stdout'], /--stdout streams one file; this selection has 2/],
    ['--no-save without --stdout', [single, '--no-save'], /--no-save only makes sense with --stdout/],
    ['--json with --stdout', [single, '--json', '--stdout'], /pick one/],
    ['a bad --select', [multi, '--select', '7'], /the torrent has files 0 to 1/],
    ['a bad --upload-limit', [single, '--upload-limit', 'fast'], /--upload-limit fast/],
    ['a bad --peer', [single, '--peer', 'nowhere'], /--peer nowhere/],
    ['--save-torrent with a .torrent', [single, '--save-torrent', join(work, 'x.torrent')], /--save-torrent is for magnet URIs/],
    ['a malformed magnet URI', ['magnet:?xt=urn:btih:nothex'], /invalid info hash/],
  ])('2 for %s', async (_what, args, pattern) => {
    const r = await runCli(['download', ...args, '-o', join(work, 'never'), '--port', '0'], { env: { TORRENT_CACHE_DIR: cache() } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr.split('\n')[0]).toMatch(/^torrent: /);
  });

  it('1 when no data arrives before --timeout, with one clear line', async () => {
    const r = await runCli(['download', single, '-o', join(work, 'timeout'), '--port', '0', '--timeout', '2', '--peer', '127.0.0.1:9'], {
      env: { TORRENT_CACHE_DIR: cache() },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^torrent: could not get data from any of 1 known peer\(s\) in 2 s\nhint: /);
  }, 30_000);
});
