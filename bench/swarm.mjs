/**
 * Bench case "swarm" (issue 15): one download from N python3-libtorrent seeders (default 16), each
 * reachable only through its own WAN-like link (bench/lib/relay.mjs: one-way delay and rate limit
 * per direction, a bounded queue, two links that cut every connection after DROP_AFTER_MS). Round
 * trips spread from 20 to 300 ms and rates from 1 to 8 MB/s (54.6 MB/s in all for 16). Every client
 * learns the same peers, the relays, from the bench's own HTTP tracker (aria2c can only be given a
 * tracker). Rows: us with default flags, us with --no-dht, an older build (BENCH_BEFORE_BIN),
 * aria2c, python3-libtorrent stock and tuned (bench/lib/lt_swarm.py), webtorrent-cli when
 * BENCH_WEBTORRENT_BIN points at its bin/cmd.js (the current 5.x needs Node 22 and a native WebRTC
 * binary fetched from GitHub; 4.1.0 installs from npm and runs on Node 20), with LSD and DHT off
 * (bench/lib/webtorrent-preload.cjs).
 *
 * Isolation (so every byte provably crossed a relay): the seeders never dial out, load a
 * trackerless copy of the torrent, have PEX off and listen on 127.0.0.1 ports only the relays
 * know; the relays listen on 127.0.1.<i> (one loopback address per peer, as distinct hosts would
 * be); each run's bytes delivered by the relays towards the client are counted and must be at
 * least the payload, or the run is marked failed.
 *
 * Our "default flags" row: the DHT is on, bootstrapped from a bench UDP socket that never answers
 * (a public router that cannot be reached, as on this machine, without leaving loopback).
 *
 * Fairness: before every run the output and our resume cache are deleted, caches dropped as
 * bench/download.mjs does, the seeders' payload read once, and the machine settles SETTLE_MS.
 * Clients are interleaved. Figures per run: wall (process start to exit), efficiency = payload ÷
 * total link capacity ÷ wall, CPU s (user+sys of the client's process tree, GNU time), peak RSS
 * of its largest process, relay bytes ÷ payload; and per link, bytes ÷ (rate × wall), which shows
 * the links a client left idle (too few requests in flight for the round trip, slow reconnects
 * after a cut, or a tail on one slow peer). The relays run in this process: their CPU is printed
 * too, since they share the 2 cores with the client and the seeders.
 *
 * Ceiling: a link's first byte arrives one connect round trip plus one delay after the client
 * starts, so even a client that keeps every link busy from its first millisecond scores a little
 * under 1 (raw TCP sinks on these 16 links, no cuts, got 0.94 of capacity over 6 s, the relays using 0.22
 * CPU s per second).
 *
 * Env: BENCH_SWARM_SEEDERS (16), BENCH_SWARM_MIB (512), BENCH_SWARM_RUNS (2), BENCH_SWARM_LAYOUTS
 * (single,multi), BENCH_SWARM_CLIENTS (us,us-nodht,before,aria2c,lt-stock,lt-tuned,webtorrent: a
 * subset), BENCH_SWARM_TIMEOUT_S (per client run, 240), BENCH_BEFORE_BIN, BENCH_WEBTORRENT_BIN,
 * BENCH_SWARM_PROFILE=1 (one more run of ours under --cpu-prof, summarised: default flags, or
 * --no-dht when only that row of ours runs),
 * BENCH_SWARM_RATE_SCALE (every link's rate times this, 1), BENCH_SWARM_OUR_ARGS (more flags for
 * our rows, space-separated), BENCH_SWARM_TRACE=1 (our rows print --json: connected peers shown).
 */
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keepMainProfile } from './lib/cpuprofile.mjs';
import { readFiles, verifyOutput, writeRandomFile } from './lib/payload.mjs';
import { freeTcpPort, measure, startService } from './lib/proc.mjs';
import { startRelay } from './lib/relay.mjs';
import { dropCaches, fmt, stats, tally } from './lib/stats.mjs';
import { startSwarmTracker } from './lib/swarm-tracker.mjs';
import { shebangFlags } from './lib/ours.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'torrent.js');
const PY = '/usr/bin/python3';
const LT_PEER = join(ROOT, 'test', 'helpers', 'lt_peer.py');
const LT_SWARM = join(ROOT, 'bench', 'lib', 'lt_swarm.py');
const WEBTORRENT_PRELOAD = join(ROOT, 'bench', 'lib', 'webtorrent-preload.cjs');
const KEEP_DIR = join(ROOT, 'bench', '.work');

const MiB = 1 << 20;
const GiB = 1 << 30;
const MB = 1e6;
const SEEDERS = Number(process.env.BENCH_SWARM_SEEDERS ?? 16);
const PAYLOAD_MIB = Number(process.env.BENCH_SWARM_MIB ?? 512);
const RUNS = Number(process.env.BENCH_SWARM_RUNS ?? 2);
const LAYOUTS = (process.env.BENCH_SWARM_LAYOUTS ?? 'single,multi').split(',');
const CLIENT_TIMEOUT_MS = Number(process.env.BENCH_SWARM_TIMEOUT_S ?? 240) * 1000;
const PROFILE = process.env.BENCH_SWARM_PROFILE === '1';
const BEFORE_BIN = process.env.BENCH_BEFORE_BIN ?? null;
const WEBTORRENT_BIN = process.env.BENCH_WEBTORRENT_BIN ?? null;
/** Every link's rate times this (bench/scale.mjs keeps the swarm's total while adding links). */
const RATE_SCALE = Number(process.env.BENCH_SWARM_RATE_SCALE ?? 1);
/** Our rows print --json; the connected peers of each progress event (every ~0.5 s) are shown per run. */
const TRACE = process.env.BENCH_SWARM_TRACE === '1';
/** More arguments for our rows (e.g. --max-peers for a swarm larger than our default cap). */
const OUR_ARGS = (process.env.BENCH_SWARM_OUR_ARGS ?? '').split(' ').filter(Boolean);

/** The issue's geometry: 256 KiB pieces, so 512 MiB is 2,048 pieces spread over 16 peers. */
const PIECE_LENGTH = 256 * 1024;
/** Link rates: 1 + 7 (i/(N-1))^2 MB/s, 1 to 8 MB/s, most links slow (54.6 MB/s for 16). */
const MIN_RATE_MBPS = 1;
const MAX_RATE_MBPS = 8;
/** Round trips spread evenly from 20 to 300 ms, shuffled against the rates. */
const MIN_RTT_MS = 20;
const MAX_RTT_MS = 300;
/** Two links cut every connection this long after it opens: peers vanishing mid-piece. */
const DROP_AFTER_MS = 4_000;
/** Pause after dropping caches and warming the seeders, so page reporting to the host settles. */
const SETTLE_MS = 2_000;
/** 16 seeders in seed_mode start in a second or two; generous for a loaded machine. */
const SEEDERS_READY_MS = 90_000;
/** Files in the multi-file layout (the issue's "512 MiB / 40 files"). */
const MULTI_FILES = 40;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function gcd(a, b) {
  return b === 0 ? a : gcd(b, a % b);
}

/** Link i: rate, round trip, whether it drops. Deterministic, so runs and builds compare. */
export function linkPlan(n) {
  const stride = [7, 5, 3, 1].find((s) => gcd(s, n) === 1);
  const drops = n >= 4 ? new Set([Math.floor(n / 3), Math.floor((2 * n) / 3)]) : new Set();
  return Array.from({ length: n }, (_, i) => {
    const x = n === 1 ? 1 : i / (n - 1);
    const y = n === 1 ? 0 : ((i * stride) % n) / (n - 1);
    return {
      rateBytesPerS: (MIN_RATE_MBPS + (MAX_RATE_MBPS - MIN_RATE_MBPS) * x * x) * MB * RATE_SCALE,
      rttMs: Math.round(MIN_RTT_MS + (MAX_RTT_MS - MIN_RTT_MS) * y),
      dropAfterMs: drops.has(i) ? DROP_AFTER_MS : null,
    };
  });
}

/** 40 files of varying sizes summing to about `mib`, none a whole number of pieces, in 4 folders. */
function multiFiles(mib) {
  const weights = Array.from({ length: MULTI_FILES }, (_, i) => 1 + ((i * 37) % 23));
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w, i) => ({
    rel: `multi/d${i % 4}/file-${String(i).padStart(2, '0')}.bin`,
    bytes: Math.round((w / total) * mib * MiB) + 13 * i + 1,
  }));
}

function layouts() {
  const all = [
    { id: 'single', title: `${PAYLOAD_MIB} MiB, 1 file`, top: 'single.bin', files: [{ rel: 'single.bin', bytes: PAYLOAD_MIB * MiB }] },
    { id: 'multi', title: `~${PAYLOAD_MIB} MiB, ${MULTI_FILES} files`, top: 'multi', files: multiFiles(PAYLOAD_MIB) },
  ];
  return all.filter((l) => LAYOUTS.includes(l.id));
}

function clients(ctx) {
  const cacheDir = join(ctx.work, 'cache');
  const ours = (id, name, bin, extra) => ({
    id,
    name,
    cmd: process.execPath,
    args: async (t, out) => [...shebangFlags(bin), bin, 'download', t, '-o', out, '--port', '0', TRACE ? '--json' : '--quiet', ...extra, ...OUR_ARGS],
    env: { TORRENT_CACHE_DIR: cacheDir },
    reset: () => rmSync(cacheDir, { recursive: true, force: true }),
  });
  const dhtBootstrap = ['--dht-bootstrap', `127.0.0.1:${ctx.silentDhtPort}`];
  const list = [
    ours('us', 'torrent (us), default flags', BIN, dhtBootstrap),
    ours('us-nodht', 'torrent (us), --no-dht', BIN, ['--no-dht']),
    ...(BEFORE_BIN ? [ours('before', 'torrent (before), default flags', BEFORE_BIN, dhtBootstrap)] : []),
    {
      id: 'aria2c',
      name: 'aria2c',
      cmd: 'aria2c',
      args: async (t, out) => [
        '--seed-time=0',
        '--bt-enable-lpd=false',
        '--enable-dht=false',
        '--enable-dht6=false',
        '--enable-peer-exchange=false',
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
    ...['stock', 'tuned'].map((profile) => ({
      id: `lt-${profile}`,
      name: `libtorrent 2.0 (python, ${profile})`,
      cmd: PY,
      args: async (t, out) => [LT_SWARM, 'leech', t, out, '--profile', profile, '--timeout', String(CLIENT_TIMEOUT_MS / 1000)],
      env: {},
      reset: () => {},
    })),
    ...(WEBTORRENT_BIN
      ? [
          {
            id: 'webtorrent',
            name: 'webtorrent-cli',
            cmd: process.execPath,
            args: async (t, out) => ['--require', WEBTORRENT_PRELOAD, WEBTORRENT_BIN, 'download', t, '--out', out, '--quiet', '--torrent-port', String(await freeTcpPort())],
            env: { WEBTORRENT_CLI_BIN: WEBTORRENT_BIN },
            reset: () => {},
          },
        ]
      : []),
  ];
  const only = process.env.BENCH_SWARM_CLIENTS?.split(',');
  return list.filter((c) => !only || only.includes(c.id));
}

function relayTotals(relays) {
  return relays.reduce(
    (a, r) => ({ down: a.down + r.stats.down, up: a.up + r.stats.up, connections: a.connections + r.stats.connections, drops: a.drops + r.stats.drops }),
    { down: 0, up: 0, connections: 0, drops: 0 },
  );
}

/** `peers` of each --json progress event in a run's stdout. */
function progressPeers(stdout) {
  const out = [];
  for (const line of stdout.split('\n')) {
    if (!line.includes('"progress"')) continue;
    try {
      out.push(JSON.parse(line).peers);
    } catch {
      // a torn last line
    }
  }
  return out;
}

async function timedRun(ctx, layout, client, extraNodeArgs = []) {
  rmSync(ctx.outDir, { recursive: true, force: true });
  client.reset();
  ctx.dropResults.add(dropCaches());
  readFiles(layout.files.map((f) => join(ctx.seedDir, f.rel)));
  mkdirSync(ctx.outDir, { recursive: true });
  await sleep(SETTLE_MS);
  const before = relayTotals(ctx.relays);
  const linkBefore = ctx.relays.map((r) => r.stats.down);
  const cpu0 = process.cpuUsage();
  const args = await client.args(layout.file, ctx.outDir);
  // Aggregate MB/s through the relays each second of the run: where the run lost time (a slow
  // start, a tail, idle links after a cut) shows as low seconds at its start or end.
  const timeline = [];
  let lastDown = before.down;
  const sampler = setInterval(() => {
    const now = relayTotals(ctx.relays).down;
    timeline.push((now - lastDown) / MB);
    lastDown = now;
  }, 1000);
  const r = await measure(client.cmd, [...extraNodeArgs, ...args], {
    env: client.env,
    timeoutMs: CLIENT_TIMEOUT_MS,
    timeFile: join(ctx.work, 'time.txt'),
  });
  clearInterval(sampler);
  const cpu = process.cpuUsage(cpu0);
  // Let sockets the client left half-open close before the next run's counters start.
  await sleep(200);
  const after = relayTotals(ctx.relays);
  const perLinkDown = ctx.relays.map((r, i) => r.stats.down - linkBefore[i]);
  const relay = { perLinkDown, down: after.down - before.down, up: after.up - before.up, connections: after.connections - before.connections, drops: after.drops - before.drops };
  let failure = null;
  if (r.timedOut) failure = `timed out after ${CLIENT_TIMEOUT_MS / 1000} s`;
  else if (r.code !== 0) failure = `exit ${r.code ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0] ?? ''}`;
  else failure = verifyOutput(ctx.outDir, layout.files);
  if (failure === null && relay.down < layout.bytes) failure = `only ${relay.down} bytes crossed the relays, payload ${layout.bytes}: a leak`;
  rmSync(ctx.outDir, { recursive: true, force: true });
  return {
    client: client.id,
    failure,
    wallS: r.wallS,
    cpuS: r.userS + r.sysS,
    userS: r.userS,
    sysS: r.sysS,
    rssMiB: r.maxRssKiB / 1024,
    efficiency: layout.bytes / ctx.capacityBytesPerS / r.wallS,
    relay,
    relayCpuS: (cpu.user + cpu.system) / 1e6,
    timeline,
    peersTrace: TRACE ? progressPeers(r.stdout ?? '') : null,
  };
}

function printTable(layout, list, runs, ctx) {
  const idealS = layout.bytes / ctx.capacityBytesPerS;
  console.log(`\n## swarm: ${layout.title}, ${(layout.bytes / MiB).toFixed(1)} MiB, ${PIECE_LENGTH / 1024} KiB pieces, ${SEEDERS} seeders behind WAN links\n`);
  console.log(`links: ${(ctx.capacityBytesPerS / MB).toFixed(1)} MB/s in all, round trips ${MIN_RTT_MS}-${MAX_RTT_MS} ms, ${ctx.plan.filter((l) => l.dropAfterMs).length} links cutting every connection after ${DROP_AFTER_MS / 1000} s; ideal wall ${idealS.toFixed(2)} s.`);
  console.log('median (min–max) of the runs that verified; efficiency = payload ÷ link capacity ÷ wall; relay ÷ payload = bytes the relays delivered to the client ÷ payload\n');
  console.log('| client | runs | wall s | efficiency | MB/s | CPU s (user+sys) | CPU s/GiB | peak RSS MiB | relay ÷ payload | connections (cut) |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const rows = {};
  for (const c of list) {
    const mine = runs.filter((r) => r.client === c.id);
    const { good, failed, runText } = tally(mine);
    const row = {
      wall: stats(good.map((r) => r.wallS)),
      eff: stats(good.map((r) => r.efficiency)),
      mbps: stats(good.map((r) => layout.bytes / MB / r.wallS)),
      cpu: stats(good.map((r) => r.cpuS)),
      cpuPerGiB: stats(good.map((r) => r.cpuS / (layout.bytes / GiB))),
      rss: stats(good.map((r) => r.rssMiB)),
      relay: stats(good.map((r) => r.relay.down / layout.bytes)),
      conns: stats(good.map((r) => r.relay.connections)),
      cuts: stats(good.map((r) => r.relay.drops)),
      failed: failed.length,
    };
    rows[c.id] = row;
    console.log(
      `| ${c.name} | ${runText} | ${fmt(row.wall, 2)} | ${fmt(row.eff, 2)} | ${fmt(row.mbps, 1)} | ${fmt(row.cpu, 2)} | ${fmt(row.cpuPerGiB, 2)} | ${fmt(row.rss, 0)} | ${fmt(row.relay, 4)} | ${fmt(row.conns, 0)} (${fmt(row.cuts, 0)}) |`,
    );
  }
  console.log('\n<details><summary>runs in order</summary>\n');
  console.log('| # | client | s | efficiency | user s | sys s | RSS MiB | relay down bytes | relay up bytes | relay CPU s | result |');
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  runs.forEach((r, i) => {
    console.log(
      `| ${i + 1} | ${r.client} | ${r.wallS.toFixed(2)} | ${r.efficiency.toFixed(3)} | ${r.userS.toFixed(2)} | ${r.sysS.toFixed(2)} | ${r.rssMiB.toFixed(0)} | ${r.relay.down} | ${r.relay.up} | ${r.relayCpuS.toFixed(2)} | ${r.failure ?? 'ok'} |`,
    );
  });
  console.log('\n</details>');
  // Which links carried their share: a link's bytes ÷ (its rate × the run's wall time). A link
  // below the others was idle part of the run (too few requests queued for its round trip, or
  // nothing left to ask it for at the end); above 1 cannot happen.
  console.log('\n<details><summary>link use per run (bytes ÷ (rate × wall)); header: MB/s / round trip ms, * = cuts connections</summary>\n');
  console.log(`| # | client | ${ctx.plan.map((l) => `${(l.rateBytesPerS / MB).toFixed(1)}/${l.rttMs}${l.dropAfterMs ? '*' : ''}`).join(' | ')} |`);
  console.log(`| ---: | --- | ${ctx.plan.map(() => '---:').join(' | ')} |`);
  runs.forEach((r, i) => {
    const cells = r.relay.perLinkDown.map((b, j) => (b / (ctx.plan[j].rateBytesPerS * r.wallS)).toFixed(2));
    console.log(`| ${i + 1} | ${r.client} | ${cells.join(' | ')} |`);
  });
  console.log('\n</details>');
  console.log('\n<details><summary>MB/s through all relays, second by second</summary>\n');
  runs.forEach((r, i) => console.log(`${i + 1} ${r.client}: ${r.timeline.map((m) => m.toFixed(0)).join(' ')}`));
  console.log('\n</details>');
  if (runs.some((r) => r.peersTrace)) {
    console.log('\n<details><summary>our connected peers, progress event by progress event (~0.5 s apart)</summary>\n');
    runs.forEach((r, i) => r.peersTrace && console.log(`${i + 1} ${r.client}: ${r.peersTrace.join(' ')}`));
    console.log('\n</details>');
  }
  return rows;
}

function shortfalls(layout, rows) {
  const ourId = rows.us ? 'us' : 'us-nodht';
  const us = rows[ourId];
  if (!us) return [`${layout.id}: no row of ours was run, nothing to judge`];
  if (!us.eff || us.failed > 0) return [`${layout.id}: our client FAILED ${us.failed} run(s)`];
  const out = [];
  if (us.eff.median < 0.95) out.push(`${layout.id}: efficiency ${us.eff.median.toFixed(2)}, below the 0.95 target`);
  for (const [id, r] of Object.entries(rows)) {
    if (id === ourId || !r.eff) continue;
    if (r.eff.median > us.eff.median) out.push(`${layout.id}: ${id} more efficient (${r.eff.median.toFixed(2)} vs ${us.eff.median.toFixed(2)})`);
  }
  if (rows.aria2c?.cpu && us.cpu.median > rows.aria2c.cpu.median) {
    out.push(`${layout.id}: ${us.cpu.median.toFixed(2)} CPU s, above aria2c (${rows.aria2c.cpu.median.toFixed(2)})`);
  }
  return out;
}

async function profileOurs(ctx, layout, us) {
  const profDir = join(ctx.work, 'prof');
  rmSync(profDir, { recursive: true, force: true });
  const r = await timedRun(ctx, layout, us, ['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
  console.log(`\n## profile: ours on ${layout.title} (--cpu-prof)\n`);
  console.log(`run: ${r.failure ?? 'ok'}, ${r.wallS.toFixed(2)} s wall, ${r.userS.toFixed(2)} s user, ${r.sysS.toFixed(2)} s sys\n`);
  keepMainProfile(profDir, join(KEEP_DIR, `swarm-${layout.id}.cpuprofile`));
}

/** A UDP socket that swallows every datagram: a DHT bootstrap router that cannot be reached. */
async function startSilentUdp() {
  const s = dgram.createSocket('udp4');
  s.on('message', () => {});
  await new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, '127.0.0.1', resolve);
  });
  return s;
}

export async function run() {
  const t0 = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'torrent-bench-swarm-'));
  const cleanup = () => rmSync(work, { recursive: true, force: true });
  // process.exit runs bench/lib/proc.mjs's exit hook, which kills every child's process group.
  const onSigint = () => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);
  let tracker = null;
  let seeders = null;
  let silent = null;
  const relays = [];
  try {
    const plan = linkPlan(SEEDERS);
    const capacityBytesPerS = plan.reduce((a, l) => a + l.rateBytesPerS, 0);
    silent = await startSilentUdp();
    const ctx = { work, seedDir: join(work, 'seed'), outDir: join(work, 'out'), dropResults: new Set(), relays, plan, capacityBytesPerS, silentDhtPort: silent.address().port };
    tracker = await startSwarmTracker('127.0.0.1');
    const list = clients(ctx);
    const notes = [];
    for (const layout of layouts()) {
      for (const f of layout.files) f.sha1 = writeRandomFile(join(ctx.seedDir, f.rel), f.bytes);
      layout.bytes = layout.files.reduce((a, f) => a + f.bytes, 0);
      layout.file = join(work, `${layout.id}.torrent`);
      const c = spawnSync(PY, [LT_PEER, 'create', join(ctx.seedDir, layout.top), layout.file, '--piece-length', String(PIECE_LENGTH), '--tracker', tracker.url], { encoding: 'utf8' });
      if (c.status !== 0) throw new Error(`lt_peer.py create failed: ${c.stderr}`);
      seeders = startService(PY, [LT_SWARM, 'seeders', layout.file, ctx.seedDir, String(SEEDERS)]);
      const ports = (await seeders.waitFor(/ready ([\d,]+)/, SEEDERS_READY_MS))[1].split(',').map(Number);
      for (let i = 0; i < SEEDERS; i++) {
        relays.push(await startRelay({ host: `127.0.1.${i + 1}`, target: { host: '127.0.0.1', port: ports[i] }, ...plan[i] }));
      }
      tracker.setPeers(relays.map((r) => ({ host: r.host, port: r.port })));
      console.error(`bench swarm: ${layout.id}: payload, torrent, ${SEEDERS} seeders and relays ready at ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      const runs = [];
      for (let i = 0; i < RUNS; i++) {
        for (const client of list) {
          const r = await timedRun(ctx, layout, client);
          console.error(
            `bench swarm: ${layout.id} ${client.id} #${i + 1}: ${r.failure ?? 'ok'} ${r.wallS.toFixed(2)} s, eff ${r.efficiency.toFixed(2)}, cpu ${r.cpuS.toFixed(2)} s, rss ${r.rssMiB.toFixed(0)} MiB, relays ${(r.relay.down / layout.bytes).toFixed(4)}x`,
          );
          runs.push(r);
        }
      }
      const rows = printTable(layout, list, runs, ctx);
      notes.push(...shortfalls(layout, rows));
      const us = list.find((c) => c.id === 'us') ?? list.find((c) => c.id === 'us-nodht');
      if (PROFILE && us) await profileOurs(ctx, layout, us);
      await Promise.all(relays.map((r) => r.close()));
      relays.length = 0;
      await seeders.stop();
      seeders = null;
      rmSync(ctx.seedDir, { recursive: true, force: true });
    }
    console.log(
      `\ncache state before each run: output deleted; drop_caches ${[...ctx.dropResults].join(', ')}; seeders' payload read once; ${SETTLE_MS / 1000} s settle. Seeders: lt_swarm.py (python3-libtorrent, high_performance_seed, seed_mode, no outgoing connections, no PEX), one process; relays in the bench process. 2 CPUs shared by seeders, relays and client. Tracker announces answered: ${tracker.announces()}.`,
    );
    console.log(`\n### where we fall short\n`);
    console.log(notes.length === 0 ? '- nowhere (efficiency >= 0.95 and ahead of every client, CPU <= aria2c)' : notes.map((n) => `- ${n}`).join('\n'));
    console.error(`bench swarm: ${((Date.now() - t0) / 1000).toFixed(0)} s in all`);
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    await Promise.all(relays.map((r) => r.close()));
    if (seeders) await seeders.stop();
    if (tracker) await tracker.close();
    if (silent) silent.close();
    cleanup();
  }
}
