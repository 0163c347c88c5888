/**
 * WebSeedError: why one HTTP request to a web seed (BEP 19, BEP 17) failed, as a `kind` the
 * WebSeed and the session branch on, whether retrying can help (`permanent`), and how long the
 * server asked us to wait (`retryAfterMs`).
 *
 * Invariants: never reaches the CLI on its own (the session drops or backs off the seed, as it
 * drops a peer); `code` is ERR_TIMEOUT for timeouts and stalls, ERR_PROTOCOL for everything the
 * server got wrong.
 */
import { RuntimeError } from '../errors.js';

export type WebSeedErrorKind =
  /** 4xx/5xx other than a BEP 17 busy answer. */
  | 'http-status'
  /** BEP 17: 503 with a number of seconds to wait in the body. */
  | 'busy'
  /** A redirect pointed back at a URL already visited for this request. */
  | 'redirect-loop'
  | 'too-many-redirects'
  /** A redirect without a usable Location, or to something other than http(s). */
  | 'bad-redirect'
  /** 200 (the whole file) where a part of it was asked: the server ignores Range. */
  | 'range-unsupported'
  /** A 206 whose Content-Range is not the range asked. */
  | 'bad-content-range'
  /** A Content-Length that differs from the range asked. */
  | 'length-mismatch'
  /** The body ended before the bytes asked for. */
  | 'short-body'
  /** The body went on past the bytes asked for. */
  | 'oversized-body'
  /** A Content-Encoding (gzip...) we did not ask for: the bytes are not the file's. */
  | 'encoded-body'
  | 'timeout'
  | 'stall'
  /** Connection refused, reset, DNS failure, TLS failure. */
  | 'network'
  /** The caller aborted the request (the piece came from elsewhere, the session stopped). */
  | 'aborted'
  /** The session found a piece from this seed failing its hash check. */
  | 'bad-data';

export interface WebSeedErrorOptions {
  status?: number;
  retryAfterMs?: number;
  cause?: unknown;
}

/** Kinds that no retry can fix: the server does not have, or does not serve, what we need. */
const PERMANENT: ReadonlySet<WebSeedErrorKind> = new Set([
  'redirect-loop',
  'too-many-redirects',
  'bad-redirect',
  'range-unsupported',
  'encoded-body',
  'bad-data',
]);

export class WebSeedError extends RuntimeError {
  readonly kind: WebSeedErrorKind;
  readonly url: string;
  readonly status: number | null;
  /** The server's own wait (Retry-After, BEP 17 503 body), already capped; null if it gave none. */
  readonly retryAfterMs: number | null;
  /** True when retrying the same request cannot succeed. */
  readonly permanent: boolean;

  constructor(kind: WebSeedErrorKind, url: string, message: string, options: WebSeedErrorOptions = {}) {
    super(kind === 'timeout' || kind === 'stall' ? 'ERR_TIMEOUT' : 'ERR_PROTOCOL', `web seed ${url}: ${message}`, {
      cause: options.cause,
    });
    this.kind = kind;
    this.url = url;
    this.status = options.status ?? null;
    this.retryAfterMs = options.retryAfterMs ?? null;
    this.permanent = PERMANENT.has(kind) || (kind === 'http-status' && isPermanentStatus(options.status ?? 0));
  }
}

/**
 * 4xx means "this request will never work" except for the ones that say "not now": 408 (request
 * timeout) and 429 (too many requests). 5xx are the server's trouble and may pass.
 */
function isPermanentStatus(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

export function isWebSeedError(e: unknown): e is WebSeedError {
  return e instanceof WebSeedError;
}
