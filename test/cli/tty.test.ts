/**
 * The live display under a real pseudo-terminal (tmux): the bar is drawn while downloading, and
 * after exit the screen holds the finished bar and the summary, with the cursor shown again.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin } from '../helpers/cli.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { startProcess, type Proc } from '../helpers/processes.js';
import { pollUntil } from '../helpers/poll.js';
import { needs } from '../helpers/requirements.js';

/** Real clients this file runs; missing ones fail in CI and skip elsewhere. */
const tools = needs('tmux');

const work = mkdtempSync(join(tmpdir(), 'torrent-tty-'));
const session = `torrent-tty-${process.pid}`;
const torrent = join(work, 'x.torrent');
let seeder: Proc;
let port = 0;

const tmux = (...args: string[]): string => execFileSync('tmux', args, { encoding: 'utf8' });
const screen = (): string => tmux('capture-pane', '-p', '-t', session);

function until(what: string, check: (s: string) => boolean, timeoutMs: number): Promise<string> {
  return pollUntil(
    () => {
      const s = screen();
      return check(s) ? s : null;
    },
    { timeoutMs, what, intervalMs: 100, detail: () => `screen:\n${screen()}` },
  );
}

beforeAll(async () => {
  const data = bytes(12 * 1024 * 1024, 3);
  mkdirSync(join(work, 'seed'));
  writeFileSync(join(work, 'seed', 'movie.bin'), data);
  writeFileSync(torrent, makeTorrent({ name: 'movie.bin', data, pieceLength: 65536 }));
  // Held to 4 MiB/s so the download lasts about three seconds.
  seeder = startProcess(process.execPath, [bin, 'seed', torrent, join(work, 'seed'), '--port', '0', '--upload-limit', '4M'], {
    env: { TORRENT_CACHE_DIR: join(work, 'cache-seed') },
  });
  port = Number((await seeder.waitFor(/on port (\d+)/, 20_000))[1]);
}, 30_000);

afterAll(async () => {
  try {
    tmux('kill-session', '-t', session);
  } catch {
    // already gone
  }
  await seeder?.kill();
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(tools.skip)(`live progress on a terminal${tools.note}`, () => {
  it('draws the bar while downloading and leaves the terminal clean', async () => {
    const cmd = [
      `TORRENT_CACHE_DIR=${join(work, 'cache')}`,
      `${process.execPath} ${bin} download ${torrent} -o ${join(work, 'out')} --port 0 --peer 127.0.0.1:${port} --files`,
      '; echo EXIT=$?; sleep 60',
    ].join(' ');
    tmux('new-session', '-d', '-s', session, '-x', '150', '-y', '20', cmd);
    const during = await until('the progress bar with a peer', (s) => /[█░]{10,}.*%.*↓.*peers 1\/1/.test(s), 15_000);
    expect(during).toContain('movie.bin');
    expect(during).toMatch(/ETA/);
    const after = await until('the exit', (s) => s.includes('EXIT='), 30_000);
    expect(after).toContain('EXIT=0');
    expect(after).toMatch(/100\.0%/);
    expect(after).toMatch(/done: movie\.bin \(12\.0 MiB\)/);
    // No half-drawn lines: every line with a bar is a whole bar line.
    for (const line of after.split('\n').filter((l) => /[█░]/.test(l))) expect(line).toMatch(/^\s*[█░]{24} +\d+\.\d%/);
    expect(tmux('display', '-p', '-t', session, '#{cursor_flag}').trim()).toBe('1');
  }, 60_000);
});
