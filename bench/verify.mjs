/**
 * Bench case "verify": `torrent verify` throughput on one 1 GiB file (512 KiB pieces) already in
 * the page cache, beside python3-libtorrent's full check of the same data (a session adding the
 * torrent with hashing_threads = 2, timed until it seeds, interpreter start included) and
 * mktorrent -t 1 / -t 2 hashing the same file (the yardstick issue 15 sets for create). Every run
 * of every tool starts in the same state: the file is read again right before it
 * (lib/page-cache.mjs says why once is not enough here) and the share then resident is printed;
 * the order of the tools turns each round. Wall time includes process start-up. Every verify must
 * report the data complete, and libtorrent must end seeding: a fast wrong answer would not count.
 * A second table times the same data as a hybrid torrent (BEP 52 merkle trees and SHA-1 both).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { shebangFlags } from './lib/ours.mjs';
import { residencyLabel, warm } from './lib/page-cache.mjs';
import { writeRandomFile } from './lib/payload.mjs';

const bin = new URL('../bin/torrent.js', import.meta.url).pathname;
/**
 * BENCH_BASELINE=<another built checkout>: its `torrent verify` is timed too, in the same rounds, so
 * a change is measured against the build before it under the same load.
 */
const baseline = process.env.BENCH_BASELINE ? join(process.env.BENCH_BASELINE, 'bin', 'torrent.js') : null;
/** 1 GiB: long enough that start-up is noise, small enough to sit in page cache on a CI box. */
const FILE_BYTES = 1024 * 1024 * 1024;
/** 2^19 = 512 KiB, what defaultPieceLength picks for 1 GiB. */
const PIECE_LENGTH_LOG2 = 19;
/** Runs per tool: the median of 5 shrugs off one run slowed by other work on the machine. */
const RUNS = 5;
/** One libtorrent check may not take longer than this (a stuck session would hang the bench). */
const LT_CHECK_TIMEOUT_S = 120;

/** Adds the torrent to a libtorrent session over the data and waits for it to seed; exits 0 when complete. */
const LT_CHECK = `
import sys, time
import libtorrent as lt
s = lt.session({'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
                'listen_interfaces': '127.0.0.1:0', 'hashing_threads': 2, 'aio_threads': 4})
h = s.add_torrent({'ti': lt.torrent_info(sys.argv[1]), 'save_path': sys.argv[2]})
deadline = time.monotonic() + ${LT_CHECK_TIMEOUT_S}
while time.monotonic() < deadline:
    st = h.status()
    if st.state == lt.torrent_status.seeding:
        sys.exit(0)
    if st.state in (lt.torrent_status.downloading, lt.torrent_status.finished) and st.progress < 1:
        sys.exit('libtorrent found the data incomplete')
    time.sleep(0.005)
sys.exit('libtorrent check timed out')
`;

function have(cmd) {
  return spawnSync('which', [cmd]).status === 0;
}

function timeOnce(cmd, args, check) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  if (check) check(r.stdout.toString());
  return ms;
}

const STARTUP = 'torrent verify, 1 KiB torrent (start-up alone)';

/**
 * Times each case RUNS times (order turning each round, the file warmed before each run), prints
 * the table, returns each case's median ms.
 */
function measure(title, cases, file) {
  const times = new Map(cases.map(([name]) => [name, []]));
  const cached = new Map(cases.map(([name]) => [name, []]));
  for (let i = 0; i < RUNS; i++) {
    for (let k = 0; k < cases.length; k++) {
      const [name, cmd, args, check] = cases[(k + i) % cases.length];
      cached.get(name).push(warm([file]));
      times.get(name).push(timeOnce(cmd, args, check));
    }
  }
  console.log(`\n## ${title}\n`);
  console.log('| tool | median s | MiB/s | min s | max s | in cache at start (least) |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  const medians = new Map();
  for (const [name] of cases) {
    const t = [...times.get(name)].sort((a, b) => a - b);
    const median = t[Math.floor(t.length / 2)];
    medians.set(name, median);
    const mibs = name === STARTUP ? '-' : (FILE_BYTES / 1024 / 1024 / (median / 1000)).toFixed(0);
    console.log(`| ${name} | ${(median / 1000).toFixed(2)} | ${mibs} | ${(t[0] / 1000).toFixed(2)} | ${(t[t.length - 1] / 1000).toFixed(2)} | ${residencyLabel(cached.get(name))} |`);
  }
  return medians;
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'torrent-bench-verify-'));
  try {
    const data = join(dir, 'data');
    mkdirSync(data);
    const file = join(data, 'payload.bin');
    writeRandomFile(file, FILE_BYTES);
    const torrent = join(dir, 'payload.torrent');
    const made = spawnSync(process.execPath, [...shebangFlags(bin), bin, 'create', file, '-o', torrent, '--quiet', '--piece-length', String(2 ** PIECE_LENGTH_LOG2)]);
    if (made.status !== 0) throw new Error(`torrent create failed: ${made.stderr}`);

    const complete = (out) => {
      if (JSON.parse(out).complete !== true) throw new Error('torrent verify: data reported incomplete');
    };
    const cases = [['torrent verify', process.execPath, [...shebangFlags(bin), bin, 'verify', torrent, data, '--json', '--quiet'], complete]];
    if (baseline) cases.push([`torrent verify (baseline ${process.env.BENCH_BASELINE})`, process.execPath, [...shebangFlags(baseline), baseline, 'verify', torrent, data, '--json', '--quiet'], complete]);
    const lt = spawnSync('/usr/bin/python3', ['-c', 'import libtorrent']).status === 0;
    if (lt) cases.push(['python3-libtorrent check (hashing_threads 2)', '/usr/bin/python3', ['-c', LT_CHECK, torrent, data]]);
    if (have('mktorrent')) {
      const out = join(dir, 'mk.torrent');
      for (const t of ['1', '2']) {
        cases.push([`mktorrent -t ${t} (hashing only)`, 'sh', ['-c', `rm -f ${out} && mktorrent -l ${PIECE_LENGTH_LOG2} -t ${t} -o ${out} ${file}`]]);
      }
    }

    // Node's start-up and our module loading, the fixed cost in every row of ours: a 1 KiB torrent.
    const tinyData = join(dir, 'tiny');
    mkdirSync(tinyData);
    writeRandomFile(join(tinyData, 'tiny.bin'), 1024);
    const tiny = join(dir, 'tiny.torrent');
    const madeTiny = spawnSync(process.execPath, [...shebangFlags(bin), bin, 'create', join(tinyData, 'tiny.bin'), '-o', tiny, '--quiet']);
    if (madeTiny.status !== 0) throw new Error(`torrent create failed: ${madeTiny.stderr}`);
    cases.push([STARTUP, process.execPath, [...shebangFlags(bin), bin, 'verify', tiny, tinyData, '--json', '--quiet'], complete]);
    const medians = measure(`torrent verify (1 GiB file read into the page cache before each run, 512 KiB pieces, ${cpus().length} cores; median of ${RUNS})`, cases, file);
    const hashing = medians.get('torrent verify') - medians.get(STARTUP);
    console.log(`\ntorrent verify less its start-up: ${(hashing / 1000).toFixed(2)} s, ${(FILE_BYTES / 1024 / 1024 / (hashing / 1000)).toFixed(0)} MiB/s`);

    // The same data as a hybrid torrent (BEP 52): SHA-256 merkle trees and SHA-1 pieces both
    // checked, beside libtorrent checking the same hybrid.
    const hybrid = join(dir, 'hybrid.torrent');
    const madeHybrid = spawnSync(process.execPath, [...shebangFlags(bin), bin, 'create', file, '-o', hybrid, '--quiet', '--hybrid', '--piece-length', String(2 ** PIECE_LENGTH_LOG2)]);
    if (madeHybrid.status !== 0) throw new Error(`torrent create --hybrid failed: ${madeHybrid.stderr}`);
    const hybridCases = [['torrent verify', process.execPath, [...shebangFlags(bin), bin, 'verify', hybrid, data, '--json', '--quiet'], complete]];
    if (baseline) hybridCases.push([`torrent verify (baseline ${process.env.BENCH_BASELINE})`, process.execPath, [...shebangFlags(baseline), baseline, 'verify', hybrid, data, '--json', '--quiet'], complete]);
    if (lt) hybridCases.push(['python3-libtorrent check (hashing_threads 2)', '/usr/bin/python3', ['-c', LT_CHECK, hybrid, data]]);
    measure(`torrent verify, the same file as a hybrid torrent (v1 + v2 hashes; median of ${RUNS})`, hybridCases, file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
