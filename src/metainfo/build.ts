/**
 * Metainfo -> .torrent bytes: the writing side of parse.ts, for `torrent create`. Pure: it gets
 * the file list and the piece hashes (hashed elsewhere, storage/hash-files.ts) and returns
 * canonical bencode (BEP 3: keys sorted by their bytes, via bencode/encode), so the info hash of
 * what we write is the SHA-1 of exactly these info bytes and every client computes the same one.
 *
 * What it writes (v1, the default):
 * - info: `name`, `piece length`, `pieces`, then `length` (single file) or `files` (multi-file,
 *   each `{length, path}`), `private: 1` (BEP 27) and `source` when given. Nothing else goes into
 *   info, so two torrents of the same data with the same piece length and name share an info hash
 *   unless `private`/`source` differ (that is what `source` is for: cross-seeding on private
 *   trackers without sharing a swarm).
 * - top level: `announce` (the first tracker), `announce-list` (BEP 12) only when there is more
 *   than one tracker, `url-list` (BEP 19; a string for one web seed, as mktorrent and libtorrent
 *   write it, else a list), `comment`, `created by`, `creation date`.
 *
 * v2 (BEP 52), as libtorrent 2.0's creator lays it out, so both give the same info hashes:
 * - info: `file tree` (nested dicts of path elements; a file is `{"": {length, pieces root}}`,
 *   an empty file `{"": {length: 0}}`), `meta version: 2`, `name`, `piece length`; top level:
 *   `piece layers` (pieces root -> layer) for every file longer than one piece.
 * - hybrid: both of the above in one info dict. Every v2 file starts on a piece boundary, so the
 *   v1 `files` list gets a BEP 47 pad file (`attr: "p"`, path `.pad/<n>`) after each non-empty
 *   file that does not end on one, the last file included; `pieces` are the SHA-1s of that padded
 *   stream. A single file needs no pad and keeps `length`.
 *
 * The result is checked against the limits parse.ts enforces, so we never write a torrent that
 * we (or libtorrent, whose limits those are) would refuse to read.
 */
import { BDict, encode, type BValue, type Encodable } from '../bencode/index.js';
import { MetainfoError } from '../errors.js';
import { MERKLE_HASH_BYTES } from './merkle.js';
import { MAX_FILE_LENGTH, MAX_FILES, MAX_PIECE_LENGTH, MAX_PIECES, MAX_TORRENT_BYTES, MAX_TOTAL_LENGTH } from './limits.js';

/** SHA-1 digest size: one v1 piece hash (BEP 3). */
export const PIECE_HASH_BYTES = 20;
/**
 * Smallest piece length we create: one 16 KiB block (BEP 3 request size). Smaller pieces are
 * legal in v1 but cost a hash per block, and BEP 52 and libtorrent's creator refuse them.
 */
export const MIN_PIECE_LENGTH = 16 * 1024;
export interface BuildFile {
  /** Path components relative to the torrent's root folder (already valid names). */
  readonly path: readonly string[];
  readonly length: number;
}

/** BEP 52 hashes of one file, from merkle.ts (null for an empty file). */
export interface BuildTree {
  readonly root: Buffer;
  /** Concatenated piece-layer hashes; empty for a file of one piece or less. */
  readonly pieceLayer: Buffer;
}

/** 1: v1 only (BEP 3); 2: v2 only (BEP 52); 'hybrid': both in one info dict. */
export type BuildVersion = 1 | 2 | 'hybrid';

export interface BuildInput {
  /** The file's name (single file) or the root folder's name (multi-file). */
  readonly name: string;
  /** Multi-file torrents: the files in torrent order. Empty: single-file mode (`length` below). */
  readonly files: readonly BuildFile[];
  /** Single-file mode only: the file's length. */
  readonly length?: number;
  readonly pieceLength: number;
  /**
   * Concatenated 20-byte SHA-1 piece hashes, in piece order (of the padded stream for a hybrid);
   * null for v2 only.
   */
  readonly pieces: Buffer | null;
  /** Default 1. */
  readonly version?: BuildVersion;
  /** v2 and hybrid: one per file in `files` order (single-file: one), null for an empty file. */
  readonly trees?: readonly (BuildTree | null)[];
  /** Tracker tiers (BEP 12). */
  readonly announce: readonly (readonly string[])[];
  /** BEP 19 web seeds. */
  readonly urlList: readonly string[];
  readonly private: boolean;
  readonly comment: string | null;
  readonly createdBy: string | null;
  /** Unix seconds, or null to leave `creation date` out (reproducible output). */
  readonly creationDate: number | null;
  /** info.source: changes the info hash; private trackers ask for it. */
  readonly source?: string | null;
}

/**
 * libtorrent's automatic piece size (src/create_torrent.cpp, `create_torrent` with piece_size 0):
 * the piece list (20 bytes a piece) should be about 2·√total bytes, which makes the piece length
 * about 10·√total. Rounded to powers of two from 16 KiB, the thresholds are the totals where
 * 10·√total crosses the next power of two, total = (piece / 10)²:
 *
 *   total up to       piece      pieces at the threshold
 *   2.56 MiB (2.7 MB)  16 KiB     164
 *   10.2 MiB           32 KiB     328
 *   41 MiB             64 KiB     655
 *   164 MiB            128 KiB    1,311
 *   655 MiB            256 KiB    2,621
 *   2.56 GiB           512 KiB    5,243
 *   10.2 GiB           1 MiB      10,486
 *   41 GiB             2 MiB      20,972
 *   164 GiB            4 MiB      41,943
 *   655 GiB            8 MiB      83,886
 *   above              16 MiB
 *
 * Why this and not a fixed piece count (mktorrent ≥1.1's table aims at ~1,600 pieces; Debian's
 * 1.1 build uses a fixed 256 KiB): the .torrent and the bitfield grow only with √size, small
 * torrents still get small pieces (fast first verified piece, little re-download on a bad one),
 * and our torrents get the same piece length libtorrent would choose, so a single file made by
 * both has the same info hash. The table is libtorrent's, byte for byte.
 */
const PIECE_LENGTH_TABLE: readonly number[] = [
  2_684_355, 10_737_418, 42_949_673, 171_798_692, 687_194_767, 2_748_779_069, 10_995_116_278, 43_980_465_111,
  175_921_860_444, 703_687_441_777,
];

export function defaultPieceLength(totalBytes: number): number {
  let pieceLength = MIN_PIECE_LENGTH;
  for (const threshold of PIECE_LENGTH_TABLE) {
    if (threshold >= totalBytes) break;
    pieceLength *= 2;
  }
  // The table ends at 16 MiB (above ~655 GiB). Past ~32 TiB that would be more than MAX_PIECES
  // pieces, which readers refuse: keep doubling, since a torrent nobody can open is worse than
  // large pieces.
  while (Math.ceil(totalBytes / pieceLength) > MAX_PIECES && pieceLength < MAX_PIECE_LENGTH) pieceLength *= 2;
  return pieceLength;
}

/** A power of two of at least MIN_PIECE_LENGTH and at most MAX_PIECE_LENGTH. */
export function isValidPieceLength(n: number): boolean {
  return Number.isSafeInteger(n) && n >= MIN_PIECE_LENGTH && n <= MAX_PIECE_LENGTH && (n & (n - 1)) === 0;
}

const fail = (message: string): never => {
  throw new MetainfoError(message);
};

/** Bytes of pad that BEP 52 puts after a file of `length` so the next file starts a piece. */
function padAfter(length: number, pieceLength: number): number {
  return length % pieceLength === 0 ? 0 : pieceLength - (length % pieceLength);
}

/** Canonical .torrent bytes for `input`. Throws MetainfoError when the result would be unreadable. */
export function buildTorrent(input: BuildInput): Buffer {
  const { name, files, pieceLength, pieces } = input;
  const version = input.version ?? 1;
  const hasV1 = version !== 2;
  const hasV2 = version !== 1;
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    fail(`name ${JSON.stringify(name)} is not a usable file name`);
  }
  if (!isValidPieceLength(pieceLength)) {
    fail(`piece length ${pieceLength} is not a power of two from ${MIN_PIECE_LENGTH} to ${MAX_PIECE_LENGTH}`);
  }
  const single = files.length === 0;
  if (files.length > MAX_FILES) fail(`${files.length} files is more than ${MAX_FILES}`);
  const list: readonly BuildFile[] = single ? [{ path: [name], length: input.length ?? 0 }] : files;
  let total = 0;
  /** Bytes the pieces cover: v2 and hybrid pad every file to a piece boundary. */
  let covered = 0;
  for (const f of list) {
    if (!Number.isSafeInteger(f.length) || f.length < 0) fail(`${f.path.join('/')}: length ${f.length} is not a byte count`);
    if (f.length > MAX_FILE_LENGTH) fail(`${f.path.join('/')}: ${f.length} bytes is more than ${MAX_FILE_LENGTH}`);
    if (f.path.length === 0) fail('a file has an empty path');
    total += f.length;
    covered += hasV2 ? f.length + padAfter(f.length, pieceLength) : f.length;
  }
  if (total === 0) fail('a torrent of 0 bytes cannot be shared (it would have no pieces)');
  if (covered > MAX_TOTAL_LENGTH) fail(`${covered} bytes is more than ${MAX_TOTAL_LENGTH}`);
  // A single-file hybrid has no list to carry a tail pad: its last v1 piece is short.
  const v1Covered = single ? total : covered;
  const pieceCount = Math.ceil((hasV1 ? v1Covered : covered) / pieceLength);
  if (pieceCount > MAX_PIECES) fail(`${pieceCount} pieces is more than ${MAX_PIECES}; use a larger piece length`);
  if (hasV1) {
    if (pieces === null) return fail('a v1 or hybrid torrent needs its SHA-1 piece hashes');
    if (pieces.length !== pieceCount * PIECE_HASH_BYTES) {
      fail(`${pieces.length} bytes of piece hashes, but ${pieceCount} pieces need ${pieceCount * PIECE_HASH_BYTES}`);
    }
  }

  const info: Record<string, Encodable> = { name, 'piece length': pieceLength };
  if (hasV1) {
    info.pieces = pieces!;
    if (single) info.length = total;
    else info.files = hasV2 ? paddedFileList(files, pieceLength) : files.map((f) => ({ length: f.length, path: [...f.path] }));
  }
  let layers: BDict | null = null;
  if (hasV2) {
    const trees = input.trees ?? [];
    if (trees.length !== list.length) fail(`${trees.length} file trees for ${list.length} files`);
    info['meta version'] = 2;
    info['file tree'] = fileTree(list, trees, pieceLength);
    layers = pieceLayers(list, trees, pieceLength);
  }
  if (input.private) info.private = 1;
  if (input.source) info.source = input.source;

  const top: Record<string, Encodable> = { info };
  if (layers !== null && layers.size > 0) top['piece layers'] = layers;
  const trackers = input.announce.filter((tier) => tier.length > 0);
  const first = trackers[0]?.[0];
  if (first !== undefined) top.announce = first;
  if (trackers.flat().length > 1) top['announce-list'] = trackers.map((tier) => [...tier]);
  if (input.urlList.length === 1) top['url-list'] = input.urlList[0]!;
  else if (input.urlList.length > 1) top['url-list'] = [...input.urlList];
  if (input.comment) top.comment = input.comment;
  if (input.createdBy) top['created by'] = input.createdBy;
  if (input.creationDate !== null) top['creation date'] = input.creationDate;

  const bytes = encode(top);
  if (bytes.length > MAX_TORRENT_BYTES) fail(`the torrent would be ${bytes.length} bytes, more than ${MAX_TORRENT_BYTES}`);
  return bytes;
}

/** A hybrid's v1 list: each non-empty file followed by the pad that aligns the next one. */
function paddedFileList(files: readonly BuildFile[], pieceLength: number): Encodable[] {
  const out: Encodable[] = [];
  for (const f of files) {
    out.push({ length: f.length, path: [...f.path] });
    const pad = padAfter(f.length, pieceLength);
    if (pad > 0) out.push({ attr: 'p', length: pad, path: ['.pad', String(pad)] });
  }
  return out;
}

type TreeNode = Map<string, Encodable>;

/** BEP 52 `file tree`. Map keys (UTF-8) so a file called `__proto__` is just a name. */
function fileTree(list: readonly BuildFile[], trees: readonly (BuildTree | null)[], pieceLength: number): TreeNode {
  const root: TreeNode = new Map();
  list.forEach((f, i) => {
    const tree = trees[i] ?? null;
    if ((tree === null) !== (f.length === 0)) fail(`${f.path.join('/')}: ${f.length} bytes but ${tree ? 'a' : 'no'} merkle tree`);
    if (tree !== null) checkTree(f, tree, pieceLength);
    let node = root;
    for (const element of f.path) {
      const child = node.get(element);
      if (child instanceof Map && !child.has('')) node = child as TreeNode;
      else if (child === undefined) {
        const made: TreeNode = new Map();
        node.set(element, made);
        node = made;
      } else fail(`${f.path.join('/')}: a file and a folder of the same name`);
    }
    if (node.size > 0) fail(`${f.path.join('/')}: a file and a folder of the same name`);
    node.set('', tree === null ? { length: 0 } : { length: f.length, 'pieces root': tree.root });
  });
  return root;
}

function checkTree(f: BuildFile, tree: BuildTree, pieceLength: number): void {
  const layerBytes = f.length > pieceLength ? Math.ceil(f.length / pieceLength) * MERKLE_HASH_BYTES : 0;
  if (tree.root.length !== MERKLE_HASH_BYTES) fail(`${f.path.join('/')}: a pieces root of ${tree.root.length} bytes`);
  if (tree.pieceLayer.length !== layerBytes) fail(`${f.path.join('/')}: a piece layer of ${tree.pieceLayer.length} bytes, not ${layerBytes}`);
}

/** Top-level `piece layers`: raw 32-byte keys, so a BDict (latin1 keys are bytes as they are). */
function pieceLayers(list: readonly BuildFile[], trees: readonly (BuildTree | null)[], pieceLength: number): BDict {
  const entries = new Map<string, BValue>();
  list.forEach((f, i) => {
    const tree = trees[i];
    if (tree && f.length > pieceLength) entries.set(tree.root.toString('latin1'), tree.pieceLayer);
  });
  return new BDict(entries, 0, 0, false);
}
