/**
 * BEP 52 merkle trees: piece-layer checks against a file's pieces root.
 *
 * A file's hash tree has 16 KiB blocks as leaves (SHA-256 each), padded with zero hashes to a
 * power of two. The piece layer is the row whose nodes each cover one piece; its hashes, padded
 * to a power of two with the root of an all-zero piece subtree, must hash up to the pieces root.
 */
import { createHash } from 'node:crypto';
import type { Fail } from './fields.js';
import type { TorrentFile } from './types.js';

export const V2_BLOCK_SIZE = 16384;
const HASH_BYTES = 32;

function sha256(a: Buffer, b: Buffer): Buffer {
  return createHash('sha256').update(a).update(b).digest();
}

/** Root of a subtree of `leaves` (a power of two) all-zero leaf hashes. */
export function zeroSubtreeRoot(leaves: number): Buffer {
  let h: Buffer = Buffer.alloc(HASH_BYTES);
  for (let n = leaves; n > 1; n /= 2) h = sha256(h, h);
  return h;
}

/** Merkle root of `hashes` padded to a power of two with `pad`. */
export function merkleRoot(hashes: Buffer[], pad: Buffer): Buffer {
  let width = 1;
  while (width < hashes.length) width *= 2;
  let row = hashes.slice();
  let padNode = pad;
  while (row.length < width) row.push(padNode);
  while (row.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < row.length; i += 2) next.push(sha256(row[i]!, row[i + 1]!));
    row = next;
    padNode = sha256(padNode, padNode);
  }
  return row[0]!;
}

/**
 * Checks one piece layer. A layer of the wrong size is an invalid torrent (as libtorrent says); a
 * layer of the right size that does not hash to the pieces root is only useless: it returns false
 * and the caller drops it (libtorrent accepts such torrents: corpus v2_invalid_root_hash), so the
 * layer must come from peers instead.
 */
export function checkPieceLayer(file: TorrentFile, layer: Buffer, pieceLength: number, fail: Fail): boolean {
  const where = `piece layers of ${file.path.join('/') || 'a file'}`;
  if (file.length <= pieceLength) fail(`${where}: a file of one piece has no piece layer`);
  const expected = Math.ceil(file.length / pieceLength) * HASH_BYTES;
  if (layer.length !== expected) fail(`${where} is ${layer.length} bytes, not ${expected}: a piece layer is invalid`);
  const hashes: Buffer[] = [];
  for (let o = 0; o < layer.length; o += HASH_BYTES) hashes.push(layer.subarray(o, o + HASH_BYTES));
  return merkleRoot(hashes, zeroSubtreeRoot(pieceLength / V2_BLOCK_SIZE)).equals(file.piecesRoot!);
}
