/**
 * Bench case "upload": how fast OUR seeder (`bin/torrent.js seed`) feeds one leecher on loopback,
 * beside a python3-libtorrent seeder (lt_peer.py seed: high_performance_seed, no rate limits)
 * feeding the same leecher. Seeders: us, libtorrent. Leechers: aria2c (finds the seeder through
 * opentracker: it cannot be handed a peer) and python3-libtorrent (lt_peer.py leech --peer). One
 * torrent: 1 GiB, one file, 1 MiB pieces, made once by lt_peer.py create with the tracker URL.
 *
 * Only one seeder runs at a time (aria2c takes whatever peers the tracker lists). Before every
 * timed run: the previous output is deleted, caches are dropped when the sandbox allows it, the
 * seeder's payload is read once (page cache warm), the machine settles for SETTLE_MS, then the
 * seeder is started and waited for (ours: stderr "seeding … on port N"; libtorrent: "ready N"),
 * and the tracker is polled until it lists a seed. Order is interleaved over the four
 * (seeder, leecher) pairs.
 * Measured: the leecher's wall time (GNU time, process start to exit) -> MB/s (10^6 bytes/s); the
 * SEEDER's CPU seconds during that window (/proc/<pid>/stat utime+stime, before and after) and its
 * peak RSS (VmHWM when the transfer ends: its whole life, start-up check included; libtorrent 2.0
 * mmaps its files, so its RSS counts payload pages). The leecher's output is checked by size and
 * SHA-1, then deleted; the seeder is stopped.
 *
 * Env: BENCH_UPLOAD_RUNS (default 2), BENCH_UPLOAD_TIMEOUT_S (per leecher run, default 120),
 * BENCH_UPLOAD_PERF=1 (one more run, ours -> libtorrent, our seeder under `node --perf-basic-prof`
 * and `perf record -g -p <pid>` for the transfer; `perf report` summary printed),
 * BENCH_UPLOAD_PROFILE=1 (one more run, ours -> libtorrent, our seeder under `node --cpu-prof`:
 * its main thread's profile summarised by bench/lib/cpuprofile.mjs and kept in bench/.work),
 * BENCH_UPLOAD_STRACE=1 (one more run, ours -> libtorrent, `strace -f -p <pid>` over the
 * transfer: calls per syscall, and bytes per read and write; strace slows the seeder, so its time
 * says nothing). BENCH_UPLOAD_RUNS=0 with either runs only the extra run.
 * BENCH_UPLOAD_BASELINE=<another built checkout>: its seeder runs too, in the same rounds.
 * BENCH_UPLOAD_PLAINTEXT=1: ours with --encryption off runs too (see PLAINTEXT), and the baseline's
 * too when there is one. BENCH_UPLOAD_SEEDERS=<ids,...>: only those seeders.
 */
import { spawn, spawnSync } from 'node:child_process';
import { keepMainProfile } from './lib/cpuprofile.mjs';
import { dropCaches, fmt, stats, tally } from './lib/stats.mjs';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOpentracker } from './lib/opentracker.mjs';
import { readFiles, verifyOutput, writeRandomFile } from './lib/payload.mjs';
import { freeTcpPort, freeUdpPort, measure, startService } from './lib/proc.mjs';
import { cpuSeconds, memoryKiB } from './lib/procstat.mjs';
import { shebangFlags } from './lib/ours.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const PY = '/usr/bin/python3';
const LT_PEER = join(ROOT, 'test', 'helpers', 'lt_peer.py');

const MiB = 1 << 20;
const GiB = 1 << 30;
const RUNS = Number(process.env.BENCH_UPLOAD_RUNS ?? 2);
const LEECH_TIMEOUT_MS = Number(process.env.BENCH_UPLOAD_TIMEOUT_S ?? 120) * 1000;
const PERF = process.env.BENCH_UPLOAD_PERF === '1';
const PROFILE = process.env.BENCH_UPLOAD_PROFILE === '1';
const STRACE = process.env.BENCH_UPLOAD_STRACE === '1';
const KEEP_DIR = join(ROOT, 'bench', '.work');
/** Another built checkout: its seeder runs in the same rounds, a before/after within one run. */
const BASELINE = process.env.BENCH_UPLOAD_BASELINE || null;
/**
 * Our seeder with --encryption off runs too: both leechers offer MSE with RC4 or plaintext, and
 * by default we pick RC4 where libtorrent's seeder (prefer_rc4 off) picks plaintext.
 */
const PLAINTEXT = process.env.BENCH_UPLOAD_PLAINTEXT === '1';
/** BENCH_UPLOAD_SEEDERS=us,plain,lt: only these seeders (ids: us, base, plain, base-plain, lt). */
const ONLY = process.env.BENCH_UPLOAD_SEEDERS ? process.env.BENCH_UPLOAD_SEEDERS.split(',') : null;
/** Pause after dropping caches and warming the seeder, so page reporting to the host settles. */
const SETTLE_MS = 2_000;
/** Either seeder checks 1 GiB before it says it is seeding: a few seconds. */
const SEEDER_READY_MS = 60_000;
/** The seeder announces as it starts; the tracker should list it within a second. */
const TRACKER_LIST_MS = 10_000;

const TORRENT = { id: 'single', title: '1 GiB, 1 file, 1 MiB pieces', files: [{ rel: 'single.bin', bytes: GiB }], pieceLength: MiB, bytes: GiB };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));




/** Resolves with the first match of `pattern` in the service's stdout+stderr; rejects if it exits first. */
async function waitForOutput(svc, pattern, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = svc.output().match(pattern);
    if (m) return m;
    if (svc.child.exitCode !== null || svc.child.signalCode !== null) {
      throw new Error(`seeder exited before printing ${pattern}:\n${svc.output().slice(-2000)}`);
    }
    if (Date.now() > deadline) throw new Error(`seeder did not print ${pattern} within ${timeoutMs} ms:\n${svc.output().slice(-2000)}`);
    await sleep(50);
  }
}

/** `complete` (seeds) the tracker lists for the info hash, or null when the scrape fails. */
function scrapeSeeds(httpPort, infoHashHex) {
  const hash = infoHashHex.match(/../g).map((b) => `%${b}`).join('');
  return new Promise((resolve) => {
    const req = http.get(`http://127.0.0.1:${httpPort}/scrape?info_hash=${hash}`, { agent: false, timeout: 1000 }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const m = Buffer.concat(chunks).toString('latin1').match(/8:completei(\d+)e/);
        resolve(m ? Number(m[1]) : null);
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

/** Our seeder from the checkout at `root` (its bin/torrent.js, its own resume cache). */
function ourSeeder(work, id, name, root, extraArgs = []) {
  return {
    id,
    name,
    start: (t, seedDir, nodeArgs = []) =>
      startService(process.execPath, [...nodeArgs, ...shebangFlags(join(root, 'bin', 'torrent.js')), join(root, 'bin', 'torrent.js'), 'seed', t, seedDir, '--port', '0', '--no-dht', ...extraArgs], {
        env: { TORRENT_CACHE_DIR: join(work, `seed-cache-${id}`) },
      }),
    ready: /seeding .* on port (\d+)/,
    // SIGINT is its graceful stop (announces `stopped`); stop() follows with SIGTERM/SIGKILL if needed.
    stop: async (svc) => {
      try {
        process.kill(svc.child.pid, 'SIGINT');
      } catch {
        /* gone */
      }
      await svc.stop();
    },
  };
}

function seeders(work) {
  return [
    ourSeeder(work, 'us', 'torrent (us)', ROOT),
    ...(BASELINE ? [ourSeeder(work, 'base', `torrent (baseline ${BASELINE})`, BASELINE)] : []),
    ...(PLAINTEXT ? [ourSeeder(work, 'plain', 'torrent (us, --encryption off)', ROOT, ['--encryption', 'off'])] : []),
    ...(PLAINTEXT && BASELINE ? [ourSeeder(work, 'base-plain', 'torrent (baseline, --encryption off)', BASELINE, ['--encryption', 'off'])] : []),
    {
      id: 'lt',
      name: 'libtorrent 2.0 (python)',
      start: (t, seedDir) => startService(PY, [LT_PEER, 'seed', t, seedDir, '--port', '0']),
      ready: /^ready (\d+)/m,
      stop: (svc) => svc.stop(), // stdin closes: it leaves its loop and exits
    },
  ];
}

function leechers() {
  return [
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
        '--bt-tracker-connect-timeout=5',
        '--file-allocation=none',
        '--check-integrity=false',
        '--summary-interval=0',
        '--console-log-level=warn',
        `--listen-port=${await freeTcpPort()}`,
        `--dir=${out}`,
        t,
      ],
    },
    {
      id: 'lt',
      name: 'libtorrent 2.0 (python)',
      cmd: PY,
      args: async (t, out, seedPort) => [LT_PEER, 'leech', t, out, '--port', '0', '--peer', `127.0.0.1:${seedPort}`, '--timeout', String(LEECH_TIMEOUT_MS / 1000)],
    },
  ];
}

/**
 * One timed run: prepare caches, start the seeder, wait for it (and for the tracker to list a
 * seed), run the leecher under GNU time while reading the seeder's CPU before and after, verify,
 * clean up. `during(pid)` (optional) is called as the leecher starts; the function it returns is
 * awaited after the leecher ends.
 */
async function timedRun(ctx, seeder, leecher, { nodeArgs = [], during } = {}) {
  rmSync(ctx.outDir, { recursive: true, force: true });
  ctx.dropResults.add(dropCaches());
  readFiles(TORRENT.files.map((f) => join(ctx.seedDir, f.rel)));
  mkdirSync(ctx.outDir, { recursive: true });
  await sleep(SETTLE_MS);

  const svc = seeder.start(TORRENT.file, ctx.seedDir, nodeArgs);
  ctx.current = { svc, seeder };
  const pid = svc.child.pid;
  try {
    const seedPort = Number((await waitForOutput(svc, seeder.ready, SEEDER_READY_MS))[1]);
    let listed = null;
    for (const end = Date.now() + TRACKER_LIST_MS; Date.now() < end; await sleep(100)) {
      listed = await scrapeSeeds(ctx.httpPort, TORRENT.infoHash);
      if (listed !== null && listed >= 1) break;
    }
    const args = await leecher.args(TORRENT.file, ctx.outDir, seedPort);
    const cpu0 = cpuSeconds(pid);
    const stopSampler = during?.(pid);
    const r = await measure(leecher.cmd, args, { timeoutMs: LEECH_TIMEOUT_MS, timeFile: join(ctx.work, 'time.txt') });
    const cpu1 = cpuSeconds(pid);
    const mem = memoryKiB(pid);
    const alive = svc.child.exitCode === null && svc.child.signalCode === null;
    await stopSampler?.();
    let failure = null;
    if (!alive) failure = `seeder exited: ${svc.output().trim().split('\n').slice(-1)[0] ?? ''}`;
    else if (r.timedOut) failure = `timed out after ${LEECH_TIMEOUT_MS / 1000} s`;
    else if (r.code !== 0) failure = `leecher exit ${r.code ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0] ?? ''}`;
    else failure = verifyOutput(ctx.outDir, TORRENT.files);
    const ltDone = r.stdout.match(/^done ([\d.]+)/m);
    return {
      seeder: seeder.id,
      seederPid: pid,
      leecher: leecher.id,
      failure,
      seedPort,
      trackerSeeds: listed,
      wallS: r.wallS,
      mbps: TORRENT.bytes / 1e6 / r.wallS,
      seederCpuS: cpu1 - cpu0,
      seederHwmMiB: mem.hwmKiB / 1024,
      seederAnonMiB: mem.anonKiB / 1024,
      leecherCpuS: r.userS + r.sysS,
      selfReportedS: ltDone ? Number(ltDone[1]) : null,
    };
  } finally {
    await seeder.stop(svc);
    ctx.current = null;
    rmSync(ctx.outDir, { recursive: true, force: true });
  }
}

function printTable(seederList, leecherList, runs) {
  console.log(`\n## upload: ${TORRENT.title} (${(TORRENT.bytes / MiB).toFixed(0)} MiB), one seeder -> one leecher on 127.0.0.1\n`);
  console.log('median (min–max) of the runs that verified; seconds = leecher process start to exit; MB = 10^6 bytes; seeder CPU = its user+sys during that window; peak RSS = seeder VmHWM\n');
  console.log('| seeder | leecher | runs | seconds | MB/s | seeder CPU s | seeder peak RSS MiB |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: |');
  const rows = {};
  for (const l of leecherList) {
    for (const s of seederList) {
      const mine = runs.filter((r) => r.seeder === s.id && r.leecher === l.id);
      const { good, runText } = tally(mine);
      const row = {
        wall: stats(good.map((r) => r.wallS)),
        mbps: stats(good.map((r) => r.mbps)),
        cpu: stats(good.map((r) => r.seederCpuS)),
        hwm: stats(good.map((r) => r.seederHwmMiB)),
      };
      rows[`${s.id}/${l.id}`] = row;
      console.log(`| ${s.name} | ${l.name} | ${runText} | ${fmt(row.wall, 2)} | ${fmt(row.mbps, 0)} | ${fmt(row.cpu, 2)} | ${fmt(row.hwm, 0)} |`);
    }
  }
  console.log('');
  for (const l of leecherList) {
    for (const s of seederList.filter((x) => x.id !== 'lt')) {
      const us = rows[`${s.id}/${l.id}`];
      const lt = rows[`lt/${l.id}`];
      if (us?.mbps && lt?.mbps) {
        const ratio = us.mbps.median / lt.mbps.median;
        const verdict = ratio >= 0.95 ? (ratio > 1.05 ? 'faster than' : 'on par with') : 'slower than';
        const cpu = us.cpu && lt.cpu ? `, seeder CPU ${us.cpu.median.toFixed(2)} s vs ${lt.cpu.median.toFixed(2)} s` : '';
        console.log(`- leecher ${l.name}: ${s.name} ${us.mbps.median.toFixed(0)} MB/s vs libtorrent's ${lt.mbps.median.toFixed(0)} MB/s = ${(100 * ratio).toFixed(0)}% (${verdict} libtorrent)${cpu}`);
      } else {
        console.log(`- leecher ${l.name}: ${s.name}: no comparison (a seeder had no verified run)`);
      }
    }
  }
  console.log('\n<details><summary>runs in order</summary>\n');
  console.log('| # | seeder | leecher | s | MB/s | seeder CPU s | seeder VmHWM MiB | seeder RssAnon MiB (end) | leecher CPU s | tracker seeds | result |');
  console.log('| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  runs.forEach((r, i) => {
    const self = r.selfReportedS !== null ? ` (self-reported ${r.selfReportedS.toFixed(2)} s)` : '';
    console.log(
      `| ${i + 1} | ${r.seeder} | ${r.leecher} | ${r.wallS.toFixed(2)} | ${r.mbps.toFixed(0)} | ${r.seederCpuS.toFixed(2)} | ${r.seederHwmMiB.toFixed(0)} | ${r.seederAnonMiB.toFixed(0)} | ${r.leecherCpuS.toFixed(2)} | ${r.trackerSeeds ?? '?'} | ${r.failure ?? 'ok'}${self} |`,
    );
  });
  console.log('\n</details>');
}

/**
 * One more run of ours -> libtorrent: our seeder's node under --perf-basic-prof (JIT frames get
 * names), `perf record -g -p <pid>` for the transfer, then the top symbols by self time.
 */
async function profileOurs(ctx, us, lt) {
  const data = join(ctx.work, 'perf.data');
  const during = (pid) => {
    const perf = spawn('perf', ['record', '-g', '-o', data, '-p', String(pid)], { stdio: 'ignore' });
    return () =>
      new Promise((resolve) => {
        if (perf.exitCode !== null) return resolve();
        perf.once('exit', resolve);
        perf.kill('SIGINT'); // perf writes its file and exits
        setTimeout(() => perf.kill('SIGKILL'), 10_000).unref();
      });
  };
  const r = await timedRun(ctx, us, lt, { nodeArgs: ['--perf-basic-prof'], during });
  console.log(`\n## perf: our seeder -> libtorrent leecher (node --perf-basic-prof, perf record -g -p)\n`);
  console.log(`run: ${r.failure ?? 'ok'}, ${r.wallS.toFixed(2)} s, ${r.mbps.toFixed(0)} MB/s, seeder CPU ${r.seederCpuS.toFixed(2)} s\n`);
  const rep = spawnSync('perf', ['report', '-i', data, '--no-children', '--sort', 'symbol', '--stdio', '-g', 'none'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const lines = (rep.stdout ?? '')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.replace(/\s+-\s+-\s*$/, '').trimEnd().slice(0, 160)) // perf pads every row to its widest symbol
    .slice(0, 40);
  console.log('```\n' + (lines.join('\n') || rep.stderr) + '\n```');
  for (const f of [data, `${data}.old`]) rmSync(f, { force: true });
  rmSync(`/tmp/perf-${r.seederPid}.map`, { force: true });
}

/**
 * One more run of ours -> libtorrent under `node --cpu-prof`. The seeder writes its profile as it
 * exits; the main thread's (the hashing workers write their own) is summarised. It covers the
 * seeder's whole life: the start-up check's main-thread share is in it too.
 */
async function cpuProfileOurs(ctx, us, lt) {
  const profDir = join(ctx.work, 'prof');
  rmSync(profDir, { recursive: true, force: true });
  const r = await timedRun(ctx, us, lt, { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] });
  console.log(`\n## profile: our seeder -> libtorrent leecher (node --cpu-prof)\n`);
  console.log(`run: ${r.failure ?? 'ok'}, ${r.wallS.toFixed(2)} s, ${r.mbps.toFixed(0)} MB/s, seeder CPU ${r.seederCpuS.toFixed(2)} s\n`);
  keepMainProfile(profDir, join(KEEP_DIR, 'upload-seeder.cpuprofile'));
}

/**
 * One more run of ours -> libtorrent with `strace -f -p <pid>` attached for the transfer (one
 * tracer: a process has only one): calls per syscall, and bytes per read/write call and fd.
 */
async function straceOurs(ctx, us, lt) {
  const trace = join(ctx.work, 'strace.txt');
  const during = (pid) => {
    const st = spawn('strace', ['-f', '-qq', '-e', 'signal=none', '-s', '0', '-o', trace, '-p', String(pid)], { stdio: 'ignore' });
    return () =>
      new Promise((resolve) => {
        if (st.exitCode !== null) return resolve();
        st.once('exit', resolve);
        st.kill('SIGINT'); // strace detaches and flushes its file
        setTimeout(() => st.kill('SIGKILL'), 10_000).unref();
      });
  };
  const r = await timedRun(ctx, us, lt, { during });
  console.log(`\n## strace: our seeder -> libtorrent leecher (strace -f -p; slowed by strace, its time says nothing)\n`);
  console.log(`run: ${r.failure ?? 'ok'}, ${r.wallS.toFixed(2)} s, ${r.mbps.toFixed(0)} MB/s, seeder CPU ${r.seederCpuS.toFixed(2)} s\n`);
  if (!existsSync(trace)) {
    console.log('no strace output');
    return;
  }
  const calls = new Map();
  const io = new Map();
  // "<pid> name(args...) = result", or split by another thread: "<... name resumed>...) = result".
  for (const line of readFileSync(trace, 'utf8').split('\n')) {
    const m = line.match(/^\d+\s+(?:<\.\.\. (\w+) resumed>|(\w+)\((\d+)?)(?:.*\)\s+=\s+(-?\d+))?/);
    if (!m || line.includes('<unfinished ...>')) continue;
    const name = m[1] ?? m[2];
    calls.set(name, (calls.get(name) ?? 0) + 1);
    const bytes = Number(m[4]);
    if (/^(read|pread64|preadv2?|write|writev|pwrite64|pwritev2?)$/.test(name) && bytes >= 0) {
      const k = m[3] !== undefined ? `${name} fd ${m[3]}` : `${name} (resumed)`;
      const e = io.get(k) ?? { n: 0, bytes: 0 };
      e.n++;
      e.bytes += bytes;
      io.set(k, e);
    }
  }
  console.log('| syscall | calls |\n| --- | ---: |');
  for (const [k, n] of [...calls].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`| ${k} | ${n} |`);
  console.log('\n| call | count | bytes | bytes per call |\n| --- | ---: | ---: | ---: |');
  for (const [k, e] of [...io].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 12)) {
    console.log(`| ${k} | ${e.n} | ${e.bytes} | ${(e.bytes / e.n).toFixed(0)} |`);
  }
  rmSync(trace, { force: true });
}

export async function run() {
  const t0 = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'torrent-bench-upload-'));
  const cleanup = () => rmSync(work, { recursive: true, force: true });
  const ctx = { work, seedDir: join(work, 'seed'), outDir: join(work, 'out'), dropResults: new Set(), current: null };
  let tracker = null;
  const onSigint = async () => {
    if (ctx.current) await ctx.current.seeder.stop(ctx.current.svc);
    if (tracker) await tracker.stop();
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  try {
    console.error(`bench upload: drop_caches ${dropCaches()}`);
    const f = TORRENT.files[0];
    f.sha1 = writeRandomFile(join(ctx.seedDir, f.rel), f.bytes);
    ctx.httpPort = await freeTcpPort();
    const udpPort = await freeUdpPort();
    const trackerUrl = `http://127.0.0.1:${ctx.httpPort}/announce`;
    TORRENT.file = join(work, `${TORRENT.id}.torrent`);
    const c = spawnSync(PY, [LT_PEER, 'create', join(ctx.seedDir, f.rel), TORRENT.file, '--piece-length', String(TORRENT.pieceLength), '--tracker', trackerUrl], { encoding: 'utf8' });
    if (c.status !== 0) throw new Error(`lt_peer.py create failed: ${c.stderr}`);
    const h = spawnSync(PY, ['-c', 'import sys, libtorrent as lt; print(lt.torrent_info(sys.argv[1]).info_hashes().v1)', TORRENT.file], { encoding: 'utf8' });
    if (h.status !== 0) throw new Error(`info hash: ${h.stderr}`);
    TORRENT.infoHash = h.stdout.trim();
    tracker = await startOpentracker(work, ctx.httpPort, udpPort, [TORRENT.infoHash]);
    console.error(`bench upload: payload and torrent ready in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

    const seederList = seeders(work).filter((s) => ONLY === null || ONLY.includes(s.id));
    const leecherList = leechers();
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      for (const l of leecherList) {
        for (const s of seederList) {
          const r = await timedRun(ctx, s, l);
          console.error(
            `bench upload: ${s.id} -> ${l.id} #${i + 1}: ${r.failure ?? 'ok'} ${r.wallS.toFixed(2)} s, ${r.mbps.toFixed(0)} MB/s, seeder cpu ${r.seederCpuS.toFixed(2)} s, hwm ${r.seederHwmMiB.toFixed(0)} MiB`,
          );
          runs.push(r);
        }
      }
    }
    printTable(seederList, leecherList, runs);
    console.log(
      `\ncache state before each run: output deleted; drop_caches ${[...ctx.dropResults].join(', ')}; seeder payload read once; ${SETTLE_MS / 1000} s settle; then the seeder starts (and checks its data). One seeder at a time; 2 CPUs shared by seeder and leecher. Our seeder: \`torrent seed --port 0 --no-dht\`; libtorrent's: lt_peer.py seed (high_performance_seed).`,
    );
    if (PERF) await profileOurs(ctx, seederList[0], leecherList.find((l) => l.id === 'lt'));
    const ltLeecher = leecherList.find((l) => l.id === 'lt');
    if (PROFILE) await cpuProfileOurs(ctx, seederList[0], ltLeecher);
    if (STRACE) await straceOurs(ctx, seederList[0], ltLeecher);
    console.error(`bench upload: ${((Date.now() - t0) / 1000).toFixed(0)} s in all`);
  } finally {
    process.off('SIGINT', onSigint);
    if (ctx.current) await ctx.current.seeder.stop(ctx.current.svc);
    if (tracker) await tracker.stop();
    cleanup();
  }
}
