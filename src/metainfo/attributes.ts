/**
 * BEP 47 file attributes, as a v1 file entry, a single-file info dictionary and a v2 file tree
 * leaf all carry them: the `attr` flags (p pad, l symlink, x executable, h hidden) and a
 * symlink's `symlink path`. Unknown flags are ignored, as BEP 47 asks; a symlink target is
 * sanitised like any path, so it cannot point outside the output folder.
 */
import { BDict, isBytes, isList, type BValue } from '../bencode/index.js';
import { optBytes, type Fail } from './fields.js';
import { sanitizePath } from './sanitize.js';

export interface Attr {
  pad: boolean;
  symlink: boolean;
  executable: boolean;
  hidden: boolean;
}

/** The flags of `d`'s attr; all false when it has none or it is not a string. */
export function readAttr(d: BDict): Attr {
  const attr = optBytes(d, 'attr')?.toString('latin1') ?? '';
  return {
    pad: attr.includes('p'),
    symlink: attr.includes('l'),
    executable: attr.includes('x'),
    hidden: attr.includes('h'),
  };
}

/** A symlink's target, or null when it has none (then it is a plain empty file, as in libtorrent). */
export function readSymlink(d: BDict, where: string, fail: Fail): string[] | null {
  const target = d.get('symlink path');
  if (target === undefined) return null;
  const elements = readElements(target, `${where}.symlink path`, fail);
  return elements.length === 0 ? null : sanitizePath(elements);
}

/** Path elements must all be strings; anything else is an attack or garbage. */
function readElements(v: BValue | undefined, where: string, fail: Fail): Buffer[] {
  if (!isList(v)) fail(`${where} is not a list`);
  const out: Buffer[] = [];
  for (const e of v) {
    if (!isBytes(e)) fail(`${where} has an element that is not a string`);
    out.push(e);
  }
  return out;
}
