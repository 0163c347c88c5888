/**
 * One process's counters from /proc, for measuring a long-running child (a seeder) over a window:
 * CPU time (utime + stime of /proc/<pid>/stat, in clock ticks, converted with `getconf CLK_TCK`)
 * and memory (VmHWM = peak RSS over the process's life, VmRSS, RssAnon from /proc/<pid>/status).
 * Threads are included (the counters are per process); children are not.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let clkTck = null;

/** Clock ticks per second (`getconf CLK_TCK`, 100 on Linux in practice). */
export function clockTicks() {
  if (clkTck === null) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout?.trim());
    clkTck = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clkTck;
}

/** user + sys CPU seconds the process has used so far, or NaN when it is gone. */
export function cpuSeconds(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return NaN;
  }
  // comm (field 2) may hold spaces and parentheses: fields after the last ')' start at field 3.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(f[14 - 3]);
  const stime = Number(f[15 - 3]);
  return (utime + stime) / clockTicks();
}

/** { hwmKiB, rssKiB, anonKiB } from /proc/<pid>/status (NaN for what cannot be read). */
export function memoryKiB(pid) {
  let text = '';
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    /* gone */
  }
  const field = (name) => {
    const m = text.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : NaN;
  };
  return { hwmKiB: field('VmHWM'), rssKiB: field('VmRSS'), anonKiB: field('RssAnon') };
}
