/**
 * A .torrent by URL (src/cli/fetch-url.ts) against small servers of the test's own on
 * 127.0.0.1: the bytes of a real .torrent come back and parse; 404, an HTML page, a body too
 * large, a redirect loop, a server that never answers each give their typed error and exit code.
 * HTTPS with a self-signed certificate works once, and only once, NODE_EXTRA_CA_CERTS names it:
 * Node reads that variable at start-up, so that case spawns node on the built module (dist/).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchTorrentUrl, isTorrentUrl } from '../../src/cli/fetch-url.js';
import { InputError, RuntimeError, TorrentError } from '../../src/errors.js';
import { parseTorrent } from '../../src/metainfo/index.js';
import { repoRoot } from '../helpers/corpus.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';

const TORRENT = makeTorrent({ name: 'by-url.bin', data: bytes(100_000, 21), pieceLength: 16384 });

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function listen(server: http.Server | https.Server): Promise<number> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return (server.address() as AddressInfo).port;
}

async function serve(handler: http.RequestListener): Promise<{ url: string; hits: string[] }> {
  const hits: string[] = [];
  const port = await listen(
    http.createServer((req, res) => {
      hits.push(req.url ?? '');
      handler(req, res);
    }),
  );
  return { url: `http://127.0.0.1:${port}`, hits };
}

async function error(p: Promise<unknown>): Promise<TorrentError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TorrentError);
  return e as TorrentError;
}

describe('fetchTorrentUrl', () => {
  it('knows which arguments are URLs', () => {
    expect(isTorrentUrl('https://example.org/x.torrent')).toBe(true);
    expect(isTorrentUrl('HTTP://example.org/x.torrent')).toBe(true);
    expect(isTorrentUrl('x.torrent')).toBe(false);
    expect(isTorrentUrl('magnet:?xt=urn:btih:00')).toBe(false);
  });

  it('returns the .torrent bytes, through a redirect, and they parse', async () => {
    const srv = await serve((req, res) => {
      if (req.url === '/go') res.writeHead(302, { Location: '/files/x.torrent' }).end();
      else res.writeHead(200, { 'Content-Type': 'application/x-bittorrent' }).end(TORRENT);
    });
    const body = await fetchTorrentUrl(`${srv.url}/go`);
    expect(body.equals(TORRENT)).toBe(true);
    expect(parseTorrent(body).name).toBe('by-url.bin');
    expect(srv.hits).toEqual(['/go', '/files/x.torrent']);
  });

  it('undoes gzip when the server sends it', async () => {
    const srv = await serve((_req, res) => res.writeHead(200, { 'Content-Encoding': 'gzip' }).end(gzipSync(TORRENT)));
    expect((await fetchTorrentUrl(`${srv.url}/x.torrent`)).equals(TORRENT)).toBe(true);
  });

  it('404: InputError (exit 2) naming the URL, with a hint', async () => {
    const srv = await serve((_req, res) => res.writeHead(404).end('nope'));
    const e = await error(fetchTorrentUrl(`${srv.url}/missing.torrent`));
    expect(e).toBeInstanceOf(InputError);
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe(`${srv.url}/missing.torrent: HTTP 404 Not Found`);
    expect(e.hint).toMatch(/check the URL/);
  });

  it('500: RuntimeError (exit 1): the server may recover', async () => {
    const srv = await serve((_req, res) => res.writeHead(500).end());
    const e = await error(fetchTorrentUrl(`${srv.url}/x.torrent`));
    expect(e).toBeInstanceOf(RuntimeError);
    expect(e.exitCode).toBe(1);
  });

  it('an HTML page (by Content-Type) is refused', async () => {
    const srv = await serve((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end('<html>download here</html>'));
    const e = await error(fetchTorrentUrl(`${srv.url}/page`));
    expect(e).toBeInstanceOf(InputError);
    expect(e.message).toMatch(/HTML page, not a \.torrent/);
  });

  it('an HTML page sent as application/octet-stream is refused by its first byte', async () => {
    const srv = await serve((_req, res) => res.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end('\n  <!DOCTYPE html><html></html>'));
    expect((await error(fetchTorrentUrl(`${srv.url}/page`))).message).toMatch(/HTML page/);
  });

  it('too large by Content-Length: refused before the body', async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Length': 10_000 });
      res.write(Buffer.alloc(100));
    });
    const e = await error(fetchTorrentUrl(`${srv.url}/big`, { maxBytes: 1000 }));
    expect(e).toBeInstanceOf(InputError);
    expect(e.message).toMatch(/more than 1000 bytes, too large/);
  });

  it('too large without a Content-Length: cut at the bound', async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(4096, 0x64);
      const pump = (): void => {
        while (res.write(chunk));
        res.once('drain', pump);
      };
      pump();
    });
    const e = await error(fetchTorrentUrl(`${srv.url}/endless`, { maxBytes: 50_000 }));
    expect(e.message).toMatch(/more than 50000 bytes/);
  });

  it('too large after gunzip: bounded too', async () => {
    const srv = await serve((_req, res) => res.writeHead(200, { 'Content-Encoding': 'gzip' }).end(gzipSync(Buffer.alloc(1_000_000, 0x64))));
    expect((await error(fetchTorrentUrl(`${srv.url}/bomb`, { maxBytes: 100_000 }))).message).toMatch(/too large/);
  });

  it('a redirect loop fails when a URL comes round again', async () => {
    const srv = await serve((req, res) => res.writeHead(302, { Location: req.url === '/a' ? '/b' : '/a' }).end());
    const e = await error(fetchTorrentUrl(`${srv.url}/a`));
    expect(e).toBeInstanceOf(InputError);
    expect(e.message).toMatch(/redirect loop/);
    expect(srv.hits).toEqual(['/a', '/b']);
  });

  it('an endless chain of redirects stops after maxRedirects', async () => {
    const srv = await serve((req, res) => res.writeHead(307, { Location: `${req.url}x` }).end());
    const e = await error(fetchTorrentUrl(`${srv.url}/r`, { maxRedirects: 2 }));
    expect(e.message).toMatch(/more than 2 redirects/);
    expect(srv.hits).toHaveLength(3);
  });

  it('a server that never answers: timeout, RuntimeError', async () => {
    const srv = await serve(() => {});
    const e = await error(fetchTorrentUrl(`${srv.url}/x.torrent`, { timeoutMs: 200 }));
    expect(e).toMatchObject({ code: 'ERR_TIMEOUT', exitCode: 1 });
  });

  it('connection refused: RuntimeError naming the URL', async () => {
    const srv = await serve(() => {});
    const url = `${srv.url}/x.torrent`;
    await closers.pop()!();
    const e = await error(fetchTorrentUrl(url));
    expect(e).toBeInstanceOf(RuntimeError);
    expect(e.message).toContain(url);
    expect(e.message).toMatch(/ECONNREFUSED/);
  });

  it('ftp:// and redirects to file:// are refused', async () => {
    expect((await error(fetchTorrentUrl('ftp://127.0.0.1/x.torrent'))).message).toMatch(/only http and https/);
    const srv = await serve((_req, res) => res.writeHead(302, { Location: 'file:///etc/passwd' }).end());
    expect((await error(fetchTorrentUrl(`${srv.url}/x`))).message).toMatch(/redirect to file: URLs are not supported/);
  });
});

const distModule = join(repoRoot, 'dist', 'cli', 'fetch-url.js');
const haveOpenssl = existsSync('/usr/bin/openssl');

/** Runs fetchTorrentUrl in a fresh node (env read at start-up); prints the SHA-1 of the body, or the error. */
function fetchInChild(url: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = `
    const { fetchTorrentUrl } = await import(process.env.FETCH_URL_MODULE);
    const { createHash } = await import('node:crypto');
    try {
      const body = await fetchTorrentUrl(process.env.FETCH_URL, { timeoutMs: 5000 });
      process.stdout.write(createHash('sha1').update(body).digest('hex'));
    } catch (e) {
      process.stderr.write(e.message + '\\n' + (e.hint ?? '') + '\\n');
      process.exitCode = e.exitCode ?? 99;
    }`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: undefined, ...env, FETCH_URL_MODULE: distModule, FETCH_URL: url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe.skipIf(!haveOpenssl)('fetchTorrentUrl over HTTPS with a self-signed certificate', () => {
  it('fails untrusted, then works with NODE_EXTRA_CA_CERTS', async () => {
    expect(existsSync(distModule), 'build first: npx tsc -p tsconfig.json').toBe(true);
    const dir = await mkdtemp(join(tmpdir(), 'url-input-tls-'));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
    ], { stdio: 'ignore', timeout: 10_000 });
    const server = https.createServer({ key: await readFile(key), cert: await readFile(cert) }, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/x-bittorrent' }).end(TORRENT);
    });
    const port = await listen(server);
    const url = `https://127.0.0.1:${port}/x.torrent`;

    const untrusted = await fetchInChild(url, {});
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toContain(url);
    expect(untrusted.stderr).toMatch(/NODE_EXTRA_CA_CERTS/);

    const trusted = await fetchInChild(url, { NODE_EXTRA_CA_CERTS: cert });
    expect(trusted.stderr).toBe('');
    expect(trusted.code).toBe(0);
    expect(trusted.stdout).toBe(createHash('sha1').update(TORRENT).digest('hex'));
  }, 30_000);
});
