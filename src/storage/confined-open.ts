/**
 * Opening files under the output folder without ever following a symbolic link out of it.
 *
 * safeJoin checks paths as text; the file system can still disagree: another local user who can
 * write the output folder may plant `<root>/<name> -> /home/victim` before a download starts, and
 * every file of the torrent would land in the link's target. So, below the output folder (the
 * folder itself is the user's choice and may be a link):
 * - each folder component is looked at with lstat when first used (created one level at a time
 *   with a plain mkdir, never `recursive`, which follows links); a link whose real path leads
 *   outside the real output folder, or a component that is not a folder, is refused;
 * - the file itself is opened with O_NOFOLLOW, so a link in its place fails the open (ELOOP)
 *   instead of being followed, and is then refused unless it resolves inside the folder.
 * A refusal is a RuntimeError ERR_DISK naming the path and why. Folders found safe are
 * remembered (one lstat per folder, not per file). What is checked is the state when a file is
 * first opened; a link swapped in afterwards under an already-open folder is the residual race
 * every path-based check has (openat2 RESOLVE_BENEATH would close it; Node does not expose it).
 */
import { constants } from 'node:fs';
import { lstat, mkdir, open, realpath, type FileHandle } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { RuntimeError } from '../errors.js';

/** 0 where the platform has no O_NOFOLLOW (Windows): the final component is then lstat'ed first. */
const O_NOFOLLOW: number = constants.O_NOFOLLOW ?? 0;

export class ConfinedFolder {
  readonly root: string;
  private realRoot: Promise<string> | null = null;
  /** Folders (absolute, below root) already found to be real folders inside root. */
  private readonly safeDirs = new Map<string, Promise<boolean>>();

  constructor(root: string) {
    this.root = resolve(root);
  }

  /**
   * Opens `path` (absolute, below root, as safeJoin built it) with `flags`. With `create`, missing
   * folders are made; without it a missing folder or file rejects with an ENOENT error.
   */
  async open(path: string, flags: number, create: boolean): Promise<FileHandle> {
    if (!(await this.ensureDir(dirname(path), create))) throw enoent(path);
    if (O_NOFOLLOW === 0) await this.refuseLinkOut(path, path);
    try {
      return await open(path, flags | O_NOFOLLOW);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ELOOP') throw e;
      // The file is a link: follow it only when it stays inside the folder.
      await this.refuseLinkOut(path, path);
      return open(path, flags);
    }
  }

  /**
   * True when `dir` exists as a folder inside root (made when `create`); false when it is missing
   * and not created. Rejects with ERR_DISK for a link out of root or a non-folder.
   */
  ensureDir(dir: string, create: boolean): Promise<boolean> {
    const known = this.safeDirs.get(dir);
    if (known) return known;
    const check = this.checkDir(dir, create);
    this.safeDirs.set(dir, check);
    // Only "safe and present" is remembered: a missing folder may be made later, a failure retried.
    check.then(
      (ok) => {
        if (!ok) this.safeDirs.delete(dir);
      },
      () => this.safeDirs.delete(dir),
    );
    return check;
  }

  private async checkDir(dir: string, create: boolean): Promise<boolean> {
    if (dir === this.root) {
      if (create) await mkdir(dir, { recursive: true }); // the user's own folder: made as asked
      return (await lstat(dir).catch(() => null)) !== null;
    }
    if (!dir.startsWith(this.root + sep)) throw refusal(dir, `it is not inside the output folder ${this.root}`);
    if (!(await this.ensureDir(dirname(dir), create))) return false;
    let st = await lstat(dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    if (st === null) {
      if (!create) return false;
      await mkdir(dir).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
      st = await lstat(dir);
    }
    if (st.isSymbolicLink()) {
      await this.refuseLinkOut(dir, dir);
      return true;
    }
    if (!st.isDirectory()) throw refusal(dir, 'it exists and is not a folder');
    return true;
  }

  /** Rejects unless `path` is not a link, or is one whose real path is inside the real root. */
  private async refuseLinkOut(path: string, shown: string): Promise<void> {
    const st = await lstat(path).catch(() => null);
    if (!st || !st.isSymbolicLink()) return;
    const target = await realpath(path).catch(() => null);
    const root = await this.realRootPath();
    if (target === null) throw refusal(shown, 'it is a symbolic link that leads nowhere (refused: it could be pointed anywhere)');
    if (target !== root && !target.startsWith(root + sep)) {
      throw refusal(shown, `it is a symbolic link to ${target}, outside the output folder ${this.root}`);
    }
  }

  private realRootPath(): Promise<string> {
    if (this.realRoot === null) {
      const pending = realpath(this.root);
      this.realRoot = pending;
      pending.catch(() => {
        if (this.realRoot === pending) this.realRoot = null;
      });
    }
    return this.realRoot;
  }
}

function refusal(path: string, why: string): RuntimeError {
  return new RuntimeError('ERR_DISK', `refusing to use ${path}: ${why}`, {
    hint: 'remove the link (or choose another output folder with -o)',
  });
}

function enoent(path: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`ENOENT: no such file or directory, open '${path}'`);
  e.code = 'ENOENT';
  return e;
}
