/**
 * Bench case "info": wall time of `torrent info --json` (Node start-up included) on a generated
 * torrent with 50,000 files and 200,000 pieces, and on an ordinary one (4 files, 1,000 pieces).
 * Targets (issue 2): < 0.5 s and < 0.1 s.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '../dist/bencode/index.js';

const bin = new URL('../bin/torrent.js', import.meta.url).pathname;

function makeTorrent(files, pieces, pieceLength) {
  const fileLength = (pieces * pieceLength) / files;
  const list = [];
  for (let i = 0; i < files; i++) list.push({ length: fileLength, path: [`dir${i % 100}`, `file-${i}.bin`] });
  return encode({
    announce: 'http://tracker.example/announce',
    info: { files: list, name: 'big', 'piece length': pieceLength, pieces: randomBytes(20 * pieces) },
  });
}

function time(file, runs) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [bin, 'info', '--json', file], { stdio: ['ignore', 'ignore', 'inherit'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`torrent info exited ${r.status}`);
    times.push(ms);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)], min: times[0], max: times[times.length - 1] };
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
      ['info --json, 50,000 files / 200,000 pieces', time(big, 7), 500],
    ];
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
