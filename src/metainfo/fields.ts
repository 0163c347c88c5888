/**
 * Typed reads of decoded bencode with error messages that name the field ("info.piece length is
 * missing"). Used by the metainfo parser; the error type is the caller's.
 */
import { BDict, isBytes, isDict, isInt, isList, type BValue } from '../bencode/index.js';

export type Fail = (message: string) => never;

export function describe(v: BValue | undefined): string {
  if (v === undefined) return 'missing';
  if (isBytes(v)) return 'a string';
  if (isInt(v)) return 'an integer';
  if (isList(v)) return 'a list';
  return 'a dictionary';
}

export function reqDict(d: BDict, key: string, where: string, fail: Fail): BDict {
  const v = d.get(key);
  if (!isDict(v)) fail(`${where}${key} is ${describe(v)}, not a dictionary`);
  return v;
}

export function reqBytes(d: BDict, key: string, where: string, fail: Fail): Buffer {
  const v = d.get(key);
  if (!isBytes(v)) fail(`${where}${key} is ${describe(v)}, not a string`);
  return v;
}

/** A non-negative safe integer (lengths, counts, sizes). */
export function reqLength(d: BDict, key: string, where: string, fail: Fail): number {
  const v = d.get(key);
  if (!isInt(v)) fail(`${where}${key} is ${describe(v)}, not an integer`);
  if (typeof v === 'bigint' || !Number.isSafeInteger(v)) fail(`${where}${key} is ${v}, too large`);
  if (v < 0) fail(`${where}${key} is ${v}, negative`);
  return v;
}

export function optBytes(d: BDict, key: string): Buffer | undefined {
  const v = d.get(key);
  return isBytes(v) ? v : undefined;
}

/** A UTF-8 text field, `key.utf-8` preferred; invalid UTF-8 replaced, never thrown. */
export function optText(d: BDict, key: string): string | null {
  const v = optBytes(d, `${key}.utf-8`) ?? optBytes(d, key);
  if (v === undefined || v.length === 0) return null;
  return v.toString('utf8');
}

export function optInt(d: BDict, key: string): number | null {
  const v = d.get(key);
  return typeof v === 'number' ? v : null;
}
