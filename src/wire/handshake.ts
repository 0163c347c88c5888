/**
 * The BEP 3 handshake: the fixed 68 bytes each side sends before any length-prefixed message.
 *
 *   offset  size  field
 *   0       1     pstrlen = 19
 *   1       19    pstr = "BitTorrent protocol"
 *   20      8     reserved (extension bits, see `Reserved`)
 *   28      20    info hash (SHA-1 of the bencoded info dict, BEP 3 "metainfo files")
 *   48      20    peer id
 *
 * Owns: encoding and decoding those bytes, the reserved-bit table and our peer id format.
 * Invariants: `decodeHandshake` returns copies (the 68 bytes may sit in a socket chunk that also
 * carries messages, which must not be kept alive by a long-lived peer id); it checks pstrlen and
 * pstr only. Whether the info hash is one we serve, and whether the peer id is acceptable, is
 * the caller's decision.
 */
import { ProtocolError } from '../errors.js';

export const PROTOCOL = 'BitTorrent protocol';
export const HANDSHAKE_BYTES = 68;

const PSTR = Buffer.from(PROTOCOL, 'latin1');
const RESERVED_OFFSET = 1 + PSTR.length;
const RESERVED_BYTES = 8;
const INFO_HASH_OFFSET = RESERVED_OFFSET + RESERVED_BYTES;
const INFO_HASH_BYTES = 20;
const PEER_ID_OFFSET = INFO_HASH_OFFSET + INFO_HASH_BYTES;
const PEER_ID_BYTES = 20;

export interface Handshake {
  /** 8 bytes; bit meanings in `Reserved`. */
  reserved: Buffer;
  /** 20 bytes. */
  infoHash: Buffer;
  /** 20 bytes. */
  peerId: Buffer;
}

export function encodeHandshake(h: Handshake): Buffer {
  checkSize('reserved', h.reserved, RESERVED_BYTES);
  checkSize('info hash', h.infoHash, INFO_HASH_BYTES);
  checkSize('peer id', h.peerId, PEER_ID_BYTES);
  const out = Buffer.allocUnsafe(HANDSHAKE_BYTES);
  out[0] = PSTR.length;
  PSTR.copy(out, 1);
  h.reserved.copy(out, RESERVED_OFFSET);
  h.infoHash.copy(out, INFO_HASH_OFFSET);
  h.peerId.copy(out, PEER_ID_OFFSET);
  return out;
}

/**
 * Returns null when fewer than 68 bytes are available; throws ProtocolError on a wrong
 * pstrlen/pstr. Does NOT check the info hash (caller does). Bytes after the first 68 are ignored.
 */
export function decodeHandshake(buf: Buffer): Handshake | null {
  if (buf.length < HANDSHAKE_BYTES) return null;
  const pstrlen = buf[0]!;
  if (pstrlen !== PSTR.length) {
    throw new ProtocolError(`handshake: protocol string length is ${pstrlen}, expected ${PSTR.length} ("${PROTOCOL}")`);
  }
  if (buf.compare(PSTR, 0, PSTR.length, 1, 1 + PSTR.length) !== 0) {
    const got = buf.subarray(1, 1 + PSTR.length).toString('hex');
    throw new ProtocolError(`handshake: protocol string is not "${PROTOCOL}" (got hex ${got})`);
  }
  return {
    reserved: Buffer.from(buf.subarray(RESERVED_OFFSET, RESERVED_OFFSET + RESERVED_BYTES)),
    infoHash: Buffer.from(buf.subarray(INFO_HASH_OFFSET, INFO_HASH_OFFSET + INFO_HASH_BYTES)),
    peerId: Buffer.from(buf.subarray(PEER_ID_OFFSET, PEER_ID_OFFSET + PEER_ID_BYTES)),
  };
}

/**
 * Reserved bits we read or set. Bytes are numbered 0..7 within the reserved field, bits by mask.
 * - extensionProtocol: BEP 10, "reserved_byte[5] & 0x10".
 * - dht: BEP 5, the last bit of the reserved bytes (byte 7, 0x01); such a peer also sends `port`.
 * - fast: BEP 6, "reserved[7] |= 0x04". Set it only when the connection speaks the Fast
 *   extension (answers every request it will not serve with reject-request, may send have-all /
 *   have-none instead of a bitfield); its messages are legal only when both sides set it.
 * - v2: BEP 52, "reserved[7] |= 0x10": we speak v2 (set for v2 and hybrid torrents), so a peer
 *   may upgrade a hybrid's connection and send hash requests.
 */
export const Reserved = {
  extensionProtocol: { byte: 5, mask: 0x10 },
  dht: { byte: 7, mask: 0x01 },
  fast: { byte: 7, mask: 0x04 },
  v2: { byte: 7, mask: 0x10 },
} as const;

/** The 8 reserved bytes advertising the given extensions; every other bit zero. */
export function reservedBits(opts: { extensionProtocol?: boolean; dht?: boolean; fast?: boolean; v2?: boolean }): Buffer {
  const out = Buffer.alloc(RESERVED_BYTES);
  if (opts.extensionProtocol) out[Reserved.extensionProtocol.byte]! |= Reserved.extensionProtocol.mask;
  if (opts.dht) out[Reserved.dht.byte]! |= Reserved.dht.mask;
  if (opts.fast) out[Reserved.fast.byte]! |= Reserved.fast.mask;
  if (opts.v2) out[Reserved.v2.byte]! |= Reserved.v2.mask;
  return out;
}

/** True when `bit` is set in `reserved`; false for a byte the buffer does not have. */
export function hasReserved(reserved: Buffer, bit: { byte: number; mask: number }): boolean {
  const b = reserved[bit.byte];
  return b !== undefined && (b & bit.mask) !== 0;
}

/** Azureus-style client prefix: "TS" (torrent), version 0.0.0.1. */
const PEER_ID_PREFIX = Buffer.from('-TS0001-', 'latin1');

/** '-TS0001-' + 12 random bytes; random source injected. */
export function makePeerId(random: (n: number) => Buffer): Buffer {
  const n = PEER_ID_BYTES - PEER_ID_PREFIX.length;
  const tail = random(n);
  if (tail.length !== n) throw new RangeError(`random source returned ${tail.length} bytes, expected ${n}`);
  return Buffer.concat([PEER_ID_PREFIX, tail], PEER_ID_BYTES);
}

function checkSize(name: string, b: Buffer, bytes: number): void {
  if (b.length !== bytes) throw new RangeError(`handshake ${name} must be ${bytes} bytes, got ${b.length}`);
}
