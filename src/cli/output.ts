/**
 * stdout as the CLI writes data to it: writes that respect backpressure, and a reader that goes
 * away (`torrent info x | head`, EPIPE) ends the run quietly instead of crashing it.
 *
 * Owns, per output stream, one 'error' listener and whether the reader has gone. Invariants:
 * - A stream that was guarded (guardOutput, or any writeOut) never emits an unhandled 'error':
 *   EPIPE and writes after the stream was destroyed mark the reader gone; any other error (a
 *   full disk behind `> file`) is kept and fails the next writeOut with a typed ERR_DISK.
 * - Once the reader is gone every writeOut resolves at once without writing, and each
 *   onReaderGone callback has been called exactly once, so a long run (download --json) can stop
 *   gracefully and exit 0 while a one-shot command (info, verify, magnet) simply finishes.
 *
 * The state lives in a WeakMap keyed by the stream object, the one thing it describes, so nothing
 * here outlives the stream and tests can guard a stream of their own.
 */
import { RuntimeError } from '../errors.js';

/** Error codes that mean "nobody reads this any more", not "the write failed". */
const READER_GONE_CODES: ReadonlySet<string> = new Set(['EPIPE', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

interface OutputState {
  gone: boolean;
  failure: Error | null;
  listeners: Set<() => void>;
}

const states = new WeakMap<NodeJS.WritableStream, OutputState>();

/**
 * Installs the stream's error handling (idempotent). cli/main.ts calls it for process.stdout
 * before commander can print help, so `--help | head` ends quietly as well.
 */
export function guardOutput(stream: NodeJS.WritableStream = process.stdout): void {
  stateOf(stream);
}

/** True once the reader of `stream` has gone (EPIPE or the stream was destroyed). */
export function readerGone(stream: NodeJS.WritableStream = process.stdout): boolean {
  return stateOf(stream).gone;
}

/**
 * Calls `fn` once when the reader of `stream` goes (on a later tick if it already has). Returns
 * a function that cancels the subscription. For long runs: `onReaderGone(() => session.stop())`.
 */
export function onReaderGone(fn: () => void, stream: NodeJS.WritableStream = process.stdout): () => void {
  const state = stateOf(stream);
  if (state.gone) {
    let cancelled = false;
    queueMicrotask(() => {
      if (!cancelled) fn();
    });
    return () => {
      cancelled = true;
    };
  }
  state.listeners.add(fn);
  return () => state.listeners.delete(fn);
}

/**
 * Writes `text`; resolves once the stream has taken it (backpressure: a slow reader slows the
 * writer) or when the reader has gone (nothing is written then). Rejects only for a real output
 * failure, as a RuntimeError ERR_DISK.
 */
export function writeOut(text: string | Uint8Array, stream: NodeJS.WritableStream = process.stdout): Promise<void> {
  const state = stateOf(stream);
  if (state.failure) return Promise.reject(outputError(state.failure));
  if (state.gone) return Promise.resolve();
  return new Promise((resolve, reject) => {
    // The callback runs once the chunk is handed to the OS, or with the error that stopped it:
    // waiting for it is the backpressure, and it cannot be missed as 'drain' can after an error.
    stream.write(text, (err?: Error | null) => {
      if (!err || isReaderGone(err)) {
        if (err) markGone(state);
        resolve();
      } else {
        state.failure ??= err;
        reject(outputError(err));
      }
    });
  });
}

function stateOf(stream: NodeJS.WritableStream): OutputState {
  let state = states.get(stream);
  if (!state) {
    const created: OutputState = { gone: false, failure: null, listeners: new Set() };
    states.set(stream, created);
    stream.on('error', (err: Error) => {
      if (isReaderGone(err)) markGone(created);
      else created.failure ??= err;
    });
    state = created;
  }
  return state;
}

function markGone(state: OutputState): void {
  if (state.gone) return;
  state.gone = true;
  const listeners = [...state.listeners];
  state.listeners.clear();
  for (const fn of listeners) fn();
}

function isReaderGone(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code !== undefined && READER_GONE_CODES.has(code);
}

function outputError(err: Error): RuntimeError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOSPC' ? 'no space left on device' : err.message;
  return new RuntimeError('ERR_DISK', `cannot write to standard output: ${why}`, { cause: err });
}
