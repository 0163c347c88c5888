/**
 * The tracker client's public types: one request and one response shape for every transport, and
 * the Tracker interface the HTTP (BEP 3, 23, 7) and UDP (BEP 15) clients implement.
 *
 * Invariants: an AnnounceRequest that reaches a codec has passed validateAnnounceRequest (20-byte
 * info hash and peer id, port and key in range, non-negative byte counts); an AnnounceResponse
 * holds at most MAX_PEERS_PER_RESPONSE peers, none with port 0, IPv6 addresses as plain strings
 * without brackets.
 */
import { TrackerError } from './tracker-error.js';

export type AnnounceEvent = 'started' | 'completed' | 'stopped';

export interface PeerAddress {
  /** Dotted IPv4 or RFC 5952 IPv6 text, no brackets. */
  ip: string;
  port: number;
}

export interface AnnounceRequest {
  infoHash: Buffer;
  peerId: Buffer;
  /** The port we accept peer connections on. */
  port: number;
  uploaded: number | bigint;
  downloaded: number | bigint;
  left: number | bigint;
  event?: AnnounceEvent;
  /** Peers wanted; the tracker may send fewer. Default DEFAULT_NUMWANT. */
  numwant?: number;
  /** Random u32 that lets the tracker recognise us across IP changes (BEP 3 `key`, BEP 15). */
  key: number;
  /** Our address if the tracker should not use the source address (IPv4 only for UDP). */
  ip?: string;
}

export interface AnnounceResponse {
  peers: PeerAddress[];
  /** Seconds the tracker asks us to wait before the next regular announce. */
  interval: number;
  /** Seconds we must wait at least before any announce (HTTP `min interval`). */
  minInterval?: number;
  /** Opaque id to send back as `trackerid` (HTTP only; the client remembers it). */
  trackerId?: Buffer;
  /** Seeders. */
  complete?: number;
  /** Leechers. */
  incomplete?: number;
  /** The tracker's `warning message`, already stripped of control characters. */
  warning?: string;
}

export interface ScrapeStats {
  complete: number;
  incomplete: number;
  downloaded: number;
}

export interface ScrapeResponse {
  /** Keyed by lower-case hex info hash; only hashes we asked about. */
  files: Map<string, ScrapeStats>;
}

export interface TrackerCallOptions {
  signal?: AbortSignal;
  /**
   * Milliseconds from the call after which the operation fails with kind 'timeout'. UDP
   * retransmissions are shortened to fit.
   */
  deadlineMs?: number;
}

export interface Tracker {
  readonly url: string;
  announce(req: AnnounceRequest, opts?: TrackerCallOptions): Promise<AnnounceResponse>;
  scrape(infoHashes: Buffer[], opts?: TrackerCallOptions): Promise<ScrapeResponse>;
  /** Aborts what is in flight and releases sockets. Idempotent. */
  close(): void;
}

/** Peers asked for when the caller does not say: what libtorrent and most clients ask for. */
export const DEFAULT_NUMWANT = 50;
/** A larger numwant is clamped: no tracker sends more and we would cap the reply anyway. */
export const MAX_NUMWANT = 1000;

const U32_MAX = 0xffff_ffff;
/** Byte counts travel as int64 in BEP 15; larger values cannot be sent. */
const INT64_MAX = (1n << 63n) - 1n;

/** Throws TrackerError('invalid-request') for a request no tracker could accept. */
export function validateAnnounceRequest(req: AnnounceRequest): void {
  const bad = (what: string): never => {
    throw new TrackerError('invalid-request', `invalid announce request: ${what}`);
  };
  if (!Buffer.isBuffer(req.infoHash) || req.infoHash.length !== 20) bad('info hash must be 20 bytes');
  if (!Buffer.isBuffer(req.peerId) || req.peerId.length !== 20) bad('peer id must be 20 bytes');
  if (!Number.isInteger(req.port) || req.port < 0 || req.port > 65535) bad(`port ${req.port}`);
  if (!Number.isInteger(req.key) || req.key < 0 || req.key > U32_MAX) bad(`key ${req.key}`);
  for (const field of ['uploaded', 'downloaded', 'left'] as const) {
    const v = req[field];
    const ok = typeof v === 'bigint' ? v >= 0n && v <= INT64_MAX : Number.isSafeInteger(v) && v >= 0;
    if (!ok) bad(`${field} ${String(v)}`);
  }
  if (req.numwant !== undefined && (!Number.isInteger(req.numwant) || req.numwant < 0)) {
    bad(`numwant ${req.numwant}`);
  }
}

export function hex(infoHash: Buffer): string {
  return infoHash.toString('hex');
}

export function numwantOf(req: AnnounceRequest): number {
  return Math.min(req.numwant ?? DEFAULT_NUMWANT, MAX_NUMWANT);
}
