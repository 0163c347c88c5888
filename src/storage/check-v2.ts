/**
 * Which pieces of a v2 or hybrid torrent are on disk and correct (BEP 52): each piece is read
 * once and checked against its file's merkle tree (its piece-layer hash, or the pieces root for a
 * file of one piece or less), and for a hybrid also against its v1 SHA-1. The v1-only check is
 * check.ts; this is its v2 counterpart, for `torrent verify` and the session's start-up check.
 *
 * Rules:
 * - A piece counts only when every hash set the torrent has accepts it. A piece whose file has no
 *   known piece layer (none in the .torrent, none fetched yet) cannot be proven: not verified,
 *   and counted in `unknown` so the caller can say why.
 * - A hybrid whose two hash sets disagree on a piece (one accepts the bytes, the other refuses
 *   them) is an inconsistent torrent: the MetainfoError from metainfo/v2.ts propagates, and the
 *   caller refuses the torrent with that message, as libtorrent does.
 * - Resume data is not consulted: every piece whose file is present is read. Pieces of absent or
 *   empty files cost nothing.
 * Memory: one piece at a time (a piece is at most MAX_PIECE_LENGTH); files are opened through
 * FileStorage, which bounds its descriptors.
 */
import { v2PieceMap, verifyHybridPiece, verifyV2Piece, type Metainfo } from '../metainfo/index.js';
import { Bitfield } from '../util/bitfield.js';
import type { FileStorage } from './file-storage.js';

export interface CheckV2Options {
  storage: FileStorage;
  meta: Metainfo;
  /** Only these pieces are looked at (the selection). */
  wanted: (piece: number) => boolean;
  /** Piece layers to check against: the torrent's own by default (hex pieces root -> layer). */
  layers?: ReadonlyMap<string, Buffer>;
  onProgress?: (checked: number, total: number) => void;
  signal?: AbortSignal;
}

export interface CheckV2Result {
  verified: Bitfield;
  /** Pieces read and hashed. */
  hashed: number;
  /** Pieces that could not be checked: their file's piece layer is not known. */
  unknown: number;
}

/** How often onProgress is called, in pieces: often enough for a live line, cheap. */
const PROGRESS_EVERY_PIECES = 64;

export async function checkExistingV2(o: CheckV2Options): Promise<CheckV2Result> {
  const { storage, meta } = o;
  const verified = new Bitfield(meta.pieceCount);
  if (meta.infoHashV2 === null) throw new RangeError('checkExistingV2: not a v2 or hybrid torrent');
  const stats = await storage.fileStats();
  storage.recordChecked(stats);
  const map = v2PieceMap(meta);
  const candidates: number[] = [];
  for (let p = 0; p < meta.pieceCount; p++) if (o.wanted(p)) candidates.push(p);
  let hashed = 0;
  let unknown = 0;
  let checked = 0;
  for (const p of candidates) {
    if (o.signal?.aborted) break;
    const at = map[p] ?? null;
    const present = at === null || (storage.pathOf(at.fileIndex) !== null && (stats[at.fileIndex]?.size ?? 0) > 0);
    if (present) {
      const data = await storage.readPiece(p);
      if (data !== null) {
        hashed++;
        if (meta.pieces !== null) {
          const v = verifyHybridPiece(meta, p, at, data, o.layers);
          if (v.v1 && v.v2 === 'ok') verified.set(p);
          else if (v.v2 === 'unknown') unknown++;
        } else if (at !== null) {
          const v = verifyV2Piece(meta, at, data, o.layers);
          if (v === 'ok') verified.set(p);
          else if (v === 'unknown') unknown++;
        }
      }
    }
    checked++;
    if (o.onProgress && (checked % PROGRESS_EVERY_PIECES === 0 || checked === candidates.length)) o.onProgress(checked, candidates.length);
  }
  return { verified, hashed, unknown };
}
