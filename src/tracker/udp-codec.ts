/**
 * UDP tracker protocol without I/O (BEP 15): encodes connect, announce and scrape requests and
 * decodes replies into a tagged union, or throws TrackerError('protocol').
 *
 * Invariants: all integers big-endian; requests are exactly 16 (connect), 98 (announce) and
 * 16 + 20n (scrape, n <= MAX_SCRAPE_HASHES_PER_PACKET) bytes; the peer entry size (6 or 18) is
 * decided by the address family of the socket the reply came in on (BEP 15 IPv6 section), never
 * by the reply; peers pass through PeerCollector (cap, no port 0).
 */
import { isIPv4 } from 'node:net';
import { addCompactV4, addCompactV6, MAX_PEERS_PER_RESPONSE, PeerCollector } from './peers.js';
import { TrackerError } from './tracker-error.js';
import { trackerText } from './tracker-text.js';
import { numwantOf, validateAnnounceRequest, type AnnounceEvent, type AnnounceRequest, type AnnounceResponse, type ScrapeStats } from './types.js';

/** BEP 15 magic constant that opens every connect request. */
export const PROTOCOL_ID = 0x41727101980n;

export const ACTION_CONNECT = 0;
export const ACTION_ANNOUNCE = 1;
export const ACTION_SCRAPE = 2;
export const ACTION_ERROR = 3;

/** BEP 15: "Up to about 74 torrents can be scraped at once", so the request stays under ~1500 B. */
export const MAX_SCRAPE_HASHES_PER_PACKET = 74;

export const CONNECT_REQUEST_BYTES = 16;
export const ANNOUNCE_REQUEST_BYTES = 98;
const REPLY_HEADER_BYTES = 8;
const ANNOUNCE_REPLY_HEADER_BYTES = 20;
const SCRAPE_ENTRY_BYTES = 12;

const EVENT_IDS: Record<AnnounceEvent | 'none', number> = { none: 0, completed: 1, started: 2, stopped: 3 };

export type UdpReply =
  | { action: 'connect'; transactionId: number; connectionId: Buffer }
  | { action: 'announce'; transactionId: number; response: AnnounceResponse }
  | { action: 'scrape'; transactionId: number; stats: ScrapeStats[] }
  | { action: 'error'; transactionId: number; message: string };

export function encodeConnect(transactionId: number): Buffer {
  const b = Buffer.alloc(CONNECT_REQUEST_BYTES);
  b.writeBigUInt64BE(PROTOCOL_ID, 0);
  b.writeUInt32BE(ACTION_CONNECT, 8);
  b.writeUInt32BE(transactionId >>> 0, 12);
  return b;
}

function checkConnectionId(connectionId: Buffer): void {
  if (connectionId.length !== 8) throw new TrackerError('invalid-request', 'connection id must be 8 bytes');
}

export function encodeAnnounce(connectionId: Buffer, transactionId: number, req: AnnounceRequest): Buffer {
  validateAnnounceRequest(req);
  checkConnectionId(connectionId);
  const b = Buffer.alloc(ANNOUNCE_REQUEST_BYTES);
  connectionId.copy(b, 0);
  b.writeUInt32BE(ACTION_ANNOUNCE, 8);
  b.writeUInt32BE(transactionId >>> 0, 12);
  req.infoHash.copy(b, 16);
  req.peerId.copy(b, 36);
  b.writeBigUInt64BE(BigInt(req.downloaded), 56);
  b.writeBigUInt64BE(BigInt(req.left), 64);
  b.writeBigUInt64BE(BigInt(req.uploaded), 72);
  b.writeUInt32BE(EVENT_IDS[req.event ?? 'none'], 80);
  // IP field: 0 = use the source address. Only an IPv4 literal fits the 4 bytes.
  if (req.ip !== undefined && isIPv4(req.ip)) {
    const q = req.ip.split('.').map(Number);
    b.set(q, 84);
  }
  b.writeUInt32BE(req.key >>> 0, 88);
  b.writeInt32BE(req.numwant === undefined ? -1 : numwantOf(req), 92);
  b.writeUInt16BE(req.port, 96);
  return b;
}

export function encodeScrape(connectionId: Buffer, transactionId: number, infoHashes: readonly Buffer[]): Buffer {
  checkConnectionId(connectionId);
  if (infoHashes.length === 0 || infoHashes.length > MAX_SCRAPE_HASHES_PER_PACKET) {
    throw new TrackerError('invalid-request', `scrape needs 1 to ${MAX_SCRAPE_HASHES_PER_PACKET} info hashes`);
  }
  const b = Buffer.alloc(16 + 20 * infoHashes.length);
  connectionId.copy(b, 0);
  b.writeUInt32BE(ACTION_SCRAPE, 8);
  b.writeUInt32BE(transactionId >>> 0, 12);
  infoHashes.forEach((h, i) => {
    if (h.length !== 20) throw new TrackerError('invalid-request', 'info hash must be 20 bytes');
    h.copy(b, 16 + 20 * i);
  });
  return b;
}

/** The transaction id of any reply, to route it before decoding; undefined if too short. */
export function peekTransactionId(buf: Buffer): number | undefined {
  return buf.length >= REPLY_HEADER_BYTES ? buf.readUInt32BE(4) : undefined;
}

/**
 * Decodes a reply. `family` is that of the socket it arrived on: 4 -> 6-byte peers, 6 -> 18-byte.
 * Unknown actions and short packets throw TrackerError('protocol').
 */
export function decodeReply(buf: Buffer, family: 4 | 6, maxPeers: number = MAX_PEERS_PER_RESPONSE): UdpReply {
  if (buf.length < REPLY_HEADER_BYTES) throw new TrackerError('protocol', `UDP reply of ${buf.length} bytes is too short`);
  const action = buf.readUInt32BE(0);
  const transactionId = buf.readUInt32BE(4);
  switch (action) {
    case ACTION_CONNECT:
      if (buf.length < 16) throw new TrackerError('protocol', 'UDP connect reply is too short');
      return { action: 'connect', transactionId, connectionId: Buffer.from(buf.subarray(8, 16)) };
    case ACTION_ANNOUNCE: {
      if (buf.length < ANNOUNCE_REPLY_HEADER_BYTES) {
        // opentracker answers a torrent outside its whitelist with a bare 8-byte header.
        const hint = buf.length === REPLY_HEADER_BYTES ? ' (trackers send this for a torrent they refuse)' : '';
        throw new TrackerError('protocol', `UDP announce reply of ${buf.length} bytes is too short${hint}`);
      }
      const collector = new PeerCollector(maxPeers);
      const body = buf.subarray(ANNOUNCE_REPLY_HEADER_BYTES);
      if (family === 4) addCompactV4(body, collector);
      else addCompactV6(body, collector);
      return {
        action: 'announce',
        transactionId,
        response: {
          peers: collector.peers,
          interval: buf.readUInt32BE(8),
          incomplete: buf.readUInt32BE(12),
          complete: buf.readUInt32BE(16),
        },
      };
    }
    case ACTION_SCRAPE: {
      const n = Math.floor((buf.length - REPLY_HEADER_BYTES) / SCRAPE_ENTRY_BYTES);
      const stats: ScrapeStats[] = [];
      for (let i = 0; i < Math.min(n, MAX_SCRAPE_HASHES_PER_PACKET); i++) {
        const o = REPLY_HEADER_BYTES + i * SCRAPE_ENTRY_BYTES;
        stats.push({ complete: buf.readUInt32BE(o), downloaded: buf.readUInt32BE(o + 4), incomplete: buf.readUInt32BE(o + 8) });
      }
      return { action: 'scrape', transactionId, stats };
    }
    case ACTION_ERROR:
      return { action: 'error', transactionId, message: trackerText(buf.subarray(REPLY_HEADER_BYTES)) };
    default:
      throw new TrackerError('protocol', `UDP reply with unknown action ${action}`);
  }
}
