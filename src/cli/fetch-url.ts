/**
 * A .torrent given by URL (`torrent download https://example.org/x.torrent`): one bounded HTTP(S)
 * GET that returns the file's bytes for the metainfo parser. Owns nothing after it returns.
 *
 * Invariants:
 * - at most `maxBytes` bytes are ever held (a Content-Length above it fails before the body; a
 *   body that grows past it is cut at that point); gzip is undone only up to the same bound;
 * - at most `maxRedirects` hops, a hop back to a URL already visited is a loop, and only http and
 *   https are followed; the whole exchange (all hops) ends within `timeoutMs`;
 * - an HTML page (Content-Type text/html, or a body whose first non-blank byte is `<`) is refused:
 *   it is a download page, not a .torrent (bencode starts with `d`);
 * - errors: what the user can fix by giving another URL (404 and other 4xx, HTML, too large,
 *   redirect loop, not http(s)) is an InputError, exit 2; what may pass on retry (connection
 *   refused, DNS, TLS, timeout, 5xx) is a RuntimeError, exit 1. Every message names the URL.
 * HTTPS uses Node's default trust store, to which NODE_EXTRA_CA_CERTS adds at start-up (how a
 * private CA or a self-signed server is trusted).
 */
import http from 'node:http';
import https from 'node:https';
import { gunzipSync } from 'node:zlib';
import { InputError, RuntimeError, TorrentError } from '../errors.js';
import { MAX_TORRENT_BYTES } from '../metainfo/index.js';

/** Long enough for a slow mirror to send a multi-megabyte .torrent, short enough that a dead host does not look like a hang. */
export const FETCH_URL_TIMEOUT_MS = 30_000;
/** As for web seeds: mirror redirectors use one or two hops; more than 5 is a misconfiguration. */
export const FETCH_URL_MAX_REDIRECTS = 5;

export interface FetchUrlOptions {
  timeoutMs?: number;
  /** The largest .torrent accepted: the metainfo parser's own limit by default. */
  maxBytes?: number;
  maxRedirects?: number;
}

/** True for the arguments `fetchTorrentUrl` handles: http:// and https:// URLs. */
export function isTorrentUrl(arg: string): boolean {
  return /^https?:\/\//i.test(arg);
}

export async function fetchTorrentUrl(url: string, opts: FetchUrlOptions = {}): Promise<Buffer> {
  const timeoutMs = opts.timeoutMs ?? FETCH_URL_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? MAX_TORRENT_BYTES;
  const maxRedirects = opts.maxRedirects ?? FETCH_URL_MAX_REDIRECTS;
  let current = parseHttpUrl(url, url);
  const visited = new Set<string>([current.href]);
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    for (let hops = 0; ; ) {
      const r = await get(url, current, maxBytes, ac.signal, timeoutMs);
      if (r.kind === 'body') return r.body;
      const next = parseHttpUrl(url, r.location, current);
      hops++;
      if (visited.has(next.href)) {
        throw new InputError('ERR_READ', `${url}: redirect loop (${current.href} -> ${next.href} again)`, {
          hint: 'the server redirects in a circle; ask its owner, or download the .torrent another way',
        });
      }
      if (hops > maxRedirects) throw new InputError('ERR_READ', `${url}: more than ${maxRedirects} redirects`);
      visited.add(next.href);
      current = next;
    }
  } finally {
    clearTimeout(timer);
  }
}

function parseHttpUrl(label: string, text: string, base?: URL): URL {
  let u: URL;
  try {
    u = new URL(text, base);
  } catch {
    throw new InputError('ERR_READ', `${label}: ${base === undefined ? 'not a valid URL' : `redirect to an invalid URL ${JSON.stringify(text)}`}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new InputError('ERR_READ', `${label}: ${base === undefined ? '' : 'redirect to '}${u.protocol} URLs are not supported, only http and https`);
  }
  return u;
}

type GetResult = { kind: 'body'; body: Buffer } | { kind: 'redirect'; location: string };

function get(label: string, url: URL, maxBytes: number, signal: AbortSignal, timeoutMs: number): Promise<GetResult> {
  return new Promise<GetResult>((resolve, reject) => {
    let done = false;
    const finish = (r: GetResult | TorrentError): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      req.destroy();
      if (r instanceof TorrentError) reject(r);
      else resolve(r);
    };
    const tooLarge = (): InputError =>
      new InputError('ERR_READ', `${label}: more than ${maxBytes} bytes, too large for a .torrent file`);
    const html = (): InputError =>
      new InputError('ERR_READ', `${label}: the server sent an HTML page, not a .torrent file`, {
        hint: 'the link may lead to a download page; copy the link of the .torrent file itself',
      });
    const onAbort = (): void => finish(new RuntimeError('ERR_TIMEOUT', `${label}: no complete answer within ${timeoutMs} ms`));
    const req = (url.protocol === 'https:' ? https : http).get(url, {
      agent: false,
      headers: { Accept: 'application/x-bittorrent, */*;q=0.5', 'Accept-Encoding': 'gzip, identity', 'User-Agent': 'torrent/0.1' },
    });
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    req.on('error', (e: NodeJS.ErrnoException) => {
      const tls = typeof e.code === 'string' && /CERT|SSL|TLS|SELF_SIGNED/.test(e.code);
      finish(
        new RuntimeError('ERR_READ', `${label}: ${e.code ?? 'network error'}${e.message && e.message !== e.code ? ` (${e.message})` : ''}`, {
          cause: e,
          hint: tls ? 'the server\'s certificate is not trusted; to trust a private CA or self-signed certificate, set NODE_EXTRA_CA_CERTS=<file.pem>' : undefined,
        }),
      );
    });
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if ([301, 302, 303, 307, 308].includes(status)) {
        const loc = res.headers.location;
        if (loc === undefined) finish(new InputError('ERR_READ', `${label}: HTTP ${status} redirect without a Location`));
        else finish({ kind: 'redirect', location: loc });
        return;
      }
      if (status !== 200) {
        const what = `${label}: HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`;
        finish(
          status >= 400 && status < 500 && status !== 408 && status !== 429
            ? new InputError('ERR_READ', what, { hint: status === 404 || status === 410 ? 'check the URL: the server has no file there' : undefined })
            : new RuntimeError('ERR_READ', what, { hint: 'the server may be busy or down; try again later' }),
        );
        return;
      }
      if (/^\s*text\/html\b/i.test(headerText(res.headers['content-type']))) {
        finish(html());
        return;
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        finish(tooLarge());
        return;
      }
      const encoding = headerText(res.headers['content-encoding']).trim().toLowerCase();
      if (encoding !== '' && encoding !== 'identity' && encoding !== 'gzip') {
        finish(new RuntimeError('ERR_READ', `${label}: unsupported Content-Encoding ${encoding}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (done) return;
        size += chunk.length;
        if (size > maxBytes) {
          finish(tooLarge());
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        if (done) return;
        let body = Buffer.concat(chunks, size);
        if (encoding === 'gzip') {
          try {
            body = gunzipSync(body, { maxOutputLength: maxBytes });
          } catch (e) {
            const code = (e as NodeJS.ErrnoException).code;
            finish(code === 'ERR_BUFFER_TOO_LARGE' ? tooLarge() : new RuntimeError('ERR_READ', `${label}: corrupt gzip body`, { cause: e }));
            return;
          }
        }
        if (body.length === 0) {
          finish(new InputError('ERR_READ', `${label}: the server sent an empty body`));
          return;
        }
        if (firstNonBlank(body) === 0x3c /* '<' */) {
          finish(html());
          return;
        }
        finish({ kind: 'body', body });
      });
      res.on('error', (e) => finish(new RuntimeError('ERR_READ', `${label}: connection lost after ${size} bytes`, { cause: e })));
      res.on('close', () => {
        if (!res.complete) finish(new RuntimeError('ERR_READ', `${label}: connection closed after ${size} bytes`));
      });
    });
  });
}

function headerText(v: string | string[] | undefined): string {
  return (Array.isArray(v) ? v[0] : v) ?? '';
}

function firstNonBlank(b: Buffer): number | undefined {
  for (const c of b) if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return c;
  return undefined;
}
