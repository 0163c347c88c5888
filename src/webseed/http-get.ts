/**
 * One bounded HTTP GET of a web seed: a Range request of one file (BEP 19) or one piece request
 * (BEP 17), its redirects, its timeouts, and a body that is checked byte by byte against what was
 * asked. The bytes go to a callback as they arrive (offset, chunk); nothing is buffered here.
 *
 * Why node:http and not fetch (undici): we need to cut a response off at the first byte past the
 * asked length, to see each redirect hop (to detect loops and remember where a redirector sent
 * us), to own the per-server connection limit through an Agent we can destroy with the seed, and
 * to receive bytes exactly as sent (fetch decodes Content-Encoding on its own, which would hand
 * us bytes that are not the file's). node:http gives all of that with a keep-alive Agent and no
 * extra layer of streams.
 *
 * Invariants:
 * - at most `length` bytes are ever passed to `onData`, at offsets 0..length-1, in order; one
 *   byte more and the request fails with `oversized-body` (so memory is bounded by the caller's
 *   buffers, never by the server);
 * - 206 must carry the exact Content-Range asked; a 200 is accepted for a Range request only when
 *   the range is the whole file (then the 200 body *is* the range); otherwise `range-unsupported`
 *   (permanent: we do not read and discard a whole file to reach a piece in its middle);
 * - a Content-Length other than the asked length fails before any byte is read; a body that ends
 *   early fails with `short-body`;
 * - a kept-alive socket that fails before any answer is retried once on another socket (the
 *   server may close idle sockets at any time, or have left stray bytes on one);
 * - redirects: at most maxRedirects hops, a hop back to a URL already visited is a loop; targets
 *   must be http(s);
 * - an exception thrown by `onData` ends the request and is rethrown unchanged (never a
 *   WebSeedError, so it is never blamed on the server);
 * - every hop is bounded by a whole-request deadline and a stall timeout on the injected clock,
 *   both started when the request gets its socket (time queued behind the Agent's limit is not
 *   the server's), so a request ends within (maxRedirects + 2) deadlines once it has a socket;
 * - each hop ends in exactly one settle (success or one error) and its socket is either returned
 *   to the Agent (success) or destroyed.
 */
import http from 'node:http';
import https from 'node:https';
import type { Clock, TimerHandle } from '../util/clock.js';
import { MAX_ERROR_BODY_BYTES, MAX_REMEMBERED_REDIRECTS, MIN_SERVER_BYTES_PER_S, REQUEST_TIMEOUT_BASE_MS } from './limits.js';
import { parseRetryAfterMs } from './retry.js';
import { WebSeedError, type WebSeedErrorKind, type WebSeedErrorOptions } from './webseed-error.js';

export interface SeedAgents {
  readonly http: http.Agent;
  readonly https: https.Agent;
}

/** Keep-alive agents for one web server: at most `maxSockets` connections, reused LIFO so idle ones age out. */
export function createSeedAgents(maxSockets: number): SeedAgents {
  const opts = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' as const };
  return { http: new http.Agent(opts), https: new https.Agent(opts) };
}

export interface SeedGet {
  readonly url: string;
  readonly length: number;
  /**
   * BEP 19: the byte range of the file, and the file's whole length (for the 200 rule). Null for
   * BEP 17, whose server answers 200 with exactly `length` bytes for the query in the URL.
   */
  readonly range: { readonly start: number; readonly fileLength: number } | null;
  /** BEP 17 only: a 503 body is the number of seconds to wait. */
  readonly busyBodyIsSeconds: boolean;
}

export interface SeedGetContext {
  readonly agents: SeedAgents;
  readonly clock: Clock;
  readonly stallTimeoutMs: number;
  readonly requestTimeoutBaseMs: number;
  readonly maxRedirects: number;
  readonly userAgent: string;
  /** Original URL -> where its redirects ended last time (bounded by MAX_REMEMBERED_REDIRECTS). */
  readonly redirects: Map<string, string>;
  readonly signal?: AbortSignal;
}

/** Whole-request deadline for `length` bytes (REQUEST_TIMEOUT_BASE_MS + time at MIN_SERVER_BYTES_PER_S). */
export function requestTimeoutMs(length: number, baseMs = REQUEST_TIMEOUT_BASE_MS): number {
  return baseMs + Math.ceil((length / MIN_SERVER_BYTES_PER_S) * 1000);
}

/**
 * null: done; redirect: go there; stale-socket: a kept-alive socket failed before any answer (the
 * server closed it while idle, or left bytes on it), so the same hop is worth one more try on
 * another socket. This is the keep-alive race Node's docs describe for `request.reusedSocket`.
 */
type HopResult = { redirect: string } | { staleSocket: WebSeedError } | null;

/** Runs one web-seed GET to completion: resolves when all `length` bytes went to `onData`. */
export async function seedGet(req: SeedGet, ctx: SeedGetContext, onData: (offset: number, chunk: Buffer) => void): Promise<void> {
  const remembered = ctx.redirects.get(req.url);
  let url = remembered ?? req.url;
  const visited = new Set<string>([req.url, url]);
  const totalMs = requestTimeoutMs(req.length, ctx.requestTimeoutBaseMs);
  let staleRetried = false;
  for (let hops = 0; ; ) {
    let result: HopResult;
    try {
      result = await oneHop(url, req, ctx, totalMs, onData);
    } catch (e) {
      if (remembered !== undefined) ctx.redirects.delete(req.url);
      throw e;
    }
    if (result === null) {
      if (url !== req.url) remember(ctx.redirects, req.url, url);
      return;
    }
    if ('staleSocket' in result) {
      if (staleRetried) throw result.staleSocket;
      staleRetried = true;
      continue;
    }
    hops++;
    if (visited.has(result.redirect)) {
      throw new WebSeedError('redirect-loop', req.url, `redirect loop: ${url} -> ${result.redirect}, already visited`);
    }
    if (hops > ctx.maxRedirects) {
      throw new WebSeedError('too-many-redirects', req.url, `more than ${ctx.maxRedirects} redirects`);
    }
    visited.add(result.redirect);
    url = result.redirect;
  }
}

function remember(map: Map<string, string>, from: string, to: string): void {
  if (!map.has(from) && map.size >= MAX_REMEMBERED_REDIRECTS) {
    const oldest = map.keys().next();
    if (oldest.done !== true) map.delete(oldest.value);
  }
  map.set(from, to);
}

function oneHop(
  url: string,
  req: SeedGet,
  ctx: SeedGetContext,
  totalMs: number,
  onData: (offset: number, chunk: Buffer) => void,
): Promise<HopResult> {
  return new Promise<HopResult>((resolve, reject) => {
    const parsed = new URL(url);
    const isHttps = parsed.protocol === 'https:';
    const headers: http.OutgoingHttpHeaders = { 'User-Agent': ctx.userAgent, 'Accept-Encoding': 'identity' };
    if (req.range !== null) headers.Range = `bytes=${req.range.start}-${req.range.start + req.length - 1}`;
    // Errors name the URL the session asked for; the hop that failed is in the message.
    const hopError = (kind: WebSeedErrorKind, message: string, options?: WebSeedErrorOptions): WebSeedError =>
      new WebSeedError(kind, req.url, url === req.url ? message : `${message} (at ${url})`, options);
    let settled = false;
    let lastByteAt = ctx.clock.now();
    let stallTimer: TimerHandle | null = null;
    let deadlineTimer: TimerHandle | null = null;
    let response: http.IncomingMessage | null = null;
    let received = 0;

    const cleanup = (): void => {
      stallTimer?.cancel();
      deadlineTimer?.cancel();
      ctx.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (err: WebSeedError | Error): void => {
      if (settled) return;
      settled = true;
      cleanup();
      // Destroying drops the socket: after a bad answer its stream position is unknown.
      response?.destroy();
      request.destroy();
      reject(err);
    };
    const succeed = (r: HopResult): void => {
      if (settled) return;
      settled = true;
      cleanup();
      resolve(r);
    };
    const onAbort = (): void => fail(hopError('aborted', 'request aborted'));

    const request = (isHttps ? https : http).request(parsed, {
      method: 'GET',
      headers,
      agent: isHttps ? ctx.agents.https : ctx.agents.http,
    });
    request.on('error', (e: NodeJS.ErrnoException) => {
      // After the response began, a socket error is the body's fault: cut short, or bytes past its
      // end that the parser refused (a server writing more than its Content-Length).
      const kind = response === null ? 'network' : received >= req.length ? 'oversized-body' : 'short-body';
      const err = hopError(kind, e.code ?? e.message, { cause: e });
      if (response === null && request.reusedSocket && !settled) {
        settled = true;
        cleanup();
        request.destroy();
        resolve({ staleSocket: err });
        return;
      }
      fail(err);
    });

    const armStall = (): void => {
      const wait = lastByteAt + ctx.stallTimeoutMs - ctx.clock.now();
      stallTimer = ctx.clock.setTimeout(() => {
        if (settled) return;
        if (ctx.clock.now() - lastByteAt >= ctx.stallTimeoutMs) {
          fail(hopError('stall', `no bytes for ${ctx.stallTimeoutMs} ms`));
        } else armStall();
      }, Math.max(1, wait));
    };
    // Both clocks start when the Agent hands the request a socket: a request queued behind the
    // server's other connections is waiting for us, not for the server.
    request.once('socket', () => {
      if (settled) return;
      lastByteAt = ctx.clock.now();
      armStall();
      deadlineTimer = ctx.clock.setTimeout(() => fail(hopError('timeout', `request not done within ${totalMs} ms`)), totalMs);
    });
    if (ctx.signal?.aborted === true) {
      onAbort();
      return;
    }
    ctx.signal?.addEventListener('abort', onAbort, { once: true });

    request.on('response', (res) => {
      response = res;
      lastByteAt = ctx.clock.now();
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && status !== 304) {
        const loc = res.headers.location;
        let target: URL | null = null;
        try {
          target = loc === undefined ? null : new URL(loc, url);
        } catch {
          target = null;
        }
        if (target === null || (target.protocol !== 'http:' && target.protocol !== 'https:')) {
          fail(hopError('bad-redirect', `${status} redirect to ${JSON.stringify(loc ?? null)}`, { status }));
          return;
        }
        // The redirect body is never read: dropping the socket is cheaper than draining an unknown length.
        res.destroy();
        succeed({ redirect: target.href });
        return;
      }
      const wholeFile = req.range !== null && req.range.start === 0 && req.length === req.range.fileLength;
      const ok = status === 206 ? req.range !== null : status === 200 ? req.range === null || wholeFile : false;
      if (!ok) {
        if (status === 200) {
          fail(hopError('range-unsupported', 'the server answered 200 (the whole file) to a Range request', { status }));
          return;
        }
        readErrorBody(res, status);
        return;
      }
      const encoding = res.headers['content-encoding'];
      if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
        fail(hopError('encoded-body', `Content-Encoding ${encoding} was not asked for`, { status }));
        return;
      }
      if (status === 206 && req.range !== null) {
        const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers['content-range']?.trim() ?? '');
        const want = [req.range.start, req.range.start + req.length - 1];
        if (cr === null || Number(cr[1]) !== want[0] || Number(cr[2]) !== want[1]) {
          fail(
            hopError('bad-content-range', `asked bytes ${want[0]}-${want[1]}, got Content-Range ${JSON.stringify(res.headers['content-range'] ?? null)}`, { status }),
          );
          return;
        }
      }
      const cl = res.headers['content-length'];
      if (cl !== undefined && Number(cl) !== req.length) {
        fail(hopError('length-mismatch', `asked ${req.length} bytes, Content-Length says ${cl}`, { status }));
        return;
      }
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        lastByteAt = ctx.clock.now();
        if (received + chunk.length > req.length) {
          fail(hopError('oversized-body', `body longer than the ${req.length} bytes asked`, { status }));
          return;
        }
        const at = received;
        received += chunk.length;
        try {
          onData(at, chunk);
        } catch (e) {
          // The caller's own failure (its piece callback threw): not the server's fault, passed on as is.
          fail(e instanceof Error ? e : new Error(String(e)));
        }
      });
      res.on('end', () => {
        if (received < req.length) fail(hopError('short-body', `body ended after ${received} of ${req.length} bytes`, { status }));
        else succeed(null);
      });
      res.on('error', (e) => fail(hopError('short-body', `body cut after ${received} of ${req.length} bytes`, { status, cause: e })));
      res.on('close', () => {
        if (!res.complete) fail(hopError('short-body', `connection closed after ${received} of ${req.length} bytes`, { status }));
      });
    });
    request.end();

    function readErrorBody(res: http.IncomingMessage, status: number): void {
      const parts: Buffer[] = [];
      let size = 0;
      const finish = (): void => {
        const body = Buffer.concat(parts).toString('latin1');
        if (status === 503 && req.busyBodyIsSeconds) {
          const wait = parseRetryAfterMs(body) ?? parseRetryAfterMs(headerText(res.headers['retry-after']));
          fail(hopError('busy', `busy (503)${wait === null ? '' : `, retry in ${wait / 1000} s`}`, { status, retryAfterMs: wait ?? undefined }));
          return;
        }
        const wait = parseRetryAfterMs(headerText(res.headers['retry-after']));
        fail(hopError('http-status', `HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`, { status, retryAfterMs: wait ?? undefined }));
      };
      res.on('data', (chunk: Buffer) => {
        lastByteAt = ctx.clock.now();
        const room = MAX_ERROR_BODY_BYTES - size;
        if (room > 0) parts.push(chunk.subarray(0, room));
        size += chunk.length;
        if (size >= MAX_ERROR_BODY_BYTES) finish();
      });
      res.on('end', finish);
      res.on('error', finish);
      res.on('close', finish);
    }
  });
}

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
