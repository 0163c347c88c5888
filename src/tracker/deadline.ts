/**
 * One AbortController per tracker operation that fires on the first of: the caller's signal, the
 * operation's deadline, or the tracker being closed. Its `reason` is always a TrackerError, so
 * whoever sees the abort can rethrow the reason as is.
 *
 * Invariant: dispose() removes the timer and the listener on the caller's signal; every
 * OperationScope is disposed in a `finally`, so nothing outlives the operation.
 */
import { TrackerError } from './tracker-error.js';

export class OperationScope {
  private readonly controller = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onCallerAbort: (() => void) | undefined;
  /** Absolute time (Date.now() clock) after which the operation is over; Infinity if none. */
  readonly deadlineAt: number;

  constructor(
    private readonly callerSignal: AbortSignal | undefined,
    timeoutMs: number | undefined,
  ) {
    this.deadlineAt = timeoutMs === undefined ? Infinity : Date.now() + Math.max(0, timeoutMs);
    if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
      this.timer = setTimeout(() => {
        this.abort(new TrackerError('timeout', `no reply within ${timeoutMs} ms`));
      }, Math.max(0, timeoutMs));
    }
    if (callerSignal !== undefined) {
      if (callerSignal.aborted) this.abort(new TrackerError('aborted', 'aborted'));
      else {
        this.onCallerAbort = () => this.abort(new TrackerError('aborted', 'aborted'));
        callerSignal.addEventListener('abort', this.onCallerAbort, { once: true });
      }
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The TrackerError that ended the operation, or undefined while it runs. */
  get reason(): TrackerError | undefined {
    return this.controller.signal.aborted ? (this.controller.signal.reason as TrackerError) : undefined;
  }

  remainingMs(): number {
    return this.deadlineAt - Date.now();
  }

  abort(reason: TrackerError): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** Throws the abort reason if the operation is over. */
  check(): void {
    const r = this.reason;
    if (r !== undefined) throw r;
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.onCallerAbort !== undefined) this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
  }
}

/** The smaller of two optional timeouts. */
export function minTimeout(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
