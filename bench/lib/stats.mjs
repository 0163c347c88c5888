/** Shared by the benchmark cases: page-cache reset, run tallies and median/min/max formatting. */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

export function dropCaches() {
  spawnSync('sync');
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return 'ok';
  } catch (e) {
    return `denied (${e.code ?? e.message})`;
  }
}

export function stats(values) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1] };
}

export function fmt(s, digits) {
  if (!s) return '–';
  if (s.min === s.max) return s.median.toFixed(digits);
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

/** One row's runs (each with `failure`: null when it verified): the good ones, the failed ones, and the "runs" cell. */
export function tally(mine) {
  const good = mine.filter((r) => r.failure === null);
  const failed = mine.filter((r) => r.failure !== null);
  const runText = failed.length === 0 ? `${good.length}/${mine.length} ok` : `FAILED ${failed.length}/${mine.length}: ${failed[0].failure}`;
  return { good, failed, runText };
}
