/**
 * Issue 17, cause 10: a reader that closes stdout early (`| head`) ends a command quietly with
 * exit 0, never an unhandled EPIPE with a stack trace. The CLI runs with its stdout pipe already
 * closed by us (so the very first write meets EPIPE, deterministically) and under a real
 * `| head -c 100`; cli/output.ts is also tested directly on streams that fail.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { TorrentError } from '../../src/errors.js';
import { onReaderGone, readerGone, writeOut } from '../../src/cli/output.js';
import { bin } from '../helpers/cli.js';
import { makeTorrent } from '../helpers/make-torrent.js';

const work = mkdtempSync(join(tmpdir(), 'torrent-epipe-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** 20,000 files: `info` prints ~700 KB, far more than a pipe holds. */
const big = join(work, 'big.torrent');
const files = Array.from({ length: 20_000 }, (_, i) => ({ path: [`d${i % 40}`, `file-${i}.bin`], data: Buffer.alloc(0) }));
files.push({ path: ['x.bin'], data: Buffer.from('x') });
writeFileSync(big, makeTorrent({ name: 'big', pieceLength: 16384, files }));

interface Closed {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs the CLI with its stdout's reading end closed before it starts. */
function runWithClosedStdout(args: string[]): Promise<Closed> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: work, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

describe('the CLI when its reader has gone', () => {
  it.each([
    ['info', ['info', big]],
    ['info --json', ['info', '--json', big]],
    ['magnet', ['magnet', big]],
    ['verify (incomplete data: still exit 0, the reader asked to stop)', ['verify', big, work, '--quiet']],
    ['verify --json', ['verify', '--json', big, work, '--quiet']],
  ])('%s: exit 0, nothing on stderr', async (_, args) => {
    const r = await runWithClosedStdout(args);
    expect(r.stderr).toBe('');
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
  });

  it('info big.torrent | head -c 100: head gets 100 bytes, torrent exits 0 without a word', () => {
    const r = spawnSync('bash', ['-c', `"${process.execPath}" "${bin}" info "${big}" | head -c 100; echo "status=\${PIPESTATUS[0]}" >&2`], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
      timeout: 30_000,
    });
    expect(r.stdout).toHaveLength(100);
    expect(r.stderr).toBe('status=0\n');
  });
});

/** A stream whose writes fail with `code`. */
function failing(code: string): Writable {
  return new Writable({
    write(_chunk, _enc, cb) {
      cb(Object.assign(new Error(`write ${code}`), { code }));
    },
  });
}

describe('cli/output', () => {
  it('EPIPE: the write resolves, the reader is gone, listeners run once, later writes write nothing', async () => {
    const s = failing('EPIPE');
    let calls = 0;
    onReaderGone(() => calls++, s);
    expect(readerGone(s)).toBe(false);
    await writeOut('one\n', s);
    await writeOut('two\n', s);
    expect(readerGone(s)).toBe(true);
    expect(calls).toBe(1);
    let late = 0;
    onReaderGone(() => late++, s);
    await Promise.resolve();
    expect(late).toBe(1);
  });

  it('any other write error rejects with ERR_DISK, and so does every later write', async () => {
    const s = failing('ENOSPC');
    for (let i = 0; i < 2; i++) {
      const e = await writeOut('x', s).then(
        () => null,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(TorrentError);
      expect((e as TorrentError).code).toBe('ERR_DISK');
      expect((e as TorrentError).message).toContain('no space left');
    }
    expect(readerGone(s)).toBe(false);
  });

  it('a slow reader slows the writer: each write waits until its chunk is taken', async () => {
    const taken: string[] = [];
    let release: (() => void) | null = null;
    const s = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _enc, cb) {
        release = () => {
          taken.push(chunk.toString());
          cb();
        };
      },
    });
    let done = false;
    const w = writeOut('a', s).then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    release!();
    await w;
    expect(done).toBe(true);
    expect(taken).toEqual(['a']);
  });
});
