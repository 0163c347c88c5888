/**
 * Peer wire messages after the handshake (BEP 3, "peer messages"): encoding to whole frames and
 * decoding one frame body into a tagged union.
 *
 * A frame is `<length:u32 BE><id:u8><payload>`; length counts id + payload; length 0 is a
 * keep-alive with no id. All integers are 4-byte big-endian (BEP 3) except `port` (2 bytes, BEP 5)
 * and the extended message id (1 byte, BEP 10).
 *
 *   id  message         payload                         defined in
 *   0   choke           none                            BEP 3
 *   1   unchoke         none                            BEP 3
 *   2   interested      none                            BEP 3
 *   3   not interested  none                            BEP 3
 *   4   have            index                           BEP 3
 *   5   bitfield        one bit per piece, high bit of  BEP 3
 *                       byte 0 is piece 0, spare bits 0
 *   6   request         index, begin, length            BEP 3
 *   7   piece           index, begin, block             BEP 3
 *   8   cancel          index, begin, length            BEP 3
 *   9   port            DHT port (u16)                  BEP 5
 *   13  suggest piece   index                           BEP 6
 *   14  have all        none                            BEP 6
 *   15  have none       none                            BEP 6
 *   16  reject request  index, begin, length            BEP 6
 *   17  allowed fast    index                           BEP 6
 *   20  extended        extended id (u8), payload       BEP 10
 *
 * Invariants: decoding checks structure only (payload size for the id). Policy (request length,
 * piece index against the piece count, bitfield size) belongs to the caller, helped by
 * `validateBitfield` / `validateHave`. Decoded `bitfield`, `block` and `payload` buffers are
 * views into the bytes given to the decoder, never copies: a caller that keeps one beyond the
 * current message must copy it (the Bitfield constructor does). Unknown ids decode to
 * `{ type: 'unknown' }`, which BEP 3 says to ignore.
 *
 * BEP 6 (Fast extension) messages decode whatever the handshake said: whether a peer may send
 * them (both sides set reserved bit 0x04 of byte 7, `Reserved.fast`) is the peer connection's
 * check, as is whether a reject names a request we made or an allowed-fast index is in range.
 */
import { ProtocolError } from '../errors.js';
import { Bitfield } from '../util/bitfield.js';

export const MessageId = {
  choke: 0,
  unchoke: 1,
  interested: 2,
  notInterested: 3,
  have: 4,
  bitfield: 5,
  request: 6,
  piece: 7,
  cancel: 8,
  port: 9,
  suggestPiece: 13,
  haveAll: 14,
  haveNone: 15,
  rejectRequest: 16,
  allowedFast: 17,
  extended: 20,
} as const;

export type Message =
  | { type: 'keep-alive' }
  | { type: 'choke' }
  | { type: 'unchoke' }
  | { type: 'interested' }
  | { type: 'not-interested' }
  | { type: 'have'; index: number }
  | { type: 'bitfield'; bitfield: Buffer }
  | { type: 'request'; index: number; begin: number; length: number }
  | { type: 'piece'; index: number; begin: number; block: Buffer }
  | { type: 'cancel'; index: number; begin: number; length: number }
  | { type: 'port'; port: number }
  | { type: 'suggest-piece'; index: number }
  | { type: 'have-all' }
  | { type: 'have-none' }
  | { type: 'reject-request'; index: number; begin: number; length: number }
  | { type: 'allowed-fast'; index: number }
  | { type: 'extended'; id: number; payload: Buffer }
  | { type: 'unknown'; id: number; payload: Buffer };

/** Bytes of the big-endian length that opens every frame (BEP 3). */
export const LENGTH_PREFIX_BYTES = 4;
/** Length prefix + id + index + begin: what precedes a piece message's block. */
export const PIECE_HEADER_BYTES = 13;

// Payload-less messages are shared frozen objects, so framing them allocates nothing.
const KEEP_ALIVE: Message = Object.freeze({ type: 'keep-alive' });
const CHOKE: Message = Object.freeze({ type: 'choke' });
const UNCHOKE: Message = Object.freeze({ type: 'unchoke' });
const INTERESTED: Message = Object.freeze({ type: 'interested' });
const NOT_INTERESTED: Message = Object.freeze({ type: 'not-interested' });
const HAVE_ALL: Message = Object.freeze({ type: 'have-all' });
const HAVE_NONE: Message = Object.freeze({ type: 'have-none' });

const KNOWN_IDS: ReadonlySet<number> = new Set(Object.values(MessageId));

/** Whole frame including the 4-byte length prefix. */
export function encodeMessage(m: Message): Buffer {
  switch (m.type) {
    case 'keep-alive':
      return Buffer.alloc(LENGTH_PREFIX_BYTES);
    case 'choke':
      return idOnly(MessageId.choke);
    case 'unchoke':
      return idOnly(MessageId.unchoke);
    case 'interested':
      return idOnly(MessageId.interested);
    case 'not-interested':
      return idOnly(MessageId.notInterested);
    case 'have':
    case 'suggest-piece':
    case 'allowed-fast': {
      const id = m.type === 'have' ? MessageId.have : m.type === 'suggest-piece' ? MessageId.suggestPiece : MessageId.allowedFast;
      const out = frame(id, 4);
      out.writeUInt32BE(m.index, 5);
      return out;
    }
    case 'have-all':
      return idOnly(MessageId.haveAll);
    case 'have-none':
      return idOnly(MessageId.haveNone);
    case 'bitfield':
      return withPayload(MessageId.bitfield, m.bitfield);
    case 'request':
    case 'cancel':
    case 'reject-request': {
      const id = m.type === 'request' ? MessageId.request : m.type === 'cancel' ? MessageId.cancel : MessageId.rejectRequest;
      const out = frame(id, 12);
      out.writeUInt32BE(m.index, 5);
      out.writeUInt32BE(m.begin, 9);
      out.writeUInt32BE(m.length, 13);
      return out;
    }
    case 'piece': {
      const out = Buffer.allocUnsafe(PIECE_HEADER_BYTES + m.block.length);
      writePieceHeader(out, m.index, m.begin, m.block.length);
      m.block.copy(out, PIECE_HEADER_BYTES);
      return out;
    }
    case 'port': {
      const out = frame(MessageId.port, 2);
      out.writeUInt16BE(m.port, 5);
      return out;
    }
    case 'extended': {
      checkByte('extended message id', m.id);
      const out = frame(MessageId.extended, 1 + m.payload.length);
      out[5] = m.id;
      m.payload.copy(out, 6);
      return out;
    }
    case 'unknown':
      checkByte('message id', m.id);
      if (KNOWN_IDS.has(m.id)) throw new RangeError(`message id ${m.id} is known: encode it as its own type`);
      return withPayload(m.id, m.payload);
  }
}

/** Bytes of one whole `have` frame: length prefix, id, piece index (BEP 3). */
const HAVE_FRAME_BYTES = LENGTH_PREFIX_BYTES + 1 + 4;

/**
 * A `have` frame for each of the first `count` pieces of `pieces`, back to back in one buffer: a
 * peer told of many pieces at once gets one write, not one queued write per piece (a small write
 * costs far more memory than its bytes while it waits). Shorter when `pieces` ends first.
 */
export function encodeHaves(pieces: Iterable<number>, count: number): Buffer {
  const out = Buffer.allocUnsafe(count * HAVE_FRAME_BYTES);
  let o = 0;
  for (const index of pieces) {
    if (o >= out.length) break;
    out.writeUInt32BE(HAVE_FRAME_BYTES - LENGTH_PREFIX_BYTES, o);
    out[o + LENGTH_PREFIX_BYTES] = MessageId.have;
    out.writeUInt32BE(index, o + LENGTH_PREFIX_BYTES + 1);
    o += HAVE_FRAME_BYTES;
  }
  return out.subarray(0, o);
}

/**
 * Only the 13-byte header of a piece message (length prefix + id + index + begin) so the caller
 * can write the block without copying it.
 */
export function encodePieceHeader(index: number, begin: number, blockLength: number): Buffer {
  const out = Buffer.allocUnsafe(PIECE_HEADER_BYTES);
  writePieceHeader(out, index, begin, blockLength);
  return out;
}

/**
 * Decodes one message body (id + payload, without the length prefix). Throws ProtocolError for a
 * wrong payload size for its id (e.g. have of 3 bytes, request of 11). Unknown ids ->
 * {type:'unknown'} (ignored by callers, per BEP 3). An empty body is a keep-alive.
 */
export function decodeMessage(body: Buffer): Message {
  return decodeMessageAt(body, 0, body.length);
}

/**
 * `decodeMessage` of `buf[start, start + length)`, without first making a view of the body: the
 * framer decodes straight out of a socket chunk. Not part of the package's public surface.
 */
export function decodeMessageAt(buf: Buffer, start: number, length: number): Message {
  if (length === 0) return KEEP_ALIVE;
  const id = buf[start]!;
  const payloadBytes = length - 1;
  const p = start + 1;
  switch (id) {
    case MessageId.choke:
      expectPayload('choke', payloadBytes, 0);
      return CHOKE;
    case MessageId.unchoke:
      expectPayload('unchoke', payloadBytes, 0);
      return UNCHOKE;
    case MessageId.interested:
      expectPayload('interested', payloadBytes, 0);
      return INTERESTED;
    case MessageId.notInterested:
      expectPayload('not interested', payloadBytes, 0);
      return NOT_INTERESTED;
    case MessageId.have:
      expectPayload('have', payloadBytes, 4);
      return { type: 'have', index: buf.readUInt32BE(p) };
    case MessageId.bitfield:
      return { type: 'bitfield', bitfield: buf.subarray(p, start + length) };
    case MessageId.request:
      expectPayload('request', payloadBytes, 12);
      return { type: 'request', index: buf.readUInt32BE(p), begin: buf.readUInt32BE(p + 4), length: buf.readUInt32BE(p + 8) };
    case MessageId.piece:
      if (payloadBytes < 8) {
        throw new ProtocolError(`piece message: payload of ${payloadBytes} bytes, expected at least 8 (index, begin)`);
      }
      return { type: 'piece', index: buf.readUInt32BE(p), begin: buf.readUInt32BE(p + 4), block: buf.subarray(p + 8, start + length) };
    case MessageId.cancel:
      expectPayload('cancel', payloadBytes, 12);
      return { type: 'cancel', index: buf.readUInt32BE(p), begin: buf.readUInt32BE(p + 4), length: buf.readUInt32BE(p + 8) };
    case MessageId.port:
      expectPayload('port', payloadBytes, 2);
      return { type: 'port', port: buf.readUInt16BE(p) };
    case MessageId.suggestPiece:
      expectPayload('suggest piece', payloadBytes, 4);
      return { type: 'suggest-piece', index: buf.readUInt32BE(p) };
    case MessageId.haveAll:
      expectPayload('have all', payloadBytes, 0);
      return HAVE_ALL;
    case MessageId.haveNone:
      expectPayload('have none', payloadBytes, 0);
      return HAVE_NONE;
    case MessageId.rejectRequest:
      expectPayload('reject request', payloadBytes, 12);
      return { type: 'reject-request', index: buf.readUInt32BE(p), begin: buf.readUInt32BE(p + 4), length: buf.readUInt32BE(p + 8) };
    case MessageId.allowedFast:
      expectPayload('allowed fast', payloadBytes, 4);
      return { type: 'allowed-fast', index: buf.readUInt32BE(p) };
    case MessageId.extended:
      if (payloadBytes < 1) {
        throw new ProtocolError('extended message: empty payload, expected at least the extended message id');
      }
      return { type: 'extended', id: buf[p]!, payload: buf.subarray(p + 1, start + length) };
    default:
      return { type: 'unknown', id, payload: buf.subarray(p, start + length) };
  }
}

/**
 * Throws ProtocolError unless `bitfield` is exactly ceil(pieceCount / 8) bytes with the spare bits
 * after the last piece clear (BEP 3, "bitfield").
 */
export function validateBitfield(bitfield: Buffer, pieceCount: number): void {
  const expected = Bitfield.byteLength(pieceCount);
  if (bitfield.length !== expected) {
    throw new ProtocolError(`bitfield of ${bitfield.length} bytes for ${pieceCount} pieces, expected ${expected}`);
  }
  if (Bitfield.hasSpareBits(bitfield, pieceCount)) {
    throw new ProtocolError(`bitfield has spare bits set after piece ${pieceCount - 1}`);
  }
}

/** Throws ProtocolError unless `index` names one of the torrent's pieces (BEP 3, "have"). */
export function validateHave(index: number, pieceCount: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= pieceCount) {
    throw new ProtocolError(`have for piece ${index}, but the torrent has ${pieceCount} pieces`);
  }
}

function expectPayload(name: string, got: number, expected: number): void {
  if (got !== expected) {
    throw new ProtocolError(`${name} message: payload of ${got} bytes, expected ${expected}`);
  }
}

/** A frame with room for `payloadBytes` after the id, prefix and id already written. */
function frame(id: number, payloadBytes: number): Buffer {
  const out = Buffer.allocUnsafe(LENGTH_PREFIX_BYTES + 1 + payloadBytes);
  out.writeUInt32BE(1 + payloadBytes, 0);
  out[4] = id;
  return out;
}

function idOnly(id: number): Buffer {
  return frame(id, 0);
}

function withPayload(id: number, payload: Buffer): Buffer {
  const out = frame(id, payload.length);
  payload.copy(out, LENGTH_PREFIX_BYTES + 1);
  return out;
}

function writePieceHeader(out: Buffer, index: number, begin: number, blockLength: number): void {
  out.writeUInt32BE(9 + blockLength, 0);
  out[4] = MessageId.piece;
  out.writeUInt32BE(index, 5);
  out.writeUInt32BE(begin, 9);
}

function checkByte(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new RangeError(`${what} must be 0..255, got ${n}`);
}
