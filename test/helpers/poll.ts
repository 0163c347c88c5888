/**
 * The one poll-until loop of the tests, for conditions no event announces (a file on disk, a
 * counter in another object, a tmux screen). Bounded: it rejects after `timeoutMs`, naming what it
 * waited for and, if given, what it saw last. Polling is for waiting on a positive; a negative is
 * asserted after the event that proves it, never after a poll gave up.
 */

/** How often a condition is checked unless a caller says otherwise: cheap, and fast enough. */
export const DEFAULT_POLL_INTERVAL_MS = 50;

export interface PollOptions {
  timeoutMs: number;
  /** What is being waited for, for the error message. */
  what: string;
  intervalMs?: number;
  /** Extra text for the error message (last screen, a process's output). */
  detail?: () => string;
}

/**
 * Resolves with the first truthy value `check` returns (awaited), polling every intervalMs;
 * rejects once timeoutMs have passed without one. A `check` that throws rejects at once.
 */
export async function pollUntil<T>(check: () => T | Promise<T>, opts: PollOptions): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as Exclude<T, false | null | undefined | 0 | ''>;
    if (Date.now() > deadline) {
      const more = opts.detail ? `:\n${opts.detail()}` : '';
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${more}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? DEFAULT_POLL_INTERVAL_MS));
  }
}
