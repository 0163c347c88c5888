/**
 * Bench case "webseed": one 1 GiB file (1 MiB pieces) served by Debian's nginx on 127.0.0.1
 * (Range on, sendfile, started here as one non-daemon process with a config written into the
 * work dir), fetched in turn, same run, by:
 * - us, `torrent download`: our real command line (bin/torrent.js download <torrent> -o <out>
 *   --no-dht --port 0 -q) on the same torrent libtorrent's row uses, no peers at all: web seed only
 *   (session, picker, SHA-1 checks, storage, CLI start-up all included); its resume cache deleted
 *   before each run;
 * - us, fetch only: our web-seed fetcher (dist/webseed, the same WebSeed the session will use)
 *   driven by this file in --fetch mode: runs of RUN_PIECES pieces, PARALLEL_RUNS in flight, each
 *   piece written at its offset as it completes;
 * - us, fetch + SHA-1: the same, each piece checked against the torrent's hash before it is
 *   written, as the session will do (CPU includes hashing);
 * - curl: `curl -o` of the file's URL (one connection, no hashing: the floor);
 * - aria2c: the file's URL with defaults (1 connection per server), and with -x4 -s4 (4, as we use);
 * - libtorrent 2.0 (python): lt_peer.py leech of a torrent whose url-list is the file's URL, no
 *   peers (web seed only, hashes checked).
 * Before every timed run of every client (runs interleaved: each round runs every client once)
 * the previous output is deleted, caches are dropped when allowed, the served file is read once
 * (warm server: its share resident at the start of the run is measured with fincore and printed),
 * and the machine settles (freed pages go back to the host asynchronously). So each client writes
 * its 1 GiB into fresh page cache and reads from a warm nginx. Each output is checked by size and
 * SHA-1. Measured by GNU time: wall seconds (process start to exit), user+sys CPU (nginx's CPU is
 * not counted for any row).
 *
 * Env: BENCH_WEBSEED_RUNS (default 3), BENCH_WEBSEED_CLIENTS (a subset of the ids below),
 * BENCH_WEBSEED_TIMEOUT_S (per run, default 240), BENCH_WEBSEED_PROFILE=1 (one more run of
 * `torrent download` under --cpu-prof, summarised; the .cpuprofile is kept in bench/.work/).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, write, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { keepMainProfile } from './lib/cpuprofile.mjs';
import { residencyLabel, resident } from './lib/page-cache.mjs';
import { readFiles, verifyOutput, writeRandomFile } from './lib/payload.mjs';
import { freeTcpPort, measure, startService } from './lib/proc.mjs';
import { dropCaches, fmt, stats, tally } from './lib/stats.mjs';
import { shebangFlags } from './lib/ours.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;
const PY = '/usr/bin/python3';
const LT_PEER = join(ROOT, 'test', 'helpers', 'lt_peer.py');
const NGINX = '/usr/sbin/nginx';
const BIN = join(ROOT, 'bin', 'torrent.js');
const KEEP_DIR = join(ROOT, 'bench', '.work');
const PROFILE = process.env.BENCH_WEBSEED_PROFILE === '1';

const MiB = 1 << 20;
const GiB = 1 << 30;
const FILE_BYTES = Number(process.env.BENCH_WEBSEED_BYTES ?? GiB);
/** 2^20: 1 MiB pieces, as the download bench uses. */
const PIECE_LENGTH_EXP = 20;
const RUNS = Number(process.env.BENCH_WEBSEED_RUNS ?? 3);
const TIMEOUT_MS = Number(process.env.BENCH_WEBSEED_TIMEOUT_S ?? 240) * 1000;
/** A run of 16 MiB per Range request, 4 in flight (MAX_CONNECTIONS_PER_SERVER): 64 MiB buffered at most. */
const RUN_PIECES = 16;
const PARALLEL_RUNS = 4;
const SETTLE_MS = 2_000;
const NGINX_READY_MS = 5_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** --fetch mode: the child process that is measured. node bench/webseed.mjs --fetch <torrent> <url> <out-file> <verify 0|1> */
async function fetchMode([torrentPath, url, outFile, verify]) {
  const { parseTorrent } = await import(join(ROOT, 'dist', 'metainfo', 'index.js'));
  const { WebSeed, webSeedLayout } = await import(join(ROOT, 'dist', 'webseed', 'index.js'));
  const { systemClock } = await import(join(ROOT, 'dist', 'util', 'clock.js'));
  const meta = parseTorrent(readFileSync(torrentPath));
  // A piece buffer pool, as the session has: a buffer goes back once its piece is on disk.
  const pool = [];
  const allocatePiece = () => pool.pop() ?? Buffer.allocUnsafeSlow(meta.pieceLength);
  const seed = new WebSeed({ url, kind: 'url-list', layout: webSeedLayout(meta), clock: systemClock(), allocatePiece });
  const fd = openSync(outFile, 'w');
  const writeAt = (data, position) =>
    new Promise((resolve, reject) =>
      write(fd, data, 0, data.length, position, (err) => {
        if (err) reject(err);
        else {
          if (data.buffer.byteLength === meta.pieceLength) pool.push(Buffer.from(data.buffer, 0, meta.pieceLength));
          resolve();
        }
      }),
    );
  const runs = [];
  for (let p = 0; p < meta.pieceCount; p += RUN_PIECES) runs.push([p, Math.min(meta.pieceCount - 1, p + RUN_PIECES - 1)]);
  const worker = async () => {
    for (let r = runs.shift(); r !== undefined; r = runs.shift()) {
      const writes = [];
      await seed.fetchPieces(r[0], r[1], (p, data) => {
        if (verify === '1' && !createHash('sha1').update(data).digest().equals(meta.pieces.subarray(p * 20, p * 20 + 20))) {
          throw new Error(`piece ${p} failed its hash check`);
        }
        writes.push(writeAt(data, p * meta.pieceLength));
      });
      await Promise.all(writes);
    }
  };
  try {
    await Promise.all(Array.from({ length: PARALLEL_RUNS }, worker));
  } finally {
    seed.close();
    closeSync(fd);
  }
}

function nginxConfig(dir, root, port) {
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  server { listen 127.0.0.1:${port}; root ${root}; }
}
`;
}

/** nginx as one process (master_process off: no privilege drop, one pid to stop), polled until it answers. */
async function startNginx(work, root) {
  const dir = join(work, 'nginx');
  mkdirSync(dir, { recursive: true });
  const port = await freeTcpPort();
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, root, port));
  const svc = startService(NGINX, ['-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf'), '-p', `${dir}/`, '-g', 'daemon off; master_process off;']);
  const until = Date.now() + NGINX_READY_MS;
  while (Date.now() < until) {
    const r = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/`], { encoding: 'utf8', timeout: 1000 });
    if (r.stdout && r.stdout !== '000') return { svc, port };
    await sleep(50);
  }
  await svc.stop();
  throw new Error(`nginx did not answer within ${NGINX_READY_MS} ms: ${svc.output()}`);
}

function clients(ctx) {
  const out = (name = 'big.bin') => join(ctx.outDir, name);
  const cacheDir = join(ctx.work, 'cache');
  return [
    {
      id: 'us-cli',
      name: 'torrent (us), `torrent download`',
      cmd: process.execPath,
      args: () => [...shebangFlags(BIN), BIN, 'download', ctx.torrent, '-o', ctx.outDir, '--no-dht', '--port', '0', '-q'],
      env: { TORRENT_CACHE_DIR: cacheDir },
      reset: () => rmSync(cacheDir, { recursive: true, force: true }),
    },
    { id: 'us', name: 'torrent web seed (fetch + write)', cmd: process.execPath, args: () => [SELF, '--fetch', ctx.torrent, ctx.url, out(), '0'] },
    { id: 'us-verify', name: 'torrent web seed (fetch + SHA-1 + write)', cmd: process.execPath, args: () => [SELF, '--fetch', ctx.torrent, ctx.url, out(), '1'] },
    { id: 'curl', name: 'curl -o', cmd: 'curl', args: () => ['-s', '-S', '-f', '-o', out(), ctx.url] },
    {
      id: 'aria2c',
      name: 'aria2c (defaults)',
      cmd: 'aria2c',
      args: () => ['--file-allocation=none', '--summary-interval=0', '--console-log-level=warn', '--allow-overwrite=true', `--dir=${ctx.outDir}`, '-o', 'big.bin', ctx.url],
    },
    {
      id: 'aria2c-x4',
      name: 'aria2c -x4 -s4',
      cmd: 'aria2c',
      args: () => ['-x4', '-s4', '--file-allocation=none', '--summary-interval=0', '--console-log-level=warn', '--allow-overwrite=true', `--dir=${ctx.outDir}`, '-o', 'big.bin', ctx.url],
    },
    { id: 'lt', name: 'libtorrent 2.0 (python), url-list', cmd: PY, args: () => [LT_PEER, 'leech', ctx.torrent, ctx.outDir, '--port', '0', '--timeout', String(TIMEOUT_MS / 1000)] },
  ];
}

async function timedRun(ctx, client, extraNodeArgs = []) {
  rmSync(ctx.outDir, { recursive: true, force: true });
  client.reset?.();
  mkdirSync(ctx.outDir, { recursive: true });
  ctx.drops.add(dropCaches());
  readFiles([ctx.served]);
  await sleep(SETTLE_MS);
  const servedResident = resident([ctx.served]);
  const r = await measure(client.cmd, [...extraNodeArgs, ...client.args()], { env: client.env ?? {}, timeoutMs: TIMEOUT_MS, timeFile: join(ctx.work, 'time.txt') });
  let failure = null;
  if (r.timedOut) failure = `timed out after ${TIMEOUT_MS / 1000} s`;
  else if (r.code !== 0) failure = `exit ${r.code ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0] ?? ''}`;
  else failure = verifyOutput(ctx.outDir, [{ rel: 'big.bin', bytes: FILE_BYTES, sha1: ctx.sha1 }]);
  rmSync(ctx.outDir, { recursive: true, force: true });
  return { client: client.id, failure, servedResident, wallS: r.wallS, cpuS: r.userS + r.sysS, userS: r.userS, sysS: r.sysS, rssMiB: r.maxRssKiB / 1024, mbps: FILE_BYTES / 1e6 / r.wallS };
}

/** One more run of `torrent download` under --cpu-prof, summarised (BENCH_WEBSEED_PROFILE=1). */
async function profileOurs(ctx, client) {
  const profDir = join(ctx.work, 'prof');
  rmSync(profDir, { recursive: true, force: true });
  const r = await timedRun(ctx, client, ['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
  console.log(`\n## profile: \`torrent download\`, web seed only (--cpu-prof)\n`);
  console.log(`run: ${r.failure ?? 'ok'}, ${r.wallS.toFixed(2)} s wall, ${r.userS.toFixed(2)} s user, ${r.sysS.toFixed(2)} s sys, peak RSS ${r.rssMiB.toFixed(0)} MiB\n`);
  keepMainProfile(profDir, join(KEEP_DIR, 'webseed-cli.cpuprofile'));
}

export async function run() {
  const t0 = Date.now();
  if (!existsSync(join(ROOT, 'dist', 'webseed', 'index.js'))) throw new Error('bench webseed: build first (npx tsc -p tsconfig.json)');
  const work = mkdtempSync(join(tmpdir(), 'torrent-bench-webseed-'));
  let nginx = null;
  try {
    const www = join(work, 'www');
    const served = join(www, 'big.bin');
    const sha1 = writeRandomFile(served, FILE_BYTES);
    nginx = await startNginx(work, www);
    const url = `http://127.0.0.1:${nginx.port}/big.bin`;
    const torrent = join(work, 'big.torrent');
    const mk = spawnSync('mktorrent', ['-l', String(PIECE_LENGTH_EXP), '-w', url, '-o', torrent, served], { encoding: 'utf8' });
    if (mk.status !== 0) throw new Error(`mktorrent failed: ${mk.stderr}`);
    console.error(`bench webseed: payload, torrent and nginx ready in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const ctx = { work, www, served, sha1, url, torrent, outDir: join(work, 'out'), drops: new Set() };
    const only = process.env.BENCH_WEBSEED_CLIENTS?.split(',');
    const list = clients(ctx).filter((c) => !only || only.includes(c.id));
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      for (const c of list) {
        const r = await timedRun(ctx, c);
        console.error(`bench webseed: ${c.id} #${i + 1}: ${r.failure ?? 'ok'} ${r.wallS.toFixed(2)} s, cpu ${r.cpuS.toFixed(2)} s`);
        runs.push(r);
      }
    }
    console.log(`\n## webseed: ${(FILE_BYTES / MiB).toFixed(0)} MiB, one file, 1 MiB pieces, from nginx on 127.0.0.1\n`);
    console.log('median (min–max) of the runs that verified; seconds = process start to exit; MB = 10^6 bytes\n');
    console.log('| client | runs | seconds | MB/s | CPU s (user+sys) | CPU s/GiB | peak RSS MiB | served file resident at start |');
    console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const c of list) {
      const mine = runs.filter((r) => r.client === c.id);
      const { good, runText } = tally(mine);
      const row = [stats(good.map((r) => r.wallS)), stats(good.map((r) => r.mbps)), stats(good.map((r) => r.cpuS)), stats(good.map((r) => r.cpuS / (FILE_BYTES / GiB))), stats(good.map((r) => r.rssMiB))];
      console.log(`| ${c.name} | ${runText} | ${fmt(row[0], 2)} | ${fmt(row[1], 0)} | ${fmt(row[2], 2)} | ${fmt(row[3], 2)} | ${fmt(row[4], 0)} | ${residencyLabel(mine.map((r) => r.servedResident))} |`);
    }
    console.log('\n<details><summary>runs in order</summary>\n');
    console.log('| # | client | s | user s | sys s | RSS MiB | served resident | result |');
    console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |');
    runs.forEach((r, i) => {
      console.log(`| ${i + 1} | ${r.client} | ${r.wallS.toFixed(2)} | ${r.userS.toFixed(2)} | ${r.sysS.toFixed(2)} | ${r.rssMiB.toFixed(0)} | ${residencyLabel([r.servedResident])} | ${r.failure ?? 'ok'} |`);
    });
    console.log('\n</details>');
    console.log(`\n\`torrent download\`: the url-list torrent above, no peers, no DHT, -q; its resume cache deleted before each run. Fetcher rows (bench-driven, not the CLI): runs of ${RUN_PIECES} pieces, ${PARALLEL_RUNS} in flight (one Range request each, kept-alive connections). nginx: one process, sendfile. Before each run: output deleted; drop_caches ${[...ctx.drops].join(', ')}; served file read once; ${SETTLE_MS / 1000} s settle. 2 CPUs shared by nginx and the client.`);
    const cli = list.find((c) => c.id === 'us-cli');
    if (PROFILE && cli) await profileOurs(ctx, cli);
    console.error(`bench webseed: ${((Date.now() - t0) / 1000).toFixed(0)} s in all`);
  } finally {
    if (nginx) await nginx.svc.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url && process.argv[2] === '--fetch') {
  fetchMode(process.argv.slice(3)).catch((e) => {
    console.error(e?.message ?? e);
    process.exit(1);
  });
}
