/**
 * The uTP packet (BEP 29) as a pure codec: the 20-byte header, the extension chain and the
 * selective-ack extension. Owns no state, no socket, no clock.
 *
 * Header, big-endian (BEP 29 "header format"):
 *   0  type (high nibble) | version (low nibble, always 1)
 *   1  type of the first extension (0 = none)
 *   2  connection_id            u16
 *   4  timestamp_microseconds   u32   sender's clock when the packet left
 *   8  timestamp_difference_microseconds u32   receiver-side one-way delay the sender last saw
 *  12  wnd_size                 u32   bytes the sender can still receive
 *  16  seq_nr                   u16
 *  18  ack_nr                   u16
 * then extensions: `<next extension type u8><length u8><length bytes>`, repeated until type 0,
 * then the payload.
 *
 * Selective ack (extension 1): a bitmask, a multiple of 4 bytes long as sent (libtorrent sends
 * other lengths, which we read too); bit i (byte i>>3, bit i&7,
 * least significant first) says packet ack_nr + 2 + i arrived (ack_nr + 1 is implied missing).
 * Extension 2 (libutp's "extension bits", sent in SYNs) and unknown extensions are skipped.
 *
 * Invariants: `decodePacket` never throws; it returns a packet (whose `payload` is a view into
 * the datagram, never a copy), or a ProtocolError saying why the datagram is not a uTP packet
 * we accept. Every length is checked against the datagram before it is read.
 */
import { ProtocolError } from '../errors.js';

export const PacketType = {
  data: 0,
  fin: 1,
  state: 2,
  reset: 3,
  syn: 4,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

/** The only header version defined (BEP 29); version 0 was libutp's pre-standard header. */
export const UTP_VERSION = 1;
export const HEADER_BYTES = 20;
export const EXTENSION_NONE = 0;
export const EXTENSION_SACK = 1;
/**
 * Longest selective-ack bitmask we accept or send: 128 bytes = 1024 packets past ack_nr + 1. A
 * bit can only name a packet the other side has in flight, and we never have more than
 * constants.ts MAX_OUTSTANDING_PACKETS (1024) in flight nor hold more out of order
 * (MAX_REORDER_PACKETS, 1024), so an honest mask in either direction fits. libtorrent sizes its
 * mask to its reorder buffer (we have seen 36 bytes and more on loopback), so 32 bytes, libutp's
 * usual size, would be too tight.
 */
export const MAX_SACK_BYTES = 128;
/**
 * Extensions walked per packet. BEP 29 defines two; a chain longer than this is someone probing
 * the parser, not a peer.
 */
export const MAX_EXTENSIONS = 4;

export const SEQ_MASK = 0xffff;
export const U32_MASK = 0xffffffff;

export interface Packet {
  type: PacketType;
  connectionId: number;
  timestampUs: number;
  timestampDiffUs: number;
  wndSize: number;
  seqNr: number;
  ackNr: number;
  /** The selective-ack bitmask, or null when the packet carries none. */
  sack: Uint8Array | null;
  payload: Uint8Array;
}

/** Sniffs the first byte the way libtorrent shares its port with the DHT: is this plausibly uTP? */
export function looksLikeUtp(msg: Uint8Array): boolean {
  if (msg.length < HEADER_BYTES) return false;
  const b = msg[0]!;
  return (b & 0x0f) === UTP_VERSION && b >> 4 <= PacketType.syn;
}

export function decodePacket(msg: Uint8Array): Packet | ProtocolError {
  if (msg.length < HEADER_BYTES) return new ProtocolError(`utp: packet of ${msg.length} bytes is shorter than the ${HEADER_BYTES}-byte header`);
  const b0 = msg[0]!;
  const version = b0 & 0x0f;
  if (version !== UTP_VERSION) return new ProtocolError(`utp: version ${version}, expected ${UTP_VERSION}`);
  const type = b0 >> 4;
  if (type > PacketType.syn) return new ProtocolError(`utp: unknown packet type ${type}`);
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  let ext = msg[1]!;
  let pos = HEADER_BYTES;
  let sack: Uint8Array | null = null;
  let count = 0;
  while (ext !== EXTENSION_NONE) {
    if (++count > MAX_EXTENSIONS) return new ProtocolError(`utp: more than ${MAX_EXTENSIONS} extensions`);
    if (pos + 2 > msg.length) return new ProtocolError('utp: extension header runs past the packet');
    const next = msg[pos]!;
    const len = msg[pos + 1]!;
    pos += 2;
    if (pos + len > msg.length) return new ProtocolError(`utp: extension of ${len} bytes runs past the packet`);
    if (ext === EXTENSION_SACK) {
      // BEP 29 asks for a multiple of 4 bytes, and we send that; libtorrent sends any length (13
      // bytes is common), so any non-empty mask is read.
      if (len === 0) return new ProtocolError('utp: empty selective ack');
      if (len > MAX_SACK_BYTES) return new ProtocolError(`utp: selective ack of ${len} bytes exceeds ${MAX_SACK_BYTES}`);
      if (sack !== null) return new ProtocolError('utp: two selective-ack extensions');
      sack = msg.subarray(pos, pos + len);
    }
    pos += len;
    ext = next;
  }
  return {
    type: type as PacketType,
    connectionId: view.getUint16(2),
    timestampUs: view.getUint32(4),
    timestampDiffUs: view.getUint32(8),
    wndSize: view.getUint32(12),
    seqNr: view.getUint16(16),
    ackNr: view.getUint16(18),
    sack,
    payload: msg.subarray(pos),
  };
}

/** Bytes `encodePacket` will produce for this packet. */
export function encodedLength(p: Pick<Packet, 'sack' | 'payload'>): number {
  return HEADER_BYTES + (p.sack ? 2 + p.sack.length : 0) + p.payload.length;
}

/** Encodes a packet. Throws RangeError on a field out of range: that is our bug, not the peer's. */
export function encodePacket(p: Packet): Buffer {
  if (p.sack && (p.sack.length === 0 || p.sack.length % 4 !== 0 || p.sack.length > MAX_SACK_BYTES)) {
    throw new RangeError(`utp: selective ack of ${p.sack.length} bytes`);
  }
  const out = Buffer.allocUnsafe(encodedLength(p));
  out[0] = (p.type << 4) | UTP_VERSION;
  out[1] = p.sack ? EXTENSION_SACK : EXTENSION_NONE;
  out.writeUInt16BE(p.connectionId, 2);
  out.writeUInt32BE(p.timestampUs >>> 0, 4);
  out.writeUInt32BE(p.timestampDiffUs >>> 0, 8);
  out.writeUInt32BE(p.wndSize >>> 0, 12);
  out.writeUInt16BE(p.seqNr, 16);
  out.writeUInt16BE(p.ackNr, 18);
  let pos = HEADER_BYTES;
  if (p.sack) {
    out[pos] = EXTENSION_NONE;
    out[pos + 1] = p.sack.length;
    out.set(p.sack, pos + 2);
    pos += 2 + p.sack.length;
  }
  out.set(p.payload, pos);
  return out;
}

/** (a - b) mod 2^16: how far seq number `a` is ahead of `b`. */
export function seqDiff(a: number, b: number): number {
  return (a - b) & SEQ_MASK;
}

/** a < b in 16-bit sequence space: b is less than half the space ahead of a. */
export function seqLess(a: number, b: number): boolean {
  const d = seqDiff(b, a);
  return d !== 0 && d < 0x8000;
}

/** a < b in 32-bit timestamp space (libutp/libtorrent compare delays with wrapping this way). */
export function u32Less(a: number, b: number): boolean {
  const up = (b - a) >>> 0;
  const down = (a - b) >>> 0;
  return up < down;
}
