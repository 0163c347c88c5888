/**
 * How a torrent's pieces are checked: SHA-1 for v1 (BEP 3), the SHA-256 merkle hash from the
 * piece layers for v2 (BEP 52), both for a hybrid. Pure.
 */
import { InternalError } from '../errors.js';
import { expectedPieceHash, v2PieceMap, verifyHybridPiece, verifyV1Piece, verifyV2Piece, type Metainfo } from '../metainfo/index.js';

/**
 * Whether a complete piece's bytes are right. `sha1`, when given, is the SHA-1 of exactly those
 * bytes, computed as they arrived (see streamsSha1); otherwise the check hashes `data` itself.
 */
export type PieceCheck = (piece: number, data: Buffer, sha1?: Buffer) => boolean;

/**
 * Whether the check of `meta`'s pieces takes a SHA-1 computed as the blocks arrive (v1 torrents:
 * the assembler hashes each block in order while it is still in the CPU's cache, as libtorrent's
 * hasher cursor does, instead of the whole piece from memory at the end).
 */
export function streamsSha1(meta: Metainfo): boolean {
  return meta.infoHashV2 === null && meta.pieces !== null;
}

/**
 * How a complete piece is checked: SHA-1 (v1), its merkle hash from the piece layers (v2, BEP
 * 52), or both (hybrid: a piece must satisfy both; a torrent whose two hash sets disagree on a
 * piece is refused with a MetainfoError, which fails the session with exit 2). A hybrid file
 * whose layer no peer gave (session.ts waits HYBRID_LAYER_WAIT_MS for it) is checked by SHA-1
 * alone. A v2-only torrent reaches here only with every layer: the session fetches the missing
 * ones (BEP 52 hash requests) before it builds the torrent, so a missing one is a bug.
 */
export function pieceVerifier(meta: Metainfo): PieceCheck {
  if (meta.infoHashV2 === null) return (p, data, sha1) => verifyV1Piece(meta, p, data, sha1);
  const map = v2PieceMap(meta);
  if (meta.pieces) {
    return (p, data) => {
      const v = verifyHybridPiece(meta, p, map[p] ?? null, data);
      return v.v1 && v.v2 !== 'bad';
    };
  }
  const missing = map.find((at) => at !== null && expectedPieceHash(meta, at) === null);
  if (missing) throw new InternalError(`${meta.name}: no piece layer for ${missing.file.path.join('/')} when the download starts`);
  return (p, data) => {
    const at = map[p];
    return at === null || at === undefined ? data.every((b) => b === 0) : verifyV2Piece(meta, at, data) === 'ok';
  };
}
