/**
 * Putting every client of a timed hashing run (create, verify) in the same memory state.
 *
 * Why: this machine's page cache does not stay put. Other work on the box (and benches that drop
 * caches) evicts it between runs, and memory freed by one process is handed back to the host, so
 * the next run that faults 1 GiB of file pages in pays ~2.5 s of CPU for it. Warming the file once
 * before all runs left whichever client ran later to find the file half gone: figures moved by
 * 40%. So the file is read again right before every single run of every client, and how much of
 * it was resident when the run started is measured (fincore, util-linux) and printed beside the
 * times, so a table where one tool started cold says so.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';

/** Large reads keep warming cheap: a few syscalls per MiB. */
const READ_BLOCK_BYTES = 4 << 20;

const hasFincore = spawnSync('fincore', ['--version']).status === 0;

/** Reads each file once (its pages land in the page cache); returns the share resident after. */
export function warm(paths, buf = Buffer.allocUnsafe(READ_BLOCK_BYTES)) {
  for (const p of paths) {
    const fd = openSync(p, 'r');
    try {
      while (readSync(fd, buf, 0, buf.length, null) > 0);
    } finally {
      closeSync(fd);
    }
  }
  return resident(paths);
}

/** Share (0..1) of the files' bytes in the page cache now, or null without fincore. */
export function resident(paths) {
  if (!hasFincore) return null;
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--raw', '--output', 'RES,SIZE', ...paths], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  let res = 0;
  let size = 0;
  for (const line of r.stdout.trim().split('\n')) {
    const [a, b] = line.trim().split(/\s+/).map(Number);
    res += a;
    size += b;
  }
  return size === 0 ? 1 : res / size;
}

/** "100%" or "87% min" for a list of residency shares (null entries: not measured). */
export function residencyLabel(shares) {
  const known = shares.filter((s) => s !== null);
  if (known.length === 0) return 'n/a';
  const min = Math.min(...known);
  return `${Math.floor(min * 100)}%`;
}
