/**
 * .torrent -> Metainfo (BEP 3, 12, 19, 27, 47, 52), strictly.
 *
 * Owns: every check that makes a Metainfo safe to trust: piece geometry that adds up, lengths that
 * are safe integers, sanitised paths that stay inside the output folder, v2 file trees and piece
 * layers that verify, hybrids whose v1 and v2 views agree. Verdicts follow libtorrent 2.0 (corpus:
 * ../shared/corpus/expected.json); where we are stricter the test that walks the corpus says so.
 *
 * The info hashes are computed over the info dictionary's bytes exactly as they stand in the
 * input (decoder spans), never over a re-encode. A v1 file list is read by file-list.ts while the
 * input decodes; the bounds are limits.ts's.
 */
import { createHash } from 'node:crypto';
import { BDict, decode, isBytes, isDict, isInt, isList, type BValue } from '../bencode/index.js';
import { MetainfoError } from '../errors.js';
import { readAttr, readSymlink } from './attributes.js';
import { optBytes, optInt, optText, reqBytes, reqLength, type Fail } from './fields.js';
import { FileListStream, type FileList } from './file-list.js';
import { MAX_FILE_LENGTH, MAX_FILES, MAX_PIECE_LENGTH, MAX_PIECES, MAX_TORRENT_BYTES, MAX_TOTAL_LENGTH } from './limits.js';
import { resolveDuplicates, sanitizeElement, sanitizePath } from './sanitize.js';
import type { Metainfo, MetaVersion, TorrentFile } from './types.js';
import { checkPieceLayer, V2_BLOCK_SIZE } from './v2.js';

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
      const v1 = stream.read(info, name);
      checkHybrid(v1.files, v2.files);
      // The v2 list orders empty files after the pad that aligns them; the v1 list says whether
      // the last file has a tail pad (corpus: v2_hybrid-missing-tailpad).
      files = dropMissingTailPad(files, v1.files.reduce((n, f) => n + f.length, 0));
      multiFile = v1.multiFile;
    }
  } else {
    ({ files, multiFile } = stream.read(info, name));
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
    const symlink = attr.symlink ? readSymlink(leaf, where, fail) : null;
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
