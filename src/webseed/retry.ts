/**
 * Retry schedule of a web seed after a failed request. Pure: attempts in, milliseconds out, so
 * the session (and tests) can read the whole schedule without a clock.
 *
 * Invariants: the delay never decreases with the attempt number for the same server answer; it
 * is at least RETRY_BASE_MS and at most max(RETRY_MAX_MS, the server's capped own wait); a
 * server's Retry-After (or BEP 17 503 body) is honoured when it asks for longer than our schedule.
 */
import { MAX_SERVER_RETRY_AFTER_MS, RETRY_BASE_MS, RETRY_MAX_MS } from './limits.js';

/** Delay before retry number `attempt` (1 = the first retry after the first failure). */
export function retryDelayMs(attempt: number, serverRetryAfterMs: number | null = null): number {
  const n = Math.max(1, Math.floor(attempt));
  // 2^(n-1) overflows to Infinity long after RETRY_MAX_MS caps it, so no exponent clamp is needed.
  const ours = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (n - 1));
  if (serverRetryAfterMs === null || !Number.isFinite(serverRetryAfterMs) || serverRetryAfterMs <= 0) return ours;
  return Math.max(ours, Math.min(serverRetryAfterMs, MAX_SERVER_RETRY_AFTER_MS));
}

/**
 * Seconds to wait from an HTTP `Retry-After` header (delta-seconds form) or a BEP 17 503 body
 * (an ASCII integer), in milliseconds, capped; null when absent or not a plain number. The
 * HTTP-date form is not read: web seeds that send one get our own schedule.
 */
export function parseRetryAfterMs(text: string | undefined): number | null {
  if (text === undefined) return null;
  const t = text.trim();
  if (!/^\d{1,9}$/.test(t)) return null;
  return Math.min(Number(t) * 1000, MAX_SERVER_RETRY_AFTER_MS);
}
