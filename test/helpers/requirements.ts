/**
 * What a test needs from the machine (a Debian tool, the shared corpus) and what happens when it
 * is not there. The rule (issue 16): in CI (CI=true) nothing a test needs may be missing, so a
 * missing requirement FAILS the test file, naming it and its Debian package; on a developer's
 * machine the tests that need it are skipped, with the requirement's name in their title.
 *
 * Use:
 *   const lt = needs('python3-libtorrent', 'opentracker');
 *   describe.skipIf(lt.skip)(`a libtorrent seed${lt.note}`, () => { ... });
 * Checks are synchronous (collection time) and cached per worker.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { corpusDir } from './corpus.js';

/** Everything some test needs, with how to check it and where it comes from. */
const REQUIREMENTS = {
  opentracker: { check: () => existsSync('/usr/bin/opentracker'), from: 'Debian package opentracker' },
  'python3-libtorrent': {
    check: () => existsSync('/usr/bin/python3') && spawnSync('/usr/bin/python3', ['-c', 'import libtorrent'], { timeout: 20_000 }).status === 0,
    from: 'Debian package python3-libtorrent',
  },
  aria2c: { check: () => onPath('aria2c'), from: 'Debian package aria2' },
  'transmission-cli': { check: () => onPath('transmission-cli'), from: 'Debian package transmission-cli' },
  'transmission-show': { check: () => onPath('transmission-show'), from: 'Debian package transmission-cli' },
  mktorrent: { check: () => onPath('mktorrent'), from: 'Debian package mktorrent' },
  tmux: { check: () => onPath('tmux'), from: 'Debian package tmux' },
  nginx: { check: () => existsSync('/usr/sbin/nginx') || onPath('nginx'), from: 'Debian package nginx' },
  corpus: { check: () => existsSync(join(corpusDir, 'expected.json')), from: `the torrent corpus at ${corpusDir}` },
} as const;

export type Requirement = keyof typeof REQUIREMENTS;

/** True when CI=true (or 1): then every requirement must be present. */
export const inCI = /^(?:true|1)$/i.test(process.env.CI ?? '');

const cache = new Map<Requirement, boolean>();

function onPath(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

/** Whether `r` is on this machine (no CI rule applied). */
export function has(r: Requirement): boolean {
  let v = cache.get(r);
  if (v === undefined) {
    v = REQUIREMENTS[r].check();
    cache.set(r, v);
  }
  return v;
}

/**
 * Checks `reqs`. All present: `{ skip: false, note: '' }`. Some missing: in CI, throws (the test
 * file fails at collection, naming them); elsewhere `{ skip: true, note: ' [skipped: needs …]' }`
 * for `describe.skipIf(skip)` / `it.skipIf(skip)` and the title.
 */
export function needs(...reqs: Requirement[]): { skip: boolean; note: string } {
  const missing = reqs.filter((r) => !has(r));
  if (missing.length === 0) return { skip: false, note: '' };
  const what = missing.map((r) => `${r} (${REQUIREMENTS[r].from})`).join(', ');
  if (inCI) throw new Error(`CI must have everything the tests need; missing: ${what}`);
  return { skip: true, note: ` [skipped: needs ${missing.join(', ')}]` };
}
