/**
 * `torrent download` from web seeds (BEP 19 url-list served by Debian's nginx, BEP 17 httpseeds
 * from a small server of the test's own): with no peer at all, beside a slow peer, beside a seed
 * that serves wrong bytes or 404s, and `--no-web-seeds`.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { startNginx, type RunningNginx } from '../helpers/nginx.js';
import { needs } from '../helpers/requirements.js';
import { startScriptedPeer, type ScriptedPeer } from '../helpers/scripted-peer.js';
import { parseTorrent } from '../../src/metainfo/index.js';

const tools = needs('nginx');
const work = mkdtempSync(join(tmpdir(), 'torrent-webseed-dl-'));
const servers: RunningNginx[] = [];
const httpServers: Server[] = [];
const peers: ScriptedPeer[] = [];
let n = 0;

const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');
const PIECE = 64 * 1024;

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await Promise.all(httpServers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

function fresh(label: string): string {
  const dir = join(work, `${label}-${++n}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A folder nginx serves, holding `files` under `root/<name>/...` (multi-file) or `root/<name>`. */
function serveDir(files: { path: string[]; data: Buffer }[], name: string, multi: boolean): string {
  const root = fresh('www');
  for (const f of files) {
    const parts = multi ? [name, ...f.path] : [name];
    mkdirSync(join(root, ...parts.slice(0, -1)), { recursive: true });
    writeFileSync(join(root, ...parts), f.data);
  }
  return root;
}

async function nginx(root: string): Promise<RunningNginx> {
  const s = await startNginx(root);
  servers.push(s);
  return s;
}

async function download(torrent: Buffer, extra: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string; out: string }> {
  const dir = fresh('dl');
  const file = join(dir, 't.torrent');
  writeFileSync(file, torrent);
  const out = join(dir, 'out');
  const r = await runCli(['download', file, '-o', out, '--port', '0', '--no-dht', '--timeout', '20', '-q', ...extra], {
    env: { TORRENT_CACHE_DIR: join(dir, 'cache') },
    timeoutMs: 60_000,
  });
  return { ...r, out };
}

const single = bytes(3 * PIECE + 12_345, 21);
const multiFiles = [
  { path: ['a.bin'], data: bytes(PIECE + 999, 22) },
  { path: ['sub dir', 'b é.txt'], data: bytes(2 * PIECE + 5, 23) },
  { path: ['empty'], data: Buffer.alloc(0) },
  { path: ['c.bin'], data: bytes(3 * PIECE + 77, 24) },
];

describe.skipIf(tools.skip)(`web seeds${tools.note}`, () => {
  it('a single-file torrent from nginx alone (url-list names the file)', async () => {
    const s = await nginx(serveDir([{ path: ['one.bin'], data: single }], 'one.bin', false));
    const r = await download(makeTorrent({ name: 'one.bin', data: single, pieceLength: PIECE, urlList: `${s.baseUrl}one.bin` }));
    expect(r.code, r.stderr).toBe(0);
    expect(sha1(readFileSync(join(r.out, 'one.bin')))).toBe(sha1(single));
    // Whole runs of pieces per request: never one request per 16 KiB block (the start-up probe of
    // the helper, GET /, aside).
    const log = (await s.accessLog()).filter((l) => !l.includes(' GET / '));
    expect(log.length).toBeLessThanOrEqual(2);
    expect(log.every((l) => l.startsWith('206 '))).toBe(true);
  });

  it('a multi-file torrent from nginx alone (url-list ends with /)', async () => {
    const s = await nginx(serveDir(multiFiles, 'album', true));
    const r = await download(makeTorrent({ name: 'album', files: multiFiles, pieceLength: PIECE, urlList: s.baseUrl }));
    expect(r.code, r.stderr).toBe(0);
    for (const f of multiFiles) expect(sha1(readFileSync(join(r.out, 'album', ...f.path)))).toBe(sha1(f.data));
  });

  it('a web seed together with one slow peer', async () => {
    const data = bytes(40 * PIECE, 25);
    const s = await nginx(serveDir([{ path: ['mix.bin'], data }], 'mix.bin', false));
    const torrent = makeTorrent({ name: 'mix.bin', data, pieceLength: PIECE, urlList: `${s.baseUrl}mix.bin` });
    const peer = await startScriptedPeer({ data, pieceLength: PIECE, infoHash: parseTorrent(torrent).infoHash!, rateBytesPerSec: 256 * 1024 });
    peers.push(peer);
    const r = await download(torrent, ['--peer', peer.address]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha1(readFileSync(join(r.out, 'mix.bin')))).toBe(sha1(data));
    expect(peer.stats.connections.some((c) => c.handshook)).toBe(true);
  });

  it('a seed serving wrong bytes beside a good one: the bad one is dropped, the download completes', async () => {
    const bad = Buffer.from(single);
    bad[PIECE + 10]! ^= 0xff;
    const good = await nginx(serveDir([{ path: ['one.bin'], data: single }], 'one.bin', false));
    const liar = await nginx(serveDir([{ path: ['one.bin'], data: bad }], 'one.bin', false));
    const r = await download(
      makeTorrent({ name: 'one.bin', data: single, pieceLength: PIECE, urlList: [`${liar.baseUrl}one.bin`, `${good.baseUrl}one.bin`] }),
      ['--json'],
    );
    expect(r.code, r.stderr).toBe(0);
    expect(sha1(readFileSync(join(r.out, 'one.bin')))).toBe(sha1(single));
    // The liar is listed first, so it is asked first; its bad piece drops it (no peer to blame).
    const warnings = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; message?: string }).filter((e) => e.event === 'warning');
    expect(warnings.some((w) => w.message?.includes(`web seed ${liar.baseUrl}one.bin sent bad data`))).toBe(true);
  });

  it('a 404 server beside a good one', async () => {
    const good = await nginx(serveDir([{ path: ['one.bin'], data: single }], 'one.bin', false));
    const empty = await nginx(fresh('www-empty'));
    const r = await download(makeTorrent({ name: 'one.bin', data: single, pieceLength: PIECE, urlList: [`${empty.baseUrl}one.bin`, `${good.baseUrl}one.bin`] }));
    expect(r.code, r.stderr).toBe(0);
    expect(sha1(readFileSync(join(r.out, 'one.bin')))).toBe(sha1(single));
    expect((await empty.accessLog()).some((l) => l.startsWith('404 '))).toBe(true);
  });

  it('--no-web-seeds does not touch the server (and times out without peers)', async () => {
    const s = await nginx(serveDir([{ path: ['one.bin'], data: single }], 'one.bin', false));
    const dir = fresh('dl');
    const file = join(dir, 't.torrent');
    writeFileSync(file, makeTorrent({ name: 'one.bin', data: single, pieceLength: PIECE, urlList: `${s.baseUrl}one.bin` }));
    const r = await runCli(['download', file, '-o', join(dir, 'out'), '--port', '0', '--no-dht', '--timeout', '2', '-q', '--no-web-seeds'], {
      env: { TORRENT_CACHE_DIR: join(dir, 'cache') },
      timeoutMs: 30_000,
    });
    expect(r.code).toBe(1);
    expect((await s.accessLog()).filter((l) => !l.includes(' GET / '))).toEqual([]);
  });
});

describe('BEP 17 http seeds', () => {
  it('downloads through ?info_hash=&piece= from a server of our own', async () => {
    const torrent = makeTorrent({ name: 'seed17.bin', data: single, pieceLength: PIECE, top: {} });
    const meta = parseTorrent(torrent);
    const asked: number[] = [];
    const server = createServer((req, res) => {
      // The info hash is 20 raw bytes, percent-encoded: decode to bytes, not to UTF-8 text.
      const query = new Map((req.url ?? '').replace(/^[^?]*\?/, '').split('&').map((kv) => kv.split('=') as [string, string]));
      const ih = Buffer.from(unescape(query.get('info_hash') ?? ''), 'latin1');
      const piece = Number(query.get('piece'));
      if (!ih.equals(meta.infoHash!) || !Number.isInteger(piece)) {
        res.writeHead(400).end();
        return;
      }
      asked.push(piece);
      const body = single.subarray(piece * PIECE, (piece + 1) * PIECE);
      res.writeHead(200, { 'Content-Length': body.length }).end(body);
    });
    httpServers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const withSeed = makeTorrent({ name: 'seed17.bin', data: single, pieceLength: PIECE, top: { httpseeds: [`http://127.0.0.1:${port}/seed`] } });
    const r = await download(withSeed);
    expect(r.code, r.stderr).toBe(0);
    expect(sha1(readFileSync(join(r.out, 'seed17.bin')))).toBe(sha1(single));
    expect([...new Set(asked)].sort((a, b) => a - b)).toEqual([0, 1, 2, 3]);
  });
});
