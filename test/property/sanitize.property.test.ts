/**
 * Path elements from random bytes: whatever sanitizeElement returns is safe (no separator, NUL
 * or control character, never "." or ".."), and a printable-ASCII name without separators, short
 * enough not to be cut, comes back unchanged (the plain path of sanitize.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_ELEMENT_BYTES, resolveDuplicates, sanitizeElement } from '../../src/metainfo/sanitize.js';

const byte = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.constantFrom(0x00, 0x1f, 0x2e, 0x2f, 0x5c, 0x7f, 0x80, 0xc3, 0xa9, 0xe2, 0x80, 0x8e, 0xff),
  fc.integer({ min: 0, max: 255 }),
);

describe('sanitizeElement (property)', () => {
  it('returns null or a safe name for any bytes', () => {
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 300 }), (bytes) => {
        const name = sanitizeElement(Buffer.from(bytes));
        if (name === null) return;
        // eslint-disable-next-line no-control-regex
        expect(name).not.toMatch(/[\u0000-\u001f/\\]/);
        expect(['.', '..']).not.toContain(name);
        expect(Buffer.byteLength(name)).toBeLessThanOrEqual(MAX_ELEMENT_BYTES + 9);
      }),
      { numRuns: 3000 },
    );
  });

  it('keeps printable ASCII without separators as it is', () => {
    const plain = fc.array(fc.integer({ min: 0x20, max: 0x7e }).filter((c) => c !== 0x2f && c !== 0x5c), { minLength: 1, maxLength: MAX_ELEMENT_BYTES });
    fc.assert(
      fc.property(plain, (bytes) => {
        const text = Buffer.from(bytes).toString('latin1');
        const expected = text === '.' || text === '..' ? null : text;
        expect(sanitizeElement(Buffer.from(bytes))).toBe(expected);
        expect(sanitizeElement(new Uint8Array(bytes))).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });
});

/** resolveDuplicates as first written: one set of whole lowercased paths (the reference). */
function referenceResolve(paths: string[][], skip: (i: number) => boolean): void {
  const key = (parts: readonly string[]): string => parts.join('/').toLowerCase();
  const taken = new Set<string>();
  paths.forEach((path, i) => {
    if (skip(i)) return;
    for (let k = 1; k < path.length; k++) taken.add(key(path.slice(0, k)));
  });
  paths.forEach((path, i) => {
    if (skip(i)) return;
    let own = key(path);
    if (taken.has(own)) {
      const last = path[path.length - 1]!;
      const dot = last.lastIndexOf('.');
      const [stem, ext] = dot >= 0 ? [last.slice(0, dot), last.slice(dot)] : [last, ''];
      for (let n = 1; ; n++) {
        const candidate = [...path.slice(0, -1), `${stem}.${n}${ext}`];
        own = key(candidate);
        if (!taken.has(own)) {
          paths[i] = candidate;
          break;
        }
      }
    }
    taken.add(own);
  });
}

describe('resolveDuplicates (property)', () => {
  it('renames exactly as the whole-path reference does', () => {
    const part = fc.constantFrom('a', 'A', 'b', 'a.txt', 'A.TXT', 'a.1.txt', 'b.1', 'Σ', 'σ', 'ς', 'x.tar.gz');
    const entry = fc.record({ path: fc.array(part, { minLength: 1, maxLength: 3 }), pad: fc.boolean() });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 25 }), (entries) => {
        const ours = entries.map((e) => [...e.path]);
        const ref = entries.map((e) => [...e.path]);
        resolveDuplicates(ours, (i) => entries[i]!.pad);
        referenceResolve(ref, (i) => entries[i]!.pad);
        expect(ours).toEqual(ref);
      }),
      { numRuns: 3000 },
    );
  });
});
