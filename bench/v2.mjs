/**
 * Bench case "v2" (issue 14): a 1 GiB v2-only download. One 1 GiB file of random bytes, made into
 * a BitTorrent v2-only torrent (BEP 52, 1 MiB pieces: SHA-256 merkle trees, piece layers) by
 * libtorrent's own creator (test/helpers/lt_v2.py create --v2), and, for reference, into a v1
 * torrent of the same payload and piece size (test/helpers/lt_peer.py create). Each torrent is
 * seeded by its own python3-libtorrent seeder (lt_peer.py seed: high_performance_seed, no rate
 * limits, 127.0.0.1; both processes up for the whole run, the idle one costs nothing), and
 * downloaded in turn, rounds interleaved, by:
 * - us: `bin/torrent.js download <v2.torrent> --peer 127.0.0.1:<port> --no-dht --port 0 -q`;
 * - libtorrent 2.0 (python): lt_peer.py leech <v2.torrent> --peer;
 * - us and libtorrent again on the v1 torrent (reference: what v2's SHA-256 merkle checks cost
 *   beside v1's SHA-1).
 *
 * Fairness, as bench/download.mjs: before every timed run the previous output and our resume cache
 * are deleted, caches are dropped when the sandbox allows it, the seeders' payload is read once
 * (its share resident at the start of the run is measured with fincore and printed), and the
 * machine settles for SETTLE_MS (freed pages go back to the host asynchronously). So every client
 * writes its 1 GiB into fresh pages and reads from a warm seeder. Measured by GNU time: wall s
 * (process start to exit), user+sys CPU of the leecher's process tree (the seeder's CPU is not
 * counted for any row), peak RSS of the largest process; plus the sampled peak RssAnon of the tree
 * (libtorrent 2.0 mmaps its files, so its RSS includes file pages). Each output is checked by size
 * and SHA-1.
 *
 * Env: BENCH_V2_RUNS (default 3), BENCH_V2_CLIENTS (us-v2,lt-v2,us-v1,lt-v1: a subset),
 * BENCH_V2_BYTES (default 1 GiB), BENCH_V2_TIMEOUT_S (per client run, default 240),
 * BENCH_V2_PROFILE=1 (one more run of ours on the v2 torrent under --cpu-prof, summarised; the
 * .cpuprofile is kept in bench/.work/).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keepMainProfile } from './lib/cpuprofile.mjs';
import { residencyLabel, resident } from './lib/page-cache.mjs';
import { readFiles, verifyOutput, writeRandomFile } from './lib/payload.mjs';
import { measure, startService } from './lib/proc.mjs';
import { dropCaches, fmt, stats, tally } from './lib/stats.mjs';
import { shebangFlags } from './lib/ours.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'torrent.js');
const PY = '/usr/bin/python3';
const LT_PEER = join(ROOT, 'test', 'helpers', 'lt_peer.py');
const LT_V2 = join(ROOT, 'test', 'helpers', 'lt_v2.py');
const KEEP_DIR = join(ROOT, 'bench', '.work');

const MiB = 1 << 20;
const GiB = 1 << 30;
const FILE_BYTES = Number(process.env.BENCH_V2_BYTES ?? GiB);
const PIECE_LENGTH = MiB;
const RUNS = Number(process.env.BENCH_V2_RUNS ?? 3);
const TIMEOUT_MS = Number(process.env.BENCH_V2_TIMEOUT_S ?? 240) * 1000;
const PROFILE = process.env.BENCH_V2_PROFILE === '1';
/** Pause after dropping caches and warming the seeders' payload, so page reporting to the host settles. */
const SETTLE_MS = 2_000;
/** Each seeder checks its 1 GiB before it says "ready". */
const SEEDER_READY_MS = 120_000;
/** libtorrent hashing 1 GiB to make a torrent. */
const CREATE_TIMEOUT_MS = 180_000;
const NAME = 'big.bin';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function clients(work) {
  const cacheDir = join(work, 'cache');
  const ours = (id, name, kind) => ({
    id,
    name,
    kind,
    cmd: process.execPath,
    args: (t) => [...shebangFlags(BIN), BIN, 'download', t.file, '-o', t.outDir, '--peer', `127.0.0.1:${t.seedPort}`, '--no-dht', '--port', '0', '-q'],
    env: { TORRENT_CACHE_DIR: cacheDir },
    reset: () => rmSync(cacheDir, { recursive: true, force: true }),
  });
  const lt = (id, name, kind) => ({
    id,
    name,
    kind,
    cmd: PY,
    args: (t) => [LT_PEER, 'leech', t.file, t.outDir, '--port', '0', '--peer', `127.0.0.1:${t.seedPort}`, '--timeout', String(TIMEOUT_MS / 1000)],
    env: {},
    reset: () => {},
  });
  return [
    ours('us-v2', 'torrent (us)', 'v2'),
    lt('lt-v2', 'libtorrent 2.0 (python)', 'v2'),
    ours('us-v1', 'torrent (us)', 'v1'),
    lt('lt-v1', 'libtorrent 2.0 (python)', 'v1'),
  ];
}

async function timedRun(ctx, client, extraNodeArgs = []) {
  const t = { ...ctx.torrents[client.kind], outDir: ctx.outDir };
  rmSync(ctx.outDir, { recursive: true, force: true });
  client.reset();
  ctx.drops.add(dropCaches());
  readFiles([ctx.payload]);
  mkdirSync(ctx.outDir, { recursive: true });
  await sleep(SETTLE_MS);
  const payloadResident = resident([ctx.payload]);
  const r = await measure(client.cmd, [...extraNodeArgs, ...client.args(t)], { env: client.env, timeoutMs: TIMEOUT_MS, timeFile: join(ctx.work, 'time.txt') });
  let failure = null;
  if (r.timedOut) failure = `timed out after ${TIMEOUT_MS / 1000} s`;
  else if (r.code !== 0) failure = `exit ${r.code ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0] ?? ''}`;
  else failure = verifyOutput(ctx.outDir, [{ rel: NAME, bytes: FILE_BYTES, sha1: ctx.sha1 }]);
  rmSync(ctx.outDir, { recursive: true, force: true });
  const ltDone = r.stdout.match(/^done ([\d.]+)/m);
  return {
    client: client.id,
    failure,
    payloadResident,
    wallS: r.wallS,
    cpuS: r.userS + r.sysS,
    userS: r.userS,
    sysS: r.sysS,
    rssMiB: r.maxRssKiB / 1024,
    anonMiB: r.peakAnonKiB / 1024,
    mbps: FILE_BYTES / 1e6 / r.wallS,
    selfReportedS: ltDone ? Number(ltDone[1]) : null,
  };
}

function printTable(list, runs) {
  console.log(`\n## v2: ${(FILE_BYTES / MiB).toFixed(0)} MiB, one file, 1 MiB pieces, v2-only torrent made by libtorrent, from a python3-libtorrent seeder on 127.0.0.1 (v1 rows: the same payload as a v1 torrent, reference)\n`);
  console.log('median (min–max) of the runs that verified; seconds = process start to exit; MB = 10^6 bytes; CPU = user+sys of the leecher\n');
  console.log('| client | torrent | runs | seconds | MB/s | CPU s | CPU s/GiB | peak RSS MiB | peak anon RSS MiB | payload resident at start |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const c of list) {
    const mine = runs.filter((r) => r.client === c.id);
    const { good, runText } = tally(mine);
    const cells = [
      fmt(stats(good.map((r) => r.wallS)), 2),
      fmt(stats(good.map((r) => r.mbps)), 0),
      fmt(stats(good.map((r) => r.cpuS)), 2),
      fmt(stats(good.map((r) => r.cpuS / (FILE_BYTES / GiB))), 2),
      fmt(stats(good.map((r) => r.rssMiB)), 0),
      fmt(stats(good.map((r) => r.anonMiB)), 0),
      residencyLabel(mine.map((r) => r.payloadResident)),
    ];
    console.log(`| ${c.name} | ${c.kind === 'v2' ? 'v2-only' : 'v1 (reference)'} | ${runText} | ${cells.join(' | ')} |`);
  }
  console.log('\n<details><summary>runs in order</summary>\n');
  console.log('| # | client | s | user s | sys s | RSS MiB | anon MiB | payload resident | result |');
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  runs.forEach((r, i) => {
    const self = r.selfReportedS !== null ? ` (self-reported ${r.selfReportedS.toFixed(2)} s)` : '';
    console.log(
      `| ${i + 1} | ${r.client} | ${r.wallS.toFixed(2)} | ${r.userS.toFixed(2)} | ${r.sysS.toFixed(2)} | ${r.rssMiB.toFixed(0)} | ${r.anonMiB.toFixed(0)} | ${residencyLabel([r.payloadResident])} | ${r.failure ?? 'ok'}${self} |`,
    );
  });
  console.log('\n</details>');
}

/** One more run of ours on the v2 torrent under --cpu-prof, summarised (BENCH_V2_PROFILE=1). */
async function profileOurs(ctx, client) {
  const profDir = join(ctx.work, 'prof');
  rmSync(profDir, { recursive: true, force: true });
  const r = await timedRun(ctx, client, ['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
  console.log(`\n## profile: ours on the ${client.kind} torrent (--cpu-prof)\n`);
  console.log(`run: ${r.failure ?? 'ok'}, ${r.wallS.toFixed(2)} s wall, ${r.userS.toFixed(2)} s user, ${r.sysS.toFixed(2)} s sys, peak RSS ${r.rssMiB.toFixed(0)} MiB\n`);
  keepMainProfile(profDir, join(KEEP_DIR, `v2-${client.id}.cpuprofile`));
}

/** Makes the torrent with libtorrent's creator; returns its file path. */
function createTorrent(kind, payload, out) {
  const args =
    kind === 'v2'
      ? [LT_V2, 'create', payload, out, '--v2', '--piece-length', String(PIECE_LENGTH)]
      : [LT_PEER, 'create', payload, out, '--piece-length', String(PIECE_LENGTH)];
  const r = spawnSync(PY, args, { encoding: 'utf8', timeout: CREATE_TIMEOUT_MS, maxBuffer: 16 * MiB });
  if (r.status !== 0) throw new Error(`${kind} torrent: ${args[0]} create failed (${r.status ?? r.signal}): ${r.stderr}`);
  const h = spawnSync(PY, [LT_V2, 'info', out], { encoding: 'utf8', timeout: 60_000, maxBuffer: 16 * MiB });
  if (h.status !== 0) throw new Error(`${kind} torrent: lt_v2.py info failed: ${h.stderr}`);
  const info = JSON.parse(h.stdout);
  // The v2 case must be v2-only (no SHA-1 piece list to fall back on), the reference v1-only.
  if (kind === 'v2' && (info.v2 === null || info.v1 !== null)) throw new Error(`v2 torrent is not v2-only: ${JSON.stringify({ v1: info.v1, v2: info.v2 })}`);
  if (kind === 'v1' && (info.v1 === null || info.v2 !== null)) throw new Error(`v1 torrent is not v1-only: ${JSON.stringify({ v1: info.v1, v2: info.v2 })}`);
  if (info.pieceLength !== PIECE_LENGTH) throw new Error(`${kind} torrent: piece length ${info.pieceLength}, wanted ${PIECE_LENGTH}`);
  return out;
}

export async function run() {
  const t0 = Date.now();
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('bench v2: build first (npx tsc -p tsconfig.json)');
  const work = mkdtempSync(join(tmpdir(), 'torrent-bench-v2-'));
  const seeders = [];
  const onSigint = () => {
    rmSync(work, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  try {
    const seedDir = join(work, 'seed');
    const payload = join(seedDir, NAME);
    const sha1 = writeRandomFile(payload, FILE_BYTES);
    const torrents = {};
    for (const kind of ['v2', 'v1']) torrents[kind] = { file: createTorrent(kind, payload, join(work, `${kind}.torrent`)) };
    for (const kind of ['v2', 'v1']) {
      const s = startService(PY, [LT_PEER, 'seed', torrents[kind].file, seedDir, '--port', '0']);
      seeders.push(s);
      torrents[kind].seedPort = Number((await s.waitFor(/ready (\d+)/, SEEDER_READY_MS))[1]);
    }
    console.error(`bench v2: payload, torrents and seeders ready in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const ctx = { work, payload, sha1, torrents, outDir: join(work, 'out'), drops: new Set() };
    const only = process.env.BENCH_V2_CLIENTS?.split(',');
    const list = clients(work).filter((c) => !only || only.includes(c.id));
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      for (const c of list) {
        const r = await timedRun(ctx, c);
        console.error(`bench v2: ${c.id} #${i + 1}: ${r.failure ?? 'ok'} ${r.wallS.toFixed(2)} s, cpu ${r.cpuS.toFixed(2)} s, rss ${r.rssMiB.toFixed(0)} MiB`);
        runs.push(r);
      }
    }
    printTable(list, runs);
    console.log(
      `\nBefore each run: output and our resume cache deleted; drop_caches ${[...ctx.drops].join(', ')}; seeders' payload read once; ${SETTLE_MS / 1000} s settle. Seeders: lt_peer.py seed (python3-libtorrent, high_performance_seed), one per torrent, on 127.0.0.1; 2 CPUs shared by seeder and leecher.`,
    );
    const us = list.find((c) => c.id === 'us-v2');
    if (PROFILE && us) await profileOurs(ctx, us);
    console.error(`bench v2: ${((Date.now() - t0) / 1000).toFixed(0)} s in all`);
  } finally {
    process.off('SIGINT', onSigint);
    for (const s of seeders) await s.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
