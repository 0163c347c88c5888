/**
 * The v1 file list on its own (src/metainfo/file-list.ts): FileListStream fed by the decoder, as
 * parseTorrent feeds it, then read() with the decoded info dictionary. Each list is also read
 * without streaming (the whole list decoded, as `info` holds it) and, for plain entries, with an
 * empty `attr` added (which means no attributes, and sends the entry down the decoded path
 * instead of the one that reads checked bytes): all three must give the same files or the same
 * error.
 */
import { describe, expect, it } from 'vitest';
import { decode, encode, type BDict, type Encodable } from '../../src/bencode/index.js';
import { MetainfoError } from '../../src/errors.js';
import { FileListStream, type FileList } from '../../src/metainfo/file-list.js';
import { MAX_FILE_LENGTH, MAX_FILES, MAX_TOTAL_LENGTH } from '../../src/metainfo/limits.js';

type Entry = Record<string, Encodable>;

const torrentOf = (info: Record<string, Encodable>): Buffer => encode({ info: { name: 'x', ...info } });
const infoOf = (root: unknown): BDict => (root as BDict).get('info') as BDict;

/** As parseTorrent reads it: the list streamed while the input decodes. */
function readStreamed(input: Buffer): FileList {
  const stream = new FileListStream(input);
  const root = decode(input, {}, stream);
  return stream.read(infoOf(root), 'x');
}

/** The list decoded whole; the stream saw none of it and reads what `info` holds. */
function readDecoded(input: Buffer): FileList {
  return new FileListStream(input).read(infoOf(decode(input)), 'x');
}

/** Every way of reading `files` agrees; the files, or the error the reads all threw. */
function read(files: Encodable): FileList | string {
  const attempt = (f: () => FileList): FileList | string => {
    try {
      return f();
    } catch (e) {
      expect(e).toBeInstanceOf(MetainfoError);
      return (e as Error).message;
    }
  };
  const input = torrentOf({ files });
  const streamed = attempt(() => readStreamed(input));
  expect(attempt(() => readDecoded(input))).toEqual(streamed);
  if (Array.isArray(files)) {
    const withAttr = files.map((f) => (f !== null && typeof f === 'object' && !Buffer.isBuffer(f) && !Array.isArray(f) && !('attr' in f) ? { ...f, attr: '' } : f));
    expect(attempt(() => readStreamed(torrentOf({ files: withAttr })))).toEqual(streamed);
  }
  return streamed;
}

const filesOf = (files: Entry[]): FileList => {
  const r = read(files);
  if (typeof r === 'string') throw new Error(`refused: ${r}`);
  return r;
};
const errorOf = (files: Encodable): string => {
  const r = read(files);
  if (typeof r !== 'string') throw new Error('read');
  return r;
};
const rows = (list: FileList): [string, number, number, boolean][] => list.files.map((f) => [f.path.join('/'), f.length, f.offset, f.pad]);

describe('FileListStream: a multi-file list', () => {
  it('lays the files end to end and renames repeated paths, ignoring case', () => {
    const list = filesOf([
      { length: 10, path: ['d', 'a.txt'] },
      { length: 5, path: ['d', 'A.TXT'] },
      { length: 0, path: ['e'] },
      { length: 7, path: ['d', 'b'], md5sum: '0123' },
    ]);
    expect(list.multiFile).toBe(true);
    expect(rows(list)).toEqual([
      ['d/a.txt', 10, 0, false],
      ['d/A.1.TXT', 5, 10, false],
      ['e', 0, 15, false],
      ['d/b', 7, 15, false],
    ]);
  });

  it('sanitises each path so it stays inside the output folder', () => {
    const list = filesOf([{ length: 1, path: ['..', 'a'] }, { length: 1, path: ['b', '..', '..', 'c'] }]);
    for (const f of list.files) {
      expect(f.path.length).toBeGreaterThan(0);
      for (const element of f.path) expect(['', '.', '..']).not.toContain(element);
      for (const element of f.path) expect(element).not.toMatch(/[/\\]/);
    }
  });

  it('knows pad files by attr and by BitComet name, names a pad that has no path, and never renames pads', () => {
    const list = filesOf([
      { length: 10, path: ['a'] },
      { length: 6, attr: 'p' },
      { length: 4, path: ['b'] },
      { length: 6, attr: 'p' },
      { length: 4, path: ['_____padding_file_0_x'] },
      { length: 1, path: ['c'] },
    ]);
    expect(rows(list)).toEqual([
      ['a', 10, 0, false],
      ['.pad/6', 6, 10, true],
      ['b', 4, 16, false],
      ['.pad/6', 6, 20, true],
      ['_____padding_file_0_x', 4, 26, true],
      ['c', 1, 30, false],
    ]);
  });

  it('reads BEP 47 attributes; a symlink has no data, whatever length it gives', () => {
    const list = filesOf([
      { length: 3, attr: 'xh', path: ['run'] },
      { length: 99, attr: 'l', path: ['link'], 'symlink path': ['run'] },
      { length: 0, attr: 'l', path: ['dangling'], 'symlink path': [] },
      { length: 2, path: ['ignored'], 'path.utf-8': ['utf'] },
    ]);
    expect(list.files.map((f) => [f.path.join('/'), f.length, f.offset, f.executable, f.hidden, f.symlink])).toEqual([
      ['run', 3, 0, true, true, null],
      ['link', 0, 3, false, false, ['run']],
      ['dangling', 0, 3, false, false, null],
      ['utf', 2, 3, false, false, null],
    ]);
  });

  it('names the entry in its error, the first bad entry winning', () => {
    const ok = { length: 1, path: ['ok'] };
    expect(errorOf([ok, 7])).toBe('info.files[1] is not a dictionary');
    expect(errorOf([ok, { length: 'x', path: ['a'] }])).toBe('info.files[1].length is a string, not an integer');
    expect(errorOf([ok, { length: -1, path: ['a'] }])).toBe('info.files[1].length is -1, negative');
    expect(errorOf([ok, { path: ['a'] }])).toBe('info.files[1].length is missing, not an integer');
    expect(errorOf([ok, { length: 1 }])).toBe('info.files[1].path is missing');
    expect(errorOf([ok, { length: 1, path: 'a' }])).toBe('info.files[1].path is not a list');
    expect(errorOf([ok, { length: 1, path: ['a', 1] }])).toBe('info.files[1].path has an element that is not a string');
    expect(errorOf([ok, { length: 1, path: [] }, { length: 1 }])).toBe('info.files[1].path is an empty list');
    expect(errorOf([ok, { attr: 'l', path: ['s'], 'symlink path': 's' }])).toBe('info.files[1].symlink path is not a list');
    expect(errorOf([ok, { attr: 'l', path: ['s'], 'symlink path': [1] }])).toBe('info.files[1].symlink path has an element that is not a string');
  });

  it('bounds each file and the sum of all of them', () => {
    expect(filesOf([{ length: MAX_FILE_LENGTH, path: ['a'] }]).files[0]!.length).toBe(MAX_FILE_LENGTH);
    expect(errorOf([{ length: 1, path: ['a'] }, { length: MAX_FILE_LENGTH + 1, path: ['b'] }])).toBe(
      `info.files[1].length is ${MAX_FILE_LENGTH + 1}, more than ${MAX_FILE_LENGTH}`,
    );
    const many = Math.floor(MAX_TOTAL_LENGTH / MAX_FILE_LENGTH);
    const full = Array.from({ length: many }, (_, i) => ({ length: MAX_FILE_LENGTH, path: [`f${i}`] }));
    expect(filesOf(full).files).toHaveLength(many);
    expect(errorOf([...full, { length: MAX_FILE_LENGTH, path: ['over'] }])).toBe(`the files add up to more than ${MAX_TOTAL_LENGTH} bytes`);
  });

  it('refuses a list that is empty, not a list, or longer than MAX_FILES', () => {
    expect(errorOf([])).toBe('info.files is empty: no files in torrent');
    expect(errorOf(3)).toBe('info.files is not a list');
    expect(errorOf({ a: 1 })).toBe('info.files is not a list');
    // The decoder's count decides (a real list this long is some 25 MB of bencode).
    const stream = new FileListStream(Buffer.alloc(0));
    stream.end(MAX_FILES + 1);
    const info = infoOf(decode(torrentOf({ files: [] })));
    expect(() => stream.read(info, 'x')).toThrow(`info.files has ${MAX_FILES + 1} entries, more than ${MAX_FILES}`);
  });

  it('holds a bad entry\'s error until read(): decoding the input does not throw it', () => {
    const input = torrentOf({ files: [{ length: 1, path: [] }] });
    const stream = new FileListStream(input);
    const root = decode(input, {}, stream);
    expect(() => stream.read(infoOf(root), 'x')).toThrow('info.files[0].path is an empty list');
  });
});

describe('FileListStream: a single-file torrent', () => {
  const single = (info: Record<string, Encodable>): FileList | string => {
    try {
      return readStreamed(torrentOf(info));
    } catch (e) {
      expect(e).toBeInstanceOf(MetainfoError);
      return (e as Error).message;
    }
  };

  it('is one file named after the torrent, with its attributes', () => {
    const list = single({ length: 5, attr: 'x' }) as FileList;
    expect(list.multiFile).toBe(false);
    expect(list.files).toEqual([
      { path: ['x'], length: 5, offset: 0, pad: false, executable: true, hidden: false, symlink: null, piecesRoot: null },
    ]);
  });

  it('needs a length within MAX_FILE_LENGTH', () => {
    expect(single({})).toBe('info.length is missing, not an integer');
    expect(single({ length: MAX_FILE_LENGTH + 1 })).toBe(`info.length is ${MAX_FILE_LENGTH + 1}, more than ${MAX_FILE_LENGTH}`);
  });
});
