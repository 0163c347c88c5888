/**
 * Resume data: which pieces were verified and written, and the size and mtime of each file when
 * that was recorded. Kept in the user's cache folder (not beside the download), one small JSON
 * file per torrent and output folder, written atomically (temp file + rename), so a kill -9 at
 * any moment leaves either the old or the new record.
 *
 * Trust rule (see check.ts): a recorded piece is trusted only while every file it touches still
 * has the recorded size, mtime (and inode, when recorded) and is long enough to hold it; anything
 * else is hashed again from disk. What is recorded comes from FileStorage.resumeSnapshot: the
 * stats we saw when we wrote or checked each file, and only pieces whose files did not change
 * since, so a save never records data that is not on disk now.
 *
 * Saving is best effort: saveResume never throws. A failure (cache folder not writable, the
 * path taken by a folder, a full disk) comes back as a warning the caller may show or ignore;
 * losing resume data only costs a re-check next time, never the download (issue 17, cause 7).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export interface FileStat {
  size: number;
  /** Whole milliseconds (sub-millisecond parts do not survive every file system or JSON). */
  mtimeMs: number;
  /** Inode number, when known: a file replaced by another of the same size and mtime differs here. */
  ino?: number;
}

/** What a save did: `ok`, or a one-line warning saying what failed (nothing was thrown). */
export type ResumeSaveResult = { ok: true } | { ok: false; warning: string };

export interface ResumeData {
  version: 1;
  infoHash: string;
  pieceCount: number;
  /** Verified pieces, base64 of the BEP 3 bitfield bytes. */
  verified: string;
  /** Per torrent file (pad files included): stats when recorded, null when not stored. */
  files: (FileStat | null)[];
}

/** A resume file larger than this is not ours (a bitfield of 2M pieces is 350 KB in base64). */
const MAX_RESUME_BYTES = 64 * 1024 * 1024;

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TORRENT_CACHE_DIR) return env.TORRENT_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'torrent');
}

export function resumePath(cacheDir: string, infoHashHex: string, outputDir: string): string {
  const where = createHash('sha1').update(resolve(outputDir)).digest('hex').slice(0, 16);
  return join(cacheDir, 'resume', `${infoHashHex}-${where}.json`);
}

export async function loadResume(path: string, infoHashHex: string, pieceCount: number, fileCount: number): Promise<ResumeData | null> {
  let text: string;
  try {
    const buf = await readFile(path);
    if (buf.length > MAX_RESUME_BYTES) return null;
    text = buf.toString('utf8');
  } catch {
    return null;
  }
  try {
    const d = JSON.parse(text) as ResumeData;
    const ok =
      d.version === 1 &&
      d.infoHash === infoHashHex &&
      d.pieceCount === pieceCount &&
      typeof d.verified === 'string' &&
      Buffer.from(d.verified, 'base64').length === Math.ceil(pieceCount / 8) &&
      Array.isArray(d.files) &&
      d.files.length === fileCount &&
      d.files.every(
        (f) =>
          f === null ||
          (typeof f === 'object' &&
            Number.isSafeInteger(f.size) &&
            f.size >= 0 &&
            typeof f.mtimeMs === 'number' &&
            (f.ino === undefined || typeof f.ino === 'number')),
      );
    return ok ? d : null;
  } catch {
    return null;
  }
}

/**
 * Writes `data` atomically (temp file, then rename over `path`). Never throws: a failure leaves
 * the previous record (or none), removes the temp file, and is returned as a warning.
 */
export async function saveResume(path: string, data: ResumeData): Promise<ResumeSaveResult> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(tmp, JSON.stringify(data));
    await rename(tmp, path);
    return { ok: true };
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'EISDIR' ? 'a folder is in the way' : err.code === 'ENOSPC' ? 'no space left on device' : err.code === 'EACCES' ? 'permission denied' : err.message;
    return { ok: false, warning: `could not save resume data to ${path}: ${why} (the next start re-checks the files instead)` };
  }
}
