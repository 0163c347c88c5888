/**
 * The loop both start-up checks (check.ts for v1, check-v2.ts for v2 and hybrids) hash pieces
 * on disk with: the pieces to hash, ascending, go in batches of consecutive pieces of at most
 * `batchBytes` (one piece when pieces are larger), so a file is read in large positional reads,
 * not one per piece; a bounded number of batches is in flight; results come back in batch order.
 *
 * Owns: cutting the batches, the in-flight bound, and settling. What a batch does (lend
 * descriptors to a hashing thread, or read into a reusable buffer and hash here) is the caller's
 * `start`.
 *
 * Invariants:
 * - At most `inFlight` batches are started and not yet settled, and the files their reads touch
 *   sum to at most FILES_HELD_IN_FLIGHT (a batch that alone touches more runs alone): batches
 *   that hold descriptors open until hashed (FileStorage.lendPieces) cannot pile up descriptors,
 *   whatever the torrent's file sizes.
 * - `done` is called once per batch, in batch order, never concurrently.
 * - Once `signal` is aborted no batch starts; those started settle. Whether it returns or throws
 *   (the first failing batch's error, in batch order), every batch started has settled first, so
 *   no read outlives it and the caller may close the storage.
 */
import type { Metainfo } from '../metainfo/index.js';
import type { PieceMap } from './piece-map.js';

/**
 * Files the batches in flight may touch, summed: lent descriptors stay open until their batch is
 * hashed, so this bounds them (as FileStorage's MAX_OPEN_FILES bounds its cache).
 */
export const FILES_HELD_IN_FLIGHT = 64;

/** Pieces per batch: as many whole pieces as fit in `batchBytes`, at least one. */
export function batchPieces(batchBytes: number, pieceLength: number): number {
  return Math.max(1, Math.floor(batchBytes / pieceLength));
}

export interface BatchOptions {
  /** Most bytes per batch (whole pieces; at least one piece). */
  batchBytes: number;
  /** Most batches started and not settled. */
  inFlight: number;
  signal?: AbortSignal | undefined;
}

/** Starts a batch of `count` pieces from `first`; resolves with its result. */
export type StartBatch<T> = (first: number, count: number) => Promise<T>;
/** Takes a batch's result, in batch order. */
export type BatchDone<T> = (first: number, count: number, result: T) => void;

export async function runBatches<T>(
  meta: Pick<Metainfo, 'pieceLength' | 'totalLength'>,
  map: PieceMap,
  pieces: readonly number[],
  opts: BatchOptions,
  start: StartBatch<T>,
  done: BatchDone<T>,
): Promise<void> {
  const piecesPerBatch = batchPieces(opts.batchBytes, meta.pieceLength);
  const inFlight: { first: number; count: number; files: number; result: Promise<T> }[] = [];
  let filesHeld = 0;
  const settleOldest = async (): Promise<void> => {
    const { first, count, files, result } = inFlight[0]!;
    const got = await result;
    inFlight.shift();
    filesHeld -= files;
    done(first, count, got);
  };
  try {
    for (let i = 0; i < pieces.length; ) {
      if (opts.signal?.aborted) break;
      const first = pieces[i]!;
      let count = 1;
      while (count < piecesPerBatch && pieces[i + count] === first + count) count++;
      i += count;
      const offset = first * meta.pieceLength;
      const files = map.spans(offset, Math.min(count * meta.pieceLength, meta.totalLength - offset)).length;
      while (inFlight.length > 0 && (inFlight.length >= opts.inFlight || filesHeld + files > FILES_HELD_IN_FLIGHT)) await settleOldest();
      const result = start(first, count);
      // Handled now: it may fail while an older batch is awaited; it is rethrown in its turn.
      result.catch(() => undefined);
      inFlight.push({ first, count, files, result });
      filesHeld += files;
    }
    while (inFlight.length > 0) await settleOldest();
  } finally {
    await Promise.allSettled(inFlight.map((f) => f.result));
  }
}
