/**
 * `torrent download <https://…/x.torrent>` and `torrent info <http://…>` as a user runs them:
 * the .torrent comes from a loopback HTTPS server with a self-signed certificate trusted through
 * NODE_EXTRA_CA_CERTS, the data from a scripted seeder; 404, an HTML page, a body too large and a
 * redirect loop each end with one `torrent:` line and their exit code.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { runCli } from '../helpers/cli.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { startScriptedPeer, type ScriptedPeer } from '../helpers/scripted-peer.js';

const work = mkdtempSync(join(tmpdir(), 'torrent-url-dl-'));
const data = bytes(300_000, 31);
const TORRENT = makeTorrent({ name: 'by-url.bin', data, pieceLength: 32768 });
const haveOpenssl = existsSync('/usr/bin/openssl');
let seeder: ScriptedPeer;
let httpsServer: https.Server | null = null;
let httpServer: http.Server;
let cert = '';
let httpsPort = 0;
let httpPort = 0;

function listen(server: http.Server | https.Server): Promise<number> {
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)));
}

beforeAll(async () => {
  seeder = await startScriptedPeer({ data, pieceLength: 32768, infoHash: parseTorrent(TORRENT).infoHash! });
  httpServer = http.createServer((req, res) => {
    if (req.url === '/x.torrent') res.writeHead(200, { 'Content-Type': 'application/x-bittorrent' }).end(TORRENT);
    else if (req.url === '/page') res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html><body>not a torrent</body></html>');
    else if (req.url === '/huge') res.writeHead(200, { 'Content-Length': String(64 * 1024 * 1024) }).end();
    else if (req.url === '/loop') res.writeHead(302, { Location: '/loop2' }).end();
    else if (req.url === '/loop2') res.writeHead(302, { Location: '/loop' }).end();
    else res.writeHead(404).end('no');
  });
  httpPort = await listen(httpServer);
  if (haveOpenssl) {
    const key = join(work, 'key.pem');
    cert = join(work, 'cert.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
      { stdio: 'ignore', timeout: 10_000 },
    );
    httpsServer = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/x-bittorrent' }).end(TORRENT);
    });
    httpsPort = await listen(httpsServer);
  }
}, 30_000);

afterAll(async () => {
  await seeder?.close();
  httpServer.closeAllConnections();
  await new Promise((r) => httpServer.close(r));
  if (httpsServer) {
    httpsServer.closeAllConnections();
    await new Promise((r) => httpsServer!.close(r));
  }
  rmSync(work, { recursive: true, force: true });
});

describe('a .torrent by URL on the command line', () => {
  it.skipIf(!haveOpenssl)('download https://… with a self-signed certificate trusted through NODE_EXTRA_CA_CERTS', async () => {
    const out = join(work, 'out-https');
    const r = await runCli(['download', `https://127.0.0.1:${httpsPort}/x.torrent`, '-o', out, '--port', '0', '--no-dht', '--timeout', '20', '-q', '--peer', seeder.address], {
      env: { NODE_EXTRA_CA_CERTS: cert, TORRENT_CACHE_DIR: join(work, 'cache') },
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(createHash('sha1').update(readFileSync(join(out, 'by-url.bin'))).digest('hex')).toBe(createHash('sha1').update(data).digest('hex'));
  });

  it('info http://… shows the torrent', async () => {
    const r = await runCli(['info', `http://127.0.0.1:${httpPort}/x.torrent`, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).name).toBe('by-url.bin');
  });

  it.each([
    ['/missing', 2, /404/],
    ['/page', 2, /HTML/i],
    ['/huge', 2, /too large|larger/i],
    ['/loop', 2, /redirect/i],
  ])('info http://…%s exits %i with one torrent: line', async (path, code, pattern) => {
    const r = await runCli(['info', `http://127.0.0.1:${httpPort}${path}`]);
    expect(r.code).toBe(code);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^torrent: /);
    expect(lines[0]).toMatch(pattern);
    expect(lines.length).toBeLessThanOrEqual(2);
  });
});
