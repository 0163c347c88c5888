/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`) as Markdown: top functions by self time,
 * top functions by total (inclusive) time, and self time per source file. Each sample's time is
 * the delta to the next sample, as DevTools counts it. Usable alone:
 *   node bench/lib/cpuprofile.mjs <file.cpuprofile> [top]
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

function shortUrl(url) {
  if (!url) return '';
  const i = url.indexOf('/dist/');
  if (i >= 0) return url.slice(i + 1);
  const n = url.indexOf('node_modules/');
  if (n >= 0) return url.slice(n);
  return url.replace(/^file:\/\//, '');
}

function keyOf(node) {
  const f = node.callFrame;
  const name = f.functionName || '(anonymous)';
  const url = shortUrl(f.url);
  return url ? `${name} ${url}:${f.lineNumber + 1}` : name;
}

/** Returns { totalMs, self: [[key, ms]], inclusive: [[key, ms]], files: [[file, ms]] }, sorted. */
export function summarise(profile) {
  const byId = new Map();
  const parent = new Map();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map();
  const inclusive = new Map();
  const files = new Map();
  let totalUs = 0;
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    const dt = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0;
    if (dt <= 0) continue;
    totalUs += dt;
    const leaf = byId.get(samples[i]);
    const k = keyOf(leaf);
    self.set(k, (self.get(k) ?? 0) + dt);
    const file = shortUrl(leaf.callFrame.url) || k;
    files.set(file, (files.get(file) ?? 0) + dt);
    const seen = new Set();
    for (let id = samples[i]; id !== undefined; id = parent.get(id)) {
      const key = keyOf(byId.get(id));
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + dt);
    }
  }
  const sorted = (m) => [...m].map(([k, us]) => [k, us / 1000]).sort((a, b) => b[1] - a[1]);
  return { totalMs: totalUs / 1000, self: sorted(self), inclusive: sorted(inclusive), files: sorted(files) };
}

export function formatSummary(s, top = 25) {
  const pct = (ms) => ((100 * ms) / s.totalMs).toFixed(1);
  const lines = [`profile: ${(s.totalMs / 1000).toFixed(2)} s sampled`, '', '| self ms | % | function |', '| ---: | ---: | --- |'];
  for (const [k, ms] of s.self.slice(0, top)) lines.push(`| ${ms.toFixed(0)} | ${pct(ms)} | \`${k}\` |`);
  lines.push('', '| total ms | % | function (inclusive) |', '| ---: | ---: | --- |');
  for (const [k, ms] of s.inclusive.filter(([k]) => k !== '(root)').slice(0, top)) lines.push(`| ${ms.toFixed(0)} | ${pct(ms)} | \`${k}\` |`);
  lines.push('', '| self ms | % | file |', '| ---: | ---: | --- |');
  for (const [k, ms] of s.files.slice(0, 15)) lines.push(`| ${ms.toFixed(0)} | ${pct(ms)} | \`${k}\` |`);
  return lines.join('\n');
}

/**
 * Sums `node --trace-gc` lines: count and pause ms per kind (Scavenge, Mark-Compact, ...).
 * Line shape: "[pid:0x..]   1234 ms: Scavenge 10.2 (12.0) -> 9.8 (13.0) MB, 1.23 / 0.00 ms ...".
 */
export function summariseTraceGc(text) {
  const kinds = new Map();
  for (const m of text.matchAll(/ms: ([A-Za-z-]+(?: \(reduce\))?)[^,\n]*?MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ ([\d.]+) ms/g)) {
    const k = kinds.get(m[1]) ?? { count: 0, pauseMs: 0 };
    k.count++;
    k.pauseMs += Number(m[2]);
    kinds.set(m[1], k);
  }
  return kinds;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node bench/lib/cpuprofile.mjs <file.cpuprofile> [top]');
    process.exit(2);
  }
  console.log(formatSummary(summarise(JSON.parse(readFileSync(file, 'utf8'))), Number(process.argv[3] ?? 25)));
}

/**
 * After a `node --cpu-prof --cpu-prof-dir=<profDir>` run: keeps the main thread's profile as
 * `kept`, removes profDir, and prints the profile's summary. Each thread writes its own file,
 * CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile, thread 0 being the main one: a download
 * also has the disk writer's.
 */
export function keepMainProfile(profDir, kept) {
  const files = existsSync(profDir) ? readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')) : [];
  const main = files.find((f) => f.split('.')[4] === '0') ?? files[0];
  if (!main) {
    console.log('no .cpuprofile written');
    return;
  }
  mkdirSync(dirname(kept), { recursive: true });
  copyFileSync(join(profDir, main), kept);
  rmSync(profDir, { recursive: true, force: true });
  console.log(formatSummary(summarise(JSON.parse(readFileSync(kept, 'utf8')))));
  console.log(`\n(kept ${kept})\n`);
}
