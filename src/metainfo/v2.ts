/**
 * BEP 52 at the torrent level: which file and tree node each piece of a v2 or hybrid torrent
 * belongs to, piece layers checked against each file's `pieces root`, pieces checked against
 * their layer, and the agreement of a hybrid's v1 and v2 views. The trees themselves are
 * merkle.ts.
 *
 * Invariants (BEP 52 "piece layers", "file tree"): in a v2 or hybrid Metainfo every non-empty
 * file starts on a piece boundary and is followed by a pad file up to the next one (parse.ts
 * lays the files out so), so every piece lies in exactly one file; a file's piece `k` is torrent
 * piece `file.offset / pieceLength + k`. A file of one piece or less has no piece layer: its
 * pieces root is that piece's hash. Nothing here throws for bad data from a peer: checks return
 * verdicts; only a torrent that contradicts itself (a hybrid whose hash sets disagree) is a
 * MetainfoError, as libtorrent refuses it.
 */
import { createHash } from 'node:crypto';
import { MetainfoError } from '../errors.js';
import type { Fail } from './fields.js';
import { checkPieceLayerRoot, MERKLE_BLOCK_BYTES, MERKLE_HASH_BYTES, pieceHash, type PieceLayerVerdict } from './merkle.js';
import type { Metainfo, TorrentFile } from './types.js';

/** BEP 52 leaf size, also the smallest v2 piece length. */
export const V2_BLOCK_SIZE = MERKLE_BLOCK_BYTES;
/** SHA-1 digest size: one v1 piece hash (BEP 3). */
const V1_HASH_BYTES = 20;

/**
 * Checks one piece layer while parsing. A layer of the wrong size is an invalid torrent (as
 * libtorrent says); a layer of the right size that does not hash to the pieces root is only
 * useless: it returns false and the caller drops it (libtorrent accepts such torrents: corpus
 * v2_invalid_root_hash), so the layer must come from peers instead.
 */
export function checkPieceLayer(file: TorrentFile, layer: Buffer, pieceLength: number, fail: Fail): boolean {
  const where = `piece layers of ${file.path.join('/') || 'a file'}`;
  const verdict = checkPieceLayerRoot(layer, file.piecesRoot!, file.length, pieceLength);
  if (verdict === 'no-layer') fail(`${where}: a file of one piece has no piece layer`);
  if (verdict === 'wrong-size') {
    const expected = Math.ceil(file.length / pieceLength) * MERKLE_HASH_BYTES;
    fail(`${where} is ${layer.length} bytes, not ${expected}: a piece layer is invalid`);
  }
  return verdict === 'ok';
}

/**
 * For the session: checks a piece layer from anywhere (the .torrent, or peers' `hashes`
 * messages) against `file`'s pieces root. 'ok' means every piece of the file can now be checked.
 */
export function checkFilePieceLayer(file: TorrentFile, layer: Buffer, pieceLength: number): PieceLayerVerdict {
  if (file.piecesRoot === null) return 'no-layer';
  return checkPieceLayerRoot(layer, file.piecesRoot, file.length, pieceLength);
}

/** Where one piece of a v2 or hybrid torrent lives in the file trees. */
export interface V2Piece {
  /** Index into meta.files. */
  readonly fileIndex: number;
  readonly file: TorrentFile;
  /** The piece's index within its file's piece layer. */
  readonly pieceInFile: number;
  /** The piece's bytes of file data (the rest of the piece, if any, is pad). */
  readonly length: number;
}

/**
 * Maps torrent piece -> file piece for a v2 or hybrid Metainfo: one entry per piece, null for a
 * piece that holds only pad bytes (none in a well-formed torrent). O(files + pieces) once.
 */
export function v2PieceMap(meta: Metainfo): (V2Piece | null)[] {
  if (meta.infoHashV2 === null) throw new RangeError('v2PieceMap: not a v2 or hybrid torrent');
  const out: (V2Piece | null)[] = new Array<V2Piece | null>(meta.pieceCount).fill(null);
  meta.files.forEach((file, fileIndex) => {
    if (file.pad || file.length === 0) return;
    const first = file.offset / meta.pieceLength;
    const pieces = Math.ceil(file.length / meta.pieceLength);
    for (let k = 0; k < pieces && first + k < meta.pieceCount; k++) {
      out[first + k] = { fileIndex, file, pieceInFile: k, length: Math.min(meta.pieceLength, file.length - k * meta.pieceLength) };
    }
  });
  return out;
}

/**
 * The merkle hash piece `at` must have: its piece-layer node, or the file's pieces root for a
 * file of one piece or less; null when the file's layer is not known (not in the .torrent and
 * not yet fetched). `layers` defaults to the torrent's own (hex root -> layer).
 */
export function expectedPieceHash(meta: Metainfo, at: V2Piece, layers: ReadonlyMap<string, Buffer> = meta.pieceLayers): Buffer | null {
  const root = at.file.piecesRoot;
  if (root === null) return null;
  if (at.file.length <= meta.pieceLength) return root;
  const layer = layers.get(root.toString('hex'));
  if (layer === undefined) return null;
  return layer.subarray(at.pieceInFile * MERKLE_HASH_BYTES, (at.pieceInFile + 1) * MERKLE_HASH_BYTES);
}

/** 'unknown': no piece layer to check against yet. */
export type PieceVerdict = 'ok' | 'bad' | 'unknown';

/**
 * Checks one piece's bytes (as storage reads a piece: file data then pad, or just the file data)
 * against the v2 tree. The pad bytes, when given, must be zeros (BEP 47).
 */
export function verifyV2Piece(meta: Metainfo, at: V2Piece, data: Buffer, layers?: ReadonlyMap<string, Buffer>): PieceVerdict {
  const expected = expectedPieceHash(meta, at, layers);
  if (expected === null) return 'unknown';
  if (data.length < at.length) return 'bad';
  for (let i = at.length; i < data.length; i++) if (data[i] !== 0) return 'bad';
  return pieceHash(data.subarray(0, at.length), at.file.length, meta.pieceLength).equals(expected) ? 'ok' : 'bad';
}

/**
 * SHA-1 check of one v1 piece (whole piece bytes, pad files' zeros included). `sha1`, when given,
 * is the SHA-1 of exactly those bytes, computed by the caller as they arrived.
 */
export function verifyV1Piece(meta: Metainfo, piece: number, data: Buffer, sha1?: Buffer): boolean {
  if (meta.pieces === null) return false;
  const expected = meta.pieces.subarray(piece * V1_HASH_BYTES, (piece + 1) * V1_HASH_BYTES);
  return expected.length === V1_HASH_BYTES && (sha1 ?? createHash('sha1').update(data).digest()).equals(expected);
}

export interface HybridVerdict {
  readonly v1: boolean;
  readonly v2: PieceVerdict;
}

/**
 * Checks a hybrid's piece against both hash sets. When one accepts the bytes and the other
 * refuses them, the torrent itself is inconsistent (no data can satisfy both), and that is a
 * MetainfoError naming the piece: libtorrent refuses such a torrent too. Both failing is only bad
 * data.
 */
export function verifyHybridPiece(meta: Metainfo, piece: number, at: V2Piece | null, data: Buffer, layers?: ReadonlyMap<string, Buffer>): HybridVerdict {
  const v1 = verifyV1Piece(meta, piece, data);
  const v2: PieceVerdict = at === null ? (data.every((b) => b === 0) ? 'ok' : 'bad') : verifyV2Piece(meta, at, data, layers);
  if ((v1 && v2 === 'bad') || (!v1 && v2 === 'ok')) {
    const where = at === null ? `piece ${piece}` : `piece ${piece} (${at.file.path.join('/')})`;
    throw new MetainfoError(
      `the v1 and v2 hashes of this hybrid torrent disagree on ${where}: its ${v1 ? 'SHA-1 hash' : 'merkle hash'} matches the data and its ${v1 ? 'merkle hash' : 'SHA-1 hash'} does not, so no data can satisfy both`,
    );
  }
  return { v1, v2 };
}

/**
 * Structural agreement of a hybrid's two file lists, as libtorrent checks it (its v1 list must
 * describe the file storage its v2 tree does): the same files in the same order, each with the
 * same path, length, offset (so the v1 list pads each file to a piece boundary exactly as v2
 * lays it out), symlink target and attributes. A v1 list may end without the tail pad (parse.ts
 * drops that pad from the v2 view first). Returns why they differ, or null.
 */
export function hybridFilesDiffer(v1: readonly TorrentFile[], v2: readonly TorrentFile[]): string | null {
  const real1 = v1.filter((f) => !f.pad);
  const real2 = v2.filter((f) => !f.pad);
  if (real1.length !== real2.length) return `${real1.length} files against ${real2.length}`;
  for (let i = 0; i < real1.length; i++) {
    const a = real1[i]!;
    const b = real2[i]!;
    const name = a.path.join('/');
    if (name !== b.path.join('/')) return `file ${i} is "${name}" against "${b.path.join('/')}"`;
    if (a.length !== b.length) return `${name} is ${a.length} bytes against ${b.length}`;
    if (a.length > 0 && a.offset !== b.offset) return `${name} starts at byte ${a.offset} against ${b.offset} (pad files do not align it to a piece)`;
    if ((a.symlink?.join('/') ?? null) !== (b.symlink?.join('/') ?? null)) return `${name} has different symlink targets`;
    if (a.executable !== b.executable || a.hidden !== b.hidden) return `${name} has different attributes`;
  }
  // Pad files in the v1 list must be where v2 puts padding: each v1 pad lies inside the gap that
  // follows a real file in the v2 layout (offsets above already fix their total size).
  for (const p of v1) {
    if (!p.pad || p.length === 0) continue;
    const inGap = v2.some((g) => g.pad && p.offset >= g.offset && p.offset + p.length <= g.offset + g.length);
    if (!inGap) return `a pad file at byte ${p.offset} covers file data of the v2 tree`;
  }
  return null;
}
