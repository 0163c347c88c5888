/**
 * Canonical bencode encoder (BEP 3): dictionary keys sorted by their raw bytes, integers only.
 *
 * Why not the `bencode` package's encoder: it sorts keys by UTF-16 code units rather than bytes,
 * silently writes non-integer numbers, and keeps its output position in module-global state. This
 * one is small, exact and has no state; the package stays as an independent oracle in the
 * property tests.
 *
 * Input: Uint8Array (bytes as they are), string (UTF-8), number (safe integer), bigint, boolean
 * (0/1), arrays, Map or plain objects (keys UTF-8), BDict (keys are latin1 byte strings).
 */
import { BDict } from './types.js';

export type Encodable =
  | Uint8Array
  | string
  | number
  | bigint
  | boolean
  | readonly Encodable[]
  | BDict
  | ReadonlyMap<string, Encodable>
  | { readonly [key: string]: Encodable | undefined };

export function encode(value: Encodable): Buffer {
  const parts: Uint8Array[] = [];
  write(value, parts);
  return Buffer.concat(parts);
}

function write(v: Encodable, out: Uint8Array[]): void {
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    out.push(Buffer.from(`${b.length}:`, 'latin1'), b);
  } else if (v instanceof Uint8Array) {
    out.push(Buffer.from(`${v.length}:`, 'latin1'), v);
  } else if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new TypeError(`cannot bencode non-integer number ${v}`);
    out.push(Buffer.from(`i${v}e`, 'latin1'));
  } else if (typeof v === 'bigint') {
    out.push(Buffer.from(`i${v}e`, 'latin1'));
  } else if (typeof v === 'boolean') {
    out.push(Buffer.from(v ? 'i1e' : 'i0e', 'latin1'));
  } else if (Array.isArray(v)) {
    out.push(Buffer.from('l', 'latin1'));
    for (const item of v as readonly Encodable[]) write(item, out);
    out.push(Buffer.from('e', 'latin1'));
  } else if (v instanceof BDict) {
    writeDict(
      [...v.entries].map(([k, val]) => [Buffer.from(k, 'latin1'), val]),
      out,
    );
  } else if (v instanceof Map) {
    writeDict(
      [...(v as ReadonlyMap<string, Encodable>)].map(([k, val]) => [Buffer.from(k, 'utf8'), val]),
      out,
    );
  } else if (typeof v === 'object' && v !== null) {
    const pairs: [Buffer, Encodable][] = [];
    for (const [k, val] of Object.entries(v)) {
      if (val !== undefined) pairs.push([Buffer.from(k, 'utf8'), val as Encodable]);
    }
    writeDict(pairs, out);
  } else {
    throw new TypeError(`cannot bencode ${typeof v}`);
  }
}

function writeDict(pairs: [Buffer, Encodable][], out: Uint8Array[]): void {
  pairs.sort((a, b) => Buffer.compare(a[0], b[0]));
  out.push(Buffer.from('d', 'latin1'));
  for (let i = 0; i < pairs.length; i++) {
    const [k, val] = pairs[i]!;
    if (i > 0 && Buffer.compare(pairs[i - 1]![0], k) === 0) {
      throw new TypeError(`duplicate dictionary key ${k.toString('latin1')}`);
    }
    out.push(Buffer.from(`${k.length}:`, 'latin1'), k);
    write(val, out);
  }
  out.push(Buffer.from('e', 'latin1'));
}
