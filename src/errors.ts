/**
 * Typed errors. Every failure a user can cause or meet is a TorrentError with a stable `code`, an
 * optional `hint` and the process exit code it maps to; the CLI edge (cli/main.ts) prints
 * `torrent: <message>` and exits with `exitCode`. Anything else that escapes is a bug (exit 1,
 * stack trace printed).
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad input, 130/143 interrupted.
 */

export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_INPUT = 2;

export type ErrorCode =
  | 'ERR_USAGE'
  | 'ERR_READ'
  | 'ERR_BENCODE'
  | 'ERR_BAD_TORRENT'
  | 'ERR_BAD_MAGNET'
  | 'ERR_TRACKER'
  | 'ERR_NO_PEERS'
  | 'ERR_TIMEOUT'
  | 'ERR_PROTOCOL'
  | 'ERR_DISK'
  | 'ERR_INCOMPLETE'
  | 'ERR_INTERRUPTED'
  | 'ERR_INTERNAL';

export interface ErrorOptions {
  hint?: string;
  cause?: unknown;
}

export class TorrentError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, exitCode: number, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.hint = options.hint;
  }
}

/** The command line itself is wrong (unknown flag, bad option value). Exit 2. */
export class UsageError extends TorrentError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_USAGE', message, EXIT_INPUT, options);
  }
}

/** The user's input (a file, a URI, stdin) is unreadable or malformed. Exit 2. */
export class InputError extends TorrentError {
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, EXIT_INPUT, options);
  }
}

/** Malformed bencode. `offset` is the byte where decoding stopped. */
export class BencodeError extends InputError {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super('ERR_BENCODE', `invalid bencoding at byte ${offset}: ${message}`);
    this.offset = offset;
  }
}

/** A .torrent that decodes but is not a valid torrent. */
export class MetainfoError extends InputError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_BAD_TORRENT', message, options);
  }
}

/** A magnet URI we cannot use. */
export class MagnetError extends InputError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_BAD_MAGNET', message, options);
  }
}

/** Something failed while running: network, disk, no peers. Exit 1. */
export class RuntimeError extends TorrentError {
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, EXIT_RUNTIME, options);
  }
}

/** A peer or tracker broke the protocol. Never reaches the CLI on its own: the peer is dropped. */
export class ProtocolError extends RuntimeError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_PROTOCOL', message, options);
  }
}

/** The user stopped us (SIGINT 130, SIGTERM 143), after a graceful shutdown. */
export class InterruptedError extends TorrentError {
  constructor(signal: 'SIGINT' | 'SIGTERM') {
    super('ERR_INTERRUPTED', `interrupted by ${signal}`, signal === 'SIGINT' ? 130 : 143);
  }
}

/**
 * A bug of ours: a broken invariant, an illegal state transition, an exception a handler threw.
 * The CLI edge always prints its stack with a request to report it. Exit 1.
 */
export class InternalError extends TorrentError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INTERNAL', message, EXIT_RUNTIME, options);
  }
}

/** Anything thrown where it should not be, as an InternalError (kept as is if it already is a TorrentError). */
export function asTorrentError(e: unknown): TorrentError {
  if (e instanceof TorrentError) return e;
  return new InternalError(e instanceof Error ? e.message : String(e), { cause: e });
}

export function isTorrentError(e: unknown): e is TorrentError {
  return e instanceof TorrentError;
}

/**
 * An error the system raised (ENOSPC, EIO, EACCES...): its `code` is an errno name. Node's own
 * ERR_* codes (a bad argument, a value out of range) are bugs of the caller, not the disk's or
 * the network's, and do not count.
 */
export function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && /^E[A-Z0-9]+$/.test(String((e as NodeJS.ErrnoException).code));
}
