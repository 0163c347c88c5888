/**
 * The start-up check: which pieces are already on disk and correct (BEP 3: a piece is had only
 * when its bytes hash to the torrent's SHA-1).
 *
 * Trust rule for resume data: a recorded piece is taken without reading only when every file it
 * touches exists now, was recorded as existing, has the recorded size, mtime (and inode, when
 * recorded), and is long enough to hold the piece's bytes. A piece with bytes in the part file
 * is never trusted (resume data does not describe that file). Every other piece whose data may
 * be present is read and verified; missing data costs nothing. So a resume file that claims
 * pieces over deleted, truncated or edited files, or that was edited itself, claims nothing.
 *
 * The stats seen here become the storage's baseline (FileStorage.recordChecked), so a file
 * changed from outside later is noticed by FileStorage.changedFiles.
 */
import { createHash } from 'node:crypto';
import type { Metainfo } from '../metainfo/index.js';
import { Bitfield } from '../util/bitfield.js';
import type { FileStorage } from './file-storage.js';
import type { FileStat, ResumeData } from './resume.js';

export interface CheckResult {
  verified: Bitfield;
  /** Pieces read and hashed. */
  hashed: number;
  /** Pieces taken from resume data without reading. */
  trusted: number;
}

export interface CheckOptions {
  storage: FileStorage;
  meta: Metainfo;
  /** Only these pieces are looked at (the selection). */
  wanted: (piece: number) => boolean;
  resume: ResumeData | null;
  onProgress?: (checked: number, total: number) => void;
  signal?: AbortSignal;
}

export async function checkExisting(o: CheckOptions): Promise<CheckResult> {
  const { storage, meta } = o;
  const verified = new Bitfield(meta.pieceCount);
  if (!meta.pieces) return { verified, hashed: 0, trusted: 0 };
  const stats = await storage.fileStats();
  storage.recordChecked(stats);
  const present = stats.map((s) => s !== null && s.size > 0);
  const recorded = o.resume ? Buffer.from(o.resume.verified, 'base64') : null;
  const unchanged = stats.map((s, i) => sameStat(s, o.resume?.files[i] ?? null));
  /** The file is as recorded and holds the span's bytes. */
  const holds = (fileIndex: number, end: number): boolean => unchanged[fileIndex] === true && stats[fileIndex]!.size >= end;
  let hashed = 0;
  let trusted = 0;
  let checked = 0;
  const candidates: number[] = [];
  for (let p = 0; p < meta.pieceCount; p++) if (o.wanted(p)) candidates.push(p);
  for (const p of candidates) {
    if (o.signal?.aborted) break;
    const spans = storage.map.pieceSpans(p).filter((s) => !s.pad);
    const stored = spans.filter((s) => storage.pathOf(s.fileIndex) !== null);
    // Spans of unselected files live in the part file, which resume data does not describe.
    const inPartFile = stored.length < spans.length;
    const trust =
      recorded !== null &&
      !inPartFile &&
      (recorded[p >> 3]! & (0x80 >> (p & 7))) !== 0 &&
      stored.every((s) => holds(s.fileIndex, s.fileOffset + s.length));
    if (trust) {
      verified.set(p);
      trusted++;
    } else if (inPartFile || stored.some((s) => present[s.fileIndex])) {
      const data = await storage.readPiece(p);
      hashed++;
      if (data && createHash('sha1').update(data).digest().equals(meta.pieces.subarray(p * 20, p * 20 + 20))) {
        verified.set(p);
      }
    }
    checked++;
    if (o.onProgress && (checked % 64 === 0 || checked === candidates.length)) o.onProgress(checked, candidates.length);
  }
  return { verified, hashed, trusted };
}

/** Both present and equal; an absent file is never "unchanged" (it holds nothing to trust). */
function sameStat(now: FileStat | null, recorded: FileStat | null): boolean {
  if (now === null || recorded === null) return false;
  const inoKnown = now.ino !== undefined && recorded.ino !== undefined;
  return now.size === recorded.size && now.mtimeMs === recorded.mtimeMs && (!inoKnown || now.ino === recorded.ino);
}
