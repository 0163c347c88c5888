/**
 * Resume data for one torrent: saved while pieces arrive (at most every RESUME_SAVE_MS) and on
 * stop, one save at a time (each records the state at the moment it runs). It records only
 * pieces written to disk. Saving is best effort: a failure is a warning, never a failed
 * download (a complete, correct download must not exit 1 because its cache folder is read-only).
 */
import type { FileStorage } from '../storage/file-storage.js';
import { saveResume, type ResumeData } from '../storage/resume.js';
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
    try {
      const data: ResumeData = {
        version: 1,
        infoHash: this.o.infoHashHex,
        pieceCount: this.o.pieceCount,
        verified: this.o.written.buffer.toString('base64'),
        files: await this.o.disk.fileStats(),
      };
      await saveResume(this.o.path, data);
    } catch (e) {
      if (!this.warned) this.o.onWarning(`cannot save resume data to ${this.o.path}: ${(e as Error).message}`);
      this.warned = true;
    }
  }
}
