/**
 * Bench case "info": wall time of `torrent info --json` (Node start-up included) on a generated
 * torrent with 50,000 files and 200,000 pieces, and on an ordinary one (4 files, 1,000 pieces).
 * Targets (issue 2): < 0.5 s and < 0.1 s. Issue 15: the big case within 2x libtorrent's time in
 * the same run, process start included on both sides: python3-libtorrent reading the same file
 * and printing the same facts as JSON (test/helpers/lt_info.py), and for reference its bare
 * `lt.torrent_info()` parse.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '../dist/bencode/index.js';
import { shebangFlags } from './lib/ours.mjs';

const bin = new URL('../bin/torrent.js', import.meta.url).pathname;
const ltInfo = new URL('../test/helpers/lt_info.py', import.meta.url).pathname;
/** Debian's python3-libtorrent is importable only from the system interpreter. */
const PYTHON = '/usr/bin/python3';
/** Ours may take at most this multiple of libtorrent's time on the big torrent (issue 15). */
const LT_FACTOR = 2;

function makeTorrent(files, pieces, pieceLength) {
  const fileLength = (pieces * pieceLength) / files;
  const list = [];
  for (let i = 0; i < files; i++) list.push({ length: fileLength, path: [`dir${i % 100}`, `file-${i}.bin`] });
  return encode({
    announce: 'http://tracker.example/announce',
    info: { files: list, name: 'big', 'piece length': pieceLength, pieces: randomBytes(20 * pieces) },
  });
}

function timeOnce(file, [cmd, args]) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, [...args, file], { stdio: ['ignore', 'ignore', 'inherit'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
  return ms;
}

function summary(times) {
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)], min: times[0], max: times[times.length - 1] };
}

const OURS = [process.execPath, [...shebangFlags(bin), bin, 'info', '--json']];

function time(file, runs) {
  const times = [];
  for (let i = 0; i < runs; i++) times.push(timeOnce(file, OURS));
  return summary(times);
}

/** Several commands on one file, runs interleaved so a busy moment of the machine hits them all alike. */
function timeInterleaved(file, runs, commands) {
  const times = commands.map(() => []);
  for (let i = 0; i < runs; i++) commands.forEach((c, k) => times[k].push(timeOnce(file, c)));
  return times.map(summary);
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'torrent-bench-info-'));
  try {
    const big = join(dir, 'big.torrent');
    const small = join(dir, 'small.torrent');
    writeFileSync(big, makeTorrent(50_000, 200_000, 16384));
    writeFileSync(small, makeTorrent(4, 1_000, 262144));
    // Node start-up alone, for reference.
    const nodeOnly = [];
    for (let i = 0; i < 7; i++) {
      const t0 = process.hrtime.bigint();
      spawnSync(process.execPath, ['-e', '0']);
      nodeOnly.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    nodeOnly.sort((a, b) => a - b);
    const rows = [
      ['node -e 0 (start-up only)', { median: nodeOnly[3], min: nodeOnly[0], max: nodeOnly[6] }, null],
      ['info --json, 4 files / 1,000 pieces', time(small, 9), 100],
    ];
    const lt = spawnSync(PYTHON, ['-c', 'import libtorrent']).status === 0;
    if (lt) {
      const [ours, ltJson, ltParse] = timeInterleaved(big, 9, [
        OURS,
        [PYTHON, [ltInfo]],
        [PYTHON, ['-c', 'import sys, libtorrent as lt; lt.torrent_info(sys.argv[1])']],
      ]);
      rows.push(['python3-libtorrent, lt_info.py (parse + same facts as JSON)', ltJson, null]);
      rows.push(['python3-libtorrent, torrent_info() only', ltParse, null]);
      rows.push([`info --json, 50,000 files / 200,000 pieces (target: ${LT_FACTOR}x lt_info.py)`, ours, Math.round(LT_FACTOR * ltJson.median)]);
    } else {
      rows.push(['info --json, 50,000 files / 200,000 pieces', time(big, 7), 500]);
    }
    console.log('\n## torrent info (wall time, ms, Node start-up included)\n');
    console.log('| case | median | min | max | target |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const [name, t, target] of rows) {
      const ok = target === null ? '' : `${target} ${t.median < target ? 'ok' : 'MISSED'}`;
      console.log(`| ${name} | ${t.median.toFixed(0)} | ${t.min.toFixed(0)} | ${t.max.toFixed(0)} | ${ok} |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
