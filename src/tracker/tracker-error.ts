/**
 * TrackerError: the one error type every tracker failure becomes, whatever the transport.
 *
 * Owns: the `kind` vocabulary callers branch on (retry another tracker, report the tracker's own
 * words, give up). Invariant: every failure of a tracker operation that leaves src/tracker/ is a
 * TrackerError with code ERR_TRACKER; raw Node errors (ECONNREFUSED, AbortError, ...) are kept
 * only as `cause`.
 */
import { RuntimeError, type ErrorOptions as TorrentErrorOptions } from '../errors.js';

export type TrackerErrorKind =
  /** The tracker answered and refused: `failure reason` (BEP 3) or UDP action 3 (BEP 15). */
  | 'failure'
  /** The reply is not what the protocol allows: not bencode, HTML, truncated, bad packet. */
  | 'protocol'
  /** DNS, connection refused, reset, HTTP status other than 200. */
  | 'network'
  /** No answer before the deadline or after the last retransmission. */
  | 'timeout'
  /** The caller's AbortSignal fired, or the tracker was closed. */
  | 'aborted'
  /** The reply is larger than we are willing to read. */
  | 'too-large'
  /** The URL scheme or operation is not supported (e.g. wss:, scrape without 'announce'). */
  | 'unsupported'
  /** Our own request is malformed (wrong info hash length, port out of range): a caller bug. */
  | 'invalid-request';

export interface TrackerErrorOptions extends TorrentErrorOptions {
  url?: string;
}

export class TrackerError extends RuntimeError {
  readonly kind: TrackerErrorKind;
  /** The tracker URL the failure belongs to, when the thrower knows it (codecs do not). */
  readonly url: string | undefined;

  constructor(kind: TrackerErrorKind, message: string, options: TrackerErrorOptions = {}) {
    super('ERR_TRACKER', message, options);
    this.kind = kind;
    this.url = options.url;
  }

  /** The same failure attributed to `url` (codecs throw without one; clients add it). */
  withUrl(url: string): TrackerError {
    if (this.url === url) return this;
    return new TrackerError(this.kind, this.message, { url, cause: this.cause, hint: this.hint });
  }
}

export function isTrackerError(e: unknown): e is TrackerError {
  return e instanceof TrackerError;
}

/**
 * Turns anything thrown inside a tracker operation into a TrackerError for `url`. Used at the edge
 * of every client method so that no raw error escapes.
 */
export function toTrackerError(e: unknown, url: string): TrackerError {
  if (e instanceof TrackerError) return e.withUrl(url);
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  const text = typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
  return new TrackerError('network', text, {
    url,
    cause: e,
  });
}
