/**
 * File backend: pieces mapped onto the torrent's files under the output folder.
 *
 * - Files land at `<root>/<name>` (single file) or `<root>/<name>/<path…>` (multi-file); every
 *   path passes safeJoin, so nothing is written outside `root`.
 * - Pad files (BEP 47) are never written; reading them yields zeros. Symlink entries are not
 *   created (a link from a torrent could point anywhere).
 * - Only selected files are created. Bytes of a wanted piece that belong to an unselected file go
 *   to a part file, `<root>/.<name>.parts` (sparse, addressed by torrent offset), so the piece
 *   can still be served and re-verified; it is removed when the torrent closes if it is empty.
 * - Writes are positional (`writev` of the piece's blocks, no copy); at most MAX_OPEN_FILES
 *   descriptors are open at once (least recently used closed first).
 */
import { constants, type Stats } from 'node:fs';
import { mkdir, open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RuntimeError } from '../errors.js';
import type { Metainfo } from '../metainfo/index.js';
import { PieceMap, type FileSpan } from './piece-map.js';
import { safeJoin } from './safe-path.js';
import type { Storage } from './storage.js';

/** Enough for torrents with thousands of files without hitting the per-process fd limit. */
export const MAX_OPEN_FILES = 64;

const OPEN_FLAGS = constants.O_RDWR | constants.O_CREAT;

export interface FileStorageOptions {
  root: string;
  meta: Metainfo;
  /** Indexes into meta.files (pad files included) to create; null = all. */
  selected: ReadonlySet<number> | null;
}

export class FileStorage implements Storage {
  readonly map: PieceMap;
  private readonly paths: (string | null)[];
  private readonly partPath: string;
  private readonly handles = new Map<string, HandleEntry>();
  private readonly writeQueues = new Map<string, Promise<void>>();
  private closed = false;

  constructor(private readonly opts: FileStorageOptions) {
    const { meta, root } = opts;
    this.map = new PieceMap(meta.files, meta.pieceLength, meta.totalLength);
    this.paths = meta.files.map((f, i) => {
      if (f.pad || f.symlink !== null) return null;
      if (opts.selected && !opts.selected.has(i)) return null;
      return safeJoin(root, meta.multiFile ? [meta.name, ...f.path] : f.path);
    });
    this.partPath = safeJoin(root, [`.${meta.name}.parts`]);
  }

  /** Absolute path of file `i`, or null when it is not stored as a file (pad, symlink, unselected). */
  pathOf(i: number): string | null {
    return this.paths[i] ?? null;
  }

  /** Creates the selected empty files (they have no pieces to bring them into being). */
  async createEmptyFiles(): Promise<void> {
    for (let i = 0; i < this.paths.length; i++) {
      const p = this.paths[i];
      if (p && this.opts.meta.files[i]!.length === 0) await this.withHandle(p, true, async () => undefined);
    }
  }

  async writePiece(piece: number, blocks: readonly Buffer[]): Promise<void> {
    const spans = this.map.pieceSpans(piece);
    const base = piece * this.map.pieceLength;
    await Promise.all(spans.map((s) => (s.pad ? undefined : this.writeSpan(s, base, blocks))));
  }

  async readBlock(piece: number, begin: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(length);
    const start = piece * this.map.pieceLength + begin;
    const ok = await this.readRange(start, out);
    if (!ok) throw new RuntimeError('ERR_DISK', `piece ${piece} is not on disk`);
    return out;
  }

  async readPiece(piece: number): Promise<Buffer | null> {
    const out = Buffer.allocUnsafe(this.map.pieceSize(piece));
    return (await this.readRange(piece * this.map.pieceLength, out)) ? out : null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(all.map(closeQuietly));
    const st = await stat(this.partPath).catch(() => null);
    if (st && st.size === 0) await unlink(this.partPath).catch(() => undefined);
  }

  /** Size and mtime of each stored file (null when absent), for resume data. */
  async fileStats(): Promise<({ size: number; mtimeMs: number } | null)[]> {
    return Promise.all(
      this.paths.map(async (p) => {
        if (!p) return null;
        const st: Stats | null = await stat(p).catch(() => null);
        return st ? { size: st.size, mtimeMs: Math.floor(st.mtimeMs) } : null;
      }),
    );
  }

  /**
   * One write in flight per file: concurrent writes to one file from libuv's thread pool only
   * contend for the inode's lock in the kernel (measured: ~10% of a download's CPU spinning).
   */
  private writeSpan(s: FileSpan, pieceBase: number, blocks: readonly Buffer[]): Promise<void> {
    const path = this.paths[s.fileIndex] ?? this.partPath;
    const previous = this.writeQueues.get(path) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.writeSpanNow(s, pieceBase, blocks));
    this.writeQueues.set(path, next);
    void next.finally(() => {
      if (this.writeQueues.get(path) === next) this.writeQueues.delete(path);
    }).catch(() => undefined);
    return next;
  }

  private async writeSpanNow(s: FileSpan, pieceBase: number, blocks: readonly Buffer[]): Promise<void> {
    const path = this.paths[s.fileIndex] ?? this.partPath;
    const position = this.paths[s.fileIndex] ? s.fileOffset : pieceBase + s.rangeOffset;
    const parts = slice(blocks, s.rangeOffset, s.length);
    try {
      await this.withHandle(path, true, async (h) => {
        let written = 0;
        while (written < s.length) {
          const r = await h.writev(written === 0 ? parts : slice(parts, written, s.length - written), position + written);
          if (r.bytesWritten <= 0) throw new Error('short write');
          written += r.bytesWritten;
        }
      });
    } catch (e) {
      throw diskError('write', path, e);
    }
  }

  /** Fills `out` from the torrent range starting at `start`; false when any stored byte is missing. */
  private async readRange(start: number, out: Buffer): Promise<boolean> {
    const spans = this.map.spans(start, out.length);
    const results = await Promise.all(
      spans.map(async (s) => {
        const target = out.subarray(s.rangeOffset, s.rangeOffset + s.length);
        if (s.pad) {
          target.fill(0);
          return true;
        }
        const path = this.paths[s.fileIndex] ?? this.partPath;
        const position = this.paths[s.fileIndex] ? s.fileOffset : start + s.rangeOffset;
        try {
          return await this.withHandle(path, false, async (h) => {
            let got = 0;
            while (got < s.length) {
              const r = await h.read(target, got, s.length - got, position + got);
              if (r.bytesRead === 0) return false;
              got += r.bytesRead;
            }
            return true;
          });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
          throw diskError('read', path, e);
        }
      }),
    );
    return results.every(Boolean);
  }

  /**
   * Runs `fn` with an open descriptor for `path`. Descriptors are shared and reference-counted;
   * beyond MAX_OPEN_FILES the least recently used one is closed once nobody is using it.
   */
  private async withHandle<T>(path: string, create: boolean, fn: (h: FileHandle) => Promise<T>): Promise<T> {
    if (this.closed) throw new RuntimeError('ERR_DISK', 'storage is closed');
    // Reads use a read-write descriptor when one is open, else their own read-only one, so that
    // checking data we may not write (verify, seed of someone else's files) works.
    const key = create || this.handles.has(path) ? path : `${path}\0ro`;
    let entry = this.handles.get(key);
    if (entry) {
      this.handles.delete(key); // re-insert: most recently used
    } else {
      entry = {
        handle: (async () => {
          if (create) await mkdir(dirname(path), { recursive: true });
          return open(path, create ? OPEN_FLAGS : constants.O_RDONLY);
        })(),
        users: 0,
        evicted: false,
      };
      entry.handle.catch(() => this.handles.delete(key));
    }
    this.handles.set(key, entry);
    this.evict();
    entry.users++;
    try {
      return await fn(await entry.handle);
    } finally {
      entry.users--;
      if (entry.evicted && entry.users === 0) void closeQuietly(entry);
    }
  }

  private evict(): void {
    for (const [path, entry] of this.handles) {
      if (this.handles.size <= MAX_OPEN_FILES) return;
      this.handles.delete(path);
      entry.evicted = true;
      if (entry.users === 0) void closeQuietly(entry);
    }
  }
}

interface HandleEntry {
  handle: Promise<FileHandle>;
  users: number;
  evicted: boolean;
}

async function closeQuietly(entry: HandleEntry): Promise<void> {
  try {
    await (await entry.handle).close();
  } catch {
    // already failed to open or closed: nothing to release
  }
}

/** The bytes [offset, offset+length) of a list of buffers, as views. */
function slice(blocks: readonly Buffer[], offset: number, length: number): Buffer[] {
  const out: Buffer[] = [];
  let skip = offset;
  let left = length;
  for (const b of blocks) {
    if (left === 0) break;
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    const take = Math.min(b.length - skip, left);
    out.push(b.subarray(skip, skip + take));
    left -= take;
    skip = 0;
  }
  return out;
}

function diskError(op: string, path: string, e: unknown): RuntimeError {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ENOSPC' ? 'no space left on device' : err.code === 'EACCES' ? 'permission denied' : err.message;
  return new RuntimeError('ERR_DISK', `cannot ${op} ${path}: ${why}`, { cause: e });
}
