/**
 * Size limits of the peer wire protocol (BEP 3, BEP 10). Owns nothing but numbers: every
 * length a peer can make us hold in memory is bounded by a constant here, and the framer checks a
 * frame's length prefix against `maxMessageBytes(pieceCount)` before it keeps a byte of that
 * frame's body.
 *
 * Invariants: every constant is a byte count; `maxMessageBytes` is the largest *frame body*
 * (message id + payload, i.e. the value of the 4-byte length prefix), never including the prefix.
 */
import { Bitfield } from '../util/bitfield.js';

/**
 * The block size we request and expect (BEP 3, "request": "All current implementations use
 * 2^14 (16 kiB), and close connections which request an amount greater than that").
 */
export const BLOCK_SIZE = 16384;

/**
 * The largest request length we are willing to serve, and so the largest piece message body we
 * accept: 2^17 (128 KiB), the ceiling the original BEP 3 text gave for closing connections ("close
 * connections which request an amount greater than 2^17"). Note this is more than libtorrent
 * accepts: its peer_connection.cpp `incoming_request` rejects any request longer than its block
 * size (16 KiB). The codec does not enforce it on request/cancel (that is the peer's policy); it
 * only sizes `maxMessageBytes` so a piece message answering such a request still fits.
 */
export const MAX_REQUEST_LENGTH = 128 * 1024;

/**
 * The largest BEP 10 extended message body we accept (id 20 + extended id + payload). The
 * biggest extended messages in use are ut_metadata (BEP 9) data messages, a 16 KiB metadata
 * piece after a short bencoded header, and the BEP 10 handshake; 1 MiB leaves ample room for
 * clients that pad their dictionaries while bounding what one peer can make us buffer.
 */
export const MAX_EXTENDED_BYTES = 1024 * 1024;

/** Message id byte + index + begin: the fixed part of a piece message body (BEP 3, "piece"). */
const PIECE_BODY_OVERHEAD = 9;

/**
 * Largest legal frame body for a torrent of `pieceCount` pieces: the biggest of a bitfield message
 * (BEP 3: one bit per piece, rounded up to bytes, plus the id byte), a piece message carrying
 * MAX_REQUEST_LENGTH bytes, and a MAX_EXTENDED_BYTES extended message. Before the metadata is
 * known (magnet links) pass 0: the bitfield term then does not count.
 */
export function maxMessageBytes(pieceCount: number): number {
  if (!Number.isSafeInteger(pieceCount) || pieceCount < 0) {
    throw new RangeError(`piece count must be a non-negative integer, got ${pieceCount}`);
  }
  return Math.max(Bitfield.byteLength(pieceCount) + 1, PIECE_BODY_OVERHEAD + MAX_REQUEST_LENGTH, MAX_EXTENDED_BYTES);
}
