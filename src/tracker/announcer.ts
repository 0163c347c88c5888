/**
 * Announcer: keeps one torrent announced to its trackers for the life of a session (BEP 3 events,
 * BEP 12 tiers). No CLI knowledge; the session owns it.
 *
 * Owns: the announce schedule, which trackers have been told `started`, and whether `completed`
 * is still owed. Invariants:
 * - at most one announce round runs at a time; a round tries tiers in order and, within a tier,
 *   trackers in order until one answers, then stops (BEP 12); the tracker that answered moves to
 *   the front of its tier;
 * - a tracker's first announce carries `started`; `completed` goes out once, as soon as
 *   completed() is called (or right after the `started` of a tracker that takes over);
 *   `stopped` goes to every tracker that accepted `started`, concurrently, and stop() resolves
 *   within stopTimeoutMs whatever the trackers do;
 * - the next regular announce is after the tracker's interval, clamped to
 *   [MIN_ANNOUNCE_INTERVAL_S, MAX_ANNOUNCE_INTERVAL_S]; reannounce() never goes below
 *   `min interval`; when no tracker answers, retries back off from RETRY_BASE_S to RETRY_MAX_S;
 * - figures (uploaded, downloaded, left) are read from the stats callback at send time;
 * - nothing throws out of it: tracker failures, tracker warnings and exceptions thrown by the
 *   caller's callbacks all go to onWarning; after stop() no timer is left and every tracker
 *   socket is closed.
 */
import { createTracker as defaultCreateTracker, type CreateTrackerOptions } from './create-tracker.js';
import { TrackerTiers, type RandomSource } from './tiers.js';
import { isTrackerError, toTrackerError, type TrackerError } from './tracker-error.js';
import type { AnnounceEvent, AnnounceRequest, AnnounceResponse, PeerAddress, Tracker } from './types.js';

/** A tracker asking for shorter intervals would have us hammer it; libtorrent also floors them. */
export const MIN_ANNOUNCE_INTERVAL_S = 60;
/** A tracker asking for longer would leave us without fresh peers (and itself without our stats). */
export const MAX_ANNOUNCE_INTERVAL_S = 6 * 3600;
/** First retry after a round in which no tracker answered; doubles per failed round. */
export const RETRY_BASE_S = 30;
export const RETRY_MAX_S = 30 * 60;
/** Per tracker, per regular announce: libtorrent's tracker_completion_timeout. */
export const ANNOUNCE_TIMEOUT_MS = 30_000;
/** `stopped` is a courtesy: it must never hold up exit noticeably. */
export const STOP_TIMEOUT_MS = 2_000;

export interface TransferStats {
  uploaded: number | bigint;
  downloaded: number | bigint;
  left: number | bigint;
}

export interface TrackerWarning {
  /** The tracker concerned; undefined for a round-level warning ("no tracker answered"). */
  url: string | undefined;
  message: string;
  /** Present when the warning is a failed operation. */
  error?: TrackerError;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface AnnounceOutcome {
  url: string;
  event: AnnounceEvent | undefined;
  response: AnnounceResponse;
}

export interface AnnouncerOptions {
  /** announce-list tiers (BEP 12); a lone `announce` URL is one tier of one. */
  tiers: readonly (readonly string[])[];
  infoHash: Buffer;
  peerId: Buffer;
  port: number;
  /** Random u32 chosen once per session (BEP 3 `key`). */
  key: number;
  numwant?: number;
  stats: () => TransferStats;
  onPeers: (peers: PeerAddress[], source: string) => void;
  onWarning?: (warning: TrackerWarning) => void;
  /** Every successful announce, for status display and tests. */
  onAnnounce?: (outcome: AnnounceOutcome) => void;
  random?: RandomSource;
  timers?: Timers;
  now?: () => number;
  createTracker?: (url: string) => Tracker;
  trackerOptions?: CreateTrackerOptions;
  announceTimeoutMs?: number;
  stopTimeoutMs?: number;
}

type Phase = 'idle' | 'running' | 'stopping' | 'stopped';

// Looked up at call time, so test fake timers installed later still apply.
const GLOBAL_TIMERS: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

export class Announcer {
  private readonly tiers: TrackerTiers;
  private readonly timers: Timers;
  private readonly now: () => number;
  private readonly warnCb: (w: TrackerWarning) => void;
  private readonly trackers = new Map<string, Tracker | null>();
  private readonly started = new Set<string>();
  private phase: Phase = 'idle';
  private timer: unknown = undefined;
  private timerAt = Infinity;
  private round: Promise<void> | undefined;
  private roundAbort: AbortController | undefined;
  private again = false;
  private completedOwed = false;
  private lastAnnounceAt = -Infinity;
  private minIntervalMs = 0;
  private failedRounds = 0;
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: AnnouncerOptions) {
    this.tiers = new TrackerTiers(opts.tiers, opts.random ?? Math.random);
    this.timers = opts.timers ?? GLOBAL_TIMERS;
    this.now = opts.now ?? Date.now;
    this.warnCb = opts.onWarning ?? (() => {});
  }

  /** Current tier order (after shuffling and promotions). */
  get tierOrder(): string[][] {
    return this.tiers.tiers;
  }

  /** Sends `started` to the first tracker that answers, then keeps announcing. */
  start(): void {
    if (this.phase !== 'idle') return;
    this.phase = 'running';
    this.kick();
  }

  /** The download has just completed: tell the tracker now. */
  completed(): void {
    if (this.phase === 'stopping' || this.phase === 'stopped') return;
    this.completedOwed = true;
    if (this.phase === 'running') this.kick();
  }

  /** Ask for peers sooner than the interval, as soon as `min interval` allows. */
  reannounce(): void {
    if (this.phase !== 'running') return;
    const earliest = this.lastAnnounceAt + this.minIntervalMs;
    const now = this.now();
    if (now >= earliest) this.kick();
    else if (earliest < this.timerAt) this.schedule(earliest - now);
  }

  /** Stops announcing and sends `stopped`; resolves within stopTimeoutMs. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const budgetMs = this.opts.stopTimeoutMs ?? STOP_TIMEOUT_MS;
    const deadline = this.now() + budgetMs;
    this.phase = 'stopping';
    this.clearTimer();
    this.roundAbort?.abort();
    const pendingTimers: unknown[] = [];
    const within = async (p: Promise<unknown>): Promise<void> => {
      const ms = deadline - this.now();
      if (ms <= 0) return;
      let handle: unknown;
      await Promise.race([
        p.catch(() => {}),
        new Promise<void>((resolve) => {
          handle = this.timers.setTimeout(resolve, ms);
          pendingTimers.push(handle);
        }),
      ]);
      this.timers.clearTimeout(handle);
    };
    try {
      if (this.round !== undefined) await within(this.round);
      const stopped = [...this.started].map(async (url) => {
        const tracker = this.trackers.get(url);
        if (!tracker) return;
        const remainingMs = Math.max(0, deadline - this.now());
        try {
          await tracker.announce(this.request('stopped'), { deadlineMs: remainingMs });
        } catch (e) {
          this.warn({ url, message: `stopped announce failed: ${messageOf(e)}`, error: toTrackerError(e, url) });
        }
      });
      await within(Promise.all(stopped));
    } finally {
      for (const h of pendingTimers) this.timers.clearTimeout(h);
      for (const tracker of this.trackers.values()) tracker?.close();
      this.started.clear();
      this.phase = 'stopped';
    }
  }

  private kick(): void {
    this.clearTimer();
    if (this.round !== undefined) {
      this.again = true;
      return;
    }
    this.round = this.announceRound().finally(() => {
      this.round = undefined;
      if (this.phase === 'running' && this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private schedule(delayMs: number): void {
    this.clearTimer();
    if (this.phase !== 'running') return;
    this.timerAt = this.now() + delayMs;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.kick();
    }, delayMs);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private async announceRound(): Promise<void> {
    const abort = new AbortController();
    this.roundAbort = abort;
    try {
      for (const tier of this.tiers.tiers) {
        for (const url of tier) {
          if (this.phase !== 'running') return;
          const tracker = this.trackerFor(url);
          if (tracker === undefined) continue;
          const event: AnnounceEvent | undefined = !this.started.has(url)
            ? 'started'
            : this.completedOwed
              ? 'completed'
              : undefined;
          let response: AnnounceResponse;
          try {
            response = await tracker.announce(this.request(event), {
              signal: abort.signal,
              deadlineMs: this.opts.announceTimeoutMs ?? ANNOUNCE_TIMEOUT_MS,
            });
          } catch (e) {
            if (this.phase !== 'running') return;
            this.warn({ url, message: `announce failed: ${messageOf(e)}`, error: toTrackerError(e, url) });
            continue;
          }
          if (this.phase !== 'running') {
            // stop() began while this reply was on its way: it still counts for `stopped`.
            if (event === 'started') this.started.add(url);
            return;
          }
          this.onSuccess(url, event, response);
          return;
        }
      }
      this.failedRounds++;
      const retryS = Math.min(RETRY_MAX_S, RETRY_BASE_S * 2 ** (this.failedRounds - 1));
      this.warn({ url: undefined, message: `no tracker answered; retrying in ${retryS} s` });
      this.schedule(retryS * 1000);
    } catch (e) {
      // Only a bug can get here; it is reported, not thrown, and announcing carries on.
      this.warn({ url: undefined, message: `announce round failed: ${messageOf(e)}` });
      this.schedule(RETRY_BASE_S * 1000);
    } finally {
      if (this.roundAbort === abort) this.roundAbort = undefined;
    }
  }

  private onSuccess(url: string, event: AnnounceEvent | undefined, response: AnnounceResponse): void {
    if (event === 'started') this.started.add(url);
    if (event === 'completed') this.completedOwed = false;
    // A tracker that just got `started` is still owed `completed`: send it at once.
    if (this.completedOwed) this.again = true;
    this.tiers.promote(url);
    this.failedRounds = 0;
    this.lastAnnounceAt = this.now();
    this.minIntervalMs = (response.minInterval ?? 0) * 1000;
    if (response.warning !== undefined) this.warn({ url, message: `tracker warning: ${response.warning}` });
    this.call(() => this.opts.onAnnounce?.({ url, event, response }));
    if (response.peers.length > 0) this.call(() => this.opts.onPeers(response.peers, url));
    const intervalS = clamp(
      Math.max(response.interval, response.minInterval ?? 0),
      MIN_ANNOUNCE_INTERVAL_S,
      MAX_ANNOUNCE_INTERVAL_S,
    );
    this.schedule(intervalS * 1000);
  }

  private request(event: AnnounceEvent | undefined): AnnounceRequest {
    const stats = this.opts.stats();
    const req: AnnounceRequest = {
      infoHash: this.opts.infoHash,
      peerId: this.opts.peerId,
      port: this.opts.port,
      key: this.opts.key,
      uploaded: stats.uploaded,
      downloaded: stats.downloaded,
      left: stats.left,
    };
    if (event !== undefined) req.event = event;
    if (this.opts.numwant !== undefined) req.numwant = event === 'stopped' ? 0 : this.opts.numwant;
    else if (event === 'stopped') req.numwant = 0;
    return req;
  }

  /** The tracker for a URL, created once; undefined (after one warning) if the URL is unusable. */
  private trackerFor(url: string): Tracker | undefined {
    const known = this.trackers.get(url);
    if (known !== undefined) return known ?? undefined;
    try {
      const create = this.opts.createTracker ?? ((u: string) => defaultCreateTracker(u, this.opts.trackerOptions));
      const tracker = create(url);
      this.trackers.set(url, tracker);
      return tracker;
    } catch (e) {
      this.trackers.set(url, null);
      this.warn({ url, message: `tracker skipped: ${messageOf(e)}`, error: toTrackerError(e, url) });
      return undefined;
    }
  }

  private warn(w: TrackerWarning): void {
    try {
      this.warnCb(w);
    } catch {
      // The warning sink itself failed; there is nowhere left to report it.
    }
  }

  private call(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.warn({ url: undefined, message: `callback threw: ${messageOf(e)}` });
    }
  }
}

function messageOf(e: unknown): string {
  if (isTrackerError(e)) return e.message;
  return e instanceof Error ? e.message : String(e);
}
