/**
 * Bench case "scale" (issue 15, item 6): does our CPU per byte hold when the same swarm comes
 * through many more connections? The swarm bench (bench/swarm.mjs: python3-libtorrent seeders,
 * each behind its own WAN-like relay) runs twice with our --no-dht row only: BENCH_SCALE_SMALL
 * seeders (16), then BENCH_SCALE_LARGE (200) whose links are slowed so the swarm's total rate is
 * the same. Same payload, same total bandwidth: what changes is only how many sockets, peers and
 * requests carry it. Target: CPU s/GiB at 200 peers at most 1.2x the 16-peer figure.
 *
 * Env: BENCH_SCALE_SMALL (16), BENCH_SCALE_LARGE (200), BENCH_SCALE_RUNS (2), BENCH_SWARM_MIB
 * (passed through, default 512).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { linkPlan } from './swarm.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const SMALL = Number(process.env.BENCH_SCALE_SMALL ?? 16);
const LARGE = Number(process.env.BENCH_SCALE_LARGE ?? 200);
const RUNS = Number(process.env.BENCH_SCALE_RUNS ?? 2);
const GiB = 1 << 30;

const total = (n) => linkPlan(n).reduce((a, l) => a + l.rateBytesPerS, 0);

/** One swarm bench in a child process; returns its runs of ours as {wallS, eff, cpuS}. */
function swarm(seeders, rateScale) {
  return new Promise((resolve, reject) => {
    const env = {
      ...process.env,
      BENCH_SWARM_SEEDERS: String(seeders),
      BENCH_SWARM_RATE_SCALE: String(rateScale),
      BENCH_SWARM_CLIENTS: 'us-nodht',
      BENCH_SWARM_LAYOUTS: 'single',
      BENCH_SWARM_RUNS: String(RUNS),
      BENCH_SWARM_OUR_ARGS: `--max-peers ${Math.max(50, seeders + 10)}`,
    };
    const child = spawn(process.execPath, [join(ROOT, 'bench', 'run.mjs'), 'swarm'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    // Progress lines (one per run) come on stderr: shown as they come, and parsed.
    child.stderr.on('data', (d) => {
      out += d;
      process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const runs = [...out.matchAll(/us-nodht #\d+: (\S+) ([\d.]+) s, eff ([\d.]+), cpu ([\d.]+) s, rss (\d+) MiB/g)].map((m) => ({
        ok: m[1] === 'ok',
        wallS: Number(m[2]),
        eff: Number(m[3]),
        cpuS: Number(m[4]),
        rssMiB: Number(m[5]),
      }));
      if (code !== 0 || runs.length === 0 || runs.some((r) => !r.ok)) reject(new Error(`swarm bench with ${seeders} seeders failed (exit ${code}):\n${out.slice(-2000)}`));
      else resolve(runs);
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function run() {
  const mib = Number(process.env.BENCH_SWARM_MIB ?? 512);
  const small = await swarm(SMALL, 1);
  const large = await swarm(LARGE, total(SMALL) / total(LARGE));
  const row = (n, runs) => {
    const cpu = median(runs.map((r) => r.cpuS));
    return { n, wall: median(runs.map((r) => r.wallS)), eff: median(runs.map((r) => r.eff)), cpu, perGiB: cpu / ((mib * 2 ** 20) / GiB), rss: median(runs.map((r) => r.rssMiB)) };
  };
  const a = row(SMALL, small);
  const b = row(LARGE, large);
  console.log(`\n## scale: ${mib} MiB through ${SMALL} and through ${LARGE} peers, the same ${(total(SMALL) / 1e6).toFixed(1)} MB/s in all (medians of ${RUNS})\n`);
  console.log('| peers | wall s | efficiency | CPU s | CPU s/GiB | peak RSS MiB |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of [a, b]) console.log(`| ${r.n} | ${r.wall.toFixed(2)} | ${r.eff.toFixed(2)} | ${r.cpu.toFixed(2)} | ${r.perGiB.toFixed(2)} | ${r.rss} |`);
  const ratio = b.perGiB / a.perGiB;
  console.log(`\nCPU per byte at ${LARGE} peers: ${ratio.toFixed(2)}x the ${SMALL}-peer figure (target <= 1.20): ${ratio <= 1.2 ? 'met' : 'NOT met'}`);
}
