/**
 * A v1 torrent's files (BEP 3): `info.files` of a multi-file torrent, read entry by entry while
 * the decoder streams it, or `info.length` of a single-file one.
 *
 * Owns: every check of a v1 file entry (a dictionary; a length that is a safe integer of at most
 * MAX_FILE_LENGTH; a path of one or more strings, sanitised so it stays inside the output
 * folder), BEP 47 pad files (by attr, or by name for BitComet's older ones) and attributes, the
 * MAX_FILES and MAX_TOTAL_LENGTH bounds, and renaming duplicate paths.
 *
 * Use: one FileListStream per input; pass it to decode() as its ListStream, then read() the
 * decoded info dictionary. Errors are MetainfoErrors naming the entry (`info.files[3].path is
 * an empty list`); an entry's error waits until read(), so the checks parse.ts makes before it
 * asks for the files decide first, as if the whole list had been decoded and then read.
 */
import { BDict, bytesAre, D, decode, E, I, isBytes, isDict, isList, L, NINE, smallIntAt, stringStart, valueEnd, ZERO, type BValue, type ListStream } from '../bencode/index.js';
import { MetainfoError } from '../errors.js';
import { readAttr, readSymlink } from './attributes.js';
import { reqLength, type Fail } from './fields.js';
import { MAX_FILE_LENGTH, MAX_FILES, MAX_TOTAL_LENGTH } from './limits.js';
import { resolveDuplicates, sanitizePath, sanitizePathAt } from './sanitize.js';
import type { TorrentFile } from './types.js';

/** A torrent's files in order, offsets counted from 0, and whether it is a folder. */
export interface FileList {
  files: TorrentFile[];
  multiFile: boolean;
}

/** Pad files made before BEP 47 (BitComet) carry no attr, only this name. */
const LEGACY_PAD_PREFIX = '_____padding_file_';

const fail: Fail = (message: string): never => {
  throw new MetainfoError(message);
};

/** Where a file entry sits, for error messages: made only when something is wrong. */
const fileWhere = (i: number): string => `info.files[${i}]`;

/**
 * `info.files` taken from the decoder entry by entry (ListStream), so that its bencode dies
 * young instead of living until the whole torrent is parsed. Errors wait: the first bad entry's
 * error is thrown by read(), so the verdict and message are those of reading the kept list.
 * Entries past MAX_FILES are counted, not read.
 */
export class FileListStream implements ListStream {
  readonly path = ['info', 'files'];
  private readonly list = new V1Files();
  /** Entries in the list; -1 until a list was streamed (none, or info.files is not a list). */
  private count = -1;
  private failure: unknown = null;

  constructor(private readonly input: Buffer) {}

  item(start: number, end: number, index: number): void {
    if (this.failure !== null || index >= MAX_FILES) return;
    try {
      this.list.addChecked(this.input, start, end, index);
    } catch (e) {
      this.failure = e;
    }
  }

  end(count: number): void {
    this.count = count;
  }

  /**
   * The v1 files of `info` (the dictionary decode() made of this stream's input), `name` being
   * the torrent's sanitised name: the one file of a single-file torrent, else the streamed list
   * (or, if decode() streamed none, the list as `info` holds it). Throws the MetainfoError that
   * makes the list unusable.
   */
  read(info: BDict, name: string): FileList {
    const list = info.get('files');
    if (list === undefined) return singleFile(info, name);
    if (!isList(list)) fail('info.files is not a list');
    // Streamed (the usual case): the decoder left an empty array here and the entries are read.
    const streamed = this.count >= 0;
    const count = streamed ? this.count : list.length;
    if (count === 0) fail('info.files is empty: no files in torrent');
    if (count > MAX_FILES) fail(`info.files has ${count} entries, more than ${MAX_FILES}`);
    let read = this.list;
    if (streamed) {
      if (this.failure !== null) throw this.failure;
    } else {
      read = new V1Files();
      for (let i = 0; i < list.length; i++) read.add(list[i]!, i);
    }
    return { files: read.files(), multiFile: true };
  }
}

function singleFile(info: BDict, name: string): FileList {
  const length = reqLength(info, 'length', 'info.', fail);
  if (length > MAX_FILE_LENGTH) fail(`info.length is ${length}, more than ${MAX_FILE_LENGTH}`);
  const attr = readAttr(info);
  return {
    files: [
      {
        path: [name],
        length,
        offset: 0,
        pad: false,
        executable: attr.executable,
        hidden: attr.hidden,
        symlink: null,
        piecesRoot: null,
      },
    ],
    multiFile: false,
  };
}

/** BEP 47 attributes of an entry that has an attr key (few do). */
interface EntryAttrs {
  executable: boolean;
  hidden: boolean;
  symlink: string[] | null;
}

/**
 * A v1 file list (BEP 3 `info.files`) read entry by entry, in order. Entries are checked as they
 * come and kept as columns (paths, lengths, pad flags); the TorrentFile objects are made once,
 * by files(), when the paths are final (resolveDuplicates may rename some).
 */
class V1Files {
  private readonly paths: string[][] = [];
  private readonly lengths: number[] = [];
  private readonly pads: boolean[] = [];
  /** Entry index -> attributes, for the entries that have an attr key. */
  private readonly attrs = new Map<number, EntryAttrs>();
  private total = 0;
  /**
   * One string per folder name: a folder that thousands of files are in is kept once, not once
   * per file (the copies die young; what lives until the end is what the collector copies).
   */
  private readonly folderNames = new Map<string, string>();
  /** Element spans of the path being read by addPlain: [start0, end0, start1, end1, ...]. */
  private readonly spans: number[] = [];

  /** Reads entry `i`; throws the MetainfoError that makes it unusable. */
  add(f: BValue, i: number): void {
    if (!isDict(f)) fail(`${fileWhere(i)} is not a dictionary`);
    // No attr key (the usual case): no attributes, and no object made to say so.
    const attr = f.has('attr') ? readAttr(f) : null;
    const isSymlink = attr?.symlink ?? false;
    // A symlink has no data: its length is ignored (corpus: symlink_zero_size has none).
    const given = f.get('length');
    const length = isSymlink
      ? 0
      : typeof given === 'number' && given >= 0 && Number.isSafeInteger(given)
        ? given
        : reqLength(f, 'length', `${fileWhere(i)}.`, fail);
    const pathValue = f.get('path.utf-8') ?? f.get('path');
    let path: string[];
    if (pathValue === undefined) {
      if (!attr?.pad) fail(`${fileWhere(i)}.path is missing`);
      path = ['.pad', String(length)];
    } else {
      if (!isList(pathValue)) fail(`${fileWhere(i)}.path is not a list`);
      for (let k = 0; k < pathValue.length; k++) {
        if (!isBytes(pathValue[k])) fail(`${fileWhere(i)}.path has an element that is not a string`);
      }
      if (pathValue.length === 0) fail(`${fileWhere(i)}.path is an empty list`);
      path = sanitizePath(pathValue as Buffer[]);
    }
    const symlink = isSymlink ? readSymlink(f, fileWhere(i), fail) : null;
    const attrs = attr === null ? null : { executable: attr.executable, hidden: attr.hidden, symlink };
    this.keep(i, path, length, pathValue !== undefined, attr?.pad ?? false, attrs);
  }

  /**
   * Reads entry `i` from its checked bencode, buf[start, end) (a ListStream item): the usual
   * entry straight from the bytes (addPlain), any other as add() reads its decoded value, so
   * both give the same files and the same errors.
   */
  addChecked(buf: Buffer, start: number, end: number, i: number): void {
    if (!this.addPlain(buf, start, i)) this.add(decode(buf.subarray(start, end)), i);
  }

  /**
   * The usual entry, a dictionary with a `length` of 0 or more (at most 15 digits) and a `path`
   * of one or more strings, each once, and no `attr`, `path.utf-8` or `symlink path` (other
   * keys are ignored, as add() ignores them): read from the checked bytes, with no BValue, no
   * string view, no BDict made for it. False, having read nothing, for any other entry.
   */
  private addPlain(buf: Buffer, start: number, i: number): boolean {
    if (buf[start] !== D) return false;
    let lengthAt = -1;
    let pathAt = -1;
    for (let pos = start + 1; buf[pos] !== E; ) {
      const keyEnd = valueEnd(buf, pos);
      const key = stringStart(buf, pos);
      if (bytesAre(buf, key, keyEnd, 'length')) {
        if (lengthAt >= 0) return false;
        lengthAt = keyEnd;
      } else if (bytesAre(buf, key, keyEnd, 'path')) {
        if (pathAt >= 0) return false;
        pathAt = keyEnd;
      } else if (bytesAre(buf, key, keyEnd, 'attr') || bytesAre(buf, key, keyEnd, 'path.utf-8') || bytesAre(buf, key, keyEnd, 'symlink path')) {
        return false;
      }
      pos = valueEnd(buf, keyEnd);
    }
    if (lengthAt < 0 || pathAt < 0 || buf[lengthAt] !== I || buf[pathAt] !== L) return false;
    const length = smallIntAt(buf, lengthAt);
    if (length < 0) return false;
    const spans = this.spans;
    let count = 0;
    for (let pos = pathAt + 1; buf[pos] !== E; count++) {
      // Strings only (a length prefix starts with a digit); any other element takes add()'s path.
      const c = buf[pos]!;
      if (c < ZERO || c > NINE) return false;
      const end = valueEnd(buf, pos);
      spans[2 * count] = stringStart(buf, pos);
      spans[2 * count + 1] = end;
      pos = end;
    }
    if (count === 0) return false;
    this.keep(i, sanitizePathAt(buf, spans, count), length, true, false, null);
    return true;
  }

  /** Keeps entry `i` (its checks done); `named`: the path came from the torrent, not a pad's stand-in. */
  private keep(i: number, path: string[], length: number, named: boolean, pad: boolean, attrs: EntryAttrs | null): void {
    if (named) {
      // BitComet's pad files predate BEP 47's attr and are known by name.
      if (path[path.length - 1]!.startsWith(LEGACY_PAD_PREFIX)) pad = true;
      for (let k = 0; k < path.length - 1; k++) {
        const seen = this.folderNames.get(path[k]!);
        if (seen === undefined) this.folderNames.set(path[k]!, path[k]!);
        else path[k] = seen;
      }
    }
    if (length > MAX_FILE_LENGTH) fail(`${fileWhere(i)}.length is ${length}, more than ${MAX_FILE_LENGTH}`);
    if (this.total + length > MAX_TOTAL_LENGTH) fail(`the files add up to more than ${MAX_TOTAL_LENGTH} bytes`);
    if (attrs !== null) this.attrs.set(this.paths.length, attrs);
    this.paths.push(path);
    this.lengths.push(length);
    this.pads.push(pad);
    this.total += length;
  }

  /**
   * The entries as TorrentFiles, duplicate paths resolved. Made last to first (offsets counted
   * down from the total): the largest offset is stored first, so V8 gives every object the same
   * shape from the start, instead of changing it once offsets outgrow small integers (past 2 GiB)
   * and then converting each object made before, one by one (measured on 50,000 files).
   */
  files(): TorrentFile[] {
    const { paths, lengths, pads, attrs } = this;
    resolveDuplicates(paths, (i) => pads[i]!);
    const n = paths.length;
    const files = new Array<TorrentFile>(n);
    let offset = this.total;
    for (let i = n - 1; i >= 0; i--) {
      const length = lengths[i]!;
      offset -= length;
      const a = attrs.get(i);
      files[i] = {
        path: paths[i]!,
        length,
        offset,
        pad: pads[i]!,
        executable: a?.executable ?? false,
        hidden: a?.hidden ?? false,
        symlink: a?.symlink ?? null,
        piecesRoot: null,
      };
    }
    return files;
  }
}
