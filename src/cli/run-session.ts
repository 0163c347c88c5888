/**
 * Runs one TorrentSession for a command (download, seed): picks the reporters (--json events on
 * stdout; a live display on a terminal, a plain line in logs, or nothing with --quiet, on
 * stderr), pulls the session's events, turns SIGINT/SIGTERM into a graceful stop and exit
 * 130/143 (a second signal exits at once), and reports the end. For a magnet, the display starts
 * when the session says the metadata is here (and --save-torrent writes it then).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { asTorrentError, InterruptedError, RuntimeError } from '../errors.js';
import type { Metainfo } from '../metainfo/index.js';
import { TorrentSession, type SessionOptions, type SessionStats } from '../session/index.js';
import { formatBytes } from '../util/format.js';
import { onReaderGone } from './output.js';
import { JsonReporter, PlainReporter, Reporters, type FileView, type Reporter } from './reporters.js';
import { StreamOut, type StreamRange } from './stream-out.js';

export interface RunFlags {
  quiet?: boolean;
  json?: boolean;
  files?: boolean;
  saveTorrent?: string;
}

/** Redraw period of the live display: at most ~10 a second. */
const TTY_REFRESH_MS = 100;
/** Without a terminal, a status line this often. */
const PLAIN_REFRESH_MS = 5000;

async function pickReporters(flags: RunFlags): Promise<Reporter> {
  const all: Reporter[] = [];
  if (flags.json) all.push(new JsonReporter());
  if (!flags.quiet && process.stderr.isTTY) {
    const { TtyReporter } = await import('./tty-reporter.js');
    all.push(new TtyReporter(process.stderr, flags.files === true));
  } else if (!flags.quiet) {
    all.push(new PlainReporter(process.stderr, PLAIN_REFRESH_MS));
  }
  return new Reporters(all);
}

export async function runSession(
  options: SessionOptions,
  flags: RunFlags,
  streamRange: ((meta: Metainfo) => StreamRange | null) | null = null,
): Promise<SessionStats> {
  const reporter = await pickReporters(flags);
  const session = new TorrentSession(options);
  let interrupted: 'SIGINT' | 'SIGTERM' | null = null;
  let readerGone = false;
  let streamer = null as StreamOut | null;
  let meta: Metainfo | null = options.input.kind === 'torrent' ? options.input.meta : null;
  let started = false;
  const onSignal = (sig: 'SIGINT' | 'SIGTERM'): void => {
    if (interrupted) {
      // A second signal: the user does not want to wait for the graceful stop.
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }
    interrupted = sig;
    streamer?.abort();
    void session.stop();
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  // `--json | head -n 1`: the reader went away; stop quietly (exit 0), as --stdout does.
  const stopWatchingJson = flags.json
    ? onReaderGone(() => {
        readerGone = true;
        void session.stop();
      })
    : () => undefined;

  const pathOf = (i: number): string => meta!.files[i]!.path.join('/');
  const fileProgress = (): { path: string; length: number; done: number }[] =>
    session
      .fileProgress()
      .filter((p) => session.isFileSelected(p.fileIndex))
      .map((p) => ({ path: pathOf(p.fileIndex), length: p.length, done: p.done }));
  const startDisplay = (m: Metainfo): void => {
    if (started) return;
    started = true;
    meta = m;
    const files: FileView[] = m.files
      .map((f, i) => ({ f, i }))
      .filter(({ f }) => !f.pad)
      .map(({ f, i }) => ({ path: pathOf(i), length: f.length, selected: session.isFileSelected(i) }));
    reporter.start(m, files, join(options.outputDir, m.name));
    const range = streamRange?.(m) ?? null;
    if (range) {
      streamer = new StreamOut(session.reader, range, process.stdout, () => {
        readerGone = true;
        void session.stop();
      });
    }
  };

  let saveError: unknown = null;
  const events = (async () => {
    for await (const e of session.events) {
      if (e.type === 'warning') reporter.warning(e.message);
      else if (e.type === 'metadata') {
        if (flags.saveTorrent) await writeFile(flags.saveTorrent, e.torrent).catch((err: unknown) => (saveError = err));
      } else if (e.type === 'piece') streamer?.kick();
      else if (e.type === 'peer') reporter.peer({ address: e.address, state: e.event, reason: e.reason, transport: e.transport });
      else if (e.type === 'file-done') reporter.fileDone(pathOf(e.fileIndex));
      else if (e.type === 'state' && e.state === 'checking') startDisplay(session.meta!);
      else if (e.type === 'state' && e.state === 'downloading') streamer?.kick(); // pieces already on disk
      else if (e.type === 'state' && e.state === 'failed') streamer?.abort();
      else if (e.type === 'state' && e.state === 'stopped') {
        // Done: stream what is left, then storage may close. Interrupted: stop streaming now.
        if (interrupted || readerGone) streamer?.abort();
        else void streamer?.finish().catch(() => streamer?.abort());
      } else if (e.type === 'state' && e.state === 'seeding') {
        const s = session.stats();
        reporter.note(
          s.verifiedPieces === s.wantedPieces
            ? `seeding ${meta?.name ?? ''} on port ${session.port} (Ctrl-C to stop)`
            : `seeding ${s.verifiedPieces} of ${s.wantedPieces} pieces of ${meta?.name ?? ''} on port ${session.port}: the data is incomplete`,
        );
      }
    }
  })();
  const began = Date.now();
  const ticker = setInterval(() => {
    if (started) reporter.progress(session.stats(), fileProgress());
  }, TTY_REFRESH_MS);
  try {
    if (options.input.kind === 'magnet' && !flags.quiet) process.stderr.write('fetching metadata from peers…\n');
    await session.start();
    const end = await session.finished;
    await events;
    clearInterval(ticker);
    if (end.kind === 'failed') throw end.error;
    if (interrupted) throw new InterruptedError(interrupted);
    if (readerGone && !streamer) return session.stats(); // --json's reader closed the pipe
    if (saveError) throw new RuntimeError('ERR_DISK', `cannot write ${flags.saveTorrent}: ${(saveError as Error).message}`);
    await streamer?.finish();
    const s = session.stats();
    if (readerGone) return s; // the reader closed the pipe: a quiet, successful end
    reporter.progress(s, fileProgress());
    reporter.done(s, Date.now() - began);
    await reporter.stop();
    if (!flags.quiet) {
      const secs = (Date.now() - began) / 1000;
      process.stderr.write(
        `done: ${meta?.name ?? ''} (${formatBytes(s.wantedBytes)}) in ${secs.toFixed(1)} s, ` +
          `${formatBytes(s.downloaded)} down at ${formatBytes(s.downloaded / Math.max(secs, 0.001))}/s, ${formatBytes(s.uploaded)} up\n`,
      );
    }
    return s;
  } catch (e) {
    reporter.error(asTorrentError(e));
    throw e;
  } finally {
    stopWatchingJson();
    clearInterval(ticker);
    await reporter.stop();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
