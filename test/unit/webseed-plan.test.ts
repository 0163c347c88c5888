/**
 * The pure parts of the web-seed fetcher: the BEP 19 / BEP 17 request planner, the retry
 * schedule and the run assembler. Property tests check that a plan tiles its run exactly, one
 * request per file span, whatever the file sizes and piece length.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TorrentFile } from '../../src/metainfo/index.js';
import { PieceMap } from '../../src/storage/piece-map.js';
import {
  httpSeedUrl,
  MAX_RUN_BYTES,
  MAX_SERVER_RETRY_AFTER_MS,
  parseRetryAfterMs,
  parseSeedUrl,
  percentEncodeBytes,
  planRun,
  retryDelayMs,
  RETRY_BASE_MS,
  RETRY_MAX_MS,
  RunAssembler,
  webSeedFileUrl,
  type WebSeedLayout,
} from '../../src/webseed/index.js';

interface F {
  path: string[];
  length: number;
  pad?: boolean;
}

function layout(name: string, multiFile: boolean, specs: F[], pieceLength: number): WebSeedLayout {
  let offset = 0;
  const files: TorrentFile[] = specs.map((s) => {
    const f: TorrentFile = { path: s.path, length: s.length, offset, pad: s.pad ?? false, executable: false, hidden: false, symlink: null, piecesRoot: null };
    offset += s.length;
    return f;
  });
  return { name, multiFile, map: new PieceMap(files, pieceLength, offset) };
}

describe('BEP 19 file URLs', () => {
  const single = layout('my file.iso', false, [{ path: ['my file.iso'], length: 100 }], 16);
  it('a single-file torrent uses the URL as is', () => {
    expect(webSeedFileUrl(single, 'http://h/dl/other-name.iso', 0)).toBe('http://h/dl/other-name.iso');
  });
  it('a single-file URL ending in / gets the encoded torrent name appended', () => {
    expect(webSeedFileUrl(single, 'http://h/dl/', 0)).toBe('http://h/dl/my%20file.iso');
  });
  const multi = layout('Album #1', true, [{ path: ['CD 1', 'a?b.flac'], length: 10 }, { path: ['ü%.txt'], length: 5 }], 16);
  it('a multi-file torrent appends name and path, each component percent-encoded', () => {
    expect(webSeedFileUrl(multi, 'http://h/pub/', 0)).toBe('http://h/pub/Album%20%231/CD%201/a%3Fb.flac');
    expect(webSeedFileUrl(multi, 'https://h/pub/', 1)).toBe('https://h/pub/Album%20%231/%C3%BC%25.txt');
  });
  it('a multi-file URL without a trailing / is still a folder', () => {
    expect(webSeedFileUrl(multi, 'http://h/pub', 1)).toBe('http://h/pub/Album%20%231/%C3%BC%25.txt');
  });
  it('accepts only http(s) URLs without credentials', () => {
    expect(parseSeedUrl('http://h/x')?.href).toBe('http://h/x');
    expect(parseSeedUrl('https://h/')).not.toBeNull();
    expect(parseSeedUrl('ftp://h/x')).toBeNull();
    expect(parseSeedUrl('/relative')).toBeNull();
    expect(parseSeedUrl('http://u:p@h/x')).toBeNull();
  });
});

describe('planRun', () => {
  // Files: a 40, b 0 (empty), pad 8, c 30 -> 78 bytes; pieces of 16: 0..4 (last is 14 bytes).
  const l = layout('t', true, [{ path: ['a'], length: 40 }, { path: ['b'], length: 0 }, { path: ['.pad', '8'], length: 8, pad: true }, { path: ['c'], length: 30 }], 16);

  it('splits a run at file boundaries: one Range request per file span, pad files not fetched', () => {
    const plan = planRun(l, 'http://h/', 1, 3);
    expect(plan.torrentOffset).toBe(16);
    expect(plan.runLength).toBe(48);
    expect(plan.requests.map((r) => [r.url, r.start, r.length, r.runOffset, r.fileLength])).toEqual([
      ['http://h/t/a', 16, 24, 0, 40],
      ['http://h/t/c', 0, 16, 32, 30],
    ]);
    expect(plan.padSpans).toEqual([{ runOffset: 24, length: 8 }]);
  });

  it('never splits a run inside one file, however many blocks or pieces it spans', () => {
    const big = layout('big', false, [{ path: ['big'], length: 10 * 1024 * 1024 + 5 }], 256 * 1024);
    const plan = planRun(big, 'http://h/big.iso', 0, big.map.pieceCount - 1);
    expect(plan.requests).toHaveLength(1);
    expect(plan.requests[0]).toMatchObject({ url: 'http://h/big.iso', start: 0, length: 10 * 1024 * 1024 + 5 });
  });

  it('the last piece is short', () => {
    const plan = planRun(l, 'http://h/', 4, 4);
    expect(plan.runLength).toBe(14);
    expect(plan.requests).toEqual([expect.objectContaining({ start: 16, length: 14, runOffset: 0 })]);
  });

  it('rejects runs outside the torrent or larger than MAX_RUN_BYTES', () => {
    expect(() => planRun(l, 'http://h/', 3, 5)).toThrow(RangeError);
    expect(() => planRun(l, 'http://h/', 2, 1)).toThrow(RangeError);
    const big = layout('big', false, [{ path: ['big'], length: MAX_RUN_BYTES + 1 }], 1024 * 1024);
    expect(() => planRun(big, 'http://h/', 0, big.map.pieceCount - 1)).toThrow(/MAX_RUN_BYTES/);
    expect(planRun(big, 'http://h/', 0, big.map.pieceCount - 2).runLength).toBe(MAX_RUN_BYTES);
  });

  it('property: requests and pad spans tile the run exactly, each inside its file, one per file touched', () => {
    const arb = fc.record({
      sizes: fc.array(fc.record({ length: fc.integer({ min: 0, max: 300 }), pad: fc.boolean() }), { minLength: 1, maxLength: 12 }),
      pieceLength: fc.integer({ min: 1, max: 64 }),
      a: fc.nat(),
      b: fc.nat(),
    });
    fc.assert(
      fc.property(arb, ({ sizes, pieceLength, a, b }) => {
        const total = sizes.reduce((s, f) => s + f.length, 0);
        fc.pre(total > 0);
        const lay = layout('n', true, sizes.map((f, i) => ({ path: [`f${i}`], length: f.length, pad: f.pad })), pieceLength);
        const count = lay.map.pieceCount;
        const first = a % count;
        const last = first + (b % (count - first));
        const plan = planRun(lay, 'http://h/', first, last);
        const pieces = [...plan.requests.map((r) => ({ at: r.runOffset, n: r.length })), ...plan.padSpans.map((p) => ({ at: p.runOffset, n: p.length }))].sort(
          (x, y) => x.at - y.at,
        );
        let pos = 0;
        for (const p of pieces) {
          expect(p.at).toBe(pos);
          expect(p.n).toBeGreaterThan(0);
          pos += p.n;
        }
        expect(pos).toBe(plan.runLength);
        const seen = new Set<number>();
        for (const r of plan.requests) {
          const f = lay.map.files[r.fileIndex]!;
          expect(f.pad).toBe(false);
          expect(r.start + r.length).toBeLessThanOrEqual(f.length);
          expect(f.offset + r.start).toBe(plan.torrentOffset + r.runOffset);
          expect(seen.has(r.fileIndex)).toBe(false);
          seen.add(r.fileIndex);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('BEP 17 URLs', () => {
  const hash = Buffer.from('9cd9698af555751a9186ae066c57ea21572335e0', 'hex');
  it('percent-encodes the 20-byte info hash and names the piece', () => {
    expect(httpSeedUrl('http://www.whatever.com/seed.php', hash, 3)).toBe(
      'http://www.whatever.com/seed.php?info_hash=%9C%D9i%8A%F5Uu%1A%91%86%AE%06lW%EA%21W%235%E0&piece=3',
    );
  });
  it('sends ranges inclusive, and appends with & to a URL that has a query', () => {
    expect(httpSeedUrl('http://h/s.php?key=1', hash, 8, [49152, 131072])).toMatch(/^http:\/\/h\/s\.php\?key=1&info_hash=.*&piece=8&ranges=49152-131071$/);
  });
  it('property: the encoding decodes back to the same bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), (b) => {
        const enc = percentEncodeBytes(Buffer.from(b));
        expect(Buffer.from(unescape(enc), 'latin1').equals(Buffer.from(b))).toBe(true);
        expect(enc).toMatch(/^[A-Za-z0-9\-._~%]*$/);
      }),
    );
  });
  it('rejects a hash that is not 20 bytes', () => {
    expect(() => httpSeedUrl('http://h/', Buffer.alloc(32), 0)).toThrow(RangeError);
  });
});

describe('retry schedule', () => {
  it('doubles from RETRY_BASE_MS and stops at RETRY_MAX_MS', () => {
    const schedule = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 200].map((n) => retryDelayMs(n));
    expect(schedule.slice(0, 4)).toEqual([RETRY_BASE_MS, 2 * RETRY_BASE_MS, 4 * RETRY_BASE_MS, 8 * RETRY_BASE_MS]);
    for (let i = 1; i < schedule.length; i++) expect(schedule[i]).toBeGreaterThanOrEqual(schedule[i - 1]!);
    expect(schedule[schedule.length - 1]).toBe(RETRY_MAX_MS);
  });
  it('honours a longer server wait, capped', () => {
    expect(retryDelayMs(1, 120_000)).toBe(120_000);
    expect(retryDelayMs(1, 1_000)).toBe(RETRY_BASE_MS);
    expect(retryDelayMs(1, 10 * MAX_SERVER_RETRY_AFTER_MS)).toBe(MAX_SERVER_RETRY_AFTER_MS);
  });
  it('reads Retry-After seconds and BEP 17 503 bodies, nothing else', () => {
    expect(parseRetryAfterMs('30')).toBe(30_000);
    expect(parseRetryAfterMs(' 7\r\n')).toBe(7_000);
    expect(parseRetryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT')).toBeNull();
    expect(parseRetryAfterMs('-5')).toBeNull();
    expect(parseRetryAfterMs(undefined)).toBeNull();
    expect(parseRetryAfterMs('999999999')).toBe(MAX_SERVER_RETRY_AFTER_MS);
  });
});

describe('RunAssembler', () => {
  it('hands each piece over once, when its last byte lands, from chunks that straddle pieces', () => {
    const got: [number, string][] = [];
    const sizes = (p: number): number => (p === 3 ? 2 : 4);
    const a = new RunAssembler(1, 3, 4, sizes, (p, d) => got.push([p, d.toString()]));
    a.write(0, Buffer.from('abcde')); // piece 1 whole, 1 byte of piece 2
    expect(got).toEqual([[1, 'abcd']]);
    a.write(8, Buffer.from('xy')); // piece 3 (short, 2 bytes)
    expect(got).toEqual([[1, 'abcd'], [3, 'xy']]);
    expect(a.missing()).toEqual([2]);
    a.zero(5, 3);
    expect(got).toEqual([[1, 'abcd'], [3, 'xy'], [2, 'e\0\0\0']]);
    expect(a.done).toBe(true);
  });
  it('throws on bytes past the run or past a piece already full', () => {
    const a = new RunAssembler(0, 0, 4, () => 4, () => {});
    expect(() => a.write(2, Buffer.from('abc'))).toThrow(RangeError);
    const b = new RunAssembler(0, 1, 4, () => 4, () => {});
    b.write(0, Buffer.from('abcd'));
    expect(() => b.write(0, Buffer.from('a'))).toThrow(/written twice/);
  });
});
