/**
 * Runs one TorrentSession for a command (download, seed): signals -> graceful stop and exit
 * 130/143, warnings and the progress line on stderr, a summary at the end.
 */
import { InterruptedError } from '../errors.js';
import type { Metainfo } from '../metainfo/index.js';
import { TorrentSession, type SessionOptions, type SessionStats } from '../session/torrent-session.js';
import { formatBytes } from '../util/format.js';

export interface RunFlags {
  quiet?: boolean;
}

export async function runSession(meta: Metainfo, options: SessionOptions, flags: RunFlags): Promise<SessionStats> {
  const session = new TorrentSession(options);
  let interrupted: 'SIGINT' | 'SIGTERM' | null = null;
  const onSignal = (sig: 'SIGINT' | 'SIGTERM'): void => {
    if (interrupted) return;
    interrupted = sig;
    void session.stop();
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);

  const progress = new ProgressLine(meta.name, flags.quiet === true, () => session.stats());
  const events = (async () => {
    for await (const e of session.events) {
      if (e.type === 'warning' && !flags.quiet) progress.log(`warning: ${e.message}`);
      if (e.type === 'state' && e.state === 'seeding' && !flags.quiet) {
        const s = session.stats();
        progress.log(
          s.verifiedPieces === s.wantedPieces
            ? `seeding ${meta.name} on port ${session.port} (Ctrl-C to stop)`
            : `seeding ${s.verifiedPieces} of ${s.wantedPieces} pieces of ${meta.name} on port ${session.port}: the data is incomplete`,
        );
      }
    }
  })();
  const started = Date.now();
  try {
    await session.start();
    progress.start();
    const end = await session.finished;
    await events;
    progress.stop();
    if (end.kind === 'failed') throw end.error;
    if (interrupted) throw new InterruptedError(interrupted);
    const s = session.stats();
    if (!flags.quiet) {
      const secs = (Date.now() - started) / 1000;
      process.stderr.write(
        `done: ${meta.name} (${formatBytes(s.wantedBytes)}) in ${secs.toFixed(1)} s, ` +
          `${formatBytes(s.downloaded)} down at ${formatBytes(s.downloaded / Math.max(secs, 0.001))}/s, ${formatBytes(s.uploaded)} up\n`,
      );
    }
    return s;
  } finally {
    progress.stop();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}

/** A plain status line on stderr: redrawn each second on a terminal, a line every 5 s in logs. */
class ProgressLine {
  private timer: NodeJS.Timeout | null = null;
  private readonly tty = process.stderr.isTTY === true;
  private drawn = false;

  constructor(
    private readonly name: string,
    private readonly quiet: boolean,
    private readonly stats: () => SessionStats,
  ) {}

  start(): void {
    if (this.quiet || this.timer) return;
    this.timer = setInterval(() => this.draw(), this.tty ? 1000 : 5000);
    this.timer.unref();
  }

  log(line: string): void {
    this.clear();
    process.stderr.write(`${line}\n`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.clear();
  }

  private clear(): void {
    if (this.tty && this.drawn) process.stderr.write('\r\x1b[K');
    this.drawn = false;
  }

  private draw(): void {
    const s = this.stats();
    const pct = s.wantedBytes === 0 ? 100 : (100 * s.verifiedBytes) / s.wantedBytes;
    const line =
      `${this.name}: ${pct.toFixed(1)}% ${formatBytes(s.verifiedBytes)}/${formatBytes(s.wantedBytes)} ` +
      `↓ ${formatBytes(s.downloadRate)}/s ↑ ${formatBytes(s.uploadRate)}/s peers ${s.peers}/${s.knownPeers}`;
    if (this.tty) {
      process.stderr.write(`\r\x1b[K${line}`);
      this.drawn = true;
    } else {
      process.stderr.write(`${line}\n`);
    }
  }
}
