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
 * - Writes are positional, in calls of at most 64 KiB, made by the disk writer's thread for
 *   bytes in shared memory (disk-writer.ts says why), no copy; at most MAX_OPEN_FILES
 *   descriptors are kept open (least recently used closed first), plus any evicted one still in
 *   use, which closes when its last user is done: a read, a write, or a batch lent for hashing
 *   (piece-batches.ts bounds the files a batch holds; one piece spanning more files than
 *   MAX_OPEN_FILES needs them all at once, so a strict bound could wait on itself).
 * - No file is opened through a symbolic link that leads out of the output folder
 *   (confined-open.ts): a planted link is refused with ERR_DISK, nothing is written through it.
 * - Work over all files (stats, creating empty files, looking for outside changes) runs with
 *   FILE_OP_CONCURRENCY operations in flight, so memory and descriptors do not grow with the
 *   number of files.
 * - For every file it wrote or checked, it remembers what it last saw (size, mtime, inode: the
 *   baseline). changedFiles() compares the disk with it and names the pieces that can no longer
 *   be claimed (a file deleted, truncated, replaced or touched from outside); resume data is
 *   built from the baseline, never from what happens to be on disk when it is saved, so an
 *   outside change is never blessed by a save (BEP 3 pieces are only "had" while their bytes are).
 */
import { constants, type Stats } from 'node:fs';
import { stat, unlink, type FileHandle } from 'node:fs/promises';
import { InternalError, isSystemError, RuntimeError, TorrentError } from '../errors.js';
import type { Metainfo } from '../metainfo/index.js';
import { Bitfield } from '../util/bitfield.js';
import { FILE_OP_CONCURRENCY, mapBounded } from './bounded.js';
import { ConfinedFolder } from './confined-open.js';
import { DiskWriter, diskWriterScript } from './disk-writer.js';
import { PieceMap, type FileSpan } from './piece-map.js';
import type { FileStat, ResumeData } from './resume.js';
import { safeJoin } from './safe-path.js';
import type { Storage } from './storage.js';

/** Enough for torrents with thousands of files without hitting the per-process fd limit. */
export const MAX_OPEN_FILES = 64;

const OPEN_FLAGS = constants.O_RDWR | constants.O_CREAT;

/** baseKnown values: nothing seen; size, mtime and inode seen; existence seen (empty files). */
const UNKNOWN = 0;
const FULL_STAT = 1;
const EXISTS_ONLY = 2;

export interface FileStorageOptions {
  root: string;
  meta: Metainfo;
  /** Indexes into meta.files (pad files included) to create; null = all. */
  selected: ReadonlySet<number> | null;
  /** The disk writer thread's script; default diskWriterScript() (null: writes go through libuv's pool). */
  writerScript?: URL | null;
}

/**
 * One stretch of a piece range as lendPieces hands it out: bytes at `position` of the open
 * descriptor `fd` (of `path`, for messages), zeros (a BEP 47 pad file), or bytes not on disk.
 */
export type LentSpan =
  | { readonly kind: 'fd'; readonly fd: number; readonly path: string; readonly position: number; readonly length: number }
  | { readonly kind: 'zeros'; readonly length: number }
  | { readonly kind: 'absent'; readonly length: number };

/** Files whose data changed from outside, and the pieces that can therefore no longer be claimed. */
export interface ChangedFiles {
  /** Indexes into meta.files (the part file is not named here; its pieces are in `pieces`). */
  files: number[];
  /** Pieces among those asked about that touch a changed file, ascending. */
  pieces: number[];
}

/** The outcome of resumeSnapshot: what may be recorded, and what had to be left out. */
export interface ResumeSnapshot {
  data: ResumeData;
  changed: ChangedFiles;
}

export class FileStorage implements Storage {
  readonly map: PieceMap;
  private readonly paths: (string | null)[];
  private readonly partPath: string;
  private readonly folder: ConfinedFolder;
  private readonly handles = new Map<string, HandleEntry>();
  /** Closes of evicted descriptors in flight. */
  private readonly closing = new Set<Promise<void>>();
  private readonly writeQueues = new Map<string, Promise<void>>();
  /** Writes queued or in flight per path: only the last of a run stats the file for its baseline. */
  private readonly pendingWrites = new Map<string, number>();
  /**
   * Baseline per file, index meta.files.length being the part file: what we last saw right after
   * writing it or while checking it. Typed arrays: 25 bytes a file, whatever the file count.
   */
  private readonly baseSize: Float64Array;
  private readonly baseMtime: Float64Array;
  private readonly baseIno: Float64Array;
  /** UNKNOWN, FULL_STAT or EXISTS_ONLY per slot. */
  private readonly baseKnown: Uint8Array;
  private readonly writer: DiskWriter;
  private closed = false;

  constructor(private readonly opts: FileStorageOptions) {
    const { meta, root } = opts;
    this.writer = new DiskWriter(opts.writerScript === undefined ? diskWriterScript() : opts.writerScript);
    this.map = new PieceMap(meta.files, meta.pieceLength, meta.totalLength);
    this.paths = meta.files.map((f, i) => {
      if (f.pad || f.symlink !== null) return null;
      if (opts.selected && !opts.selected.has(i)) return null;
      return safeJoin(root, meta.multiFile ? [meta.name, ...f.path] : f.path);
    });
    this.partPath = safeJoin(root, [`.${meta.name}.parts`]);
    this.folder = new ConfinedFolder(root);
    const slots = meta.files.length + 1;
    this.baseSize = new Float64Array(slots);
    this.baseMtime = new Float64Array(slots);
    this.baseIno = new Float64Array(slots);
    this.baseKnown = new Uint8Array(slots);
  }

  /** Absolute path of file `i`, or null when it is not stored as a file (pad, symlink, unselected). */
  pathOf(i: number): string | null {
    return this.paths[i] ?? null;
  }

  /**
   * Creates the selected empty files (they have no pieces to bring them into being), a bounded
   * number at a time and outside the descriptor pool (they are opened once, then never again).
   */
  async createEmptyFiles(): Promise<void> {
    const files = this.opts.meta.files;
    await mapBounded(this.paths.length, FILE_OP_CONCURRENCY, async (i) => {
      const p = this.paths[i];
      if (!p || files[i]!.length !== 0) return;
      if (this.closed) throw new RuntimeError('ERR_DISK', 'storage is closed');
      let h: FileHandle;
      try {
        h = await this.folder.open(p, OPEN_FLAGS, true);
      } catch (e) {
        throw diskError('create', p, e);
      }
      await h.close().catch(() => undefined);
      // An empty file holds no piece: only its existence is watched (and no fstat is spent on it).
      this.baseKnown[i] = EXISTS_ONLY;
    });
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

  async readPiece(piece: number, into?: Buffer): Promise<Buffer | null> {
    const size = this.map.pieceSize(piece);
    const out = into && into.length >= size ? into.subarray(0, size) : Buffer.allocUnsafe(size);
    return (await this.readRange(piece * this.map.pieceLength, out)) ? out : null;
  }

  /**
   * Reads pieces `first` .. `first + count - 1` into the start of `out` (a caller's reusable
   * buffer, at least that long): one positional read per file the range touches, not one per
   * piece, and no allocation. Returns the bytes filled, or null when any stored byte of the range
   * is missing (a file absent or shorter): the caller then reads piece by piece to learn which.
   */
  async readPiecesInto(first: number, count: number, out: Buffer): Promise<number | null> {
    const start = first * this.map.pieceLength;
    const length = Math.min(count * this.map.pieceLength, this.map.totalLength - start);
    if (count < 1 || length <= 0 || length > out.length) throw new RangeError(`pieces ${first}+${count} do not fit ${out.length} bytes`);
    return (await this.readRange(start, out.subarray(0, length))) ? length : null;
  }

  /**
   * Lends `fn` the stretches that hold pieces `first` .. `first + count - 1`, in stream order, for
   * a hashing thread to read itself (hash-pool.ts `hashSpans`): the bytes are then copied out of
   * the page cache on the core that hashes them, while they are in its cache. Each file is opened
   * as reads open it (confined, from the descriptor cache) and its descriptor stays open, not
   * closed or reused by the cache, until `fn` settles. Pad files are `zeros`; a file that is
   * absent is `absent` (its pieces cannot verify), not an error; other open failures reject.
   */
  async lendPieces<T>(first: number, count: number, fn: (spans: LentSpan[]) => Promise<T>): Promise<T> {
    const start = first * this.map.pieceLength;
    const length = Math.min(count * this.map.pieceLength, this.map.totalLength - start);
    if (count < 1 || length <= 0) throw new RangeError(`pieces ${first}+${count}`);
    const releases: (() => void)[] = [];
    try {
      // allSettled, not all: every pin that succeeds is released, even when another fails.
      const settled = await Promise.allSettled(
        this.map.spans(start, length).map(async (s): Promise<LentSpan> => {
          if (s.pad) return { kind: 'zeros', length: s.length };
          const path = this.paths[s.fileIndex] ?? this.partPath;
          const position = this.paths[s.fileIndex] ? s.fileOffset : start + s.rangeOffset;
          try {
            const { handle, release } = await this.pinForRead(path);
            releases.push(release);
            return { kind: 'fd', fd: handle.fd, path, position, length: s.length };
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent', length: s.length };
            throw diskError('read', path, e);
          }
        }),
      );
      const spans: LentSpan[] = [];
      for (const r of settled) {
        if (r.status === 'rejected') throw r.reason;
        spans.push(r.value);
      }
      return await fn(spans);
    } finally {
      for (const release of releases) release();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writer.close();
    const all = [...this.handles.values()];
    this.handles.clear();
    await Promise.all([...all.map(closeQuietly), ...this.closing]);
    const st = await stat(this.partPath).catch(() => null);
    if (st && st.size === 0) await unlink(this.partPath).catch(() => undefined);
  }

  /** Size, mtime and inode of each stored file now (null when absent or not stored). */
  async fileStats(): Promise<(FileStat | null)[]> {
    return mapBounded(this.paths.length, FILE_OP_CONCURRENCY, async (i) => {
      const p = this.paths[i];
      return p ? toFileStat(await stat(p).catch(() => null)) : null;
    });
  }

  /**
   * Takes `stats` (from fileStats(), before the pieces were hashed or trusted) as the baseline of
   * every file present: the start-up check calls it, so later outside changes are measured from
   * what the check saw.
   */
  recordChecked(stats: readonly (FileStat | null)[]): void {
    stats.forEach((st, i) => {
      if (st && this.paths[i]) this.setBaseline(i, st.size, st.mtimeMs, st.ino ?? 0);
    });
  }

  /**
   * Of the pieces `have` says are on disk, those whose files changed from outside since we wrote
   * or checked them: missing, another inode, another size or mtime. Their baseline is dropped
   * and their descriptors closed, so the next write makes the file again at its path (not into a
   * deleted inode). Stored empty files we made are checked for existence (named in `files`, no
   * piece). A file with writes of ours still pending is skipped (not reported as changed). Costs one stat per
   * file holding a had piece, FILE_OP_CONCURRENCY at a time, plus O(pieces + files) memory reads.
   */
  async changedFiles(have: (piece: number) => boolean): Promise<ChangedFiles> {
    const files = this.opts.meta.files;
    const partSlot = files.length;
    const candidates: number[] = [];
    let partInUse = false;
    for (let i = 0; i < files.length; i++) {
      const f = files[i]!;
      if (f.pad || f.symlink !== null) continue;
      if (f.length === 0) {
        if (this.paths[i] && this.baseKnown[i]) candidates.push(i);
        continue;
      }
      if (!this.anyHad(i, have)) continue;
      if (this.paths[i]) candidates.push(i);
      else partInUse = true;
    }
    if (partInUse) candidates.push(partSlot);
    const changedSlots = (
      await mapBounded(candidates.length, FILE_OP_CONCURRENCY, async (k) => {
        const slot = candidates[k]!;
        const path = this.slotPath(slot);
        await this.writeQueues.get(path)?.catch(() => undefined);
        // Writes of ours still queued or in flight move the file as we look at it, and the
        // baseline follows only the last of a run: a file being written is left for a later
        // check (the one before `done` runs when every write has settled).
        if ((this.pendingWrites.get(path) ?? 0) > 0) return -1;
        const now = toFileStat(await stat(path).catch(() => null));
        if ((this.pendingWrites.get(path) ?? 0) > 0) return -1;
        if (now === null) return slot;
        if (this.baseKnown[slot] === EXISTS_ONLY) return -1;
        if (this.baseKnown[slot] === UNKNOWN) {
          // Nothing recorded (pieces the caller learnt elsewhere): what is there now is the baseline.
          this.setBaseline(slot, now.size, now.mtimeMs, now.ino ?? 0);
          return -1;
        }
        const same = now.size === this.baseSize[slot] && now.mtimeMs === this.baseMtime[slot] && (now.ino ?? 0) === this.baseIno[slot];
        return same ? -1 : slot;
      })
    ).filter((slot) => slot >= 0);
    const pieces = new Set<number>();
    const changed: number[] = [];
    for (const slot of changedSlots) {
      this.baseKnown[slot] = UNKNOWN;
      this.dropHandles(this.slotPath(slot));
      if (slot === partSlot) {
        for (let i = 0; i < files.length; i++) {
          if (!this.paths[i] && !files[i]!.pad && files[i]!.symlink === null) this.addHad(i, have, pieces);
        }
      } else {
        changed.push(slot);
        this.addHad(slot, have, pieces);
      }
    }
    return { files: changed, pieces: [...pieces].sort((a, b) => a - b) };
  }

  /**
   * Resume data for the pieces in `have`, minus those in files changed from outside (which are
   * returned, for the caller to forget), with each file's baseline as its recorded stat: a later
   * start trusts a piece only while its files still match what we saw when we wrote or checked it.
   */
  async resumeSnapshot(infoHashHex: string, have: Bitfield): Promise<ResumeSnapshot> {
    const changed = await this.changedFiles((p) => have.has(p));
    const verified = new Bitfield(have.length, have.buffer);
    for (const p of changed.pieces) verified.clear(p);
    const files: (FileStat | null)[] = this.opts.meta.files.map((_, i) =>
      this.paths[i] && this.baseKnown[i] === FULL_STAT ? { size: this.baseSize[i]!, mtimeMs: this.baseMtime[i]!, ino: this.baseIno[i]! } : null,
    );
    return {
      data: { version: 1, infoHash: infoHashHex, pieceCount: have.length, verified: verified.buffer.toString('base64'), files },
      changed,
    };
  }

  /**
   * One write in flight per file: concurrent writes to one file from libuv's thread pool only
   * contend for the inode's lock in the kernel (measured: ~10% of a download's CPU spinning).
   */
  private writeSpan(s: FileSpan, pieceBase: number, blocks: readonly Buffer[]): Promise<void> {
    const path = this.paths[s.fileIndex] ?? this.partPath;
    const previous = this.writeQueues.get(path) ?? Promise.resolve();
    this.pendingWrites.set(path, (this.pendingWrites.get(path) ?? 0) + 1);
    const next = previous.catch(() => undefined).then(() => this.writeSpanNow(s, pieceBase, blocks));
    this.writeQueues.set(path, next);
    void next.finally(() => {
      const left = (this.pendingWrites.get(path) ?? 1) - 1;
      if (left === 0) this.pendingWrites.delete(path);
      else this.pendingWrites.set(path, left);
      if (this.writeQueues.get(path) === next) this.writeQueues.delete(path);
    }).catch(() => undefined);
    return next;
  }

  private async writeSpanNow(s: FileSpan, pieceBase: number, blocks: readonly Buffer[]): Promise<void> {
    const path = this.paths[s.fileIndex] ?? this.partPath;
    const position = this.paths[s.fileIndex] ? s.fileOffset : pieceBase + s.rangeOffset;
    const parts = slice(blocks, s.rangeOffset, s.length);
    const slot = this.paths[s.fileIndex] ? s.fileIndex : this.opts.meta.files.length;
    try {
      await this.withHandle(path, true, async (h) => {
        let at = position;
        for (const part of parts) {
          await this.writer.write(h.fd, part, at);
          at += part.length;
        }
        // Our own write moves mtime and size: the baseline follows, so only others' changes count.
        // While more writes to this file are queued, the last of them takes the stat (one fstat
        // per run of writes instead of one per piece; changedFiles() waits for the queue first).
        if ((this.pendingWrites.get(path) ?? 1) <= 1) this.recordBaseline(slot, await h.stat());
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
          if (e instanceof TorrentError) throw e;
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
        handle: this.open(path, create ? OPEN_FLAGS : constants.O_RDONLY, create),
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
      if (entry.evicted && entry.users === 0) this.retire(entry);
    }
  }

  /**
   * A descriptor for reading `path`, held (not closed by eviction) until `release` is called: the
   * same cache, keys and counting as withHandle, for a reader that is not a callback of ours.
   */
  private async pinForRead(path: string): Promise<{ handle: FileHandle; release: () => void }> {
    if (this.closed) throw new RuntimeError('ERR_DISK', 'storage is closed');
    const key = this.handles.has(path) ? path : `${path}\0ro`;
    let entry = this.handles.get(key);
    if (entry) {
      this.handles.delete(key); // re-insert: most recently used
    } else {
      entry = { handle: this.open(path, constants.O_RDONLY, false), users: 0, evicted: false };
      entry.handle.catch(() => this.handles.delete(key));
    }
    this.handles.set(key, entry);
    this.evict();
    entry.users++;
    const held = entry;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      held.users--;
      if (held.evicted && held.users === 0) this.retire(held);
    };
    try {
      return { handle: await held.handle, release };
    } catch (e) {
      release();
      throw e;
    }
  }

  /** Forgets the descriptors of `path` (both kinds); each closes once its last user is done. */
  private dropHandles(path: string): void {
    for (const key of [path, `${path}\0ro`]) {
      const entry = this.handles.get(key);
      if (!entry) continue;
      this.handles.delete(key);
      entry.evicted = true;
      if (entry.users === 0) this.retire(entry);
    }
  }

  private slotPath(slot: number): string {
    return slot === this.opts.meta.files.length ? this.partPath : this.paths[slot]!;
  }

  /** True when a piece holding any byte of file `i` is in `have`. */
  private anyHad(i: number, have: (piece: number) => boolean): boolean {
    const range = this.map.filePieces(i);
    if (!range) return false;
    for (let p = range[0]; p <= range[1]; p++) if (have(p)) return true;
    return false;
  }

  private addHad(i: number, have: (piece: number) => boolean, into: Set<number>): void {
    const range = this.map.filePieces(i);
    if (!range) return;
    for (let p = range[0]; p <= range[1]; p++) if (have(p)) into.add(p);
  }

  private recordBaseline(slot: number, st: Stats): void {
    this.setBaseline(slot, st.size, Math.floor(st.mtimeMs), st.ino);
  }

  private setBaseline(slot: number, size: number, mtimeMs: number, ino: number): void {
    this.baseSize[slot] = size;
    this.baseMtime[slot] = mtimeMs;
    this.baseIno[slot] = ino;
    this.baseKnown[slot] = FULL_STAT;
  }

  private evict(): void {
    for (const [path, entry] of this.handles) {
      if (this.handles.size <= MAX_OPEN_FILES) return;
      this.handles.delete(path);
      entry.evicted = true;
      if (entry.users === 0) this.retire(entry);
    }
  }

  /** Closes an evicted descriptor; opens wait for it (see `open`), so the count stays within MAX_OPEN_FILES. */
  private retire(entry: HandleEntry): void {
    const closing: Promise<void> = closeQuietly(entry).finally(() => this.closing.delete(closing));
    this.closing.add(closing);
  }

  /**
   * Opens `path` once the descriptors being closed are closed: an open that finished before an
   * evicted descriptor's close (both go through libuv's pool) left one more open than the bound,
   * seen under a loaded test run.
   */
  private open(path: string, flags: number, create: boolean): Promise<FileHandle> {
    if (this.closing.size === 0) return this.folder.open(path, flags, create);
    return Promise.all(this.closing).then(() => this.folder.open(path, flags, create));
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

function toFileStat(st: Stats | null): FileStat | null {
  return st ? { size: st.size, mtimeMs: Math.floor(st.mtimeMs), ino: st.ino } : null;
}

/** diskError's operations, as the message of a bug names them. */
const DOING = { create: 'creating', read: 'reading', write: 'writing' } as const;

/**
 * What a failed file operation means. A TorrentError is classified already (a refused link is
 * ERR_DISK, a dead writer thread an InternalError) and passes as it is. An error carrying the
 * system's errno `code` (ENOSPC, EIO, EACCES...; `isSystemError`) is the disk's: ERR_DISK naming the file. Anything else
 * is a bug of ours (a JavaScript exception inside the disk-writer thread comes back with no
 * code), an InternalError, so the CLI prints its stack instead of sending the user to check a
 * disk that is fine.
 */
function diskError(op: 'create' | 'read' | 'write', path: string, e: unknown): TorrentError {
  if (e instanceof TorrentError) return e;
  if (!isSystemError(e)) {
    return new InternalError(`${DOING[op]} ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const code = e.code;
  const why = code === 'ENOSPC' ? 'no space left on device' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
  return new RuntimeError('ERR_DISK', `cannot ${op} ${path}: ${why}`, { cause: e });
}
