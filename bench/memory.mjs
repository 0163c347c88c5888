/**
 * Bench case "memory": peak RSS of `torrent verify` and `torrent download` as the number of files
 * and of pieces grows (issue 17, cause 13: memory must be bounded in the number of files as in
 * the number of pieces).
 *
 * Torrents (built here, v1, deterministic):
 * - files-N: N empty files plus one file of one byte (the case), N = 1,000 / 10,000 / 100,000.
 *   `verify` runs over the complete data; `download` fetches the one byte from a local
 *   python3-libtorrent seeder (lt_peer.py seed, 127.0.0.1, `--peer`) and creates the N empty files.
 * - pieces-1M: one file of 1,000,000 pieces of 16 KiB (16 GiB) with no data on disk. `verify`
 *   parses, maps and checks every piece (nothing to read); `download` starts a session with no
 *   peer and stops at `--timeout` (what a session costs per piece before any data flows).
 *
 * Measured by GNU time (bench/lib/proc.mjs `measure`): peak RSS of the process (maxrss), wall
 * seconds. Runs are sequential, one client at a time.
 *
 * Env: BENCH_MEMORY_ROOT (a checkout whose bin/torrent.js to measure, default this one: to get
 * "before" numbers, point it at a build of an older commit), BENCH_MEMORY_CASES (comma list of
 * files-1000, files-10000, files-100000, pieces-1M), BENCH_MEMORY_DOWNLOAD=0 (verify only).
 */
import bencode from 'bencode';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measure, startService } from './lib/proc.mjs';
import { shebangFlags } from './lib/ours.mjs';

const ROOT = process.env.BENCH_MEMORY_ROOT ?? new URL('..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'torrent.js');
const PY = '/usr/bin/python3';
const LT_PEER = join(new URL('..', import.meta.url).pathname, 'test', 'helpers', 'lt_peer.py');
/** A run that takes longer than this has a problem worth seeing as a failure, not a number. */
const RUN_TIMEOUT_MS = 300_000;
/** libtorrent checks 100,000 files before it says "ready". */
const SEEDER_READY_MS = 300_000;
/** The no-peer download of the 1M-piece torrent runs this long (it must set up, then wait). */
const IDLE_DOWNLOAD_S = 5;
const DOWNLOAD = process.env.BENCH_MEMORY_DOWNLOAD !== '0';

const CASES = [
  { id: 'files-1000', kind: 'files', n: 1_000 },
  { id: 'files-10000', kind: 'files', n: 10_000 },
  { id: 'files-100000', kind: 'files', n: 100_000 },
  { id: 'pieces-1M', kind: 'pieces', n: 1_000_000 },
];

/** N empty files in 100 folders plus `last.bin` of one byte; the data is written under `dir`. */
function filesTorrent(n, dir) {
  const files = [];
  const top = join(dir, 'many');
  for (let i = 0; i < n; i++) {
    const d = `d${i % 100}`;
    files.push({ length: 0, path: [Buffer.from(d), Buffer.from(`f${i}`)] });
  }
  files.push({ length: 1, path: [Buffer.from('last.bin')] });
  for (let i = 0; i < 100 && i < n; i++) mkdirSync(join(top, `d${i}`), { recursive: true });
  for (let i = 0; i < n; i++) writeFileSync(join(top, `d${i % 100}`, `f${i}`), '');
  writeFileSync(join(top, 'last.bin'), 'x');
  const pieces = createHash('sha1').update('x').digest();
  return bencode.encode({ info: { name: 'many', 'piece length': 16384, pieces, files } });
}

/** One 16 GiB file of 1M pieces; the hashes are of zero blocks (no data is ever written). */
function piecesTorrent(n) {
  const zero = createHash('sha1').update(Buffer.alloc(16384)).digest();
  const pieces = Buffer.alloc(n * 20);
  for (let i = 0; i < n; i++) zero.copy(pieces, i * 20);
  return bencode.encode({ info: { name: 'big.bin', 'piece length': 16384, pieces, length: n * 16384 } });
}

async function runOne(work, label, args) {
  const r = await measure(process.execPath, [...shebangFlags(BIN), BIN, ...args], {
    env: { TORRENT_CACHE_DIR: join(work, 'cache'), NO_COLOR: '1' },
    timeoutMs: RUN_TIMEOUT_MS,
    timeFile: join(work, 'time.txt'),
  });
  const rssMiB = r.maxRssKiB / 1024;
  console.error(`bench memory: ${label}: exit ${r.code}${r.timedOut ? ' (timed out)' : ''}, ${r.wallS} s, peak RSS ${rssMiB.toFixed(0)} MiB`);
  if (r.code !== 0 && !label.includes('no peer')) console.error(r.stderr.slice(-1000));
  return { label, code: r.code, wallS: r.wallS, rssMiB };
}

export async function run() {
  const only = process.env.BENCH_MEMORY_CASES?.split(',');
  const work = mkdtempSync(join(tmpdir(), 'torrent-bench-memory-'));
  const rows = [];
  let seeder = null;
  try {
    for (const c of CASES.filter((x) => !only || only.includes(x.id))) {
      const dir = join(work, c.id);
      mkdirSync(dir, { recursive: true });
      const file = join(work, `${c.id}.torrent`);
      if (c.kind === 'files') {
        const seedDir = join(dir, 'seed');
        writeFileSync(file, filesTorrent(c.n, seedDir));
        rows.push({ c, op: 'verify', ...(await runOne(work, `${c.id} verify`, ['verify', file, seedDir, '--quiet'])) });
        if (DOWNLOAD) {
          seeder = startService(PY, [LT_PEER, 'seed', file, seedDir, '--port', '0']);
          const port = Number((await seeder.waitFor(/ready (\d+)/, SEEDER_READY_MS))[1]);
          const out = join(dir, 'out');
          const args = ['download', file, '-o', out, '--port', '0', '--peer', `127.0.0.1:${port}`, '--no-dht', '--quiet'];
          rows.push({ c, op: 'download', ...(await runOne(work, `${c.id} download`, args)) });
          await seeder.stop();
          seeder = null;
          rmSync(out, { recursive: true, force: true });
        }
        rmSync(dir, { recursive: true, force: true });
      } else {
        writeFileSync(file, piecesTorrent(c.n));
        rows.push({ c, op: 'verify (no data)', ...(await runOne(work, `${c.id} verify`, ['verify', file, dir, '--quiet'])) });
        if (DOWNLOAD) {
          const args = ['download', file, '-o', dir, '--port', '0', '--no-dht', '--quiet', '--timeout', String(IDLE_DOWNLOAD_S)];
          rows.push({ c, op: `download (no peer, ${IDLE_DOWNLOAD_S} s)`, ...(await runOne(work, `${c.id} download (no peer)`, args)) });
        }
      }
      rmSync(file, { force: true });
    }
  } finally {
    if (seeder) await seeder.stop();
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`\n## memory (${BIN})\n`);
  console.log('| torrent | command | exit | wall s | peak RSS MiB |');
  console.log('| --- | --- | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.c.id} | ${r.op} | ${r.code} | ${r.wallS} | ${r.rssMiB.toFixed(0)} |`);
}
