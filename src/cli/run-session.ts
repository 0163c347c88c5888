/**
 * Runs one TorrentSession for a command (download, seed): picks the reporters (--json events on
 * stdout; a live display on a terminal, a plain line in logs, or nothing with --quiet, on
 * stderr), turns SIGINT/SIGTERM into a graceful stop and exit 130/143, and reports the end.
 */
import { join } from 'node:path';
import { InterruptedError, RuntimeError, TorrentError } from '../errors.js';
import type { Metainfo } from '../metainfo/index.js';
import { TorrentSession, type SessionOptions, type SessionStats } from '../session/torrent-session.js';
import { formatBytes } from '../util/format.js';
import { JsonReporter, PlainReporter, Reporters, TtyReporter, type FileView, type Reporter } from './reporters.js';
import { StreamOut, type StreamRange } from './stream-out.js';

export interface RunFlags {
  quiet?: boolean;
  json?: boolean;
  files?: boolean;
}

/** Redraw period of the live display: at most ~10 a second. */
const TTY_REFRESH_MS = 100;
/** Without a terminal, a status line this often. */
const PLAIN_REFRESH_MS = 5000;

function pickReporters(flags: RunFlags): Reporter {
  const all: Reporter[] = [];
  if (flags.json) all.push(new JsonReporter());
  if (!flags.quiet) {
    all.push(process.stderr.isTTY ? new TtyReporter(process.stderr, flags.files === true) : new PlainReporter(process.stderr, PLAIN_REFRESH_MS));
  }
  return new Reporters(all);
}

export async function runSession(
  meta: Metainfo,
  options: SessionOptions,
  flags: RunFlags,
  stream: StreamRange | null = null,
): Promise<SessionStats> {
  const session = new TorrentSession(options);
  const reporter = pickReporters(flags);
  let interrupted: 'SIGINT' | 'SIGTERM' | null = null;
  let readerGone = false;
  const streamer = stream
    ? new StreamOut(session, stream, process.stdout, () => {
        readerGone = true;
        void session.stop();
      })
    : null;
  const onSignal = (sig: 'SIGINT' | 'SIGTERM'): void => {
    if (interrupted) return;
    interrupted = sig;
    void session.stop();
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);

  const pathOf = (i: number): string => meta.files[i]!.path.join('/');
  const files: FileView[] = meta.files
    .map((f, i) => ({ f, i }))
    .filter(({ f }) => !f.pad)
    .map(({ f, i }) => ({ path: pathOf(i), length: f.length, selected: session.isFileSelected(i) }));
  const fileProgress = (): { path: string; length: number; done: number }[] =>
    session
      .fileProgress()
      .filter((p) => session.isFileSelected(p.fileIndex))
      .map((p) => ({ path: pathOf(p.fileIndex), length: p.length, done: p.done }));

  const events = (async () => {
    for await (const e of session.events) {
      if (e.type === 'warning') reporter.warning(e.message);
      else if (e.type === 'piece') streamer?.kick();
      else if (e.type === 'file-done') reporter.fileDone(pathOf(e.fileIndex));
      else if (e.type === 'state' && e.state === 'failed') streamer?.abort();
      else if (e.type === 'state' && e.state === 'stopped') {
        // Done: stream what is left, then storage may close. Interrupted: stop streaming now.
        if (interrupted || readerGone) streamer?.abort();
        else void streamer?.finish().catch(() => streamer.abort());
      }
      else if (e.type === 'state' && e.state === 'seeding') {
        const s = session.stats();
        reporter.note(
          s.verifiedPieces === s.wantedPieces
            ? `seeding ${meta.name} on port ${session.port} (Ctrl-C to stop)`
            : `seeding ${s.verifiedPieces} of ${s.wantedPieces} pieces of ${meta.name} on port ${session.port}: the data is incomplete`,
        );
      }
    }
  })();
  const started = Date.now();
  let ticker: NodeJS.Timeout | null = null;
  try {
    reporter.start(meta, files, join(options.outputDir, meta.name));
    await session.start();
    streamer?.kick(); // pieces already on disk
    ticker = setInterval(() => reporter.progress(session.stats(), fileProgress()), TTY_REFRESH_MS);
    const end = await session.finished;
    await events;
    clearInterval(ticker);
    if (end.kind === 'failed') throw end.error;
    if (interrupted) throw new InterruptedError(interrupted);
    await streamer?.finish();
    const s = session.stats();
    if (readerGone) return s; // the reader closed the pipe: a quiet, successful end
    reporter.progress(s, fileProgress());
    reporter.done(s, Date.now() - started);
    await reporter.stop();
    if (!flags.quiet) {
      const secs = (Date.now() - started) / 1000;
      process.stderr.write(
        `done: ${meta.name} (${formatBytes(s.wantedBytes)}) in ${secs.toFixed(1)} s, ` +
          `${formatBytes(s.downloaded)} down at ${formatBytes(s.downloaded / Math.max(secs, 0.001))}/s, ${formatBytes(s.uploaded)} up\n`,
      );
    }
    return s;
  } catch (e) {
    reporter.error(e instanceof TorrentError ? e : new RuntimeError('ERR_INTERNAL', e instanceof Error ? e.message : String(e)));
    throw e;
  } finally {
    if (ticker) clearInterval(ticker);
    await reporter.stop();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
