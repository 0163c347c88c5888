/**
 * Random mutations and truncations of valid torrents only ever give our typed error or a valid
 * Metainfo: never another exception, never a hang (the test timeout would end one), never
 * unbounded memory.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TorrentError } from '../../src/errors.js';
import { parseTorrent, type Metainfo } from '../../src/metainfo/index.js';
import { corpusDir, hasCorpus, repoRoot } from '../helpers/corpus.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';

const seeds: Buffer[] = [
  makeTorrent({ name: 'single', data: bytes(50_000), announce: 'http://t/a' }),
  makeTorrent({
    name: 'multi',
    files: [
      { path: ['a', 'b.txt'], data: bytes(1000, 3) },
      { path: ['.pad', '15384'], data: Buffer.alloc(15384), attr: 'p' },
      { path: ['c'], data: bytes(30_000, 4) },
    ],
    announceList: [['http://t/a'], ['udp://u:1']],
    urlList: ['http://w/'],
  }),
];
if (hasCorpus) {
  for (const f of ['sample.torrent', 'v2_hybrid.torrent', 'v2_only.torrent', 'v2_symlinks.torrent', 'empty-files-2.torrent']) {
    seeds.push(readFileSync(join(corpusDir, 'torrents', f)));
  }
}

type Mutation =
  | { op: 'flip'; at: number; value: number }
  | { op: 'truncate'; at: number }
  | { op: 'delete'; at: number; length: number }
  | { op: 'insert'; at: number; text: string }
  | { op: 'duplicate'; at: number; length: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.constantFrom('i-1e', 'i99999999999999999999e', '0:', 'le', 'de', '9999999:', 'l', 'd', 'e', '00', '1:/', '2:..', 'i0e'),
  }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 200 }) }),
);

function apply(input: Buffer, m: Mutation): Buffer {
  const at = input.length === 0 ? 0 : m.at % input.length;
  switch (m.op) {
    case 'flip': {
      const out = Buffer.from(input);
      out[at] = m.value;
      return out;
    }
    case 'truncate':
      return input.subarray(0, at);
    case 'delete':
      return Buffer.concat([input.subarray(0, at), input.subarray(at + m.length)]);
    case 'insert':
      return Buffer.concat([input.subarray(0, at), Buffer.from(m.text, 'latin1'), input.subarray(at)]);
    case 'duplicate':
      return Buffer.concat([input.subarray(0, at + m.length), input.subarray(at)]);
  }
}

function checkValid(m: Metainfo): void {
  expect(m.pieceCount).toBeGreaterThan(0);
  expect(Number.isSafeInteger(m.totalLength)).toBe(true);
  for (const f of m.files) {
    expect(f.path.length).toBeGreaterThan(0);
    for (const c of f.path) {
      expect(c).not.toMatch(/[/\\\0]/);
      expect(['', '.', '..']).not.toContain(c);
    }
  }
  expect(m.name).not.toMatch(/[/\\\0]/);
}

/** A typed error or a valid Metainfo. A hang would end in the test's timeout (no timing here: bench/). */
function parseOrTypedError(input: Buffer): void {
  try {
    checkValid(parseTorrent(input));
  } catch (e) {
    if (!(e instanceof TorrentError)) throw e;
  }
}

describe('metainfo properties', () => {
  it('mutated torrents give a typed error or a valid, safe Metainfo', () => {
    const heapBefore = process.memoryUsage().heapUsed;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (s, ms) => {
        parseOrTypedError(ms.reduce(apply, seeds[s]!));
      }),
      { numRuns: 3000 },
    );
    // Nothing is retained between parses.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(256 * 1024 * 1024);
  });

  it('every truncation of every seed is a typed error', () => {
    for (const seed of seeds.slice(0, 3)) {
      for (let at = 0; at < seed.length; at += Math.max(1, Math.floor(seed.length / 500))) {
        expect(() => parseTorrent(seed.subarray(0, at))).toThrow(TorrentError);
      }
    }
  });

  it('regression inputs give typed errors', () => {
    const dir = join(repoRoot, 'test', 'regressions');
    const files = readdirSync(dir).filter((f) => f.endsWith('.torrent'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) parseOrTypedError(readFileSync(join(dir, f)));
  });
});
