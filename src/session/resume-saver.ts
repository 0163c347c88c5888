/**
 * Resume data for one torrent: saved while pieces arrive (at most every RESUME_SAVE_MS) and on
 * stop, one save at a time (each records the state at the moment it runs). It records only
 * pieces written to disk. Saving is best effort: a failure is a warning, never a failed
 * download (a complete, correct download must not exit 1 because its cache folder is read-only).
 */
import type { FileStorage } from '../storage/file-storage.js';
import { saveResume } from '../storage/resume.js';
import type { Bitfield } from '../util/bitfield.js';

export const RESUME_SAVE_MS = 5_000;

export class ResumeSaver {
  private chain: Promise<void> = Promise.resolve();
  private lastSaveAt = -Infinity;
  private dirty = false;
  private warned = false;

  constructor(
    private readonly o: {
      path: string;
      infoHashHex: string;
      pieceCount: number;
      disk: FileStorage;
      written: Bitfield;
      onWarning: (m: string) => void;
      /** Pieces found changed on disk since they were written: the session forgets them. */
      forget: (pieces: readonly number[]) => void;
    },
  ) {}

  markDirty(): void {
    this.dirty = true;
  }

  /** Saves if something changed and the last save is old enough. */
  maybeSave(now: number): void {
    if (this.dirty && now - this.lastSaveAt > RESUME_SAVE_MS) void this.save(now);
  }

  /** Saves now (after any save in progress); never rejects. */
  save(now: number): Promise<void> {
    this.lastSaveAt = now;
    this.dirty = false;
    this.chain = this.chain.then(() => this.write());
    return this.chain;
  }

  private async write(): Promise<void> {
    let warning: string | null = null;
    try {
      // Only what is on disk now is recorded: a file changed from outside is not trusted.
      const { data, changed } = await this.o.disk.resumeSnapshot(this.o.infoHashHex, this.o.written);
      if (changed.pieces.length > 0) this.o.forget(changed.pieces);
      const r = await saveResume(this.o.path, data);
      if (!r.ok) warning = r.warning;
    } catch (e) {
      warning = `cannot save resume data to ${this.o.path}: ${(e as Error).message}`;
    }
    if (warning !== null && !this.warned) this.o.onWarning(warning);
    if (warning !== null) this.warned = true;
  }
}
