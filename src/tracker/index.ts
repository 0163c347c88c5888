/**
 * Tracker client (BEP 3, 7, 12, 15, 23, 48): what the session and the CLI import. Codecs are
 * exported for tests and tools; sockets live only in http-tracker.ts and udp-tracker.ts.
 */
export { announceOnce, ANNOUNCE_ONCE_DEADLINE_MS, type AnnounceOnceOptions, type AnnounceOnceResult } from './announce-once.js';
export {
  Announcer,
  type AnnounceOutcome,
  type AnnouncerOptions,
  type Timers,
  type TrackerWarning,
  type TransferStats,
} from './announcer.js';
export { createTracker, type CreateTrackerOptions } from './create-tracker.js';
export { HttpTracker, MAX_BODY_BYTES, type HttpTrackerOptions } from './http-tracker.js';
export { MAX_PEERS_PER_RESPONSE } from './peers.js';
export { TrackerTiers, type RandomSource } from './tiers.js';
export { isTrackerError, TrackerError, type TrackerErrorKind } from './tracker-error.js';
export {
  DEFAULT_NUMWANT,
  type AnnounceEvent,
  type AnnounceRequest,
  type AnnounceResponse,
  type PeerAddress,
  type ScrapeResponse,
  type ScrapeStats,
  type Tracker,
  type TrackerCallOptions,
} from './types.js';
export { UdpTracker, UDP_BASE_TIMEOUT_MS, type UdpTrackerOptions } from './udp-tracker.js';
/**
 * The tracker server (`torrent tracker`), loaded on demand: it needs the optional package
 * bittorrent-tracker, which no other command pays for.
 */
export const loadTrackerServer = (): Promise<typeof import('./server.js')> => import('./server.js');
