/**
 * How a running session shows itself. One reporter per output: NDJSON events on stdout (--json),
 * a live cli-progress display on a terminal (stderr), a plain line every few seconds in logs, or
 * nothing (--quiet). stdout only ever carries --json events (or --stdout bytes, elsewhere).
 */
import type { TorrentError } from '../errors.js';
import type { Metainfo } from '../metainfo/index.js';
import type { SessionStats } from '../session/index.js';
import { formatBytes } from '../util/format.js';
import { writeOut } from './output.js';

export interface FileView {
  path: string;
  length: number;
  selected: boolean;
}

export interface PeerView {
  address: string;
  state: 'connected' | 'closed';
  /** Why it closed (a CloseReason and detail), or how it is carried when connected ('tcp', 'tcp+rc4'). */
  reason?: string;
  transport?: string;
}

/** "3/10", with the encrypted and uTP ones and the web seeds: "3/10 (2 encrypted, 1 uTP) + 1 web seed". */
export function peerCount(s: SessionStats): string {
  const kinds = [s.encryptedPeers > 0 ? `${s.encryptedPeers} encrypted` : '', s.utpPeers > 0 ? `${s.utpPeers} uTP` : ''].filter(Boolean);
  const web = s.webSeeds > 0 ? ` + ${s.webSeeds} web seed${s.webSeeds > 1 ? 's' : ''}` : '';
  return `${s.peers}/${s.knownPeers}${kinds.length > 0 ? ` (${kinds.join(', ')})` : ''}${web}`;
}

export interface Reporter {
  start(meta: Metainfo, files: FileView[], outputPath: string): void;
  progress(stats: SessionStats, files: { path: string; length: number; done: number }[]): void;
  fileDone(path: string): void;
  /** A peer connected or went (JSON only: a terminal shows counts). */
  peer(event: PeerView): void;
  warning(message: string): void;
  /** A line for humans (seeding started, summary); JSON reporters ignore it. */
  note(message: string): void;
  done(stats: SessionStats, elapsedMs: number): void;
  error(e: TorrentError): void;
  /** Leaves the terminal clean; idempotent. */
  stop(): Promise<void>;
}

/** At most this often a `progress` event on stdout (issue contract: 500 ms). */
export const JSON_PROGRESS_MS = 500;

export class JsonReporter implements Reporter {
  private lastProgress = 0;
  private lastText = '';
  private pending: Promise<void> = Promise.resolve();
  private outputPath = '';

  private emit(obj: Record<string, unknown>): void {
    const line = `${JSON.stringify(obj)}\n`;
    this.pending = this.pending.then(() => writeOut(line));
  }

  start(meta: Metainfo, files: FileView[], outputPath: string): void {
    this.outputPath = outputPath;
    this.emit({
      event: 'start',
      infoHash: meta.infoHash?.toString('hex') ?? null,
      infoHashV2: meta.infoHashV2?.toString('hex') ?? null,
      name: meta.name,
      length: meta.length,
      pieceCount: meta.pieceCount,
      files,
      path: outputPath,
    });
  }

  progress(s: SessionStats): void {
    const now = Date.now();
    if (now - this.lastProgress < JSON_PROGRESS_MS) return;
    const event = {
      event: 'progress',
      downloaded: s.downloaded,
      uploaded: s.uploaded,
      verified: s.verifiedBytes,
      length: s.wantedBytes,
      downloadRate: Math.round(s.downloadRate),
      uploadRate: Math.round(s.uploadRate),
      peers: s.peers,
      encryptedPeers: s.encryptedPeers,
      utpPeers: s.utpPeers,
      webSeeds: s.webSeeds,
      knownPeers: s.knownPeers,
      verifiedPieces: s.verifiedPieces,
      pieceCount: s.wantedPieces,
    };
    const text = JSON.stringify(event);
    if (text === this.lastText) return; // nothing changed: no event
    this.lastProgress = now;
    this.lastText = text;
    this.emit(event);
  }

  fileDone(path: string): void {
    this.emit({ event: 'file-done', path });
  }

  peer(p: PeerView): void {
    this.emit({ event: 'peer', ...p });
  }

  warning(message: string): void {
    this.emit({ event: 'warning', message });
  }

  note(): void {}

  done(s: SessionStats, elapsedMs: number): void {
    this.lastProgress = 0;
    this.progress(s);
    this.emit({ event: 'done', elapsedMs: Math.round(elapsedMs), path: this.outputPath, downloaded: s.downloaded, uploaded: s.uploaded });
  }

  error(e: TorrentError): void {
    this.emit({ event: 'error', message: e.message, code: e.code });
  }

  async stop(): Promise<void> {
    await this.pending;
  }
}

/** A status line every few seconds, for logs (stderr is not a terminal). */
export class PlainReporter implements Reporter {
  private last = 0;
  private name = '';

  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly everyMs = 5000,
  ) {}

  start(meta: Metainfo): void {
    this.name = meta.name;
    this.last = Date.now();
  }

  progress(s: SessionStats): void {
    const now = Date.now();
    if (now - this.last < this.everyMs) return;
    this.last = now;
    const pct = s.wantedBytes === 0 ? 100 : (100 * s.verifiedBytes) / s.wantedBytes;
    this.stream.write(
      `${this.name}: ${pct.toFixed(1)}% ${formatBytes(s.verifiedBytes)}/${formatBytes(s.wantedBytes)} ` +
        `↓ ${formatBytes(s.downloadRate)}/s ↑ ${formatBytes(s.uploadRate)}/s peers ${peerCount(s)}\n`,
    );
  }

  fileDone(): void {}

  peer(): void {}

  warning(message: string): void {
    this.stream.write(`warning: ${message}\n`);
  }

  note(message: string): void {
    this.stream.write(`${message}\n`);
  }

  done(): void {}

  error(): void {}

  async stop(): Promise<void> {}
}

/** Several reporters as one (e.g. --json on stdout and the bar on stderr). */
export class Reporters implements Reporter {
  constructor(private readonly all: Reporter[]) {}
  start(meta: Metainfo, files: FileView[], outputPath: string): void {
    for (const r of this.all) r.start(meta, files, outputPath);
  }
  progress(s: SessionStats, files: { path: string; length: number; done: number }[]): void {
    for (const r of this.all) r.progress(s, files);
  }
  fileDone(path: string): void {
    for (const r of this.all) r.fileDone(path);
  }
  peer(p: PeerView): void {
    for (const r of this.all) r.peer(p);
  }
  warning(message: string): void {
    for (const r of this.all) r.warning(message);
  }
  note(message: string): void {
    for (const r of this.all) r.note(message);
  }
  done(s: SessionStats, elapsedMs: number): void {
    for (const r of this.all) r.done(s, elapsedMs);
  }
  error(e: TorrentError): void {
    for (const r of this.all) r.error(e);
  }
  async stop(): Promise<void> {
    await Promise.all(this.all.map((r) => r.stop()));
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
