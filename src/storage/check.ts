/**
 * The start-up check: which pieces are already on disk and correct. Pieces recorded in resume
 * data are trusted while every file they touch is unchanged (same size and mtime); every other
 * piece whose data is present is read and SHA-1 verified. Missing data costs nothing.
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
  const present = stats.map((s) => s !== null && s.size > 0);
  const recorded = o.resume ? Buffer.from(o.resume.verified, 'base64') : null;
  const unchanged = stats.map((s, i) => sameStat(s, o.resume?.files[i] ?? null));
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
      recorded !== null && (recorded[p >> 3]! & (0x80 >> (p & 7))) !== 0 && stored.every((s) => unchanged[s.fileIndex]);
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

function sameStat(a: FileStat | null, b: FileStat | null): boolean {
  if (a === null || b === null) return a === b;
  return a.size === b.size && a.mtimeMs === b.mtimeMs;
}
