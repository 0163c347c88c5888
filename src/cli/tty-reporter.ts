/**
 * The live progress display on a terminal (stderr), drawn with cli-progress. Its own module so
 * that cli-progress and its ~20 files load only when stderr is a terminal: run-session.ts imports
 * this on demand, and scripts, logs and --json runs start without it.
 */
import cliProgress from 'cli-progress';
import type { Metainfo } from '../metainfo/index.js';
import type { SessionStats } from '../session/index.js';
import { formatBytes } from '../util/format.js';
import { formatDuration, peerCount, type FileView, type Reporter } from './reporters.js';

/** Live display on a terminal: one bar for the torrent, one per selected file with --files. */
export class TtyReporter implements Reporter {
  private multibar: cliProgress.MultiBar | null = null;
  private main: cliProgress.SingleBar | null = null;
  private fileBars = new Map<string, cliProgress.SingleBar>();
  private name = '';

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly withFiles: boolean,
  ) {}

  start(meta: Metainfo, files: FileView[]): void {
    this.name = meta.name;
    this.multibar = new cliProgress.MultiBar(
      {
        stream: this.stream,
        fps: 10,
        hideCursor: true,
        clearOnComplete: false,
        linewrap: false,
        barsize: 24,
        format: (options, params, payload: Record<string, string>) => {
          const bar = cliProgress.Format.BarFormat(params.progress, options);
          const pct = `${(params.progress * 100).toFixed(1).padStart(5)}%`;
          return payload.kind === 'file'
            ? `  ${bar} ${pct} ${payload.name}`
            : `${bar} ${pct} ${payload.done}/${payload.total} ↓ ${payload.down} ↑ ${payload.up} ETA ${payload.eta} peers ${payload.peers} ${payload.name}`;
        },
      },
      cliProgress.Presets.shades_classic,
    );
    const total = files.filter((f) => f.selected).reduce((n, f) => n + f.length, 0);
    this.main = this.multibar.create(Math.max(1, total), 0, { ...this.payload(meta.name, null), total: formatBytes(total) });
    if (this.withFiles) {
      for (const f of files) {
        if (f.selected) this.fileBars.set(f.path, this.multibar.create(Math.max(1, f.length), 0, { kind: 'file', name: f.path }));
      }
    }
  }

  private payload(name: string, s: SessionStats | null): Record<string, string> {
    const left = s ? s.wantedBytes - s.verifiedBytes : 0;
    const eta = s && s.downloadRate > 0 ? formatDuration(left / s.downloadRate) : '--';
    return {
      kind: 'torrent',
      name,
      done: formatBytes(s?.verifiedBytes ?? 0),
      total: formatBytes(s?.wantedBytes ?? 0),
      down: `${formatBytes(s?.downloadRate ?? 0)}/s`,
      up: `${formatBytes(s?.uploadRate ?? 0)}/s`,
      eta: s && left === 0 ? '0s' : eta,
      peers: s ? peerCount(s) : '0/0',
    };
  }

  progress(s: SessionStats, files: { path: string; length: number; done: number }[]): void {
    if (!this.main) return;
    this.main.setTotal(Math.max(1, s.wantedBytes));
    this.main.update(s.verifiedBytes, this.payload(this.name, s));
    for (const f of files) this.fileBars.get(f.path)?.update(f.done);
  }

  fileDone(): void {}

  peer(): void {}

  warning(message: string): void {
    this.log(`warning: ${message}`);
  }

  note(message: string): void {
    this.log(message);
  }

  private log(line: string): void {
    if (this.multibar) this.multibar.log(`${line}\n`);
    else this.stream.write(`${line}\n`);
  }

  done(): void {}

  error(): void {}

  async stop(): Promise<void> {
    if (!this.multibar) return;
    this.multibar.stop();
    this.multibar = null;
  }
}
