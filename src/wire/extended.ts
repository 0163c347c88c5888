/**
 * The BEP 10 extension protocol handshake: the bencoded dictionary carried by an `extended`
 * message (BEP 3 id 20) whose extended message id is 0.
 *
 * Fields (all optional, BEP 10 "handshake message"; unknown keys are ignored, as BEP 10 requires):
 *
 *   key            type     meaning                                               defined in
 *   m              dict     extension name -> the id the *sender* wants to        BEP 10
 *                           receive that extension's messages under; 0 disables
 *   p              int      the sender's TCP listen port                          BEP 10
 *   v              string   client name and version, UTF-8                        BEP 10
 *   yourip         string   the receiver's address as the sender sees it,         BEP 10
 *                           compact: 4 (IPv4) or 16 (IPv6) bytes, no port
 *   reqq           int      outstanding requests the sender queues without        BEP 10
 *                           dropping (libtorrent's default is 250)
 *   metadata_size  int      bytes of the info dictionary (ut_metadata)            BEP 9
 *
 * Owns: encoding our handshake and decoding a peer's into `ExtendedHandshake`. Invariants of a
 * decoded handshake: every `m` id is an integer in 1..255 (a 0 means "disabled" and is dropped, as
 * are non-integer or out-of-range ids and names that are not UTF-8); `p` is 1..65535; `reqq` is a
 * positive safe integer; `metadataSize` a non-negative safe integer; `yourip` 4 or 16 bytes. A
 * field with the wrong type or range reads as absent (null), as libtorrent's `dict_find_int`
 * does, rather than failing the connection. Strings and buffers are copies, never views into
 * the payload: callers keep them for the life of the connection.
 *
 * A ProtocolError means the payload is not one bounded bencoded dictionary at all.
 */
import { decode, decodePrefix, encode, isBytes, isDict, type BDict, type BValue, type DecodeLimits } from '../bencode/index.js';
import { BencodeError, ProtocolError } from '../errors.js';

/** BEP 10: extended message id 0 is the handshake; ids 1..255 are whatever `m` says. */
export const EXTENDED_HANDSHAKE_ID = 0;

/**
 * Largest handshake payload we decode. Real handshakes are a few hundred bytes (libtorrent's,
 * with a dozen `m` entries, `v`, `yourip`, `reqq` and `metadata_size`, is under 300); 64 KiB is
 * over a hundred times that, yet keeps a peer from making us parse a full MAX_EXTENDED_BYTES
 * (1 MiB) dictionary each time it re-sends a handshake, which BEP 10 allows at any moment.
 */
export const MAX_EXTENDED_HANDSHAKE_BYTES = 64 * 1024;

/**
 * Nesting and item bounds for the handshake dictionary. `m` sits at depth 2; the extra levels
 * tolerate clients that add small nested values under their own keys. 2048 items is ten times
 * the largest handshake we know of and bounds the Map we build from `m`.
 */
const HANDSHAKE_LIMITS: DecodeLimits = { maxDepth: 8, maxItems: 2048 };

/** BEP 10: the extended message id is one byte, and 0 is reserved for the handshake. */
const MAX_EXTENSION_ID = 255;
const MAX_PORT = 65535;
const IPV4_BYTES = 4;
const IPV6_BYTES = 16;

export interface ExtendedHandshake {
  /** Extension name -> the id to send that extension's messages to this peer with (1..255). */
  m: Map<string, number>;
  v: string | null;
  p: number | null;
  reqq: number | null;
  metadataSize: number | null;
  yourip: Buffer | null;
}

export interface ExtendedHandshakeInput {
  /** Extension name -> the id we want to receive it under; 0 disables a name sent before. */
  m: Record<string, number>;
  v?: string;
  p?: number;
  reqq?: number;
  metadataSize?: number;
  yourip?: Buffer;
}

/**
 * The bencoded handshake payload (without the 2 header bytes, id 20 and extended id 0). Throws
 * RangeError for values a peer could not decode back: an `m` id outside 0..255, `p` outside
 * 1..65535, a non-positive `reqq`, a negative `metadataSize`, a `yourip` that is not 4 or 16
 * bytes, or a result over MAX_EXTENDED_HANDSHAKE_BYTES.
 */
export function encodeExtendedHandshake(h: ExtendedHandshakeInput): Buffer {
  const m = new Map<string, number>();
  for (const [name, id] of Object.entries(h.m)) {
    if (!Number.isInteger(id) || id < 0 || id > MAX_EXTENSION_ID) {
      throw new RangeError(`extension ${name}: id must be 0..${MAX_EXTENSION_ID}, got ${id}`);
    }
    m.set(name, id);
  }
  const dict: Record<string, Buffer | string | number | Map<string, number>> = { m };
  if (h.v !== undefined) dict.v = h.v;
  if (h.p !== undefined) {
    if (!Number.isInteger(h.p) || h.p < 1 || h.p > MAX_PORT) throw new RangeError(`p must be 1..${MAX_PORT}, got ${h.p}`);
    dict.p = h.p;
  }
  if (h.reqq !== undefined) {
    if (!Number.isSafeInteger(h.reqq) || h.reqq < 1) throw new RangeError(`reqq must be a positive integer, got ${h.reqq}`);
    dict.reqq = h.reqq;
  }
  if (h.metadataSize !== undefined) {
    if (!Number.isSafeInteger(h.metadataSize) || h.metadataSize < 0) {
      throw new RangeError(`metadata_size must be a non-negative integer, got ${h.metadataSize}`);
    }
    dict.metadata_size = h.metadataSize;
  }
  if (h.yourip !== undefined) {
    if (h.yourip.length !== IPV4_BYTES && h.yourip.length !== IPV6_BYTES) {
      throw new RangeError(`yourip must be ${IPV4_BYTES} or ${IPV6_BYTES} bytes, got ${h.yourip.length}`);
    }
    dict.yourip = h.yourip;
  }
  const out = encode(dict);
  if (out.length > MAX_EXTENDED_HANDSHAKE_BYTES) {
    throw new RangeError(`extended handshake of ${out.length} bytes, more than ${MAX_EXTENDED_HANDSHAKE_BYTES}`);
  }
  return out;
}

/**
 * Decodes a peer's handshake payload (after the extended id byte). Throws ProtocolError when it
 * is longer than MAX_EXTENDED_HANDSHAKE_BYTES, is not exactly one bencoded value within the
 * bounds, or is not a dictionary. Everything else is tolerated (see the module comment).
 */
export function decodeExtendedHandshake(payload: Buffer): ExtendedHandshake {
  if (payload.length > MAX_EXTENDED_HANDSHAKE_BYTES) {
    throw new ProtocolError(`extended handshake of ${payload.length} bytes, more than ${MAX_EXTENDED_HANDSHAKE_BYTES}`);
  }
  const d = decodeExtensionDict(payload, 'extended handshake', HANDSHAKE_LIMITS);
  const p = d.get('p');
  const reqq = d.get('reqq');
  const size = d.get('metadata_size');
  const v = d.get('v');
  const yourip = d.get('yourip');
  return {
    m: extensionIds(d.get('m')),
    v: isBytes(v) ? v.toString('utf8') : null,
    p: typeof p === 'number' && p >= 1 && p <= MAX_PORT ? p : null,
    reqq: typeof reqq === 'number' && reqq >= 1 ? reqq : null,
    // The decoder yields `number` only for safe integers (bigint otherwise), so this is safe.
    metadataSize: typeof size === 'number' && size >= 0 ? size : null,
    yourip: isBytes(yourip) && (yourip.length === IPV4_BYTES || yourip.length === IPV6_BYTES) ? Buffer.from(yourip) : null,
  };
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function extensionIds(m: BValue | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (!isDict(m)) return out;
  for (const [rawName, id] of m.entries) {
    // BEP 10: "Setting an extension number to zero means that the extension is not
    // supported/disabled", so a 0 is dropped like any id that is not one byte.
    if (typeof id !== 'number' || id < 1 || id > MAX_EXTENSION_ID) continue;
    let name: string;
    try {
      // BDict keys are latin1 (one char per byte); names are compared as UTF-8 text.
      name = UTF8.decode(Buffer.from(rawName, 'latin1'));
    } catch {
      continue; // not UTF-8: cannot be the name of any extension we speak
    }
    if (!out.has(name)) out.set(name, id);
  }
  return out;
}

/**
 * Bounded strict decode of an extension payload that must be one bencoded dictionary (with
 * `prefix`, only the dictionary at its start: BEP 9 data messages append raw bytes). Bencode
 * failures become ProtocolError, the error a peer's bad bytes always raise. Shared by the BEP 9
 * and BEP 11 codecs; not part of the package's public surface.
 */
export function decodeExtensionDict(payload: Buffer, what: string, limits: DecodeLimits): BDict;
export function decodeExtensionDict(
  payload: Buffer,
  what: string,
  limits: DecodeLimits,
  prefix: true,
): { dict: BDict; end: number };
export function decodeExtensionDict(
  payload: Buffer,
  what: string,
  limits: DecodeLimits,
  prefix = false,
): BDict | { dict: BDict; end: number } {
  let value: BValue;
  let end = payload.length;
  try {
    if (prefix) ({ value, end } = decodePrefix(payload, limits));
    else value = decode(payload, limits);
  } catch (e) {
    if (e instanceof BencodeError) throw new ProtocolError(`${what}: ${e.message}`, { cause: e });
    throw e;
  }
  if (!isDict(value)) throw new ProtocolError(`${what}: not a bencoded dictionary`);
  return prefix ? { dict: value, end } : value;
}
