import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Announcer, type AnnouncerOptions, type TrackerWarning } from '../../src/tracker/announcer.js';
import { TrackerError } from '../../src/tracker/tracker-error.js';
import type { AnnounceRequest, AnnounceResponse, Tracker, TrackerCallOptions } from '../../src/tracker/types.js';

type Behaviour = (req: AnnounceRequest, opts: TrackerCallOptions) => Promise<AnnounceResponse>;

/** A scripted tracker: records each request and answers with `behaviour`. */
class FakeTracker implements Tracker {
  calls: AnnounceRequest[] = [];
  closed = false;
  constructor(
    readonly url: string,
    public behaviour: Behaviour,
  ) {}
  announce(req: AnnounceRequest, opts: TrackerCallOptions = {}): Promise<AnnounceResponse> {
    this.calls.push(req);
    return this.behaviour(req, opts);
  }
  scrape(): Promise<never> {
    return Promise.reject(new TrackerError('unsupported', 'no scrape'));
  }
  close(): void {
    this.closed = true;
  }
  get events(): (string | undefined)[] {
    return this.calls.map((c) => c.event);
  }
}

const ok =
  (interval = 1800, extra: Partial<AnnounceResponse> = {}): Behaviour =>
  () =>
    Promise.resolve({ peers: [{ ip: '10.0.0.1', port: 1 }], interval, ...extra });
const fail: Behaviour = () => Promise.reject(new TrackerError('network', 'connection refused'));
/** Never answers until aborted, like a black-holed tracker honouring its signal/deadline. */
const hang: Behaviour = (_req, opts) =>
  new Promise((_resolve, reject) => {
    const t = opts.deadlineMs === undefined ? undefined : setTimeout(() => reject(new TrackerError('timeout', 'timeout')), opts.deadlineMs);
    opts.signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new TrackerError('aborted', 'aborted'));
    });
  });

interface Harness {
  announcer: Announcer;
  trackers: Map<string, FakeTracker>;
  peers: [string, number][];
  warnings: TrackerWarning[];
  stats: { uploaded: number; downloaded: number; left: number };
}

function harness(tiers: string[][], behaviours: Record<string, Behaviour>, over: Partial<AnnouncerOptions> = {}): Harness {
  const trackers = new Map<string, FakeTracker>();
  const peers: [string, number][] = [];
  const warnings: TrackerWarning[] = [];
  const stats = { uploaded: 0, downloaded: 0, left: 1000 };
  const announcer = new Announcer({
    tiers,
    infoHash: Buffer.alloc(20, 1),
    peerId: Buffer.alloc(20, 2),
    port: 6881,
    key: 42,
    stats: () => ({ ...stats }),
    onPeers: (p, source) => peers.push([source, p.length]),
    onWarning: (w) => warnings.push(w),
    random: () => 0.999, // no shuffling: tiers stay as written
    createTracker: (url) => {
      const b = behaviours[url];
      if (b === undefined) throw new TrackerError('unsupported', `unsupported ${url}`);
      const t = new FakeTracker(url, b);
      trackers.set(url, t);
      return t;
    },
    ...over,
  });
  return { announcer, trackers, peers, warnings, stats };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Announcer', () => {
  it('sends started first, delivers peers with their source, re-announces after interval', async () => {
    const h = harness([['http://a/announce']], { 'http://a/announce': ok(600) });
    h.announcer.start();
    await vi.advanceTimersByTimeAsync(0);
    const a = h.trackers.get('http://a/announce')!;
    expect(a.events).toEqual(['started']);
    expect(h.peers).toEqual([['http://a/announce', 1]]);
    h.stats.downloaded = 500;
    h.stats.left = 500;
    await vi.advanceTimersByTimeAsync(599_000);
    expect(a.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(a.events).toEqual(['started', undefined]);
    // Figures are read when the announce is sent.
    expect(a.calls[1]).toMatchObject({ downloaded: 500, left: 500, key: 42, port: 6881 });
    await h.announcer.stop();
    expect(h.warnings).toEqual([]);
  });

  it('tries the tier in order, warns about the failed tracker, promotes the one that answered', async () => {
    const h = harness([['http://a/announce', 'http://b/announce'], ['http://c/announce']], {
      'http://a/announce': fail,
      'http://b/announce': ok(),
      'http://c/announce': ok(),
    });
    h.announcer.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.trackers.get('http://a/announce')!.events).toEqual(['started']);
    expect(h.trackers.get('http://b/announce')!.events).toEqual(['started']);
    expect(h.trackers.has('http://c/announce')).toBe(false);
    expect(h.warnings.map((w) => [w.url, w.error?.kind])).toEqual([['http://a/announce', 'network']]);
    expect(h.announcer.tierOrder).toEqual([['http://b/announce', 'http://a/announce'], ['http://c/announce']]);
    await h.announcer.stop();
  });

  it('falls through to the next tier, then backs off when nobody answers', async () => {
    const h = harness([['http://a/announce'], ['http://b/announce']], {
      'http://a/announce': fail,
      'http://b/announce': fail,
    });
    h.announcer.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.trackers.get('http://b/announce')!.events).toEqual(['started']);
    expect(h.warnings.at(-1)?.message).toMatch(/no tracker answered; retrying in 30 s/);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(h.trackers.get('http://a/announce')!.calls).toHaveLength(2);
    expect(h.warnings.at(-1)?.message).toMatch(/retrying in 60 s/);
    // Once it answers, started goes out again (it never accepted the first one).
    h.trackers.get('http://a/announce')!.behaviour = ok();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.trackers.get('http://a/announce')!.events).toEqual(['started', 'started', 'started']);
    await h.announcer.stop();
  });

  it('sends completed at once, then plain announces', async () => {
    const h = harness([['http://a/announce']], { 'http://a/announce': ok(600) });
    h.announcer.start();
    await vi.advanceTimersByTimeAsync(0);
    h.stats.left = 0;
    h.announcer.completed();
    await vi.advanceTimersByTimeAsync(0);
    const a = h.trackers.get('http://a/announce')!;
    expect(a.events).toEqual(['started', 'completed']);
    expect(a.calls[1]!.left).toBe(0);
    await vi.advanceTimersByTimeAsync(600_000);
    expect(a.events).toEqual(['started', 'completed', undefined]);
    await h.announcer.stop();
  });

  it('completed called during the first announce follows right after started', async () => {
    let release!: () => void;
    const h = harness([['http://a/announce']], {
      'http://a/announce': (req) =>
        req.event === 'started' ? new Promise((r) => (release = () => r({ peers: [], interval: 600 }))) : ok()(req, {}),
    });
    h.announcer.start();
    await vi.advanceTimersByTimeAsync(0);
    h.announcer.completed();
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.trackers.get('http://a/announce')!.events).toEqual(['started', 'completed']);
    await h.announcer.stop();
  });

  it('stop sends stopped to every tracker that accepted started and closes them', async () => {
    const h = harness([['http://a/announce'], ['http://b/announce']], {
      'http://a/announce': ok(60),
      'http://b/announce': ok(60),
    });
    h.announcer.start();
    await vi.advanceTimersByTimeAsync(0);
    // a goes down; b takes over and gets its own started.
    h.trackers.get('http://a/announce')!.behaviour = (req) => (req.event === 'stopped' ? ok()(req, {}) : fail(req, {}));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.trackers.get('http://b/announce')!.events).toEqual(['started']);
    await h.announcer.stop();
    expect(h.trackers.get('http://a/announce')!.events.at(-1)).toBe('stopped');
    expect(h.trackers.get('http://b/announce')!.events.at(-1)).toBe('stopped');
    expect(h.trackers.get('http://a/announce')!.calls.at(-1)!.numwant).toBe(0);
    expect([...h.trackers.values()].every((t) => t.closed)).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stop never takes longer than the stop budget, even with a hung announce in flight', async () => {
    const h = harness([['http://a/announce']], { 'http://a/announce': ok(60) });
    h.announcer.start();
    await vi.advanceTimersByTimeAsync(0);
    h.trackers.get('http://a/announce')!.behaviour = hang;
    await vi.advanceTimersByTimeAsync(60_000); // a regular announce is now hanging
    let done = false;
    const stopping = h.announcer.stop().then(() => (done = true));
    await vi.advanceTimersByTimeAsync(1_999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await stopping;
    expect(h.trackers.get('http://a/announce')!.events).toEqual(['started', undefined, 'stopped']);
    expect(h.warnings.map((w) => w.message)).toEqual([expect.stringMatching(/stopped announce failed/)]);
    expect(vi.getTimerCount()).toBe(0);
    // Idempotent, and nothing restarts.
    await h.announcer.stop();
    h.announcer.completed();
    h.announcer.reannounce();
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(h.trackers.get('http://a/announce')!.calls).toHaveLength(3);
  });

  it('clamps tiny intervals and honours min interval on reannounce', async () => {
    const h = harness([['http://a/announce']], { 'http://a/announce': ok(1, { minInterval: 120 }) });
    h.announcer.start();
    await vi.advanceTimersByTimeAsync(0);
    const a = h.trackers.get('http://a/announce')!;
    h.announcer.reannounce();
    await vi.advanceTimersByTimeAsync(119_000);
    expect(a.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(a.calls).toHaveLength(2);
    await h.announcer.stop();
  });

  it('a regular interval below the floor is raised to 60 s', async () => {
    const h = harness([['http://a/announce']], { 'http://a/announce': ok(1) });
    h.announcer.start();
    await vi.advanceTimersByTimeAsync(59_999);
    expect(h.trackers.get('http://a/announce')!.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.trackers.get('http://a/announce')!.calls).toHaveLength(2);
    await h.announcer.stop();
  });

  it('skips unusable URLs with one warning, and survives callbacks that throw', async () => {
    const h = harness(
      [['wss://x/announce', 'http://a/announce']],
      { 'http://a/announce': ok(60, { warning: 'slow down' }) },
      {
        onPeers: () => {
          throw new Error('consumer bug');
        },
      },
    );
    h.announcer.start();
    await vi.advanceTimersByTimeAsync(60_000);
    const messages = h.warnings.map((w) => w.message);
    expect(messages.filter((m) => m.startsWith('tracker skipped'))).toHaveLength(1);
    expect(messages).toContain('tracker warning: slow down');
    expect(messages).toContain('callback threw: consumer bug');
    expect(h.trackers.get('http://a/announce')!.calls).toHaveLength(2);
    await h.announcer.stop();
  });
});
