/**
 * announceOnce: one announce to every tracker of every tier at the same time, for one-shot
 * commands (`torrent peers`). Unlike the Announcer it does not stop at the first answer: the
 * caller wants to see each tracker's result. Every tracker is closed before it resolves; it never
 * rejects; each result is either the response or the TrackerError that tracker ended with.
 */
import { createTracker as defaultCreateTracker, type CreateTrackerOptions } from './create-tracker.js';
import { toTrackerError, type TrackerError } from './tracker-error.js';
import type { AnnounceRequest, AnnounceResponse, Tracker } from './types.js';

/** Default budget for the whole call: a UDP tracker gets its first retransmission within it. */
export const ANNOUNCE_ONCE_DEADLINE_MS = 20_000;

export type AnnounceOnceResult =
  | { url: string; tier: number; ok: true; response: AnnounceResponse }
  | { url: string; tier: number; ok: false; error: TrackerError };

export interface AnnounceOnceOptions {
  deadlineMs?: number;
  signal?: AbortSignal;
  createTracker?: (url: string) => Tracker;
  trackerOptions?: CreateTrackerOptions;
}

/** Results in tier order, each URL once (first occurrence). */
export async function announceOnce(
  tiers: readonly (readonly string[])[],
  req: AnnounceRequest,
  opts: AnnounceOnceOptions = {},
): Promise<AnnounceOnceResult[]> {
  const seen = new Set<string>();
  const targets: { url: string; tier: number }[] = [];
  tiers.forEach((tier, i) => {
    for (const url of tier) {
      if (url.length > 0 && !seen.has(url)) {
        seen.add(url);
        targets.push({ url, tier: i });
      }
    }
  });
  const create = opts.createTracker ?? ((u: string) => defaultCreateTracker(u, opts.trackerOptions));
  const deadlineMs = opts.deadlineMs ?? ANNOUNCE_ONCE_DEADLINE_MS;
  return Promise.all(
    targets.map(async ({ url, tier }): Promise<AnnounceOnceResult> => {
      let tracker: Tracker | undefined;
      try {
        tracker = create(url);
        const callOpts = opts.signal === undefined ? { deadlineMs } : { deadlineMs, signal: opts.signal };
        const response = await tracker.announce(req, callOpts);
        return { url, tier, ok: true, response };
      } catch (e) {
        return { url, tier, ok: false, error: toTrackerError(e, url) };
      } finally {
        tracker?.close();
      }
    }),
  );
}
