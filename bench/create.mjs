/**
 * Bench case "create": `torrent create` throughput on one 1 GiB file, beside mktorrent (Debian)
 * with its default threads (one per core) and with -t 1 / -t 2, and `sha1sum` as a one-core
 * SHA-1 reference. Same piece length for all (512 KiB, what defaultPieceLength picks for 1 GiB).
 * Every run of every tool starts in the same state: the file is read again right before it
 * (lib/page-cache.mjs says why once is not enough here) and the share then resident is printed;
 * the order of the tools turns each round, so none always follows the same neighbour. Wall time
 * includes process start-up (Node's ~40 ms). The piece hashes of our torrent and mktorrent's are
 * compared: a fast wrong answer would not count. `torrent create --hybrid` (SHA-256 trees and
 * SHA-1 pieces) is timed too, beside the baseline build when there is one.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTorrent } from '../dist/metainfo/index.js';
import { residencyLabel, warm } from './lib/page-cache.mjs';
import { writeRandomFile } from './lib/payload.mjs';
import { shebangFlags } from './lib/ours.mjs';

const bin = new URL('../bin/torrent.js', import.meta.url).pathname;
/**
 * BENCH_BASELINE=<another built checkout>: its `torrent create` is timed too, in the same rounds, so
 * a change is measured against the build before it under the same load.
 */
const baseline = process.env.BENCH_BASELINE ? join(process.env.BENCH_BASELINE, 'bin', 'torrent.js') : null;
/** 1 GiB: long enough that start-up is noise, small enough to sit in page cache on a CI box. */
const FILE_BYTES = 1024 * 1024 * 1024;
/** 2^19 = 512 KiB. */
const PIECE_LENGTH_LOG2 = 19;
/** Runs per tool: the median of 5 shrugs off one run slowed by other work on the machine. */
const RUNS = 5;

function have(cmd) {
  return spawnSync('which', [cmd]).status === 0;
}

function timeOnce(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'torrent-bench-create-'));
  try {
    const file = join(dir, 'payload.bin');
    writeRandomFile(file, FILE_BYTES);
    const ours = join(dir, 'ours.torrent');
    const theirs = (t) => join(dir, `mktorrent-${t}.torrent`);
    const createArgs = (out) => ['create', file, '-o', out, '--force', '--quiet', '--no-date', '--piece-length', String(2 ** PIECE_LENGTH_LOG2)];
    const cases = [['torrent create', process.execPath, [...shebangFlags(bin), bin, ...createArgs(ours)]]];
    if (baseline) cases.push([`torrent create (baseline ${process.env.BENCH_BASELINE})`, process.execPath, [...shebangFlags(baseline), baseline, ...createArgs(join(dir, 'baseline.torrent'))]]);
    // A hybrid (BEP 52): SHA-256 merkle trees and SHA-1 pieces of the same bytes; no mktorrent to compare.
    cases.push(['torrent create --hybrid', process.execPath, [...shebangFlags(bin), bin, ...createArgs(join(dir, 'hybrid.torrent')), '--hybrid']]);
    if (baseline) cases.push([`torrent create --hybrid (baseline)`, process.execPath, [...shebangFlags(baseline), baseline, ...createArgs(join(dir, 'baseline-hybrid.torrent')), '--hybrid']]);
    if (have('mktorrent')) {
      const mk = (t) => ['-l', String(PIECE_LENGTH_LOG2), '-d', '-o', theirs(t), ...(t === 'default' ? [] : ['-t', t]), file];
      cases.push([`mktorrent (default: ${cpus().length} threads)`, 'mktorrent', mk('default'), theirs('default')]);
      cases.push(['mktorrent -t 1', 'mktorrent', mk('1'), theirs('1')]);
      cases.push(['mktorrent -t 2', 'mktorrent', mk('2'), theirs('2')]);
    }
    if (have('sha1sum')) cases.push(['sha1sum (one core)', 'sha1sum', [file]]);
    // Node's start-up and our module loading, the fixed cost in every row of ours: a 1 KiB file.
    const tiny = join(dir, 'tiny.bin');
    writeRandomFile(tiny, 1024);
    const STARTUP = 'torrent create, 1 KiB file (start-up alone)';
    cases.push([STARTUP, process.execPath, [...shebangFlags(bin), bin, 'create', tiny, '-o', join(dir, 'tiny.torrent'), '--force', '--quiet', '--no-date']]);

    const times = new Map(cases.map(([name]) => [name, []]));
    const cached = new Map(cases.map(([name]) => [name, []]));
    for (let i = 0; i < RUNS; i++) {
      for (let k = 0; k < cases.length; k++) {
        const [name, cmd, args, out] = cases[(k + i) % cases.length];
        if (out) rmSync(out, { force: true }); // mktorrent refuses to overwrite
        cached.get(name).push(warm([file]));
        times.get(name).push(timeOnce(cmd, args));
      }
    }

    const ourPieces = parseTorrent(readFileSync(ours)).pieces;
    const agree = have('mktorrent') ? parseTorrent(readFileSync(theirs('default'))).pieces.equals(ourPieces) : null;

    console.log(`\n## torrent create (1 GiB file read into the page cache before each run, 512 KiB pieces, ${cpus().length} cores; median of ${RUNS})\n`);
    console.log('| tool | median s | MiB/s | min s | max s | in cache at start (least) |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
    const medianOf = (name) => [...times.get(name)].sort((a, b) => a - b)[Math.floor(RUNS / 2)];
    for (const [name] of cases) {
      const t = [...times.get(name)].sort((a, b) => a - b);
      const median = medianOf(name);
      const mibs = name === STARTUP ? '-' : (FILE_BYTES / 1024 / 1024 / (median / 1000)).toFixed(0);
      console.log(`| ${name} | ${(median / 1000).toFixed(2)} | ${mibs} | ${(t[0] / 1000).toFixed(2)} | ${(t[t.length - 1] / 1000).toFixed(2)} | ${residencyLabel(cached.get(name))} |`);
    }
    const hashing = medianOf('torrent create') - medianOf(STARTUP);
    console.log(`\ntorrent create less its start-up: ${(hashing / 1000).toFixed(2)} s, ${(FILE_BYTES / 1024 / 1024 / (hashing / 1000)).toFixed(0)} MiB/s`);
    if (agree !== null) console.log(`piece hashes identical to mktorrent's: ${agree ? 'yes' : 'NO'}`);
    if (agree === false) process.exitCode = 1;
    if (baseline) {
      const same = readFileSync(join(dir, 'hybrid.torrent')).equals(readFileSync(join(dir, 'baseline-hybrid.torrent')));
      console.log(`hybrid torrent identical to the baseline build's: ${same ? 'yes' : 'NO'}`);
      if (!same) process.exitCode = 1;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
