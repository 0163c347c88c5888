/**
 * Resume data: which pieces were verified and written, and the size and mtime of each file when
 * that was recorded. Kept in the user's cache folder (not beside the download), one small JSON
 * file per torrent and output folder, written atomically (temp file + rename), so a kill -9 at
 * any moment leaves either the old or the new record.
 *
 * Trust rule (see check.ts): a recorded piece is trusted only while every file it touches still
 * has the recorded size and mtime; anything else is hashed again from disk.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export interface FileStat {
  size: number;
  mtimeMs: number;
}

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
      d.files.every((f) => f === null || (Number.isSafeInteger(f.size) && typeof f.mtimeMs === 'number'));
    return ok ? d : null;
  } catch {
    return null;
  }
}

export async function saveResume(path: string, data: ResumeData): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(data));
  await rename(tmp, path);
}
