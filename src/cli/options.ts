/**
 * Option values shared by several commands, checked when commander parses the command line.
 *
 * Owns: the argParsers handed to `Option.argParser` / `.option(flags, text, parser, default)`.
 * Invariant: a parser is pure (no I/O, no clock) and either returns the value or throws
 * commander's `InvalidArgumentError` whose message is only the reason ("expected ..."); main.ts
 * turns it into `torrent: <flag> <value>: <reason>` and exit 2. So a bad value stops the command
 * before any side effect (no DHT started, no metadata fetched, no file opened).
 *
 * `intOption` and `rateOption` are the same checks called after parsing, throwing UsageError; they
 * stay for commands that have not moved to parse-time checks yet.
 */
import { InvalidArgumentError } from 'commander';
import { UsageError } from '../errors.js';
import { parsePeerAddress } from '../metainfo/index.js';

/** Smallest rate accepted: below one block (16 KiB) every few seconds a peer would time us out. */
export const MIN_RATE_BYTES = 1024;
/** Binary multiples a rate may carry. */
const RATE_UNITS = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as const;

/** The reason a whole-number value is refused, or null when it is fine. */
function intProblem(value: string, min: number, max: number): { n: number; why: string | null } {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  const ok = Number.isSafeInteger(n) && n >= min && n <= max;
  return { n, why: ok ? null : `expected a whole number from ${min} to ${max}` };
}

/** Bytes a second from "500000", "500K", "10M", "1G" (binary multiples), or NaN. */
function parseRate(value: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)(?:i?B?)?$/i.exec(value.trim());
  const mult = RATE_UNITS[(m?.[2] ?? '').toUpperCase() as keyof typeof RATE_UNITS];
  const n = m ? Math.floor(Number(m[1]) * mult) : NaN;
  return Number.isSafeInteger(n) && n >= MIN_RATE_BYTES ? n : NaN;
}
const RATE_WHY = 'expected a rate of at least 1K, such as 500K or 10M';

/** argParser: a whole number within [min, max]. */
export function intArg(min: number, max: number): (value: string) => number {
  return (value) => {
    const { n, why } = intProblem(value, min, max);
    if (why) throw new InvalidArgumentError(why);
    return n;
  };
}

/** argParser: a rate in bytes a second ("500K", "10M"), at least MIN_RATE_BYTES. */
export function rateArg(value: string): number {
  const n = parseRate(value);
  if (Number.isNaN(n)) throw new InvalidArgumentError(RATE_WHY);
  return n;
}

/** argParser: a ratio (a finite number >= 0, such as 1.5), for --seed-ratio. */
export function ratioArg(value: string): number {
  const n = /^\d+(?:\.\d+)?$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a number of 0 or more, such as 1.5');
  return n;
}

/** argParser for a repeatable `<host:port>` flag: the addresses given so far, parsed. */
export function peerArg(value: string, previous: { host: string; port: number }[] = []): { host: string; port: number }[] {
  const a = parsePeerAddress(value.trim());
  if (!a) throw new InvalidArgumentError('expected host:port, such as 127.0.0.1:6881 or [::1]:6881');
  return [...previous, a];
}

/** argParser factory for a repeatable URL flag limited to `schemes` (e.g. "http:", "udp:"). */
export function urlArg(schemes: readonly string[]): (value: string, previous?: string[]) => string[] {
  return (value, previous = []) => {
    let url: URL | null = null;
    try {
      url = new URL(value);
    } catch {
      throw new InvalidArgumentError('not a URL');
    }
    if (!schemes.includes(url.protocol)) {
      const names = schemes.map((s) => s.replace(/:$/, ''));
      const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names.join('');
      throw new InvalidArgumentError(`expected a URL starting ${list}:`);
    }
    return [...previous, value];
  };
}

/** A whole number within [min, max], or a UsageError naming the flag (checked after parsing). */
export function intOption(name: string, value: string, min: number, max: number): number {
  const { n, why } = intProblem(value, min, max);
  if (why) throw new UsageError(`${name} ${value}: ${why}`);
  return n;
}

/** commander helper for repeatable flags. */
export const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** A rate in bytes a second: "500000", "500K", "10M", "1G" (binary multiples); UsageError if not. */
export function rateOption(name: string, value: string): number {
  const n = parseRate(value);
  if (Number.isNaN(n)) throw new UsageError(`${name} ${value}: ${RATE_WHY}`);
  return n;
}
