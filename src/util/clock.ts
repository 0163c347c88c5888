/**
 * Time as the engine sees it: `now()` in milliseconds and one-shot timers. Injected everywhere
 * time matters (sessions, peers, uTP, discovery) so tests run hours of protocol on a fake clock
 * (test/helpers/fake-clock.ts) in milliseconds. Module scope holds no clock: the real one is
 * built by `systemClock()` at the edge.
 */

export interface TimerHandle {
  /** Cancels the timer; calling it twice, or after it fired, does nothing. */
  cancel(): void;
}

export interface Clock {
  now(): number;
  /** Calls `fn` once after `ms` milliseconds (never synchronously). */
  setTimeout(fn: () => void, ms: number): TimerHandle;
}

/** Repeats `fn` every `ms` until the returned handle is cancelled. */
export function every(clock: Clock, ms: number, fn: () => void): TimerHandle {
  let current: TimerHandle | null = null;
  let stopped = false;
  const arm = (): void => {
    current = clock.setTimeout(() => {
      if (stopped) return;
      arm();
      fn();
    }, ms);
  };
  arm();
  return {
    cancel(): void {
      stopped = true;
      current?.cancel();
    },
  };
}

/** Wall-clock time and Node's timers. Timers are unref'd: a pending timer never keeps a process alive. */
export function systemClock(): Clock {
  return {
    now: () => Date.now(),
    setTimeout(fn, ms) {
      const t = setTimeout(fn, ms);
      t.unref();
      return { cancel: () => clearTimeout(t) };
    },
  };
}
