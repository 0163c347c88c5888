import { describe, expect, it } from 'vitest';
import { resolveDuplicates, sanitizeElement, sanitizePath } from '../../src/metainfo/sanitize.js';

const el = (s: string | Buffer): string | null => sanitizeElement(typeof s === 'string' ? Buffer.from(s) : s);
const path = (...parts: string[]): string[] => sanitizePath(parts.map((p) => Buffer.from(p)));

describe('sanitizeElement', () => {
  it.each([
    ['.', null],
    ['..', null],
    ['/', null],
    ['\\', null],
    ['/..', null],
    ['', '_'],
    ['...', '...'],
    ['foo/../bar', 'foo..bar'],
    ['/etc', 'etc'],
    ['a\\b', 'ab'],
    ['nul\0byte', 'nulbyte'],
    ['tab\there', 'tab_here'],
    ['line\nbreak', 'line_break'],
    ['trailing space ', 'trailing space '],
    ['exe\u202Egpj.exe', 'exegpj.exe'],
    ['café', 'café'],
  ])('%j -> %j', (input, output) => {
    expect(el(input)).toBe(output);
  });

  it('replaces invalid UTF-8 with _', () => {
    expect(el(Buffer.from([0x61, 0xff, 0x62]))).toBe('a_b');
    expect(el(Buffer.from([0xc3]))).toBe('_');
    expect(el(Buffer.from([0xed, 0xa0, 0x80]))).toBe('___'); // a UTF-16 surrogate is not UTF-8
  });

  it('cuts long names to fit 255-byte file systems, keeping a short extension', () => {
    const long = `${'a'.repeat(300)}.txt`;
    const out = el(long)!;
    expect(out).toBe(`${'a'.repeat(240)}.txt`);
    expect(Buffer.byteLength(el('é'.repeat(300))!)).toBeLessThanOrEqual(240);
    expect(el(`${'b'.repeat(300)}.averyveryverylongextension`)).toBe('b'.repeat(240));
  });
});

describe('sanitizePath', () => {
  it('never yields a component that escapes the folder', () => {
    for (const parts of [['..', '..', 'etc', 'passwd'], ['/', 'abs'], ['.', 'x'], ['a', '..', '..', 'b']]) {
      const out = path(...parts);
      for (const c of out) {
        expect(c).not.toMatch(/[/\\\0]/);
        expect(['', '.', '..']).not.toContain(c);
      }
    }
    expect(path('..', '..', 'etc', 'passwd')).toEqual(['etc', 'passwd']);
    expect(path('..')).toEqual(['_']);
    expect(path('', '')).toEqual(['_', '_']);
  });
});

describe('resolveDuplicates', () => {
  it('renames later duplicates before the extension, case-insensitively', () => {
    const paths = [['foo', 'bar.txt'], ['foo', 'bar.txt'], ['foo', 'BAR.txt'], ['x']];
    resolveDuplicates(paths, () => false);
    expect(paths).toEqual([['foo', 'bar.txt'], ['foo', 'bar.1.txt'], ['foo', 'BAR.2.txt'], ['x']]);
  });

  it('renames a file that has the name of a folder another file needs', () => {
    const paths = [['a'], ['a', 'b']];
    resolveDuplicates(paths, () => false);
    expect(paths).toEqual([['a.1'], ['a', 'b']]);
  });

  it('leaves skipped entries (pad files) alone', () => {
    const paths = [['_'], ['_'], ['_']];
    resolveDuplicates(paths, (i) => i === 1);
    expect(paths).toEqual([['_'], ['_'], ['_.1']]);
  });
});
