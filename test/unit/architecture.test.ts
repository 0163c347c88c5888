/**
 * Imports point one way (../shared/STYLE.md, Layout): each folder of src/ may import only the
 * folders listed here. A backwards arrow fails this test.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/corpus.js';

const ALLOWED: Record<string, string[]> = {
  cli: ['session', 'metainfo', 'tracker', 'dht', 'storage', 'wire', 'errors', 'util'],
  session: ['peer', 'picker', 'storage', 'tracker', 'dht', 'metainfo', 'wire', 'mse', 'utp', 'webseed', 'errors', 'util'],
  dht: ['bencode', 'errors', 'util'],
  peer: ['wire', 'errors', 'util'],
  // Byte-stream transports under a peer connection: MSE/PE encryption and uTP.
  mse: ['errors', 'util'],
  utp: ['errors', 'util'],
  // HTTP web seeds (BEP 19, BEP 17): byte ranges of the torrent's files over HTTP.
  webseed: ['storage', 'metainfo', 'errors', 'util'],
  wire: ['bencode', 'errors', 'util'],
  tracker: ['bencode', 'errors', 'util'],
  metainfo: ['bencode', 'errors', 'util'],
  picker: ['util'],
  storage: ['metainfo', 'errors', 'util'],
  bencode: ['errors'],
  util: [],
  errors: [],
};

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('architecture', () => {
  const src = join(repoRoot, 'src');
  it.each(walk(src).map((f) => [relative(src, f)]))('%s imports only what its folder may', (file) => {
    const from = file.includes('/') ? file.split('/')[0]! : file.replace(/\.ts$/, '');
    const allowed = ALLOWED[from];
    expect(allowed, `folder ${from} is not in the table`).toBeDefined();
    const text = readFileSync(join(src, file), 'utf8');
    for (const m of text.matchAll(/(?:from |import\()'(\.\.?\/[^']+)'/g)) {
      const target = relative(src, join(src, file, '..', m[1]!));
      const to = target.includes('/') ? target.split('/')[0]! : target.replace(/\.js$/, '');
      if (to === from) continue;
      expect(allowed, `${file} imports ${m[1]}`).toContain(to);
    }
  });
});
