/**
 * Child processes for benchmarks: long-running services (seeder, tracker) with a bounded wait for
 * readiness, and one-shot measured runs under GNU time (wall, user, sys, max RSS) with /proc polling
 * of the process tree's anonymous memory. Every child is started in its own process group and
 * killed by id (group) on timeout, on stop, and when the bench process exits.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';

export const GNU_TIME = '/usr/bin/time';
/** How often the process tree's RssAnon is sampled; short enough to catch a 1-2 s peak. */
const RSS_POLL_MS = 50;

const live = new Set();
process.on('exit', () => {
  for (const child of live) killGroup(child, 'SIGKILL');
});

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

export async function freeTcpPort(host = '127.0.0.1') {
  const s = net.createServer();
  await new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, host, resolve);
  });
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

export async function freeUdpPort(host = '127.0.0.1') {
  const s = dgram.createSocket('udp4');
  await new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, host, resolve);
  });
  const { port } = s.address();
  await new Promise((r) => s.close(() => r()));
  return port;
}

function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/**
 * A long-running child (seeder, tracker). `waitFor(re, ms)` resolves with the first stdout match;
 * `stop()` closes stdin, then SIGTERM, then SIGKILL, each with a bounded wait.
 */
export function startService(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  live.add(child);
  let out = '';
  let stdoutText = '';
  const listeners = new Set();
  child.stdout.on('data', (d) => {
    out += d;
    stdoutText += d;
    for (const l of listeners) l();
  });
  child.stderr.on('data', (d) => (out += d));
  child.stdin.on('error', () => {});
  child.on('error', (e) => (out += `spawn error: ${e.message}\n`));
  child.on('exit', () => {
    live.delete(child);
    for (const l of listeners) l();
  });
  return {
    child,
    output: () => out,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        const check = () => {
          const m = stdoutText.match(pattern);
          if (m) {
            done();
            resolve(m);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`${cmd} exited before printing ${pattern}:\n${out.slice(-2000)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${cmd} did not print ${pattern} within ${timeoutMs} ms:\n${out.slice(-2000)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    async stop() {
      child.stdin.end();
      if (await waitExit(child, 2_000)) return;
      killGroup(child, 'SIGTERM');
      if (await waitExit(child, 3_000)) return;
      killGroup(child, 'SIGKILL');
      await waitExit(child, 3_000);
    },
  };
}

/** Pids of `pid`'s descendants (not `pid` itself), from /proc/<pid>/task/<tid>/children. */
function descendants(pid) {
  const out = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop();
    let tasks;
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      let text = '';
      try {
        text = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const c of text.split(' ')) {
        if (c.trim() !== '') {
          out.push(Number(c));
          stack.push(Number(c));
        }
      }
    }
  }
  return out;
}

function rssAnonKiB(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^RssAnon:\s+(\d+) kB/m);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Runs `cmd args` under GNU time once. Resolves with { code, signal, timedOut, wallS, userS, sysS,
 * maxRssKiB, peakAnonKiB, stdout, stderr }. user/sys cover the whole tree (wait4 rusage includes
 * reaped descendants); maxRssKiB is the largest single process's peak (file-backed pages such as
 * mmap'd payload included); peakAnonKiB is the sampled peak of the tree's summed RssAnon.
 */
export function measure(cmd, args, { env = {}, cwd, timeoutMs, timeFile }) {
  return new Promise((resolve) => {
    const child = spawn(GNU_TIME, ['-f', '%e %U %S %M', '-o', timeFile, cmd, ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let peakAnonKiB = 0;
    const poll = setInterval(() => {
      let sum = 0;
      for (const p of descendants(child.pid)) sum += rssAnonKiB(p);
      if (sum > peakAnonKiB) peakAnonKiB = sum;
    }, RSS_POLL_MS);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      live.delete(child);
      clearInterval(poll);
      clearTimeout(timer);
      let wallS = NaN;
      let userS = NaN;
      let sysS = NaN;
      let maxRssKiB = NaN;
      try {
        // GNU time prints "Command exited with non-zero status N" first when it does; the format line is last.
        const lines = readFileSync(timeFile, 'utf8').trim().split('\n');
        const f = lines[lines.length - 1].trim().split(/\s+/).map(Number);
        if (f.length === 4 && f.every(Number.isFinite)) [wallS, userS, sysS, maxRssKiB] = f;
      } catch {
        /* killed before GNU time wrote it */
      }
      rmSync(timeFile, { force: true });
      resolve({ code, signal, timedOut, wallS, userS, sysS, maxRssKiB, peakAnonKiB, stdout, stderr });
    });
  });
}
