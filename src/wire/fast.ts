/**
 * The allowed-fast set of BEP 6 (Fast extension, "Allowed Fast"): the pieces a peer may request
 * from us while choked, derived from its IPv4 address and the info hash so that every peer behind
 * one /24 gets the same set and reconnecting does not earn a new one.
 *
 * Owns only the computation; which set we send and how we honour a peer's is the peer
 * connection's. BEP 6's algorithm: x = (ip & 0xFFFFFF00) as 4 big-endian bytes followed by the
 * info hash; repeat x = SHA-1(x) and read its five 32-bit big-endian words, each giving the piece
 * `word % pieceCount`, keeping the first k distinct ones.
 *
 * Invariants: the result has min(k, pieceCount) distinct indexes, each below
 * pieceCount, in the order the BEP generates them; the loop stops (k is capped by pieceCount, so
 * the set can always be filled).
 *
 * IPv6: BEP 6 defines the set for IPv4 only. For an IPv6 peer `allowedFastSet` returns an empty
 * set (we grant no allowed-fast pieces; the peer still gets everything once unchoked), and an
 * IPv4-mapped address (::ffff:a.b.c.d) is treated as the IPv4 address it carries.
 */
import { createHash } from 'node:crypto';
// Pure address-syntax checks; nothing here opens a socket.
import { isIPv4, isIPv6 } from 'node:net';

/**
 * The most allowed-fast pieces we grant or accept from one peer. BEP 6 suggests 10 as the
 * default set size; libtorrent's `allowed_fast_set_size` defaults to 5. A peer that announces
 * more than this is treated as hostile by the peer connection: each allowed-fast index lets a
 * choked peer make us read a piece, so the set must stay small.
 */
export const MAX_ALLOWED_FAST = 32;

const IPV4_MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** The IPv4 address in `ip` (dotted, or IPv4-mapped IPv6), or null for a real IPv6 address. */
function ipv4Of(ip: string): string | null {
  if (isIPv4(ip)) return ip;
  const mapped = IPV4_MAPPED.exec(ip);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  if (isIPv6(ip)) return null;
  throw new RangeError(`not an IP address: ${ip}`);
}

/**
 * BEP 6's allowed-fast set for a peer at `ip` on the torrent `infoHash` of `pieceCount` pieces:
 * `k` piece indexes (fewer when the torrent has fewer pieces; none for IPv6, see above).
 */
export function allowedFastSet(ip: string, infoHash: Buffer, pieceCount: number, k: number): number[] {
  if (infoHash.length !== 20) throw new RangeError(`info hash must be 20 bytes, got ${infoHash.length}`);
  if (!Number.isSafeInteger(pieceCount) || pieceCount < 0) throw new RangeError(`piece count must be a non-negative integer, got ${pieceCount}`);
  if (!Number.isSafeInteger(k) || k < 0 || k > MAX_ALLOWED_FAST) {
    throw new RangeError(`set size must be an integer in 0..${MAX_ALLOWED_FAST}, got ${k}`);
  }
  const v4 = ipv4Of(ip);
  const want = Math.min(k, pieceCount);
  if (v4 === null || want === 0) return [];
  const octets = v4.split('.').map(Number);
  let x = Buffer.concat([Buffer.from([octets[0]!, octets[1]!, octets[2]!, 0]), infoHash]);
  const set: number[] = [];
  const seen = new Set<number>();
  while (set.length < want) {
    x = createHash('sha1').update(x).digest();
    for (let w = 0; w < 5 && set.length < want; w++) {
      const index = x.readUInt32BE(w * 4) % pieceCount;
      if (!seen.has(index)) {
        seen.add(index);
        set.push(index);
      }
    }
  }
  return set;
}
