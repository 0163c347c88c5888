/**
 * Readers for bencode that the decoder has already checked (a ListStream's items): offsets and
 * small integers read straight from the bytes, with no checks and no allocation of their own.
 * Never for unchecked bytes: on those they may read past a value or loop on garbage.
 */
import { COLON, D, E, I, L, MINUS, ZERO } from './tokens.js';

/** Integers of up to this many digits are below 2^53: the running value is exact. */
const MAX_SMALL_DIGITS = 15;

/** Where the bytes of the checked string at `pos` start (just past its `<length>:`). */
export function stringStart(buf: Uint8Array, pos: number): number {
  while (buf[pos] !== COLON) pos++;
  return pos + 1;
}

/** Where the checked value at `pos` ends (just past it). */
export function valueEnd(buf: Uint8Array, pos: number): number {
  // Open lists and dictionaries; a checked value closes them all.
  let open = 0;
  do {
    const c = buf[pos]!;
    if (c === L || c === D) {
      open++;
      pos++;
    } else if (c === E) {
      open--;
      pos++;
    } else if (c === I) {
      while (buf[pos] !== E) pos++;
      pos++;
    } else {
      let len = 0;
      while (buf[pos] !== COLON) len = len * 10 + (buf[pos++]! - ZERO);
      pos += 1 + len;
    }
  } while (open > 0);
  return pos;
}

/**
 * The checked integer at `pos` when it is 0 or more and has at most 15 digits (a safe integer);
 * otherwise -1, and the caller takes the general path (decode).
 */
export function smallIntAt(buf: Uint8Array, pos: number): number {
  if (buf[pos + 1] === MINUS) return -1;
  let n = 0;
  let digits = 0;
  for (let p = pos + 1; buf[p] !== E; p++) {
    if (++digits > MAX_SMALL_DIGITS) return -1;
    n = n * 10 + (buf[p]! - ZERO);
  }
  return n;
}

/** True when the checked string whose bytes are buf[start, end) is `text` (ASCII). */
export function bytesAre(buf: Uint8Array, start: number, end: number, text: string): boolean {
  if (end - start !== text.length) return false;
  for (let k = 0; k < text.length; k++) if (buf[start + k] !== text.charCodeAt(k)) return false;
  return true;
}
