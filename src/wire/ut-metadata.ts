/**
 * BEP 9 (ut_metadata): fetching the info dictionary ("the metadata") from peers, for magnet
 * links. Its messages travel as BEP 10 extended messages under the id the peer gave
 * `ut_metadata` in its `m` dictionary; the handshake's `metadata_size` announces the size.
 *
 * A message is a bencoded dictionary, followed by raw bytes for `data` only (BEP 9, "extension
 * message"):
 *
 *   key         type  meaning
 *   msg_type    int   0 request, 1 data, 2 reject
 *   piece       int   index of the 16 KiB metadata piece the message is about
 *   total_size  int   data only: bytes of the whole metadata (= `metadata_size`)
 *
 * The metadata is cut into METADATA_PIECE_BYTES pieces; all are exactly that long except the
 * last, which holds the remainder (BEP 9: "If it is not the last piece of the metadata, it MUST
 * be 16kiB").
 *
 * Owns: the message codec, piece geometry (`metadataPieceCount`) and MetadataAssembler, which
 * collects pieces into one buffer. Invariants: a decoded message's `piece` is below
 * MAX_METADATA_PIECES; a decoded `data` message has 1 <= totalSize <= MAX_METADATA_BYTES, a
 * piece inside that size and exactly the bytes that piece must hold, copied out of the payload.
 * Nothing here hashes or decides whom to ask: the session checks the SHA-1 against the info hash.
 */
import { encode, type DecodeLimits } from '../bencode/index.js';
import { ProtocolError } from '../errors.js';
import { decodeExtensionDict } from './extended.js';

/** BEP 9: "The metadata is handled in blocks of 16KiB (16384 Bytes)." */
export const METADATA_PIECE_BYTES = 16384;

/**
 * Largest info dictionary we fetch: 16 MiB, as anacrolix/torrent (global.go `maxMetadataSize`,
 * whose comment records a real 14,143,527-byte info dictionary). libtorrent is in the same
 * range: it trusts a handshake `metadata_size` up to 4 MiB (src/ut_metadata.cpp) and accepts a
 * `total_size` up to its `max_metadata_size` setting, 30 MiB by default. An info dictionary is
 * mostly 20 bytes of SHA-1 per piece, so 16 MiB covers ~800,000 pieces, far beyond any torrent
 * we expect, while capping what one magnet link can make us allocate per copy being assembled.
 */
export const MAX_METADATA_BYTES = 16 * 1024 * 1024;

/** Pieces of a MAX_METADATA_BYTES info dictionary: no valid `piece` is this large. */
export const MAX_METADATA_PIECES = MAX_METADATA_BYTES / METADATA_PIECE_BYTES;

/**
 * Bounds for the message dictionary. It has three keys; the extra room tolerates keys other
 * clients add (libtorrent sends `total_size` in every message, for instance), and the limits keep
 * a peer from making a 16 KiB message cost more than a few dozen values of work.
 */
const HEADER_LIMITS: DecodeLimits = { maxDepth: 4, maxItems: 128 };

const MSG_REQUEST = 0;
const MSG_DATA = 1;
const MSG_REJECT = 2;

export type MetadataMessage =
  | { type: 'request'; piece: number }
  | { type: 'data'; piece: number; totalSize: number; data: Buffer }
  | { type: 'reject'; piece: number };

/**
 * A `msg_type` other than 0, 1, 2. BEP 9 says an unrecognized message type "MUST be ignored",
 * so callers that want to follow it catch this subclass and carry on, while any other
 * ProtocolError from decodeMetadataMessage means a broken peer.
 */
export class UnknownMetadataMessageError extends ProtocolError {
  readonly msgType: number | bigint;
  constructor(msgType: number | bigint) {
    super(`ut_metadata message: unknown msg_type ${msgType}`);
    this.msgType = msgType;
  }
}

/** Pieces of a `totalSize`-byte info dictionary: ceil(totalSize / 16 KiB). */
export function metadataPieceCount(totalSize: number): number {
  if (!Number.isSafeInteger(totalSize) || totalSize < 0) {
    throw new RangeError(`metadata size must be a non-negative integer, got ${totalSize}`);
  }
  return Math.ceil(totalSize / METADATA_PIECE_BYTES);
}

/** Bytes piece `piece` of a `totalSize`-byte info dictionary holds (caller checks the range). */
function pieceBytes(piece: number, totalSize: number): number {
  return Math.min(METADATA_PIECE_BYTES, totalSize - piece * METADATA_PIECE_BYTES);
}

/**
 * The extended message payload: the bencoded dictionary, then the piece's bytes for `data`.
 * Throws RangeError for what decodeMetadataMessage would refuse: a piece outside
 * 0..MAX_METADATA_PIECES-1, a totalSize outside 1..MAX_METADATA_BYTES, a piece past totalSize,
 * or data that is not exactly that piece's length.
 */
export function encodeMetadataMessage(m: MetadataMessage): Buffer {
  if (!Number.isInteger(m.piece) || m.piece < 0 || m.piece >= MAX_METADATA_PIECES) {
    throw new RangeError(`metadata piece must be 0..${MAX_METADATA_PIECES - 1}, got ${m.piece}`);
  }
  switch (m.type) {
    case 'request':
      return encode({ msg_type: MSG_REQUEST, piece: m.piece });
    case 'reject':
      return encode({ msg_type: MSG_REJECT, piece: m.piece });
    case 'data': {
      if (!Number.isSafeInteger(m.totalSize) || m.totalSize < 1 || m.totalSize > MAX_METADATA_BYTES) {
        throw new RangeError(`metadata total size must be 1..${MAX_METADATA_BYTES}, got ${m.totalSize}`);
      }
      const count = metadataPieceCount(m.totalSize);
      if (m.piece >= count) throw new RangeError(`metadata piece ${m.piece} of ${count}`);
      const expected = pieceBytes(m.piece, m.totalSize);
      if (m.data.length !== expected) {
        throw new RangeError(`metadata piece ${m.piece} of ${m.totalSize} bytes must be ${expected} bytes, got ${m.data.length}`);
      }
      return Buffer.concat([encode({ msg_type: MSG_DATA, piece: m.piece, total_size: m.totalSize }), m.data]);
    }
  }
}

/**
 * Decodes a ut_metadata payload (after the extended id byte). Throws ProtocolError for anything
 * but a bencoded dictionary at the start; a missing or non-integer `msg_type`; an unknown one
 * (as UnknownMetadataMessageError); a missing, negative or too large `piece`; bytes after the
 * dictionary of a request or reject; and for data, a missing `total_size` or one outside
 * 1..MAX_METADATA_BYTES, a piece past it, or data that is not exactly that piece's length (so
 * never more than 16 KiB). Unknown keys, and `total_size` on a request or reject, are ignored.
 */
export function decodeMetadataMessage(payload: Buffer): MetadataMessage {
  const { dict, end } = decodeExtensionDict(payload, 'ut_metadata message', HEADER_LIMITS, true);
  const msgType = dict.get('msg_type');
  if (typeof msgType !== 'number' && typeof msgType !== 'bigint') {
    throw new ProtocolError('ut_metadata message: msg_type missing or not an integer');
  }
  if (msgType !== MSG_REQUEST && msgType !== MSG_DATA && msgType !== MSG_REJECT) {
    throw new UnknownMetadataMessageError(msgType);
  }
  const piece = dict.get('piece');
  if (typeof piece !== 'number' || piece < 0 || piece >= MAX_METADATA_PIECES) {
    throw new ProtocolError(`ut_metadata message: piece ${describeInt(piece)}, expected an integer 0..${MAX_METADATA_PIECES - 1}`);
  }
  const trailing = payload.length - end;
  if (msgType === MSG_REQUEST || msgType === MSG_REJECT) {
    const type = msgType === MSG_REQUEST ? 'request' : 'reject';
    if (trailing !== 0) throw new ProtocolError(`ut_metadata ${type}: ${trailing} bytes after the dictionary`);
    return { type, piece };
  }
  const totalSize = dict.get('total_size');
  if (typeof totalSize !== 'number' || totalSize < 1 || totalSize > MAX_METADATA_BYTES) {
    throw new ProtocolError(`ut_metadata data: total_size ${describeInt(totalSize)}, expected an integer 1..${MAX_METADATA_BYTES}`);
  }
  if (trailing > METADATA_PIECE_BYTES) {
    throw new ProtocolError(`ut_metadata data: ${trailing} bytes of data, more than ${METADATA_PIECE_BYTES}`);
  }
  const count = metadataPieceCount(totalSize);
  if (piece >= count) throw new ProtocolError(`ut_metadata data: piece ${piece}, but ${totalSize} bytes make ${count} pieces`);
  const expected = pieceBytes(piece, totalSize);
  if (trailing !== expected) {
    throw new ProtocolError(`ut_metadata data: piece ${piece} of ${totalSize} bytes must be ${expected} bytes, got ${trailing}`);
  }
  return { type: 'data', piece, totalSize, data: Buffer.from(payload.subarray(end)) };
}

function describeInt(v: unknown): string {
  if (v === undefined) return 'missing';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return 'not an integer';
}

/**
 * Collects the pieces of one info dictionary (pure: no hashing, no timers). Owns one buffer of
 * `totalSize` bytes, allocated up front, so memory is bounded by MAX_METADATA_BYTES whatever the
 * peers send. Invariants: a piece is stored at most once (a second copy of a piece already held
 * is ignored, so a late duplicate answer cannot overwrite it); only pieces of exactly the right
 * length are stored; `contributors()` lists every peer whose bytes are in the buffer, for
 * banning when the SHA-1 does not match (as libtorrent's ut_metadata.cpp does).
 */
export class MetadataAssembler {
  readonly totalSize: number;
  readonly pieceCount: number;
  private readonly buffer: Buffer;
  private readonly have: Uint8Array;
  private received = 0;
  private readonly from = new Set<number>();

  /** Throws ProtocolError unless 1 <= totalSize <= MAX_METADATA_BYTES: the size comes from a peer. */
  constructor(totalSize: number) {
    if (!Number.isSafeInteger(totalSize) || totalSize < 1 || totalSize > MAX_METADATA_BYTES) {
      throw new ProtocolError(`metadata size ${totalSize}, expected 1..${MAX_METADATA_BYTES}`);
    }
    this.totalSize = totalSize;
    this.pieceCount = metadataPieceCount(totalSize);
    this.buffer = Buffer.alloc(totalSize);
    this.have = new Uint8Array(this.pieceCount);
  }

  /**
   * Stores piece `piece` sent by peer `from` (copied). Throws ProtocolError for a piece out of
   * range or of the wrong length: every piece is 16 KiB but the last, which is exactly the
   * remainder. A piece already held is ignored.
   */
  add(piece: number, data: Buffer, from: number): void {
    if (!Number.isInteger(piece) || piece < 0 || piece >= this.pieceCount) {
      throw new ProtocolError(`metadata piece ${piece}, but ${this.totalSize} bytes make ${this.pieceCount} pieces`);
    }
    const expected = pieceBytes(piece, this.totalSize);
    if (data.length !== expected) {
      throw new ProtocolError(`metadata piece ${piece} of ${this.totalSize} bytes must be ${expected} bytes, got ${data.length}`);
    }
    if (this.have[piece] === 1) return;
    data.copy(this.buffer, piece * METADATA_PIECE_BYTES);
    this.have[piece] = 1;
    this.received++;
    this.from.add(from);
  }

  /** Indexes of the pieces not yet stored, ascending. */
  missing(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.pieceCount; i++) if (this.have[i] === 0) out.push(i);
    return out;
  }

  get complete(): boolean {
    return this.received === this.pieceCount;
  }

  /**
   * The whole info dictionary. Throws Error (a caller bug) before `complete`. Returns the
   * assembler's own buffer, not a copy: once complete, nothing writes to it again.
   */
  bytes(): Buffer {
    if (!this.complete) {
      throw new Error(`metadata incomplete: ${this.pieceCount - this.received} of ${this.pieceCount} pieces missing`);
    }
    return this.buffer;
  }

  /** Ids of the peers whose pieces are stored, in the order they first contributed. */
  contributors(): number[] {
    return [...this.from];
  }
}
