/**
 * `torrent download <file.torrent>`: options -> SessionOptions, a plain progress line on stderr,
 * signals -> graceful stop and exit 130/143.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InputError, InterruptedError, UsageError } from '../errors.js';
import { parsePeerAddress, parseSelect, type Metainfo } from '../metainfo/index.js';
import { TorrentSession, type SessionStats } from '../session/torrent-session.js';
import { defaultCacheDir } from '../storage/resume.js';
import { formatBytes } from '../util/format.js';
import { readTorrentInput } from './input.js';
import { collect, intOption } from './options.js';

interface DownloadFlags {
  output: string;
  port?: string;
  maxPeers: string;
  select?: string;
  timeout?: string;
  quiet?: boolean;
  peer: string[];
  tracker: string[];
}

const DEFAULT_PORT = 6881;

export function registerDownload(program: Command): void {
  program
    .command('download')
    .description('download a torrent, verifying every piece before it is written')
    .argument('<torrent>', 'a .torrent file (or - for stdin)')
    .option('-o, --output <dir>', 'folder to save into', '.')
    .option('--port <n>', `port to accept peers on (default ${DEFAULT_PORT}, or the next free one; 0 = any)`)
    .option('--max-peers <n>', 'most peer connections at once', '50')
    .option('--select <list>', 'file indexes to download, as `torrent info` lists them, e.g. 0,2-4')
    .option('--timeout <seconds>', 'give up (exit 1) when no data has arrived for this long')
    .option('--peer <host:port>', 'also connect to this peer (repeatable)', collect, [])
    .option('--tracker <url>', 'also announce to this tracker (repeatable)', collect, [])
    .option('-q, --quiet', 'no progress output')
    .action(async (arg: string, flags: DownloadFlags) => {
      const input = await readTorrentInput(arg);
      if (input.kind === 'magnet') {
        throw new InputError('ERR_BAD_MAGNET', 'downloading from a magnet URI needs metadata from peers, which this version cannot fetch yet', {
          hint: 'download the .torrent file and pass it instead',
        });
      }
      await download(input.meta, flags);
    });
}

async function download(meta: Metainfo, flags: DownloadFlags): Promise<void> {
  const port = flags.port === undefined ? DEFAULT_PORT : intOption('--port', flags.port, 0, 65535);
  const maxPeers = intOption('--max-peers', flags.maxPeers, 1, 1000);
  const timeoutMs = flags.timeout === undefined ? null : intOption('--timeout', flags.timeout, 1, 10 ** 7) * 1000;
  const peers = flags.peer.map((p) => {
    const a = parsePeerAddress(p);
    if (!a) throw new UsageError(`--peer ${p}: expected host:port or [ipv6]:port`);
    return a;
  });
  const session = new TorrentSession({
    meta,
    outputDir: resolve(flags.output),
    selected: flags.select === undefined ? null : selection(meta, flags.select),
    port,
    portSearch: flags.port === undefined,
    maxPeers,
    peers,
    trackers: [...meta.announce, ...flags.tracker.map((t) => [t])],
    timeoutMs,
    cacheDir: defaultCacheDir(),
    seed: false,
  });

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
    if (!flags.quiet) {
      const s = session.stats();
      const secs = (Date.now() - started) / 1000;
      process.stderr.write(
        `done: ${meta.name} (${formatBytes(s.wantedBytes)}) in ${secs.toFixed(1)} s, ${formatBytes(s.downloaded / Math.max(secs, 0.001))}/s\n`,
      );
    }
  } finally {
    progress.stop();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}

/** `--select 0,2-4` (indexes as `torrent info` lists files: pad files not counted) -> meta.files indexes. */
function selection(meta: Metainfo, text: string): Set<number> {
  let wanted: number[];
  try {
    wanted = parseSelect(text);
  } catch (e) {
    throw new UsageError(`--select ${text}: ${(e as Error).message}`);
  }
  const listed: number[] = [];
  meta.files.forEach((f, i) => {
    if (!f.pad) listed.push(i);
  });
  const out = new Set<number>();
  for (const i of wanted) {
    const fileIndex = listed[i];
    if (fileIndex === undefined) throw new UsageError(`--select ${text}: the torrent has files 0 to ${listed.length - 1}`);
    out.add(fileIndex);
  }
  return out;
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
    const line = `${this.name}: ${pct.toFixed(1)}% ${formatBytes(s.verifiedBytes)}/${formatBytes(s.wantedBytes)} ↓ ${formatBytes(s.downloadRate)}/s peers ${s.peers}/${s.knownPeers}`;
    if (this.tty) {
      process.stderr.write(`\r\x1b[K${line}`);
      this.drawn = true;
    } else {
      process.stderr.write(`${line}\n`);
    }
  }
}
