/**
 * Peer lists from tracker replies: compact IPv4 (BEP 23, 6 bytes each), compact IPv6 (BEP 7,
 * 18 bytes each) and the original dictionary form (BEP 3: a list of {peer id, ip, port}).
 *
 * Owns: PeerCollector, the only way peers enter an AnnounceResponse. Invariants: at most `cap`
 * peers are kept (the rest are counted, never stored), no port 0, no unspecified address
 * (0.0.0.0, ::), no duplicates within one reply, IPv6 text in RFC 5952 form. Hostnames in
 * dictionary peers are dropped: resolving names a tracker hands us would let it point us at any
 * host, and no tracker we know of sends them.
 */
import { formatIPv6, parseIPv6 } from '../util/ip.js';

export { formatIPv6 };
import { isIP } from 'node:net';
import { isBytes, isDict, type BValue } from '../bencode/index.js';
import type { PeerAddress } from './types.js';

/**
 * Most peers kept from one reply. Trackers send ~50 (numwant) and at most a few hundred;
 * libtorrent keeps 4000 peers per torrent in all. A million-entry list must cost us 2000 objects.
 */
export const MAX_PEERS_PER_RESPONSE = 2000;

export const COMPACT_V4_BYTES = 6;
export const COMPACT_V6_BYTES = 18;

export class PeerCollector {
  readonly peers: PeerAddress[] = [];
  /** Entries not kept: port 0, bad address, duplicate, or beyond the cap. */
  dropped = 0;
  private readonly seen = new Set<string>();

  constructor(readonly cap: number = MAX_PEERS_PER_RESPONSE) {}

  get full(): boolean {
    return this.peers.length >= this.cap;
  }

  add(ip: string, port: number): void {
    if (this.full || port <= 0 || port > 65535 || ip === '0.0.0.0' || ip === '::') {
      this.dropped++;
      return;
    }
    const id = `${ip}|${port}`;
    if (this.seen.has(id)) {
      this.dropped++;
      return;
    }
    this.seen.add(id);
    this.peers.push({ ip, port });
  }
}

/** BEP 23: 4 address bytes then 2 port bytes, big-endian. A trailing partial entry is ignored. */
export function addCompactV4(buf: Buffer, out: PeerCollector): void {
  const n = Math.floor(buf.length / COMPACT_V4_BYTES);
  if (buf.length % COMPACT_V4_BYTES !== 0) out.dropped++;
  for (let i = 0; i < n; i++) {
    if (out.full) {
      out.dropped += n - i;
      return;
    }
    const o = i * COMPACT_V4_BYTES;
    out.add(`${buf[o]}.${buf[o + 1]}.${buf[o + 2]}.${buf[o + 3]}`, buf.readUInt16BE(o + 4));
  }
}

/** BEP 7: 16 address bytes then 2 port bytes, big-endian. A trailing partial entry is ignored. */
export function addCompactV6(buf: Buffer, out: PeerCollector): void {
  const n = Math.floor(buf.length / COMPACT_V6_BYTES);
  if (buf.length % COMPACT_V6_BYTES !== 0) out.dropped++;
  for (let i = 0; i < n; i++) {
    if (out.full) {
      out.dropped += n - i;
      return;
    }
    const o = i * COMPACT_V6_BYTES;
    out.add(formatIPv6(buf.subarray(o, o + 16)), buf.readUInt16BE(o + 16));
  }
}

/** BEP 3 dictionary peers: keeps entries whose `ip` is an IP literal and `port` an integer. */
export function addDictPeers(list: readonly BValue[], out: PeerCollector): void {
  for (let i = 0; i < list.length; i++) {
    if (out.full) {
      out.dropped += list.length - i;
      return;
    }
    const entry = list[i];
    const ipBytes = isDict(entry) ? entry.get('ip') : undefined;
    const port = isDict(entry) ? entry.get('port') : undefined;
    // 45 chars: the longest IPv6 text form (IPv4-mapped with dotted quad).
    if (!isBytes(ipBytes) || ipBytes.length > 45 || typeof port !== 'number') {
      out.dropped++;
      continue;
    }
    const ip = normalizeIp(ipBytes.toString('latin1'));
    if (ip === undefined) {
      out.dropped++;
      continue;
    }
    out.add(ip, port);
  }
}

/** An IP literal in canonical text form, or undefined for anything else (hostnames included). */
export function normalizeIp(text: string): string | undefined {
  const t = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const family = isIP(t);
  if (family === 4) return t;
  if (family === 6) {
    const bytes = parseIPv6(t);
    return bytes === undefined ? undefined : formatIPv6(bytes);
  }
  return undefined;
}

