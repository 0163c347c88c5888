/**
 * Bench case "create": `torrent create` throughput on one 1 GiB file, beside mktorrent (Debian)
 * with its default threads (one per core) and with -t 1 / -t 2, and `sha1sum` as the one-core
 * SHA-1 ceiling. Same piece length for all (512 KiB, what defaultPieceLength picks for 1 GiB),
 * the file read once first so every run hashes from the page cache, runs interleaved so none
 * gets a warmer cache. Wall time includes process start-up (Node's ~40 ms). The piece hashes of
 * our torrent and mktorrent's are compared: a fast wrong answer would not count.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTorrent } from '../dist/metainfo/index.js';
import { readFiles, writeRandomFile } from './lib/payload.mjs';

const bin = new URL('../bin/torrent.js', import.meta.url).pathname;
/** 1 GiB: long enough that start-up is noise, small enough to sit in page cache on a CI box. */
const FILE_BYTES = 1024 * 1024 * 1024;
/** 2^19 = 512 KiB. */
const PIECE_LENGTH_LOG2 = 19;
const RUNS = 3;

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
    readFiles([file]);
    const ours = join(dir, 'ours.torrent');
    const theirs = (t) => join(dir, `mktorrent-${t}.torrent`);
    const cases = [
      ['torrent create', process.execPath, [bin, 'create', file, '-o', ours, '--force', '--quiet', '--no-date', '--piece-length', String(2 ** PIECE_LENGTH_LOG2)]],
    ];
    if (have('mktorrent')) {
      const mk = (t) => ['-l', String(PIECE_LENGTH_LOG2), '-d', '-o', theirs(t), ...(t === 'default' ? [] : ['-t', t]), file];
      cases.push([`mktorrent (default: ${cpus().length} threads)`, 'mktorrent', mk('default'), theirs('default')]);
      cases.push(['mktorrent -t 1', 'mktorrent', mk('1'), theirs('1')]);
      cases.push(['mktorrent -t 2', 'mktorrent', mk('2'), theirs('2')]);
    }
    if (have('sha1sum')) cases.push(['sha1sum (one-core SHA-1 ceiling)', 'sha1sum', [file]]);

    const times = new Map(cases.map(([name]) => [name, []]));
    for (let i = 0; i < RUNS; i++) {
      for (const [name, cmd, args, out] of cases) {
        if (out) rmSync(out, { force: true }); // mktorrent refuses to overwrite
        times.get(name).push(timeOnce(cmd, args));
      }
    }

    const ourPieces = parseTorrent(readFileSync(ours)).pieces;
    const agree = have('mktorrent') ? parseTorrent(readFileSync(theirs('default'))).pieces.equals(ourPieces) : null;

    console.log(`\n## torrent create (1 GiB file in page cache, 512 KiB pieces, ${cpus().length} cores; median of ${RUNS})\n`);
    console.log('| tool | median s | MiB/s | min s | max s |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const [name] of cases) {
      const t = [...times.get(name)].sort((a, b) => a - b);
      const median = t[Math.floor(t.length / 2)];
      const mibs = FILE_BYTES / 1024 / 1024 / (median / 1000);
      console.log(`| ${name} | ${(median / 1000).toFixed(2)} | ${mibs.toFixed(0)} | ${(t[0] / 1000).toFixed(2)} | ${(t[t.length - 1] / 1000).toFixed(2)} |`);
    }
    if (agree !== null) console.log(`\npiece hashes identical to mktorrent's: ${agree ? 'yes' : 'NO'}`);
    if (agree === false) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
