/**
 * Strict, bounded bencode decoder (BEP 3) that keeps byte spans.
 *
 * Owns: turning untrusted bytes into BValues or a BencodeError, never anything else (no
 * RangeError, no stack overflow, no allocation proportional to a length prefix). One list may be
 * streamed instead (ListStream): its items are checked by the same rules, not made, and handed
 * over as byte spans.
 *
 * Rejected: leading zeros (`i03e`, `03:abc`), `i-0e`, `ie`, `i-e`, a sign on a string length,
 * string lengths running past the input, non-string dictionary keys, truncation, trailing bytes
 * after the top-level value (unless the caller asks for a prefix decode), integers outside int64.
 * Soft errors (unsorted or duplicate keys) are recorded on the BDict, not thrown: libtorrent
 * accepts them in v1 torrents (corpus: unordered.torrent) and refuses them in v2 info dicts.
 *
 * Bounds: nesting depth and total item count are limited by the caller (defaults below); the
 * recursion depth of this decoder equals the nesting depth, so the depth limit also bounds the
 * stack.
 */
import { BencodeError } from '../errors.js';
import { COLON, D, E, I, L, MINUS, NINE, ZERO } from './tokens.js';
import { BDict, SMALL_DICT_ENTRIES, type BValue } from './types.js';

export interface DecodeLimits {
  /** Deepest nesting of lists and dicts. libtorrent uses 100 for .torrent files. */
  maxDepth: number;
  /** Total number of values (tokens). libtorrent allows 3,000,000 for a .torrent. */
  maxItems: number;
}

export const DEFAULT_LIMITS: DecodeLimits = { maxDepth: 100, maxItems: 3_000_000 };

/**
 * One list whose items are handed over one by one, as byte spans, instead of kept in the result:
 * a torrent's file list (`info.files`) is the one large part of a .torrent, and its entries, made
 * into BValues and kept until the parser is done with them, were most of what a 50,000-file
 * torrent cost (50,000 dictionaries, 100,000 byte-string views, all for the collector to copy).
 * Each item is checked exactly as decode checks any value (same limits, same errors, soft errors
 * counted) but not made: the stream reads it from the checked bytes (./checked.ts) or decodes
 * the span itself. Only the list that a BDict keeps is streamed (the first occurrence of each key
 * on the path); in the result it stands as an empty array.
 */
export interface ListStream {
  /** Dictionary keys from the top-level dictionary down to the list, e.g. ['info', 'files']. */
  readonly path: readonly string[];
  /** Item `index` of the list, checked: it is input[start, end). */
  item(start: number, end: number, index: number): void;
  /** The list is over; it had `count` items. Not called when the input has no such list. */
  end(count: number): void;
}

/** int64 bounds: what libtorrent (and every mainstream client) can represent. */
const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);
/** A string length prefix longer than this many digits cannot fit any input we accept. */
const MAX_LENGTH_DIGITS = 15;
/** Hard ceiling on maxDepth whatever the caller asks: far below Node's stack limit. */
const MAX_DEPTH_CAP = 1000;

/**
 * Dictionary keys repeat (every entry of a 50,000-file list has "length" and "path"): the last key
 * seen per (length, first byte) is reused when the bytes match, instead of making a new string.
 * Keys longer than this are rare and made afresh.
 */
const MAX_REUSED_KEY_BYTES = 32;

class Decoder {
  pos = 0;
  items = 0;
  softErrors = 0;
  private readonly recentKeys = new Map<number, string>();
  /**
   * Values of the lists and keys/values of the dictionaries being read, innermost last: each
   * list or small dictionary is sliced off at its end into an array of exactly its size (an
   * array grown by push keeps spare capacity, and a torrent's file list makes a great many small
   * ones). Entries above `top` are stale and overwritten.
   */
  private readonly stack: (string | BValue)[] = [];
  private top = 0;
  /** How many keys of stream.path the dictionaries being read match, outermost first. */
  private matched = 0;
  /** The first occurrence of the path has been read: nothing else is streamed. */
  private streamDone = false;

  constructor(
    readonly buf: Buffer,
    readonly limits: DecodeLimits,
    readonly stream: ListStream | null,
  ) {}

  fail(message: string, at = this.pos): never {
    throw new BencodeError(message, at);
  }

  /** One value; `streamed`: a list here goes to the stream (the end of stream.path). */
  value(depth: number, streamed = false): BValue {
    if (++this.items > this.limits.maxItems) this.fail(`more than ${this.limits.maxItems} items`);
    const c = this.buf[this.pos];
    if (c === undefined) this.fail('unexpected end of input');
    if (c === I) return this.integer();
    if (c >= ZERO && c <= NINE) return this.bytes();
    if (c === L || c === D) {
      if (depth >= this.limits.maxDepth) this.fail(`nesting deeper than ${this.limits.maxDepth}`);
      if (c === D) return this.dict(depth + 1);
      return streamed ? this.streamList(depth + 1) : this.list(depth + 1);
    }
    this.fail(`unexpected byte 0x${c.toString(16).padStart(2, '0')}`);
  }

  integer(): number | bigint {
    const start = this.pos;
    const buf = this.buf;
    let p = start + 1;
    let negative = false;
    if (buf[p] === MINUS) {
      negative = true;
      p++;
    }
    const digitsStart = p;
    while (p < buf.length && buf[p]! >= ZERO && buf[p]! <= NINE) p++;
    if (p >= buf.length) this.fail('unterminated integer', start);
    if (buf[p] !== E) this.fail('invalid character in integer', p);
    const digits = p - digitsStart;
    if (digits === 0) this.fail('empty integer', start);
    if (buf[digitsStart] === ZERO && (digits > 1 || negative)) {
      this.fail(negative ? 'negative zero' : 'leading zero in integer', start);
    }
    // 19 digits always fit in int64 territory checks below; anything longer overflows.
    if (digits > 19) this.fail('integer overflow', start);
    this.pos = p + 1;
    if (digits <= 15) {
      // Up to 15 digits is below 2^53: the running value is exact, and no string is made.
      let n = 0;
      for (let k = digitsStart; k < p; k++) n = n * 10 + (buf[k]! - ZERO);
      return negative ? -n : n;
    }
    const text = buf.toString('latin1', start + 1, p);
    const big = BigInt(text);
    if (big > INT64_MAX || big < INT64_MIN) this.fail('integer overflow', start);
    const n = Number(big);
    return Number.isSafeInteger(n) ? n : big;
  }

  bytes(): Buffer {
    const len = this.stringLength();
    return this.buf.subarray(this.pos - len, this.pos);
  }

  /** A dictionary key, as the latin1 string BDict stores (no Buffer view is made for it). */
  key(): string {
    const len = this.stringLength();
    const buf = this.buf;
    const at = this.pos - len;
    if (len === 0 || len > MAX_REUSED_KEY_BYTES) return buf.toString('latin1', at, this.pos);
    const slot = len * 256 + buf[at]!;
    const seen = this.recentKeys.get(slot);
    if (seen !== undefined) {
      let same = true;
      for (let k = 1; k < len; k++) {
        if (seen.charCodeAt(k) !== buf[at + k]) {
          same = false;
          break;
        }
      }
      if (same) return seen;
    }
    const made = buf.toString('latin1', at, this.pos);
    this.recentKeys.set(slot, made);
    return made;
  }

  /** Reads `<length>:` and checks the string fits; leaves pos just past the string, returns its length. */
  stringLength(): number {
    const start = this.pos;
    const buf = this.buf;
    let p = start;
    let len = 0;
    while (p < buf.length && buf[p]! >= ZERO && buf[p]! <= NINE) {
      if (p - start >= MAX_LENGTH_DIGITS) this.fail('string length too long', start);
      len = len * 10 + (buf[p]! - ZERO);
      p++;
    }
    if (p >= buf.length) this.fail('unterminated string length', start);
    if (buf[p] !== COLON) this.fail('invalid character in string length', p);
    if (buf[start] === ZERO && p - start > 1) this.fail('leading zero in string length', start);
    p++;
    if (len > buf.length - p) this.fail(`string of ${len} bytes runs past the end of input`, start);
    this.pos = p + len;
    return len;
  }

  list(depth: number): BValue[] {
    this.pos++; // 'l'
    const base = this.top;
    for (;;) {
      const c = this.buf[this.pos];
      if (c === undefined) this.fail('unterminated list');
      if (c === E) {
        this.pos++;
        const out = this.stack.slice(base, this.top) as BValue[];
        this.top = base;
        return out;
      }
      const v = this.value(depth);
      this.stack[this.top++] = v;
    }
  }

  /** A list whose items go to the stream as they come; it stands as an empty array. */
  streamList(depth: number): BValue[] {
    const stream = this.stream!;
    this.pos++; // 'l'
    let count = 0;
    for (;;) {
      const c = this.buf[this.pos];
      if (c === undefined) this.fail('unterminated list');
      if (c === E) {
        this.pos++;
        stream.end(count);
        return [];
      }
      const start = this.pos;
      this.check(depth);
      stream.item(start, this.pos, count++);
    }
  }

  /**
   * Checks one value exactly as value() reads it (items, depth, syntax, soft errors, the same
   * errors at the same offsets) without making it: a streamed list's items.
   */
  check(depth: number): void {
    if (++this.items > this.limits.maxItems) this.fail(`more than ${this.limits.maxItems} items`);
    const c = this.buf[this.pos];
    if (c === undefined) this.fail('unexpected end of input');
    if (c === I) {
      this.integer();
    } else if (c >= ZERO && c <= NINE) {
      this.stringLength();
    } else if (c === L || c === D) {
      if (depth >= this.limits.maxDepth) this.fail(`nesting deeper than ${this.limits.maxDepth}`);
      if (c === L) this.checkList(depth + 1);
      else this.checkDict(depth + 1);
    } else {
      this.fail(`unexpected byte 0x${c.toString(16).padStart(2, '0')}`);
    }
  }

  /** list() without the list. */
  private checkList(depth: number): void {
    this.pos++; // 'l'
    for (;;) {
      const c = this.buf[this.pos];
      if (c === undefined) this.fail('unterminated list');
      if (c === E) {
        this.pos++;
        return;
      }
      this.check(depth);
    }
  }

  /** dict() without the BDict: keys are compared as bytes (latin1 order) to count soft errors. */
  private checkDict(depth: number): void {
    const buf = this.buf;
    this.pos++; // 'd'
    let prevStart = -1;
    let prevEnd = -1;
    for (;;) {
      const c = buf[this.pos];
      if (c === undefined) this.fail('unterminated dictionary');
      if (c === E) {
        this.pos++;
        return;
      }
      if (c < ZERO || c > NINE) this.fail('dictionary key is not a string');
      if (++this.items > this.limits.maxItems) this.fail(`more than ${this.limits.maxItems} items`);
      const keyLength = this.stringLength();
      const keyEnd = this.pos;
      const keyStart = keyEnd - keyLength;
      if (buf[this.pos] === undefined || buf[this.pos] === E) {
        this.fail('dictionary key without a value');
      }
      this.check(depth);
      if (prevStart >= 0 && !bytesBelow(buf, prevStart, prevEnd, keyStart, keyEnd)) this.softErrors++;
      prevStart = keyStart;
      prevEnd = keyEnd;
    }
  }

  dict(depth: number): BDict {
    const start = this.pos;
    const softBefore = this.softErrors;
    this.pos++; // 'd'
    const base = this.top;
    // Up to SMALL_DICT_ENTRIES keys the entries sit on the stack; past that, in a Map, so that a
    // huge unsorted dictionary is not checked for duplicates by scanning (quadratic).
    let big: Map<string, BValue> | null = null;
    // Keys are latin1 strings (one char per byte), so string order is byte order (BEP 3's sort).
    let prevKey: string | undefined;
    let unsorted = false;
    for (;;) {
      const c = this.buf[this.pos];
      if (c === undefined) this.fail('unterminated dictionary');
      if (c === E) {
        this.pos++;
        const soft = this.softErrors > softBefore;
        if (big !== null) return new BDict(big, start, this.pos, soft);
        const pairs = this.stack.slice(base, this.top);
        this.top = base;
        return new BDict(pairs, start, this.pos, soft);
      }
      if (c < ZERO || c > NINE) this.fail('dictionary key is not a string');
      if (++this.items > this.limits.maxItems) this.fail(`more than ${this.limits.maxItems} items`);
      const key = this.key();
      if (this.buf[this.pos] === undefined || this.buf[this.pos] === E) {
        this.fail('dictionary key without a value');
      }
      let value: BValue;
      const path = this.stream?.path;
      if (path !== undefined && !this.streamDone && depth === this.matched + 1 && key === path[this.matched]) {
        // The next key of the stream's path, in the dictionary that matched the ones before.
        this.matched++;
        value = this.value(depth, this.matched === path.length);
        this.matched--;
        // Whatever it held, a later occurrence of this key is a duplicate the BDict drops.
        this.streamDone = true;
      } else {
        value = this.value(depth);
      }
      if (prevKey !== undefined && prevKey >= key) {
        this.softErrors++;
        unsorted = true;
      }
      prevKey = key;
      // Keys that have only risen so far are all different; once one was out of order, any key
      // may repeat an earlier one, and the first occurrence wins.
      if (unsorted && (big !== null ? big.has(key) : this.onStack(base, key))) continue;
      if (big !== null) {
        big.set(key, value);
      } else if (this.top - base < 2 * SMALL_DICT_ENTRIES) {
        this.stack[this.top++] = key;
        this.stack[this.top++] = value;
      } else {
        big = new Map();
        for (let i = base; i < this.top; i += 2) big.set(this.stack[i] as string, this.stack[i + 1] as BValue);
        this.top = base;
        big.set(key, value);
      }
    }
  }

  /** True when `key` is among the keys on the stack from `base` (a small dictionary's). */
  private onStack(base: number, key: string): boolean {
    for (let i = base; i < this.top; i += 2) if (this.stack[i] === key) return true;
    return false;
  }
}

/** True when buf[aStart, aEnd) sorts strictly before buf[bStart, bEnd), byte by byte (BEP 3's key order). */
function bytesBelow(buf: Buffer, aStart: number, aEnd: number, bStart: number, bEnd: number): boolean {
  const aLength = aEnd - aStart;
  const bLength = bEnd - bStart;
  const n = aLength < bLength ? aLength : bLength;
  for (let k = 0; k < n; k++) {
    const a = buf[aStart + k]!;
    const b = buf[bStart + k]!;
    if (a !== b) return a < b;
  }
  return aLength < bLength;
}

/** Decodes exactly one value that must span the whole input. */
export function decode(input: Uint8Array, limits: Partial<DecodeLimits> = {}, stream: ListStream | null = null): BValue {
  const { value, end } = decodePrefix(input, limits, stream);
  if (end !== input.length) throw new BencodeError(`${input.length - end} trailing bytes`, end);
  return value;
}

/**
 * Decodes one value at the start of the input and reports where it ended: for messages where
 * raw bytes follow a bencoded header (ut_metadata data messages, BEP 9).
 */
export function decodePrefix(
  input: Uint8Array,
  limits: Partial<DecodeLimits> = {},
  stream: ListStream | null = null,
): { value: BValue; end: number } {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const merged = { ...DEFAULT_LIMITS, ...limits };
  // The decoder recurses once per nesting level; this cap keeps any caller's limit stack-safe.
  merged.maxDepth = Math.min(merged.maxDepth, MAX_DEPTH_CAP);
  const d = new Decoder(buf, merged, stream);
  const value = d.value(0);
  return { value, end: d.pos };
}
