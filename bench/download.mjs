/**
 * Bench case "download": one local python3-libtorrent seeder (lt_peer.py seed: high_performance_seed,
 * no rate limits, 127.0.0.1) and, in turn on the same swarm, three leechers: us
 * (`bin/torrent.js download --peer`), aria2c (finds the seeder through opentracker: it cannot be
 * handed a peer), and a python3-libtorrent leecher (lt_peer.py leech --peer). Two torrents: 1 GiB,
 * one file, 1 MiB pieces; ~500 MiB in 20 files of varying sizes (piece spans cross file ends).
 *
 * Fairness: before every timed run the previous output (and our resume cache) is deleted, caches
 * are dropped when the sandbox allows it (sync; echo 3 > /proc/sys/vm/drop_caches), the seeder's
 * payload is read once so it is in the page cache, and the machine settles for SETTLE_MS (freed
 * pages are handed back to the host asynchronously). So every client writes into fresh pages and
 * reads from a warm seeder. Order is interleaved (us, aria2c, lt, us, aria2c, lt, ...).
 * Measured by GNU time: wall s (process start to exit), user+sys CPU of the process tree, peak
 * RSS of the largest process; plus the sampled peak RssAnon of the tree (libtorrent 2.0 mmaps its
 * files, so its RSS includes file pages); plus the seeder's own CPU time during the run (it shares
 * the 2 cores with the leecher, so a leecher's CPU is CPU the seeder did not get). Each output is
 * checked by size and SHA-1.
 *
 * Env: BENCH_DOWNLOAD_CLIENTS (us,before,aria2c,lt: a subset), BENCH_BEFORE_BIN (see clients()), BENCH_DOWNLOAD_RUNS (default 3), BENCH_DOWNLOAD_TIMEOUT_S (per client run, default 240),
 * BENCH_DOWNLOAD_SETTLE_S (the settle before each run, default 2),
 * BENCH_DOWNLOAD_TORRENTS (single,multi: a subset, default both),
 * BENCH_DOWNLOAD_PROFILE=1 (one more run of ours on the 1 GiB torrent under --cpu-prof and
 * --trace-gc, summarised; the .cpuprofile is kept in bench/.work/).
 */
import { spawnSync } from 'node:child_process';
import { dropCaches, fmt, stats, tally } from './lib/stats.mjs';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { summariseTraceGc, keepMainProfile } from './lib/cpuprofile.mjs';
import { startOpentracker } from './lib/opentracker.mjs';
import { readFiles, verifyOutput, writeRandomFile } from './lib/payload.mjs';
import { freeTcpPort, freeUdpPort, measure, startService } from './lib/proc.mjs';
import { cpuSeconds } from './lib/procstat.mjs';
import { shebangFlags } from './lib/ours.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'torrent.js');
const PY = '/usr/bin/python3';
const LT_PEER = join(ROOT, 'test', 'helpers', 'lt_peer.py');
const LT_ENC_PEER = join(ROOT, 'test', 'helpers', 'lt_enc_peer.py');
const ENCRYPTED = process.env.BENCH_DOWNLOAD_ENCRYPTED === '1';
const UTP = process.env.BENCH_DOWNLOAD_UTP === '1';
const LT_UTP_PEER = join(ROOT, 'test', 'helpers', 'lt_utp_peer.py');
const KEEP_DIR = join(ROOT, 'bench', '.work');

const MiB = 1 << 20;
const GiB = 1 << 30;
const RUNS = Number(process.env.BENCH_DOWNLOAD_RUNS ?? 3);
const CLIENT_TIMEOUT_MS = Number(process.env.BENCH_DOWNLOAD_TIMEOUT_S ?? 240) * 1000;
const PROFILE = process.env.BENCH_DOWNLOAD_PROFILE === '1';
/** Pause after dropping caches and warming the seeder, so page reporting to the host settles. */
const SETTLE_MS = Number(process.env.BENCH_DOWNLOAD_SETTLE_S ?? 2) * 1000;
/** The seeder hashes its payload before it says "ready": 1.5 GiB takes a few seconds. */
const SEEDER_READY_MS = 120_000;
/** Thresholds the issue names for "we fall short". */
const RSS_LIMIT_MIB = 150;

/** ~500 MiB in 20 files, 0.01 to 92.8 MiB, none a whole number of pieces, in 3 folders. */
function multiFiles() {
  const mib = [0.01, 0.5, 1.3, 2.7, 4.1, 6.6, 8.2, 10.9, 13.4, 16.0, 19.5, 22.2, 25.8, 28.1, 31.7, 36.3, 42.6, 51.9, 64.4, 92.8];
  const scale = 500 / mib.reduce((a, b) => a + b, 0);
  return mib.map((m, i) => ({ rel: `multi/d${i % 3}/file-${String(i).padStart(2, '0')}.bin`, bytes: Math.round(m * scale * MiB) + 7 * i + 1 }));
}

const TORRENTS = [
  { id: 'single', title: '1 GiB, 1 file, 1 MiB pieces', top: 'single.bin', files: [{ rel: 'single.bin', bytes: GiB }], pieceLength: MiB },
  { id: 'multi', title: '~500 MiB, 20 files, 1 MiB pieces', top: 'multi', files: multiFiles(), pieceLength: MiB },
];


function cachedMiB() {
  const m = readFileSync('/proc/meminfo', 'utf8').match(/^Cached:\s+(\d+) kB/m);
  return m ? Number(m[1]) / 1024 : NaN;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));



/**
 * BENCH_BEFORE_BIN=/path/to/an/older/checkout/bin/torrent.js adds that build as a client
 * ("before"), run interleaved with ours on the same swarm: a before/after in one run.
 */
const BEFORE_BIN = process.env.BENCH_BEFORE_BIN ?? null;

/**
 * Extra tables for the 1 GiB torrent, each from a seeder of its own, in the same bench run:
 * BENCH_DOWNLOAD_ENCRYPTED=1, a libtorrent seeder forcing RC4 both ways (us with the default
 * --encryption prefer, and a libtorrent leecher forcing RC4); BENCH_DOWNLOAD_UTP=1, a libtorrent
 * seeder with TCP disabled (us with --transport utp, and a libtorrent leecher over uTP only).
 */
function variants(list) {
  const us = list.find((c) => c.id === 'us');
  if (!us) return [];
  const before = list.find((c) => c.id === 'before');
  const withArgs = (id, name, extra, base = us) => ({ ...base, id, name, args: async (...a) => [...(await base.args(...a)), ...extra] });
  const out = [];
  if (ENCRYPTED) {
    out.push({
      id: 'rc4',
      title: 'from a seeder forcing RC4',
      seeder: (file, dir) => [LT_ENC_PEER, 'seed', file, dir, '--enc', 'forced'],
      clients: [
        withArgs('us-rc4', 'torrent (us), encrypted', []),
        ...(before ? [withArgs('before-rc4', 'torrent (before), encrypted', [], before)] : []),
        { name: 'libtorrent 2.0 (python), forced RC4', id: 'lt-rc4', cmd: PY, env: {}, reset: () => {},
          args: async (file, out, seedPort) => [LT_ENC_PEER, 'leech', file, out, '--enc', 'forced', '--peer', `127.0.0.1:${seedPort}`, '--timeout', String(CLIENT_TIMEOUT_MS / 1000)] },
      ],
    });
  }
  if (UTP) {
    out.push({
      id: 'utp',
      title: 'from a uTP-only seeder',
      seeder: (file, dir) => [LT_UTP_PEER, 'seed', file, dir],
      clients: [
        withArgs('us-utp', 'torrent (us), --transport utp', ['--transport', 'utp']),
        { name: 'libtorrent 2.0 (python), uTP only', id: 'lt-utp', cmd: PY, env: {}, reset: () => {},
          args: async (file, out, seedPort) => [LT_UTP_PEER, 'leech', file, out, '--peer', `127.0.0.1:${seedPort}`, '--timeout', String(CLIENT_TIMEOUT_MS / 1000)] },
      ],
    });
  }
  return out;
}

function clients(work) {
  const cacheDir = join(work, 'cache');
  const ours = (id, name, bin) => ({
    name,
    id,
    cmd: process.execPath,
    args: async (t, out, seedPort) => [...shebangFlags(bin), bin, 'download', t, '-o', out, '--port', '0', '--peer', `127.0.0.1:${seedPort}`, '--no-dht', '--quiet'],
    env: { TORRENT_CACHE_DIR: cacheDir },
    reset: () => rmSync(cacheDir, { recursive: true, force: true }),
  });
  return [
    ours('us', 'torrent (us)', BIN),
    ...(BEFORE_BIN ? [ours('before', 'torrent (before)', BEFORE_BIN)] : []),
    {
      name: 'aria2c',
      id: 'aria2c',
      cmd: 'aria2c',
      args: async (t, out) => [
        '--seed-time=0',
        '--bt-enable-lpd=false',
        '--enable-dht=false',
        '--enable-dht6=false',
        '--enable-peer-exchange=false',
        '--bt-tracker-connect-timeout=5',
        '--file-allocation=none',
        '--check-integrity=false',
        '--summary-interval=0',
        '--console-log-level=warn',
        `--listen-port=${await freeTcpPort()}`,
        `--dir=${out}`,
        t,
      ],
      env: {},
      reset: () => {},
    },
    {
      name: 'libtorrent 2.0 (python)',
      id: 'lt',
      cmd: PY,
      args: async (t, out, seedPort) => [LT_PEER, 'leech', t, out, '--port', '0', '--peer', `127.0.0.1:${seedPort}`, '--timeout', String(CLIENT_TIMEOUT_MS / 1000)],
      env: {},
      reset: () => {},
    },
  ];
}

/** Deletes the previous output, drops caches, warms the seeder's payload, settles. */
async function prepare(ctx, torrent, client) {
  rmSync(ctx.outDir, { recursive: true, force: true });
  client.reset();
  const drop = dropCaches();
  ctx.dropResults.add(drop);
  readFiles(torrent.files.map((f) => join(ctx.seedDir, f.rel)));
  mkdirSync(ctx.outDir, { recursive: true });
  await sleep(SETTLE_MS);
}

async function timedRun(ctx, torrent, client, extraNodeArgs = []) {
  await prepare(ctx, torrent, client);
  const args = await client.args(torrent.file, ctx.outDir, torrent.seedPort);
  const seederCpu0 = ctx.seederPid ? cpuSeconds(ctx.seederPid) : NaN;
  const r = await measure(client.cmd, [...extraNodeArgs, ...args], {
    env: client.env,
    timeoutMs: CLIENT_TIMEOUT_MS,
    timeFile: join(ctx.work, 'time.txt'),
  });
  // The seeder shares the 2 cores: what it spent serving this run says how much was left for us.
  const seederCpuS = ctx.seederPid ? cpuSeconds(ctx.seederPid) - seederCpu0 : NaN;
  let failure = null;
  if (r.timedOut) failure = `timed out after ${CLIENT_TIMEOUT_MS / 1000} s`;
  else if (r.code !== 0) failure = `exit ${r.code ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0] ?? ''}`;
  else failure = verifyOutput(ctx.outDir, torrent.files);
  rmSync(ctx.outDir, { recursive: true, force: true });
  const ltDone = r.stdout.match(/^done ([\d.]+)/m);
  return {
    client: client.id,
    failure,
    wallS: r.wallS,
    cpuS: r.userS + r.sysS,
    userS: r.userS,
    sysS: r.sysS,
    seederCpuS,
    rssMiB: r.maxRssKiB / 1024,
    anonMiB: r.peakAnonKiB / 1024,
    mbps: torrent.bytes / 1e6 / r.wallS,
    selfReportedS: ltDone ? Number(ltDone[1]) : null,
    stdout: r.stdout,
  };
}

function printTable(torrent, list, runs) {
  console.log(`\n## download: ${torrent.title} (${(torrent.bytes / MiB).toFixed(1)} MiB, ${torrent.files.length} file${torrent.files.length > 1 ? 's' : ''})\n`);
  console.log('median (min–max) of the runs that verified; seconds = process start to exit; MB = 10^6 bytes\n');
  console.log('| client | runs | seconds | MB/s | CPU s (user+sys) | CPU s/GiB | seeder CPU s | peak RSS MiB | peak anon RSS MiB |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const rows = {};
  for (const c of list) {
    const mine = runs.filter((r) => r.client === c.id);
    const { good, failed, runText } = tally(mine);
    const row = {
      wall: stats(good.map((r) => r.wallS)),
      mbps: stats(good.map((r) => r.mbps)),
      cpu: stats(good.map((r) => r.cpuS)),
      cpuPerGiB: stats(good.map((r) => r.cpuS / (torrent.bytes / GiB))),
      seederCpu: stats(good.map((r) => r.seederCpuS).filter((v) => Number.isFinite(v))),
      rss: stats(good.map((r) => r.rssMiB)),
      anon: stats(good.map((r) => r.anonMiB)),
      failed: failed.length,
    };
    rows[c.id] = row;
    console.log(`| ${c.name} | ${runText} | ${fmt(row.wall, 2)} | ${fmt(row.mbps, 0)} | ${fmt(row.cpu, 2)} | ${fmt(row.cpuPerGiB, 2)} | ${fmt(row.seederCpu, 2)} | ${fmt(row.rss, 0)} | ${fmt(row.anon, 0)} |`);
  }
  console.log('\n<details><summary>runs in order</summary>\n');
  console.log('| # | client | s | user s | sys s | seeder CPU s | RSS MiB | anon MiB | result |');
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  runs.forEach((r, i) => {
    const self = r.selfReportedS !== null ? ` (self-reported ${r.selfReportedS.toFixed(2)} s)` : '';
    console.log(
      `| ${i + 1} | ${r.client} | ${r.wallS.toFixed(2)} | ${r.userS.toFixed(2)} | ${r.sysS.toFixed(2)} | ${Number.isFinite(r.seederCpuS) ? r.seederCpuS.toFixed(2) : '-'} | ${r.rssMiB.toFixed(0)} | ${r.anonMiB.toFixed(0)} | ${r.failure ?? 'ok'}${self} |`,
    );
  });
  console.log('\n</details>');
  return rows;
}

function shortfalls(torrent, rows) {
  const us = rows.us;
  const out = [];
  if (!us.wall || us.failed > 0) return [`${torrent.id}: our client FAILED ${us.failed} run(s)`];
  const others = Object.entries(rows).filter(([id, r]) => id !== 'us' && r.mbps);
  const fastest = others.sort((a, b) => b[1].mbps.median - a[1].mbps.median)[0];
  if (fastest && us.mbps.median < fastest[1].mbps.median) {
    out.push(`${torrent.id}: ${us.mbps.median.toFixed(0)} MB/s, below ${fastest[0]} (${fastest[1].mbps.median.toFixed(0)} MB/s)`);
  }
  if (rows.aria2c?.cpuPerGiB && us.cpuPerGiB.median > rows.aria2c.cpuPerGiB.median) {
    out.push(`${torrent.id}: ${us.cpuPerGiB.median.toFixed(2)} CPU s/GiB, above aria2c (${rows.aria2c.cpuPerGiB.median.toFixed(2)})`);
  }
  if (us.rss.max > RSS_LIMIT_MIB) out.push(`${torrent.id}: peak RSS ${us.rss.max.toFixed(0)} MiB, above ${RSS_LIMIT_MIB} MiB`);
  return out;
}

async function profileOurs(ctx, torrent, us) {
  const profDir = join(ctx.work, 'prof');
  rmSync(profDir, { recursive: true, force: true });
  const r = await timedRun(ctx, torrent, us, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--trace-gc']);
  console.log(`\n## profile: ours on ${torrent.title} (--cpu-prof --trace-gc)\n`);
  console.log(`run: ${r.failure ?? 'ok'}, ${r.wallS.toFixed(2)} s wall, ${r.userS.toFixed(2)} s user, ${r.sysS.toFixed(2)} s sys, peak RSS ${r.rssMiB.toFixed(0)} MiB\n`);
  keepMainProfile(profDir, join(KEEP_DIR, `download-${torrent.id}.cpuprofile`));
  const gc = summariseTraceGc(r.stdout);
  console.log('| GC kind | count | pause ms |\n| --- | ---: | ---: |');
  for (const [k, v] of gc) console.log(`| ${k} | ${v.count} | ${v.pauseMs.toFixed(0)} |`);
}

export async function run() {
  const t0 = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'torrent-bench-download-'));
  const cleanup = () => rmSync(work, { recursive: true, force: true });
  const onSigint = () => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  let tracker = null;
  let seeder = null;
  try {
    const seedDir = join(work, 'seed');
    const ctx = { work, seedDir, outDir: join(work, 'out'), dropResults: new Set() };
    const cachedBefore = cachedMiB();
    const dropProbe = dropCaches();
    console.error(`bench download: drop_caches ${dropProbe} (page cache ${cachedBefore.toFixed(0)} -> ${cachedMiB().toFixed(0)} MiB)`);

    // Payload: random bytes, once per bench run.
    for (const t of TORRENTS) {
      for (const f of t.files) f.sha1 = writeRandomFile(join(seedDir, f.rel), f.bytes);
      t.bytes = t.files.reduce((a, f) => a + f.bytes, 0);
    }
    // Torrents carry the tracker URL, so its ports are chosen first; the whitelist follows.
    const httpPort = await freeTcpPort();
    const udpPort = await freeUdpPort();
    const trackerUrl = `http://127.0.0.1:${httpPort}/announce`;
    for (const t of TORRENTS) {
      t.file = join(work, `${t.id}.torrent`);
      const c = spawnSync(PY, [LT_PEER, 'create', join(seedDir, t.top), t.file, '--piece-length', String(t.pieceLength), '--tracker', trackerUrl], { encoding: 'utf8' });
      if (c.status !== 0) throw new Error(`lt_peer.py create failed: ${c.stderr}`);
      const h = spawnSync(PY, ['-c', 'import sys, libtorrent as lt; print(lt.torrent_info(sys.argv[1]).info_hashes().v1)', t.file], { encoding: 'utf8' });
      if (h.status !== 0) throw new Error(`info hash: ${h.stderr}`);
      t.infoHash = h.stdout.trim();
    }
    tracker = await startOpentracker(work, httpPort, udpPort, TORRENTS.map((t) => t.infoHash));
    console.error(`bench download: payload and torrents ready in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

    // BENCH_DOWNLOAD_CLIENTS=us,aria2c,lt picks some of them (default all).
    const only = process.env.BENCH_DOWNLOAD_CLIENTS?.split(',');
    const list = clients(work).filter((c) => !only || only.includes(c.id));
    const notes = [];
    const onlyTorrents = process.env.BENCH_DOWNLOAD_TORRENTS?.split(',');
    for (const t of TORRENTS.filter((x) => !onlyTorrents || onlyTorrents.includes(x.id))) {
      seeder = startService(PY, [LT_PEER, 'seed', t.file, seedDir, '--port', '0']);
      t.seedPort = Number((await seeder.waitFor(/ready (\d+)/, SEEDER_READY_MS))[1]);
      ctx.seederPid = seeder.child.pid;
      const runs = [];
      for (let i = 0; i < RUNS; i++) {
        for (const c of list) {
          const r = await timedRun(ctx, t, c);
          console.error(`bench download: ${t.id} ${c.id} #${i + 1}: ${r.failure ?? 'ok'} ${r.wallS.toFixed(2)} s, cpu ${r.cpuS.toFixed(2)} s, rss ${r.rssMiB.toFixed(0)} MiB`);
          runs.push(r);
        }
      }
      const rows = printTable(t, list, runs);
      notes.push(...shortfalls(t, rows));
      if (PROFILE && t.id === 'single') await profileOurs(ctx, t, list[0]);
      await seeder.stop();
      seeder = null;
      if (t.id === 'single') {
        for (const v of variants(list)) {
          seeder = startService(PY, v.seeder(t.file, seedDir));
          const vt = { ...t, seedPort: Number((await seeder.waitFor(/ready (\d+)/, SEEDER_READY_MS))[1]), title: `${t.title}, ${v.title}` };
          ctx.seederPid = seeder.child.pid;
          const vRuns = [];
          for (let i = 0; i < RUNS; i++) {
            for (const c of v.clients) {
              const r = await timedRun(ctx, vt, c);
              console.error(`bench download: ${v.id} ${c.id} #${i + 1}: ${r.failure ?? 'ok'} ${r.wallS.toFixed(2)} s, cpu ${r.cpuS.toFixed(2)} s, rss ${r.rssMiB.toFixed(0)} MiB`);
              vRuns.push(r);
            }
          }
          printTable(vt, v.clients, vRuns);
          await seeder.stop();
          seeder = null;
        }
      }
    }
    console.log(`\ncache state before each run: output deleted; drop_caches ${[...ctx.dropResults].join(', ')}; seeder payload read once; ${SETTLE_MS / 1000} s settle. Seeder: lt_peer.py seed (python3-libtorrent, high_performance_seed) on 127.0.0.1; 2 CPUs shared by seeder and leecher.`);
    console.log(`\n### where we fall short\n`);
    console.log(notes.length === 0 ? '- nowhere (speed >= fastest, CPU/GiB <= aria2c, RSS <= 150 MiB)' : notes.map((n) => `- ${n}`).join('\n'));
    console.error(`bench download: ${((Date.now() - t0) / 1000).toFixed(0)} s in all`);
  } finally {
    process.off('SIGINT', onSigint);
    if (seeder) await seeder.stop();
    if (tracker) await tracker.stop();
    cleanup();
  }
}
