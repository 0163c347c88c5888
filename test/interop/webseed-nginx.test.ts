/**
 * Web seeds from a real HTTP server: Debian's nginx on 127.0.0.1, started by the test with a
 * config it writes (test/helpers/nginx.ts), Range support on (nginx's static module). A
 * single-file and a multi-file torrent (names that need percent-encoding, an empty file, files
 * that end mid-piece) are fetched whole from nginx alone and every piece is checked against the
 * torrent's SHA-1; nginx's access log proves one Range request per file span of a run (never one
 * per 16 KiB block), kept-alive connections, and a redirect asked once per file.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTorrent, type Metainfo } from '../../src/metainfo/index.js';
import { systemClock } from '../../src/util/clock.js';
import { planRun, WebSeed, webSeedLayout } from '../../src/webseed/index.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { NGINX_BIN, startNginx, type RunningNginx } from '../helpers/nginx.js';

const PIECE = 32 * 1024;
const RUN_PIECES = 8;

const SINGLE = bytes(1_000_003, 11);
const MULTI = [
  { path: ['disc 1', 'a #1.bin'], data: bytes(70_001, 12) },
  { path: ['disc 1', 'empty'], data: Buffer.alloc(0) },
  { path: ['ünï%code?.txt'], data: bytes(5_000, 13) },
  { path: ['z', 'big.bin'], data: bytes(200_000, 14) },
];

let root: string;
let nginx: RunningNginx;
let single: Metainfo;
let multi: Metainfo;
const seeds: WebSeed[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'webseed-www-'));
  await writeFile(join(root, 'single.bin'), SINGLE);
  for (const f of MULTI) {
    const p = join(root, 'Multi Torrent', ...f.path);
    await mkdir(join(p, '..'), { recursive: true });
    await writeFile(p, f.data);
  }
  // /moved/<x> redirects to /<x>: a mirror redirector in front of the files.
  // $request_uri is the raw (still percent-encoded) path: rewrite's captures are decoded.
  nginx = await startNginx(root, { serverExtra: 'location /moved/ { if ($request_uri ~ ^/moved/(.*)$) { return 302 /$1; } }' });
  single = parseTorrent(makeTorrent({ name: 'single.bin', data: SINGLE, pieceLength: PIECE }));
  multi = parseTorrent(makeTorrent({ name: 'Multi Torrent', files: MULTI, pieceLength: PIECE }));
}, 20_000);

afterAll(async () => {
  for (const s of seeds) s.close();
  await nginx?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

/** Fetches every piece in runs of RUN_PIECES, `parallel` runs at a time; checks each piece's SHA-1. */
async function fetchAll(meta: Metainfo, url: string, parallel: number): Promise<WebSeed> {
  const s = new WebSeed({ url, kind: 'url-list', layout: webSeedLayout(meta), clock: systemClock(), maxConnections: 2 });
  seeds.push(s);
  const seen = new Set<number>();
  const runs: [number, number][] = [];
  for (let p = 0; p < meta.pieceCount; p += RUN_PIECES) runs.push([p, Math.min(meta.pieceCount - 1, p + RUN_PIECES - 1)]);
  const worker = async (): Promise<void> => {
    for (let r = runs.shift(); r !== undefined; r = runs.shift()) {
      await s.fetchPieces(r[0], r[1], (p, data) => {
        expect(seen.has(p)).toBe(false);
        seen.add(p);
        const want = meta.pieces!.subarray(p * 20, p * 20 + 20);
        expect(createHash('sha1').update(data).digest().equals(want), `piece ${p}`).toBe(true);
      });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  expect(seen.size).toBe(meta.pieceCount);
  return s;
}

describe.skipIf(!existsSync(NGINX_BIN))('web seeds from nginx', () => {
  it('single-file torrent, URL of the file itself: every piece verifies, one request per run', async () => {
    const before = (await nginx.accessLog()).length;
    const s = await fetchAll(single, `${nginx.baseUrl}single.bin`, 3);
    const log = (await nginx.accessLog()).slice(before);
    expect(log).toHaveLength(Math.ceil(single.pieceCount / RUN_PIECES));
    expect(log.every((l) => l.startsWith('206 ') && l.includes('GET /single.bin '))).toBe(true);
    // Kept alive: never more connections than the seed may open.
    expect(new Set(log.map((l) => l.split(' ')[1])).size).toBeLessThanOrEqual(2);
    expect(s.counters).toMatchObject({ bytesReceived: SINGLE.length, requestsFailed: 0, piecesDelivered: single.pieceCount });
    expect(s.state).toBe('idle');
  });

  it('single-file torrent, folder URL ending in /: the torrent name is appended', async () => {
    const before = (await nginx.accessLog()).length;
    await fetchAll(single, nginx.baseUrl, 1);
    expect((await nginx.accessLog()).slice(before).every((l) => l.includes('GET /single.bin '))).toBe(true);
  });

  it('multi-file torrent: runs split at file boundaries, names percent-encoded, every piece verifies', async () => {
    const before = (await nginx.accessLog()).length;
    const layout = webSeedLayout(multi);
    let planned = 0;
    for (let p = 0; p < multi.pieceCount; p += RUN_PIECES) planned += planRun(layout, nginx.baseUrl, p, Math.min(multi.pieceCount - 1, p + RUN_PIECES - 1)).requests.length;
    const s = await fetchAll(multi, nginx.baseUrl, 2);
    const log = (await nginx.accessLog()).slice(before);
    expect(log).toHaveLength(planned);
    expect(log.every((l) => l.startsWith('206 '))).toBe(true);
    expect(log.some((l) => l.includes('GET /Multi%20Torrent/%C3%BCn%C3%AF%25code%3F.txt '))).toBe(true);
    expect(log.some((l) => l.includes('GET /Multi%20Torrent/disc%201/a%20%231.bin '))).toBe(true);
    // The empty file is never asked for.
    expect(log.some((l) => l.includes('/empty '))).toBe(false);
    expect(s.counters.bytesReceived).toBe(multi.length);
  });

  it('through a redirector: each file is redirected once, then its final URL is used', async () => {
    const before = (await nginx.accessLog()).length;
    await fetchAll(multi, `${nginx.baseUrl}moved/`, 1);
    const log = (await nginx.accessLog()).slice(before);
    const redirects = log.filter((l) => l.startsWith('302 '));
    expect(redirects).toHaveLength(MULTI.filter((f) => f.data.length > 0).length);
    expect(log.filter((l) => l.startsWith('206 ')).every((l) => !l.includes('/moved/'))).toBe(true);
  });

  it('a seed whose files are missing (404): each file is marked missing until the seed covers no piece', async () => {
    const s = new WebSeed({ url: `${nginx.baseUrl}nowhere/`, kind: 'url-list', layout: webSeedLayout(multi), clock: systemClock() });
    seeds.push(s);
    const e = await s.fetchPieces(0, 0, () => {}).then(() => null, (err: unknown) => err);
    expect(e).toMatchObject({ kind: 'http-status', status: 404 });
    expect(s.covers(0, 0)).toBe(false);
    expect(s.state).not.toBe('dead');
    for (let p = 1; p < multi.pieceCount; p++) {
      if (s.covers(p, p)) await s.fetchPieces(p, p, () => {}).catch(() => {});
    }
    for (let p = 0; p < multi.pieceCount; p++) expect(s.covers(p, p), `piece ${p}`).toBe(false);
    // 404s are answers, not failures of the server: no back-off was started.
    expect(s.counters.consecutiveFailures).toBe(0);
  });
});
