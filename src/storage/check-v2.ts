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
 *
 * Speed: when WORKER_MIN_BYTES or more are to be hashed, the pieces go in batches
 * (piece-batches.ts) to a HashPool's threads, which read them through descriptors the storage
 * lends (FileStorage.lendPieces; check-hashing.ts, shared with check.ts) and return each piece's
 * merkle hash, whether
 * its pad bytes are zero and, for a hybrid, its SHA-1; the verdicts are then taken here by the
 * rules above. A piece whose two hash sets disagree is read again here and judged by
 * verifyHybridPiece itself, so the error is that function's. Otherwise (few bytes, or running
 * from sources) each piece is read and judged here, one at a time.
 * Memory: a few batches' digests with the pool; else one piece at a time (a piece is at most
 * MAX_PIECE_LENGTH). Files are opened through FileStorage, which bounds its descriptors.
 */
import { expectedPieceHash, v2PieceMap, verifyHybridPiece, verifyV2Piece, type Metainfo, type PieceVerdict, type V2Piece } from '../metainfo/index.js';
import { Bitfield } from '../util/bitfield.js';
import { CheckProgress, hashLentBatches, withCheckPool, type CheckHashOptions } from './check-hashing.js';
import type { FileStorage, LentSpan } from './file-storage.js';
import type { SpansHashedV2 } from './hash-pool.js';

export interface CheckV2Options extends CheckHashOptions {
  storage: FileStorage;
  meta: Metainfo;
  /** Only these pieces are looked at (the selection). */
  wanted: (piece: number) => boolean;
  /** Piece layers to check against: the torrent's own by default (hex pieces root -> layer). */
  layers?: ReadonlyMap<string, Buffer>;
}

export interface CheckV2Result {
  verified: Bitfield;
  /** Pieces read and hashed. */
  hashed: number;
  /** Pieces that could not be checked: their file's piece layer is not known. */
  unknown: number;
}

/** A piece's verdict from each hash set (v1 null: not a hybrid). */
type Verdict = { v1: boolean | null; v2: PieceVerdict };

export async function checkExistingV2(o: CheckV2Options): Promise<CheckV2Result> {
  const { storage, meta } = o;
  const verified = new Bitfield(meta.pieceCount);
  if (meta.infoHashV2 === null) throw new RangeError('checkExistingV2: not a v2 or hybrid torrent');
  const stats = await storage.fileStats();
  storage.recordChecked(stats);
  const map = v2PieceMap(meta);
  const candidates: number[] = [];
  for (let p = 0; p < meta.pieceCount; p++) if (o.wanted(p)) candidates.push(p);
  // Pieces of absent or empty files cost nothing: only the others are read.
  const toHash: number[] = [];
  let hashBytes = 0;
  for (const p of candidates) {
    const at = map[p] ?? null;
    if (at === null || (storage.pathOf(at.fileIndex) !== null && (stats[at.fileIndex]?.size ?? 0) > 0)) {
      toHash.push(p);
      hashBytes += storage.map.pieceSize(p);
    }
  }
  let hashed = 0;
  let unknown = 0;
  const progress = new CheckProgress(candidates.length, candidates.length - toHash.length, o.onProgress);
  /** Records one piece's verdict; null: its bytes were not all on disk. */
  const take = (p: number, v: Verdict | null): void => {
    if (v === null) return;
    hashed++;
    if ((v.v1 ?? true) && v.v2 === 'ok') verified.set(p);
    else if (v.v2 === 'unknown') unknown++;
  };

  await withCheckPool(o, toHash.length, hashBytes, async (pool) => {
    if (pool === null) {
      for (const p of toHash) {
        if (o.signal?.aborted) break;
        const data = await storage.readPiece(p);
        take(p, data === null ? null : judge(meta, p, map[p] ?? null, data, o.layers));
        progress.add(1);
      }
      return;
    }
    const hybrid = meta.pieces !== null;
    const hash = async (spans: LentSpan[], first: number, count: number): Promise<(Verdict | null)[]> => {
      const pieces = Array.from({ length: count }, (_, k) => {
        const at = map[first + k] ?? null;
        return { dataLength: at?.length ?? 0, fileLength: at?.file.length ?? 0 };
      });
      const r = await pool.hashSpansV2(spans, meta.pieceLength, pieces, hybrid);
      const out: (Verdict | null)[] = [];
      for (let k = 0; k < count; k++) {
        const p = first + k;
        if (r.missing[k]) {
          out.push(null);
          continue;
        }
        const at = map[p] ?? null;
        const v = verdictFromHashes(meta, p, at, r, k, o.layers);
        if (v.v1 !== null && (v.v1 ? v.v2 === 'bad' : v.v2 === 'ok')) {
          // The two hash sets disagree: judged on the bytes by verifyHybridPiece, whose error
          // (the torrent is inconsistent) is the one the caller reports.
          const data = await storage.readPiece(p);
          out.push(data === null ? null : judge(meta, p, at, data, o.layers));
        } else out.push(v);
      }
      return out;
    };
    const done = (first: number, count: number, verdicts: (Verdict | null)[]): void => {
      verdicts.forEach((v, k) => take(first + k, v));
      progress.add(count);
    };
    await hashLentBatches(storage, meta, toHash, pool, o, hash, done);
  });
  return { verified, hashed, unknown };
}

/** One piece judged on its bytes by metainfo/v2.ts (v1 null: not a hybrid). */
function judge(meta: Metainfo, p: number, at: V2Piece | null, data: Buffer, layers: ReadonlyMap<string, Buffer> | undefined): Verdict {
  if (meta.pieces !== null) return verifyHybridPiece(meta, p, at, data, layers);
  // A v2-only torrent has no piece outside a file; one would verify nothing.
  return { v1: null, v2: at === null ? 'bad' : verifyV2Piece(meta, at, data, layers) };
}

/**
 * One piece judged from a thread's hashes, by the rules of verifyV2Piece and verifyHybridPiece
 * (metainfo/v2.ts) without the bytes: the merkle hash of the file data against the expected node,
 * the pad bytes zero, and for a hybrid the SHA-1; a piece with no file data must be all zeros.
 * Disagreement between the two sets is left to the caller (it re-reads and lets
 * verifyHybridPiece throw).
 */
function verdictFromHashes(
  meta: Metainfo,
  p: number,
  at: V2Piece | null,
  r: SpansHashedV2,
  k: number,
  layers: ReadonlyMap<string, Buffer> | undefined,
): Verdict {
  let v2: PieceVerdict;
  if (at === null) v2 = meta.pieces !== null && r.zeroTail[k] === 1 ? 'ok' : 'bad';
  else {
    const expected = expectedPieceHash(meta, at, layers);
    if (expected === null) v2 = 'unknown';
    else v2 = r.zeroTail[k] === 1 && Buffer.from(r.roots.buffer, r.roots.byteOffset + k * 32, 32).equals(expected) ? 'ok' : 'bad';
  }
  const v1 = meta.pieces === null ? null : r.digests.subarray(k * 20, k * 20 + 20).equals(meta.pieces.subarray(p * 20, p * 20 + 20));
  return { v1, v2 };
}
