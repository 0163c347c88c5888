/**
 * .torrent -> Metainfo (BEP 3, 12, 19, 27, 47, 52), strictly.
 *
 * Owns: every check that makes a Metainfo safe to trust: piece geometry that adds up, lengths that
 * are safe integers, sanitised paths that stay inside the output folder, v2 file trees and piece
 * layers that verify, hybrids whose v1 and v2 views agree. Verdicts follow libtorrent 2.0 (corpus:
 * ../shared/corpus/expected.json); where we are stricter the test that walks the corpus says so.
 *
 * The info hashes are computed over the info dictionary's bytes exactly as they stand in the
 * input (decoder spans), never over a re-encode.
 */
import { createHash } from 'node:crypto';
import { BDict, bytesAre, decode, isBytes, isDict, isInt, isList, smallIntAt, stringStart, valueEnd, type BValue, type ListStream } from '../bencode/index.js';
import { MetainfoError } from '../errors.js';
import { optBytes, optInt, optText, reqBytes, reqLength, type Fail } from './fields.js';
import { resolveDuplicates, sanitizeElement, sanitizePath, sanitizePathAt } from './sanitize.js';
import type { Metainfo, MetaVersion, TorrentFile } from './types.js';
import { checkPieceLayer, V2_BLOCK_SIZE } from './v2.js';

/** Largest .torrent we read: 2,000,000 pieces of hashes (40 MB) plus a file list. */
export const MAX_TORRENT_BYTES = 50 * 1024 * 1024;
/** libtorrent's default max_pieces; more cannot be tracked in a bitfield message of sane size. */
export const MAX_PIECES = 0x200000;
/** Largest piece we accept (libtorrent's limit): a piece is held in memory while it verifies. */
export const MAX_PIECE_LENGTH = 512 * 1024 * 1024;
/** More files than this is a file list no real torrent has, and an easy memory attack. */
export const MAX_FILES = 1_000_000;
/**
 * Largest file: libtorrent refuses files of (2^30 - 1) * 16 KiB or more (its block index would
 * overflow), so no peer could serve one to us.
 */
export const MAX_FILE_LENGTH = (2 ** 30 - 1) * 16384 - 1;
/** Largest torrent: libtorrent's 2^48 - 1 bytes; also far inside safe-integer range. */
export const MAX_TOTAL_LENGTH = 2 ** 48 - 1;

/** Bencode bytes that V1Files.addPlain looks at. */
const DICT = 0x64; // 'd'
const LIST = 0x6c; // 'l'
const INT = 0x69; // 'i'
const END = 0x65; // 'e'
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/** Pad files made before BEP 47 (BitComet) carry no attr, only this name. */
const LEGACY_PAD_PREFIX = '_____padding_file_';

const fail: Fail = (message: string): never => {
  throw new MetainfoError(message);
};

export function parseTorrent(input: Buffer): Metainfo {
  if (input.length > MAX_TORRENT_BYTES) fail(`torrent file is ${input.length} bytes, more than ${MAX_TORRENT_BYTES}`);
  // The file list is read while it decodes (FileListStream): its bencode is never kept.
  const stream = new FileListStream(input);
  const root = decode(input, {}, stream);
  if (!isDict(root)) fail('torrent file is not a bencoded dictionary');
  const info = root.get('info');
  if (!isDict(info)) fail(`info is ${info === undefined ? 'missing' : 'not a dictionary'}`);
  const infoBytes = input.subarray(info.start, info.end);

  const metaVersion = optInt(info, 'meta version');
  const hasV2 = metaVersion === 2;
  if (metaVersion !== null && metaVersion > 2) fail(`info.meta version ${metaVersion} is not supported`);
  const hasV1 = info.has('pieces') || !hasV2;
  // Where bytes must round-trip (any explicit meta version), unsorted keys are fatal; v1 tolerates them.
  if (metaVersion !== null && metaVersion > 0 && info.softError) {
    fail('info dictionary of a v2 torrent has unsorted or duplicate keys (invalid bencoding)');
  }
  const version: MetaVersion = hasV2 ? (hasV1 ? 'hybrid' : 2) : 1;
  const infoHash = hasV1 ? createHash('sha1').update(infoBytes).digest() : null;
  const infoHashV2 = hasV2 ? createHash('sha256').update(infoBytes).digest() : null;

  const warnings: string[] = [];
  const singleV1 = !hasV2 && !info.has('files');
  const name = readName(info, (infoHash ?? infoHashV2)!, singleV1);
  const pieceLength = readPieceLength(info, hasV2);

  let files: TorrentFile[];
  let multiFile: boolean;
  let pieces: Buffer | null = null;
  let pieceLayers: Map<string, Buffer> = new Map();
  if (hasV2) {
    const v2 = readFileTree(info, name, pieceLength);
    pieceLayers = readPieceLayers(root, v2.files, pieceLength, warnings);
    files = v2.files;
    multiFile = v2.multiFile;
    if (hasV1) {
      const v1 = readV1Files(info, name, stream);
      checkHybrid(v1.files, v2.files);
      // The v2 list orders empty files after the pad that aligns them; the v1 list says whether
      // the last file has a tail pad (corpus: v2_hybrid-missing-tailpad).
      files = dropMissingTailPad(files, v1.files.reduce((n, f) => n + f.length, 0));
      multiFile = v1.multiFile;
    }
  } else {
    ({ files, multiFile } = readV1Files(info, name, stream));
  }

  const last = files[files.length - 1]!;
  const totalLength = last.offset + last.length;
  if (totalLength === 0) fail('torrent has a total length of 0 bytes');
  const pieceCount = Math.ceil(totalLength / pieceLength);
  if (pieceCount > MAX_PIECES) fail(`torrent has ${pieceCount} pieces, more than ${MAX_PIECES}`);
  if (hasV1) {
    pieces = reqBytes(info, 'pieces', 'info.', fail);
    if (pieces.length % 20 !== 0) fail(`info.pieces is ${pieces.length} bytes, not a multiple of 20`);
    if (pieces.length / 20 !== pieceCount) {
      fail(`info.pieces has ${pieces.length / 20} piece hashes, but the files need ${pieceCount}`);
    }
  }
  let length = 0;
  for (const f of files) if (!f.pad) length += f.length;

  const isPrivate = optInt(info, 'private') === 1;
  return {
    infoHash,
    infoHashV2,
    infoBytes,
    version,
    name,
    multiFile,
    pieceLength,
    pieceCount,
    pieces,
    pieceLayers,
    files,
    totalLength,
    length,
    announce: readAnnounce(root),
    urlList: readUrlList(root.get('url-list'), files.length > 1),
    httpSeeds: readUrlList(root.get('httpseeds'), false),
    private: isPrivate,
    comment: optText(root, 'comment'),
    createdBy: optText(root, 'created by'),
    creationDate: readCreationDate(root),
    warnings,
  };
}

function readName(info: BDict, hash: Buffer, singleFile: boolean): string {
  const raw = optBytes(info, 'name.utf-8') ?? optBytes(info, 'name');
  if (raw === undefined) fail(`info.name is ${info.has('name') ? 'not a string' : 'missing'}`);
  if (raw.length === 0) fail('info.name is empty');
  const name = sanitizeElement(raw);
  if (name !== null) return name;
  // A name that sanitises to nothing ("..", "/"): a single file cannot be saved without one; a
  // folder is named after the info hash instead, as libtorrent does (corpus: invalid_name2).
  if (singleFile) fail(`info.name "${raw.toString('utf8').slice(0, 60)}" is not a usable file name`);
  return hash.toString('hex');
}

function readPieceLength(info: BDict, v2: boolean): number {
  const n = reqLength(info, 'piece length', 'info.', fail);
  if (n === 0) fail('info.piece length is 0');
  if (n > MAX_PIECE_LENGTH) fail(`info.piece length is ${n}, more than ${MAX_PIECE_LENGTH}`);
  if (v2 && (n < V2_BLOCK_SIZE || (n & (n - 1)) !== 0)) {
    fail(`info.piece length is ${n}; a v2 torrent needs a power of two of at least ${V2_BLOCK_SIZE}`);
  }
  return n;
}

interface FileList {
  files: TorrentFile[];
  multiFile: boolean;
}

interface Attr {
  pad: boolean;
  symlink: boolean;
  executable: boolean;
  hidden: boolean;
}

/** Where a file entry sits, for error messages: made only when something is wrong. */
const fileWhere = (i: number): string => `info.files[${i}]`;

function readAttr(d: BDict): Attr {
  const attr = optBytes(d, 'attr')?.toString('latin1') ?? '';
  return {
    pad: attr.includes('p'),
    symlink: attr.includes('l'),
    executable: attr.includes('x'),
    hidden: attr.includes('h'),
  };
}

/** Path elements must all be strings; anything else is an attack or garbage. */
function readElements(v: BValue | undefined, where: string): Buffer[] {
  if (!isList(v)) fail(`${where} is not a list`);
  const out: Buffer[] = [];
  for (const e of v) {
    if (!isBytes(e)) fail(`${where} has an element that is not a string`);
    out.push(e);
  }
  return out;
}

/** A symlink's target, or null when it has none (then it is a plain empty file, as in libtorrent). */
function readSymlink(d: BDict, where: string): string[] | null {
  const target = d.get('symlink path');
  if (target === undefined) return null;
  const elements = readElements(target, `${where}.symlink path`);
  return elements.length === 0 ? null : sanitizePath(elements);
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
  readonly paths: string[][] = [];
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
    const symlink = isSymlink ? readSymlink(f, fileWhere(i)) : null;
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
    if (buf[start] !== DICT) return false;
    let lengthAt = -1;
    let pathAt = -1;
    for (let pos = start + 1; buf[pos] !== END; ) {
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
    if (lengthAt < 0 || pathAt < 0 || buf[lengthAt] !== INT || buf[pathAt] !== LIST) return false;
    const length = smallIntAt(buf, lengthAt);
    if (length < 0) return false;
    const spans = this.spans;
    let count = 0;
    for (let pos = pathAt + 1; buf[pos] !== END; count++) {
      const c = buf[pos]!;
      if (c < DIGIT_0 || c > DIGIT_9) return false;
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

/**
 * `info.files` taken from the decoder entry by entry (ListStream), so that its bencode dies
 * young instead of living until the whole torrent is parsed. Errors wait: the first bad entry's
 * error is thrown where readV1Files meets it, after every check that comes before it, so the
 * verdict and message are those of reading the kept list. Entries past MAX_FILES are counted,
 * not read.
 */
class FileListStream implements ListStream {
  readonly path = ['info', 'files'];
  readonly list = new V1Files();
  /** Entries in the list; -1 until a list was streamed (none, or info.files is not a list). */
  count = -1;
  failure: unknown = null;

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
}

function readV1Files(info: BDict, name: string, stream: FileListStream): FileList {
  const list = info.get('files');
  if (list === undefined) {
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
  if (!isList(list)) fail('info.files is not a list');
  // Streamed (the usual case): the decoder left an empty array here and the entries are read.
  const streamed = stream.count >= 0;
  const count = streamed ? stream.count : list.length;
  if (count === 0) fail('info.files is empty: no files in torrent');
  if (count > MAX_FILES) fail(`info.files has ${count} entries, more than ${MAX_FILES}`);
  let read = stream.list;
  if (streamed) {
    if (stream.failure !== null) throw stream.failure;
  } else {
    read = new V1Files();
    for (let i = 0; i < list.length; i++) read.add(list[i]!, i);
  }
  return { files: read.files(), multiFile: true };
}

/** BEP 52 file tree: nested dicts of path elements; a leaf is `{"": {length, pieces root}}`. */
function readFileTree(info: BDict, name: string, pieceLength: number): FileList {
  const tree = info.get('file tree');
  if (!isDict(tree)) fail(`info.file tree is ${tree === undefined ? 'missing' : 'not a dictionary'}`);
  const leaves: { path: string[]; leaf: BDict }[] = [];
  const walk = (node: BDict, path: string[]): void => {
    for (const [key, child] of node.entries) {
      const where = `info.file tree/${[...path, key].join('/')}`;
      if (!isDict(child)) fail(`${where} is not a dictionary: failed to parse files`);
      if (key === '') {
        if (path.length === 0) fail('info.file tree has a file without a name');
        if (node.size !== 1) fail(`${where} is both a file and a folder`);
        leaves.push({ path, leaf: child });
        continue;
      }
      if (leaves.length > MAX_FILES) fail(`info.file tree has more than ${MAX_FILES} files`);
      walk(child, [...path, key]);
    }
  };
  walk(tree, []);
  if (leaves.length === 0) fail('info.file tree is empty: no files in torrent');
  const multiFile = !(leaves.length === 1 && leaves[0]!.path.length === 1);

  const paths: string[][] = [];
  const files: TorrentFile[] = [];
  let offset = 0;
  for (const { path, leaf } of leaves) {
    const where = `info.file tree/${path.join('/')}`;
    const attr = readAttr(leaf);
    if (attr.pad) fail(`${where} has the pad attribute set; v2 file trees have no pad files`);
    const size = attr.symlink ? 0 : reqLength(leaf, 'length', `${where}.`, fail);
    const symlink = attr.symlink ? readSymlink(leaf, where) : null;
    let piecesRoot: Buffer | null = null;
    if (size > 0) {
      const r = optBytes(leaf, 'pieces root');
      if (!r || r.length !== 32 || r.every((b) => b === 0)) fail(`${where} has no valid pieces root`);
      piecesRoot = r;
    }
    if (size > MAX_FILE_LENGTH) fail(`${where}.length is ${size}, more than ${MAX_FILE_LENGTH}`);
    if (offset + size > MAX_TOTAL_LENGTH) fail(`the files add up to more than ${MAX_TOTAL_LENGTH} bytes`);
    const elements = path.map((p) => Buffer.from(p, 'latin1'));
    paths.push(sanitizePath(elements));
    files.push({
      path: [],
      length: size,
      offset,
      pad: false,
      executable: attr.executable,
      hidden: attr.hidden,
      symlink,
      piecesRoot,
    });
    offset += size;
    // v2 files start on piece boundaries: libtorrent models the gap as a pad file.
    const gap = size % pieceLength === 0 ? 0 : pieceLength - (size % pieceLength);
    if (gap > 0) {
      paths.push(['.pad', String(gap)]);
      files.push(padFile(offset, gap));
      offset += gap;
    }
  }
  resolveDuplicates(paths, (i) => files[i]!.pad);
  return { files: files.map((f, i) => ({ ...f, path: paths[i]! })), multiFile };
}

function padFile(offset: number, length: number): TorrentFile {
  return {
    path: ['.pad', String(length)],
    length,
    offset,
    pad: true,
    executable: false,
    hidden: false,
    symlink: null,
    piecesRoot: null,
  };
}

/**
 * A hybrid's v1 list may end without the pad that follows the last non-empty file; the v2 view
 * then drops it too, and any empty files after it move back.
 */
function dropMissingTailPad(files: TorrentFile[], v1Total: number): TorrentFile[] {
  const last = files[files.length - 1]!;
  const v2Total = last.offset + last.length;
  if (v2Total === v1Total) return files;
  let i = files.length - 1;
  while (i >= 0 && !files[i]!.pad) i--;
  const pad = files[i];
  if (!pad || v2Total - pad.length !== v1Total || files.slice(i + 1).some((f) => f.length > 0)) {
    fail(`the v1 and v2 file lists of this hybrid torrent differ: ${v1Total} bytes against ${v2Total}`);
  }
  return [...files.slice(0, i), ...files.slice(i + 1).map((f) => ({ ...f, offset: f.offset - pad.length }))];
}

/** A hybrid's v1 list must describe the same files at the same offsets as its v2 tree. */
function checkHybrid(v1: TorrentFile[], v2: TorrentFile[]): void {
  const real1 = v1.filter((f) => !f.pad);
  const real2 = v2.filter((f) => !f.pad);
  const mismatch = (why: string): never => fail(`the v1 and v2 file lists of this hybrid torrent differ: ${why}`);
  if (real1.length !== real2.length) mismatch(`${real1.length} files against ${real2.length}`);
  for (let i = 0; i < real1.length; i++) {
    const a = real1[i]!;
    const b = real2[i]!;
    if (a.path.join('/') !== b.path.join('/')) mismatch(`file ${i} is "${a.path.join('/')}" against "${b.path.join('/')}"`);
    if (a.length !== b.length) mismatch(`file ${i} is ${a.length} bytes against ${b.length}`);
    if (a.length > 0 && a.offset !== b.offset) mismatch(`file ${i} starts at ${a.offset} against ${b.offset}`);
  }
}

/** `piece layers` (outside the info dict): validated where present; missing layers are fetched later. */
function readPieceLayers(
  root: BDict,
  files: TorrentFile[],
  pieceLength: number,
  warnings: string[],
): Map<string, Buffer> {
  const layers = root.get('piece layers');
  const out = new Map<string, Buffer>();
  if (layers === undefined) return out;
  if (!isDict(layers)) fail('piece layers is not a dictionary');
  const byRoot = new Map<string, TorrentFile>();
  for (const f of files) if (f.piecesRoot) byRoot.set(f.piecesRoot.toString('hex'), f);
  for (const [key, value] of layers.entries) {
    const rootHex = Buffer.from(key, 'latin1').toString('hex');
    const file = byRoot.get(rootHex);
    if (key.length !== 32 || !file) fail('piece layers has an entry for no file of the torrent: a piece layer is invalid');
    if (!isBytes(value)) fail('piece layers has an entry that is not a string');
    if (checkPieceLayer(file, value, pieceLength, fail)) out.set(rootHex, value);
    else warnings.push(`the piece layer of ${file.path.join('/')} does not match its pieces root; it is ignored`);
  }
  return out;
}

function readAnnounce(root: BDict): string[][] {
  const tiers: string[][] = [];
  const seen = new Set<string>();
  const list = root.get('announce-list');
  if (isList(list)) {
    for (const tier of list) {
      if (!isList(tier)) continue;
      const urls: string[] = [];
      for (const u of tier) {
        const url = isBytes(u) ? u.toString('utf8').trim() : '';
        if (url !== '' && !seen.has(url)) {
          seen.add(url);
          urls.push(url);
        }
      }
      if (urls.length > 0) tiers.push(urls);
    }
  }
  if (tiers.length === 0) {
    const url = optBytes(root, 'announce')?.toString('utf8').trim() ?? '';
    if (url !== '') tiers.push([url]);
  }
  return tiers;
}

/** BEP 19 url-list / BEP 17 httpseeds: a string or a list; empty and repeated entries dropped. */
function readUrlList(v: BValue | undefined, multiFile: boolean): string[] {
  const items = isBytes(v) ? [v] : isList(v) ? v : [];
  const out: string[] = [];
  for (const item of items) {
    if (!isBytes(item)) continue;
    let url = item.toString('utf8').trim().replace(/ /g, '%20');
    if (url === '') continue;
    // A multi-file web seed names a folder (BEP 19).
    if (multiFile && !url.endsWith('/')) url += '/';
    if (!out.includes(url)) out.push(url);
  }
  return out;
}

function readCreationDate(root: BDict): number | null {
  const v = root.get('creation date');
  if (!isInt(v) || typeof v === 'bigint' || v <= 0) return null;
  return v;
}
