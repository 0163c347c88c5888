/**
 * Imports point one way (../shared/STYLE.md, Layout). Each folder of src/ may import only the
 * folders listed here; the CLI reaches other folders only through their index.ts (util/ files
 * directly); nothing imports the CLI; peer never imports session or picker; only session brings
 * peers, the picker, storage and discovery together. A backwards arrow fails this test, and the
 * table is never widened to let one through.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/corpus.js';

const ALLOWED: Record<string, string[]> = {
  cli: ['session', 'discovery', 'metainfo', 'tracker', 'dht', 'storage', 'wire', 'errors', 'util'],
  session: ['discovery', 'peer', 'picker', 'storage', 'metainfo', 'wire', 'mse', 'utp', 'webseed', 'errors', 'util'],
  discovery: ['tracker', 'dht', 'metainfo', 'errors', 'util'],
  peer: ['wire', 'errors', 'util'],
  // Byte-stream transports under a peer connection: MSE/PE encryption and uTP.
  mse: ['errors', 'util'],
  utp: ['errors', 'util'],
  // HTTP web seeds (BEP 19, BEP 17): byte ranges of the torrent's files over HTTP.
  webseed: ['storage', 'metainfo', 'errors', 'util'],
  wire: ['bencode', 'errors', 'util'],
  tracker: ['bencode', 'errors', 'util'],
  dht: ['bencode', 'errors', 'util'],
  metainfo: ['bencode', 'errors', 'util'],
  picker: ['util'],
  storage: ['metainfo', 'errors', 'util'],
  bencode: ['errors'],
  util: [],
  errors: [],
};

/** Folders that only session may bring together (STYLE: "only session brings peers, the picker, storage and discovery together"). */
const ENGINE = ['peer', 'picker', 'discovery'];

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const src = join(repoRoot, 'src');
const folderOf = (rel: string): string => (rel.includes('/') ? rel.split('/')[0]! : rel.replace(/\.(ts|js)$/, ''));

/** Every relative import of a file: [specifier, target path relative to src]. */
function importsOf(file: string): [string, string][] {
  const text = readFileSync(join(src, file), 'utf8');
  return [...text.matchAll(/(?:from |import\()'(\.\.?\/[^']+)'/g)].map((m) => [m[1]!, relative(src, join(src, file, '..', m[1]!))]);
}

const files = walk(src).map((f) => relative(src, f));

describe('architecture', () => {
  it.each(files.map((f) => [f]))('%s imports only what its folder may', (file) => {
    const from = folderOf(file);
    const allowed = ALLOWED[from];
    expect(allowed, `folder ${from} is not in the table`).toBeDefined();
    for (const [spec, target] of importsOf(file)) {
      const to = folderOf(target);
      if (to === from) continue;
      expect(allowed, `${file} imports ${spec}`).toContain(to);
      if (from === 'cli' && to !== 'util' && to !== 'errors') {
        expect(target, `${file} reaches into ${to}/ past its index.ts: ${spec}`).toBe(`${to}/index.js`);
      }
    }
  });

  it('nothing imports the CLI, and only session brings the engine folders together', () => {
    for (const file of files) {
      const from = folderOf(file);
      const targets = new Set(importsOf(file).map(([, t]) => folderOf(t)));
      if (from !== 'cli') expect(targets.has('cli'), `${file} imports cli`).toBe(false);
      if (from === 'session' || from === 'cli') continue;
      const engine = ENGINE.filter((f) => f !== from && targets.has(f));
      expect(engine, `${file} brings ${engine.join(', ')} together outside session`).toEqual([]);
    }
  });

  it('fails on a backwards arrow (the check itself is live)', () => {
    expect(ALLOWED.peer).not.toContain('session');
    expect(ALLOWED.peer).not.toContain('picker');
    for (const [folder, list] of Object.entries(ALLOWED)) expect(list, folder).not.toContain('cli');
  });
});
