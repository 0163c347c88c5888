/**
 * Peer candidates from every source (trackers, --peer, incoming, later DHT and PEX) and when each
 * may be dialled again. Pure: time is passed in.
 *
 * Policy: a candidate is dialled when not connected and its backoff has passed; each failed or
 * unproductive connection doubles the wait (RETRY_BASE_MS .. RETRY_MAX_MS); a banned address is
 * never dialled again in this session. The pool is bounded (MAX_CANDIDATES): past it, new
 * addresses are ignored, so a tracker or PEX flood cannot grow memory.
 */

export interface Candidate {
  host: string;
  port: number;
  source: string;
  failures: number;
  nextAttemptAt: number;
  connected: boolean;
  banned: boolean;
}

/** More candidates than this are of no use with at most a few hundred connections. */
export const MAX_CANDIDATES = 2000;
export const RETRY_BASE_MS = 5_000;
export const RETRY_MAX_MS = 5 * 60_000;

export function addressKey(host: string, port: number): string {
  return host.includes(':') ? `[${host.toLowerCase()}]:${port}` : `${host}:${port}`;
}

export class PeerPool {
  private readonly candidates = new Map<string, Candidate>();

  add(host: string, port: number, source: string, now: number): boolean {
    if (port <= 0 || port > 65535) return false;
    const k = addressKey(host, port);
    if (this.candidates.has(k)) return false;
    if (this.candidates.size >= MAX_CANDIDATES) return false;
    this.candidates.set(k, { host, port, source, failures: 0, nextAttemptAt: now, connected: false, banned: false });
    return true;
  }

  get(host: string, port: number): Candidate | undefined {
    return this.candidates.get(addressKey(host, port));
  }

  /** Every candidate that is not banned. */
  all(): Candidate[] {
    return [...this.candidates.values()].filter((c) => !c.banned);
  }

  get size(): number {
    return this.candidates.size;
  }

  /** Candidates that may be dialled now, fewest failures first. */
  ready(now: number, max: number): Candidate[] {
    const out: Candidate[] = [];
    for (const c of this.candidates.values()) {
      if (!c.connected && !c.banned && c.nextAttemptAt <= now) out.push(c);
    }
    out.sort((a, b) => a.failures - b.failures);
    return out.slice(0, max);
  }

  /** Any candidate that could still be dialled, now or after its backoff. */
  get hasUsable(): boolean {
    for (const c of this.candidates.values()) if (!c.banned) return true;
    return false;
  }

  markConnecting(c: Candidate): void {
    c.connected = true;
  }

  /** The connection ended; `useful` = it delivered data, so the failure count starts over. */
  markClosed(c: Candidate, now: number, useful: boolean): void {
    c.connected = false;
    c.failures = useful ? 0 : c.failures + 1;
    c.nextAttemptAt = now + Math.min(RETRY_BASE_MS * 2 ** Math.max(0, c.failures - 1), RETRY_MAX_MS);
  }

  ban(host: string, port: number): void {
    const c = this.candidates.get(addressKey(host, port));
    if (c) c.banned = true;
  }
}
