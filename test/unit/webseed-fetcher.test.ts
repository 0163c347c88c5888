/**
 * The web-seed fetcher against hostile HTTP servers of the test's own (node:http on 127.0.0.1,
 * port 0): each server breaks one rule (200 for a range, a redirect loop, a lying
 * Content-Length, an oversized body, a stall, 404/5xx, BEP 17 busy) and each test asserts the
 * typed error, that no more bytes than asked were taken, and the seed's state afterwards.
 * Real nginx is in test/interop/webseed-nginx.test.ts.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { TorrentFile } from '../../src/metainfo/index.js';
import { PieceMap } from '../../src/storage/piece-map.js';
import { systemClock } from '../../src/util/clock.js';
import { createWebSeeds, RETRY_BASE_MS, WebSeed, WebSeedError, type WebSeedLayout, type WebSeedOptions } from '../../src/webseed/index.js';
import { bytes } from '../helpers/make-torrent.js';

const PIECE = 16384;
const DATA = bytes(100_000, 7); // 7 pieces, the last one 1_696 bytes
const INFO_HASH = createHash('sha1').update('webseed-test').digest();

function singleLayout(data = DATA): WebSeedLayout {
  const f: TorrentFile = { path: ['data.bin'], length: data.length, offset: 0, pad: false, executable: false, hidden: false, symlink: null, piecesRoot: null };
  return { name: 'data.bin', multiFile: false, map: new PieceMap([f], PIECE, data.length) };
}

interface TestServer {
  url: string;
  connections: number;
  maxOpen: number;
  open(): number;
  requests: { url: string; range: string | undefined }[];
  close(): Promise<void>;
}

const servers: TestServer[] = [];
const seeds: WebSeed[] = [];

afterEach(async () => {
  for (const s of seeds.splice(0)) s.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse, socket: Socket) => void): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => handler(req, res, req.socket));
  const t: TestServer = {
    url: '',
    connections: 0,
    maxOpen: 0,
    open: () => sockets.size,
    requests: [],
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  server.on('request', (req: http.IncomingMessage) => t.requests.push({ url: req.url ?? '', range: req.headers.range }));
  server.on('connection', (s: Socket) => {
    t.connections++;
    sockets.add(s);
    t.maxOpen = Math.max(t.maxOpen, sockets.size);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  servers.push(t);
  return t;
}

/** A correct Range server for DATA at any path. */
function rangeHandler(data = DATA) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!m) {
      res.writeHead(200, { 'Content-Length': data.length }).end(data);
      return;
    }
    const a = Number(m[1]);
    const b = Math.min(Number(m[2]), data.length - 1);
    res.writeHead(206, { 'Content-Length': b - a + 1, 'Content-Range': `bytes ${a}-${b}/${data.length}` }).end(data.subarray(a, b + 1));
  };
}

function seed(url: string, opts: Partial<WebSeedOptions> = {}): WebSeed {
  const s = new WebSeed({ url, kind: 'url-list', layout: singleLayout(), clock: systemClock(), ...opts });
  seeds.push(s);
  return s;
}

async function fetchAll(s: WebSeed, first: number, last: number, signal?: AbortSignal): Promise<Map<number, Buffer>> {
  const got = new Map<number, Buffer>();
  await s.fetchPieces(first, last, (p, d) => {
    expect(got.has(p)).toBe(false);
    got.set(p, d);
  }, signal);
  return got;
}

async function failure(p: Promise<unknown>): Promise<WebSeedError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(WebSeedError);
  return e as WebSeedError;
}

function piece(p: number, data = DATA): Buffer {
  return data.subarray(p * PIECE, Math.min(data.length, (p + 1) * PIECE));
}

describe('WebSeed (BEP 19) against hostile servers', () => {
  it('fetches a run with one Range request and hands over whole pieces', async () => {
    const srv = await serve(rangeHandler());
    const s = seed(`${srv.url}/data.bin`);
    const got = await fetchAll(s, 2, 6);
    expect([...got.keys()].sort()).toEqual([2, 3, 4, 5, 6]);
    for (const [p, d] of got) expect(d.equals(piece(p))).toBe(true);
    expect(srv.requests).toEqual([{ url: '/data.bin', range: `bytes=${2 * PIECE}-${DATA.length - 1}` }]);
    expect(s.state).toBe('idle');
    expect(s.counters).toMatchObject({ bytesReceived: DATA.length - 2 * PIECE, piecesDelivered: 5, requestsSent: 1, requestsFailed: 0 });
  });

  it('reuses its keep-alive connection across runs', async () => {
    const srv = await serve(rangeHandler());
    const s = seed(`${srv.url}/data.bin`);
    for (let p = 0; p < 7; p++) await fetchAll(s, p, p);
    expect(srv.requests).toHaveLength(7);
    expect(srv.connections).toBe(1);
  });

  it('200 (whole file) to a partial range: range-unsupported, permanent, the seed is dead', async () => {
    const srv = await serve((_req, res) => res.writeHead(200, { 'Content-Length': DATA.length }).end(DATA));
    const s = seed(`${srv.url}/data.bin`);
    const got = new Map<number, Buffer>();
    const e = await failure(s.fetchPieces(1, 2, (p, d) => got.set(p, d)));
    expect(e.kind).toBe('range-unsupported');
    expect(e.permanent).toBe(true);
    expect(got.size).toBe(0);
    expect(s.counters.bytesReceived).toBe(0);
    expect(s.state).toBe('dead');
    expect(await failure(s.fetchPieces(0, 0, () => {}))).toBe(e);
  });

  it('200 is accepted when the run is the whole file', async () => {
    const srv = await serve((_req, res) => res.writeHead(200, { 'Content-Length': DATA.length }).end(DATA));
    const got = await fetchAll(seed(`${srv.url}/data.bin`), 0, 6);
    expect(Buffer.concat([0, 1, 2, 3, 4, 5, 6].map((p) => got.get(p)!)).equals(DATA)).toBe(true);
  });

  it('a redirect is followed, and remembered for the next request', async () => {
    const srv = await serve((req, res) => {
      if (req.url === '/old/data.bin') res.writeHead(302, { Location: '/new/data.bin' }).end();
      else rangeHandler()(req, res);
    });
    const s = seed(`${srv.url}/old/data.bin`);
    await fetchAll(s, 0, 0);
    await fetchAll(s, 1, 1);
    expect(srv.requests.map((r) => r.url)).toEqual(['/old/data.bin', '/new/data.bin', '/new/data.bin']);
  });

  it('a redirect loop fails as soon as a URL comes round again', async () => {
    const srv = await serve((req, res) => res.writeHead(302, { Location: req.url === '/a' ? '/b' : '/a' }).end());
    const s = seed(`${srv.url}/a`);
    const e = await failure(s.fetchPieces(0, 0, () => {}));
    expect(e.kind).toBe('redirect-loop');
    expect(srv.requests.map((r) => r.url)).toEqual(['/a', '/b']);
    expect(s.state).toBe('dead');
  });

  it('an endless redirect chain stops after maxRedirects hops', async () => {
    const srv = await serve((req, res) => res.writeHead(301, { Location: `/r${Number((req.url ?? '/r0').slice(2)) + 1}` }).end());
    const e = await failure(seed(`${srv.url}/r0`, { maxRedirects: 3 }).fetchPieces(0, 0, () => {}));
    expect(e.kind).toBe('too-many-redirects');
    expect(srv.requests).toHaveLength(4);
  });

  it('a redirect to another scheme is refused', async () => {
    const srv = await serve((_req, res) => res.writeHead(302, { Location: 'file:///etc/passwd' }).end());
    expect((await failure(seed(`${srv.url}/x`).fetchPieces(0, 0, () => {}))).kind).toBe('bad-redirect');
  });

  it('a Content-Length other than the range asked fails before any byte is taken', async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(206, { 'Content-Length': PIECE * 2, 'Content-Range': `bytes 0-${PIECE - 1}/${DATA.length}` });
      res.end(DATA.subarray(0, PIECE * 2));
    });
    const s = seed(`${srv.url}/data.bin`);
    const e = await failure(s.fetchPieces(0, 0, () => {}));
    expect(e.kind).toBe('length-mismatch');
    expect(s.counters.bytesReceived).toBe(0);
    expect(s.state).toBe('backoff');
  });

  it('a Content-Length that promises more than is sent: short-body once the connection closes', async () => {
    const srv = await serve((req, res, socket) => {
      res.writeHead(206, { 'Content-Length': 2 * PIECE, 'Content-Range': `bytes 0-${2 * PIECE - 1}/${DATA.length}` });
      res.write(DATA.subarray(0, PIECE + 100), () => socket.destroy());
    });
    const got = new Map<number, Buffer>();
    const s = seed(`${srv.url}/data.bin`);
    const e = await failure(s.fetchPieces(0, 1, (p, d) => got.set(p, d)));
    expect(e.kind).toBe('short-body');
    // The piece that did arrive whole was handed over; the cut one was not.
    expect([...got.keys()]).toEqual([0]);
    expect(got.get(0)!.equals(piece(0))).toBe(true);
  });

  it('a Content-Length smaller than the range: length-mismatch', async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(206, { 'Content-Length': 10, 'Content-Range': `bytes 0-${PIECE - 1}/${DATA.length}` }).end(DATA.subarray(0, 10));
    });
    expect((await failure(seed(`${srv.url}/data.bin`).fetchPieces(0, 0, () => {}))).kind).toBe('length-mismatch');
  });

  it('a body longer than asked (no Content-Length) is cut at the first extra byte', async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(206, { 'Content-Range': `bytes 0-${PIECE - 1}/${DATA.length}` });
      // 64 KiB more than asked, then the server would go on forever.
      res.write(DATA.subarray(0, PIECE + 65536));
    });
    const s = seed(`${srv.url}/data.bin`);
    const e = await failure(s.fetchPieces(0, 0, () => {}));
    expect(e.kind).toBe('oversized-body');
    expect(s.counters.bytesReceived).toBeLessThanOrEqual(PIECE);
  });

  it('bytes after a correct Content-Length in the same packet: a typed error, and they reach no piece', async () => {
    const srv = await serve((_req, _res, socket) => {
      const head = `HTTP/1.1 206 Partial Content\r\nContent-Length: ${PIECE}\r\nContent-Range: bytes 0-${PIECE - 1}/${DATA.length}\r\n\r\n`;
      socket.write(Buffer.concat([Buffer.from(head), DATA.subarray(0, PIECE), Buffer.from('GARBAGE GARBAGE\r\n\r\n')]));
    });
    const s = seed(`${srv.url}/data.bin`);
    const got = new Map<number, Buffer>();
    const e = await failure(s.fetchPieces(0, 0, (p, d) => got.set(p, d)));
    // Node's parser refuses the packet as a whole; whether the body was emitted first decides the kind.
    expect(['oversized-body', 'short-body']).toContain(e.kind);
    expect(s.counters.bytesReceived).toBeLessThanOrEqual(PIECE);
    for (const [p, d] of got) expect(d.equals(piece(p))).toBe(true);
  });

  it('bytes after a correct Content-Length that come later cost only that idle socket', async () => {
    let n = 0;
    let poisoned!: () => void;
    const garbageSent = new Promise<void>((r) => (poisoned = r));
    const srv = await serve((req, res, socket) => {
      if (n++ > 0) {
        rangeHandler()(req, res);
        return;
      }
      res.writeHead(206, { 'Content-Length': PIECE, 'Content-Range': `bytes 0-${PIECE - 1}/${DATA.length}` });
      res.end(DATA.subarray(0, PIECE), () => setTimeout(() => socket.write('GARBAGE\r\n\r\n', () => poisoned()), 20));
    });
    const s = seed(`${srv.url}/data.bin`);
    const first = await fetchAll(s, 0, 0);
    expect(first.get(0)!.equals(piece(0))).toBe(true);
    await garbageSent;
    const second = await fetchAll(s, 1, 1);
    expect(second.get(1)!.equals(piece(1))).toBe(true);
    // The stray bytes failed the reused socket before any answer; the request went out again on a new one.
    expect(srv.connections).toBe(2);
    expect(s.counters.requestsFailed).toBe(0);
  });

  it('a wrong Content-Range fails', async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(206, { 'Content-Length': PIECE, 'Content-Range': `bytes ${PIECE}-${2 * PIECE - 1}/${DATA.length}` }).end(DATA.subarray(PIECE, 2 * PIECE));
    });
    expect((await failure(seed(`${srv.url}/data.bin`).fetchPieces(0, 0, () => {}))).kind).toBe('bad-content-range');
  });

  it('a Content-Encoding that was not asked for is refused', async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(206, { 'Content-Encoding': 'gzip', 'Content-Length': PIECE, 'Content-Range': `bytes 0-${PIECE - 1}/${DATA.length}` }).end(DATA.subarray(0, PIECE));
    });
    expect((await failure(seed(`${srv.url}/data.bin`).fetchPieces(0, 0, () => {}))).kind).toBe('encoded-body');
  });

  it('a stall (headers and half a body, then silence) fails with stall and backs off', async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(206, { 'Content-Length': PIECE, 'Content-Range': `bytes 0-${PIECE - 1}/${DATA.length}` });
      res.write(DATA.subarray(0, PIECE / 2));
    });
    const s = seed(`${srv.url}/data.bin`, { stallTimeoutMs: 200 });
    const e = await failure(s.fetchPieces(0, 0, () => {}));
    expect(e.kind).toBe('stall');
    expect(e.code).toBe('ERR_TIMEOUT');
    expect(s.counters.bytesReceived).toBe(PIECE / 2);
    expect(s.state).toBe('backoff');
    expect(s.counters.consecutiveFailures).toBe(1);
  });

  it('a server that never answers at all fails with stall too', async () => {
    const srv = await serve(() => {});
    expect((await failure(seed(`${srv.url}/data.bin`, { stallTimeoutMs: 150 }).fetchPieces(0, 0, () => {}))).kind).toBe('stall');
  });

  it('404 on a single-file seed: typed http-status error, the seed is dead', async () => {
    const srv = await serve((_req, res) => res.writeHead(404, { 'Content-Type': 'text/html' }).end('<h1>not found</h1>'));
    const s = seed(`${srv.url}/data.bin`);
    const e = await failure(s.fetchPieces(0, 0, () => {}));
    expect(e).toMatchObject({ kind: 'http-status', status: 404, permanent: true, code: 'ERR_PROTOCOL' });
    expect(s.state).toBe('dead');
    expect(s.covers(0, 0)).toBe(false);
  });

  it('500 with Retry-After: backoff for the longer of our schedule and the server\'s wait, then success resets it', async () => {
    let fail = true;
    const srv = await serve((req, res) => {
      if (fail) res.writeHead(500, { 'Retry-After': '120' }).end('oops');
      else rangeHandler()(req, res);
    });
    const s = seed(`${srv.url}/data.bin`);
    const before = Date.now();
    const e = await failure(s.fetchPieces(0, 0, () => {}));
    expect(e).toMatchObject({ kind: 'http-status', status: 500, permanent: false, retryAfterMs: 120_000 });
    expect(s.state).toBe('backoff');
    expect(s.retryAt!).toBeGreaterThanOrEqual(before + 120_000);
    fail = false;
    await fetchAll(s, 0, 0);
    expect(s.state).toBe('idle');
    expect(s.counters.consecutiveFailures).toBe(0);
    expect(s.retryAt).toBeNull();
  });

  it('a 503 without a wait backs off by RETRY_BASE_MS', async () => {
    const srv = await serve((_req, res) => res.writeHead(503).end());
    const s = seed(`${srv.url}/data.bin`);
    const before = Date.now();
    await failure(s.fetchPieces(0, 0, () => {}));
    expect(s.retryAt!).toBeGreaterThanOrEqual(before + RETRY_BASE_MS);
    expect(s.retryAt!).toBeLessThan(before + 2 * RETRY_BASE_MS);
  });

  it('abort stops the run with kind aborted, which is no failure of the server', async () => {
    let answered!: () => void;
    const requested = new Promise<void>((r) => (answered = r));
    const srv = await serve((_req, res) => {
      res.writeHead(206, { 'Content-Length': PIECE, 'Content-Range': `bytes 0-${PIECE - 1}/${DATA.length}` });
      res.write(DATA.subarray(0, 100));
      answered();
    });
    const s = seed(`${srv.url}/data.bin`);
    const ac = new AbortController();
    const p = failure(s.fetchPieces(0, 0, () => {}, ac.signal));
    await requested;
    ac.abort();
    expect((await p).kind).toBe('aborted');
    expect(s.state).toBe('idle');
    expect(s.counters.requestsFailed).toBe(0);
  });

  it('an exception from the piece callback ends the run unchanged and is not blamed on the server', async () => {
    const srv = await serve(rangeHandler());
    const s = seed(`${srv.url}/data.bin`);
    const mine = new Error('disk full');
    const e = await s.fetchPieces(0, 3, () => {
      throw mine;
    }).then(() => null, (err: unknown) => err);
    expect(e).toBe(mine);
    expect(s.state).toBe('idle');
    expect(s.counters.requestsFailed).toBe(0);
    expect((await fetchAll(s, 0, 0)).get(0)!.equals(piece(0))).toBe(true);
  });

  it('markBadPiece kills the seed (its bytes failed a hash check)', async () => {
    const srv = await serve(rangeHandler());
    const s = seed(`${srv.url}/data.bin`);
    await fetchAll(s, 0, 0);
    s.markBadPiece(0);
    expect(s.state).toBe('dead');
    expect(s.deadReason?.kind).toBe('bad-data');
  });

  it('close() leaves no connection open', async () => {
    const srv = await serve(rangeHandler());
    const s = seed(`${srv.url}/data.bin`);
    await fetchAll(s, 0, 3);
    expect(srv.open()).toBe(1);
    s.close();
    await expect.poll(() => srv.open(), { timeout: 2000 }).toBe(0);
  });
});

describe('createWebSeeds', () => {
  it('one seed per usable URL: url-list first, then httpseeds; others and duplicates skipped', () => {
    const f: TorrentFile = { path: ['data.bin'], length: DATA.length, offset: 0, pad: false, executable: false, hidden: false, symlink: null, piecesRoot: null };
    const meta = {
      name: 'data.bin',
      multiFile: false,
      files: [f],
      pieceLength: PIECE,
      totalLength: DATA.length,
      urlList: ['http://127.0.0.1:1/a', 'ftp://127.0.0.1/b', 'http://127.0.0.1:1/a', 'not a url'],
      httpSeeds: ['http://127.0.0.1:1/seed.php', 'http://127.0.0.1:1/a'],
      infoHash: INFO_HASH,
    };
    const made = createWebSeeds(meta, { clock: systemClock() });
    seeds.push(...made);
    expect(made.map((s) => [s.kind, s.url])).toEqual([
      ['url-list', 'http://127.0.0.1:1/a'],
      ['httpseeds', 'http://127.0.0.1:1/seed.php'],
    ]);
    const v2only = createWebSeeds({ ...meta, infoHash: null }, { clock: systemClock() });
    seeds.push(...v2only);
    expect(v2only.map((s) => s.kind)).toEqual(['url-list']);
  });
});

describe('WebSeed (BEP 17 httpseeds)', () => {
  /** A BEP 17 seed script: answers the piece named in the query, whole or by ranges; busy first if asked. */
  function bep17(busyFirst: number[]) {
    let busy = [...busyFirst];
    return (req: http.IncomingMessage, res: http.ServerResponse): void => {
      const q = new URL(req.url ?? '/', 'http://x').searchParams;
      const raw = (req.url ?? '').match(/info_hash=([^&]*)/)?.[1] ?? '';
      const hash = Buffer.from(unescape(raw), 'latin1');
      if (!hash.equals(INFO_HASH)) {
        res.writeHead(404).end();
        return;
      }
      if (busy.length > 0) {
        res.writeHead(503).end(String(busy.shift()));
        return;
      }
      const p = Number(q.get('piece'));
      const body = piece(p);
      res.writeHead(200, { 'Content-Length': body.length }).end(body);
    };
  }

  it('asks by info hash and piece, one request per piece, over at most maxConnections', async () => {
    const srv = await serve(bep17([]));
    const s = seed(`${srv.url}/seed.php`, { kind: 'httpseeds', infoHash: INFO_HASH, maxConnections: 2 });
    const got = await fetchAll(s, 0, 6);
    expect(got.size).toBe(7);
    for (const [p, d] of got) expect(d.equals(piece(p))).toBe(true);
    expect(srv.requests.map((r) => new URL(r.url, 'http://x').searchParams.get('piece')).sort()).toEqual(['0', '1', '2', '3', '4', '5', '6']);
    expect(srv.requests.every((r) => r.range === undefined)).toBe(true);
    expect(srv.maxOpen).toBeLessThanOrEqual(2);
  });

  it('503 with a number body: busy, retry after that many seconds', async () => {
    const srv = await serve(bep17([90]));
    const s = seed(`${srv.url}/seed.php`, { kind: 'httpseeds', infoHash: INFO_HASH });
    const before = Date.now();
    const e = await failure(s.fetchPieces(3, 3, () => {}));
    expect(e).toMatchObject({ kind: 'busy', status: 503, retryAfterMs: 90_000, permanent: false });
    expect(s.state).toBe('backoff');
    expect(s.retryAt!).toBeGreaterThanOrEqual(before + 90_000);
    const got = await fetchAll(s, 3, 3);
    expect(got.get(3)!.equals(piece(3))).toBe(true);
    expect(s.state).toBe('idle');
  });

  it('a piece answer of the wrong length fails', async () => {
    const srv = await serve((_req, res) => res.writeHead(200, { 'Content-Length': 5 }).end('short'));
    const s = seed(`${srv.url}/seed.php`, { kind: 'httpseeds', infoHash: INFO_HASH });
    expect((await failure(s.fetchPieces(0, 0, () => {}))).kind).toBe('length-mismatch');
  });

  it('needs the 20-byte info hash', () => {
    expect(() => new WebSeed({ url: 'http://127.0.0.1:1/s', kind: 'httpseeds', layout: singleLayout(), clock: systemClock() })).toThrow(RangeError);
  });
});
