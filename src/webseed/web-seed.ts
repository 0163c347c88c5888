/**
 * WebSeed: one HTTP server listed in a torrent's `url-list` (BEP 19) or `httpseeds` (BEP 17),
 * seen by the session as one more kind of peer that has every piece and is never choked. It owns
 * the server's keep-alive connections (at most MAX_CONNECTIONS_PER_SERVER), its redirect memory,
 * its small state machine and its counters; `fetchPieces(first, last, onPiece)` fetches a run of
 * whole pieces and hands each one over as soon as it is complete.
 *
 * States: `idle` (nothing in flight), `fetching` (one or more runs in flight), `backoff` (the
 * last request failed; `retryAt` says when the schedule of retry.ts allows the next), `dead`
 * (given up: a permanent error, MAX_CONSECUTIVE_FAILURES failures in a row, every file missing,
 * or a piece from it failed its hash check; `deadReason` says why). Only `dead` is sticky.
 *
 * Invariants:
 * - it never checks hashes (the session's assembler does) and returns bytes of whole pieces only;
 *   a piece handed over is never handed over again by the same call;
 * - a failed run rejects with one WebSeedError after aborting the run's other requests; pieces
 *   already handed over stay valid for the session to verify; if `onPiece` throws, the run is
 *   aborted and that exception is rethrown unchanged, and the seed's state is not touched;
 * - BEP 19: 404/410 for a file marks that file missing (as libtorrent keeps a per-seed file
 *   bitfield) instead of killing the seed; `covers(first, last)` then says no for runs touching it;
 * - `close()` aborts every request and destroys every socket; nothing outlives it.
 */
import type { Clock } from '../util/clock.js';
import { createSeedAgents, seedGet, type SeedAgents, type SeedGetContext } from './http-get.js';
import { MAX_CONNECTIONS_PER_SERVER, MAX_CONSECUTIVE_FAILURES, MAX_REDIRECTS, REQUEST_TIMEOUT_BASE_MS, STALL_TIMEOUT_MS } from './limits.js';
import type { Metainfo } from '../metainfo/index.js';
import { httpSeedUrl, parseSeedUrl, planRun, webSeedLayout, type WebSeedLayout } from './plan.js';
import { retryDelayMs } from './retry.js';
import { RunAssembler, type PieceSink } from './run-assembler.js';
import { isWebSeedError, WebSeedError } from './webseed-error.js';

export type WebSeedKind = 'url-list' | 'httpseeds';
export type WebSeedState = 'idle' | 'fetching' | 'backoff' | 'dead';

export interface WebSeedOptions {
  readonly url: string;
  readonly kind: WebSeedKind;
  readonly layout: WebSeedLayout;
  /** The v1 info hash: BEP 17 requests name the torrent by it. Required for `httpseeds`. */
  readonly infoHash?: Buffer | null;
  readonly clock: Clock;
  readonly maxConnections?: number;
  readonly stallTimeoutMs?: number;
  readonly requestTimeoutBaseMs?: number;
  readonly maxRedirects?: number;
  readonly userAgent?: string;
  /**
   * Piece buffers come from here (at least `size` bytes; a longer one is cut to size). The
   * session passes its pool, so a web seed reuses warm pages instead of faulting in fresh ones
   * for every piece; the piece handed to onPiece belongs to the caller from then on.
   */
  readonly allocatePiece?: (size: number) => Buffer;
}

export interface WebSeedCounters {
  bytesReceived: number;
  piecesDelivered: number;
  requestsSent: number;
  requestsFailed: number;
  consecutiveFailures: number;
}

const DEFAULT_USER_AGENT = 'torrent/0.1';

export class WebSeed {
  readonly url: string;
  readonly kind: WebSeedKind;
  readonly counters: WebSeedCounters = { bytesReceived: 0, piecesDelivered: 0, requestsSent: 0, requestsFailed: 0, consecutiveFailures: 0 };
  private readonly layout: WebSeedLayout;
  private readonly infoHash: Buffer | null;
  private readonly clock: Clock;
  private readonly allocatePiece: ((size: number) => Buffer) | undefined;
  private readonly agents: SeedAgents;
  private readonly ctx: Omit<SeedGetContext, 'signal'>;
  private readonly missingFiles = new Set<number>();
  /** File URL -> file index (one entry per file at most), to map a 404 back to its file. */
  private readonly urlToFile = new Map<string, number>();
  private readonly running = new Set<AbortController>();
  private inFlight = 0;
  private retryAtMs: number | null = null;
  private dead: WebSeedError | null = null;

  constructor(opts: WebSeedOptions) {
    this.url = opts.url;
    this.kind = opts.kind;
    this.layout = opts.layout;
    this.infoHash = opts.infoHash ?? null;
    this.clock = opts.clock;
    this.allocatePiece = opts.allocatePiece;
    if (parseSeedUrl(opts.url) === null) throw new RangeError(`not an http(s) web seed URL: ${opts.url}`);
    if (opts.kind === 'httpseeds' && (this.infoHash === null || this.infoHash.length !== 20)) {
      throw new RangeError('a BEP 17 http seed needs the torrent\'s 20-byte v1 info hash');
    }
    this.agents = createSeedAgents(opts.maxConnections ?? MAX_CONNECTIONS_PER_SERVER);
    this.ctx = {
      agents: this.agents,
      clock: opts.clock,
      stallTimeoutMs: opts.stallTimeoutMs ?? STALL_TIMEOUT_MS,
      requestTimeoutBaseMs: opts.requestTimeoutBaseMs ?? REQUEST_TIMEOUT_BASE_MS,
      maxRedirects: opts.maxRedirects ?? MAX_REDIRECTS,
      userAgent: opts.userAgent ?? DEFAULT_USER_AGENT,
      redirects: new Map(),
    };
  }

  get state(): WebSeedState {
    if (this.dead !== null) return 'dead';
    if (this.inFlight > 0) return 'fetching';
    if (this.retryAtMs !== null && this.clock.now() < this.retryAtMs) return 'backoff';
    return 'idle';
  }

  /** When the back-off after the last failure ends (clock ms), or null when not backing off. */
  get retryAt(): number | null {
    return this.state === 'backoff' ? this.retryAtMs : null;
  }

  get deadReason(): WebSeedError | null {
    return this.dead;
  }

  /** False when the run touches a file this server said it does not have (BEP 19), or the seed is dead. */
  covers(first: number, last: number): boolean {
    if (this.dead !== null) return false;
    if (this.missingFiles.size === 0 || this.kind === 'httpseeds') return true;
    const { map } = this.layout;
    const offset = first * map.pieceLength;
    const length = last * map.pieceLength + map.pieceSize(last) - offset;
    return map.spans(offset, length).every((s) => !this.missingFiles.has(s.fileIndex));
  }

  /**
   * Fetches pieces [first, last] and calls `onPiece(index, bytes)` for each as it completes.
   * Resolves when all are delivered; rejects with a WebSeedError (after updating state and
   * counters) otherwise. `signal` aborts the run (kind `aborted`, which counts as no failure).
   */
  async fetchPieces(first: number, last: number, onPiece: PieceSink, signal?: AbortSignal): Promise<void> {
    if (this.dead !== null) throw this.dead;
    const { map } = this.layout;
    const assembler = new RunAssembler(first, last, map.pieceLength, (p) => map.pieceSize(p), (p, data) => {
      this.counters.piecesDelivered++;
      onPiece(p, data);
    }, this.allocatePiece);
    const jobs = this.kind === 'url-list' ? this.urlListJobs(first, last, assembler) : this.httpSeedJobs(first, last);
    const run = new AbortController();
    const onOuterAbort = (): void => run.abort();
    if (signal?.aborted === true) run.abort();
    signal?.addEventListener('abort', onOuterAbort, { once: true });
    this.running.add(run);
    this.inFlight++;
    try {
      await Promise.all(
        jobs.map(async (job) => {
          this.counters.requestsSent++;
          try {
            await seedGet(job.get, { ...this.ctx, signal: run.signal }, (offset, chunk) => {
              this.counters.bytesReceived += chunk.length;
              assembler.write(job.runOffset + offset, chunk);
            });
          } catch (e) {
            run.abort();
            throw e;
          }
        }),
      );
      this.counters.consecutiveFailures = 0;
      this.retryAtMs = null;
    } catch (e) {
      // Anything but a WebSeedError came from the caller's callback or a bug of ours: not the server's failure.
      if (isWebSeedError(e)) this.recordFailure(e);
      throw e;
    } finally {
      this.inFlight--;
      this.running.delete(run);
      signal?.removeEventListener('abort', onOuterAbort);
    }
  }

  /** The session found piece `piece` from this seed failing its hash check: the server serves wrong bytes. */
  markBadPiece(piece: number): void {
    this.dead ??= new WebSeedError('bad-data', this.url, `piece ${piece} failed its hash check`);
    this.abortAll();
  }

  /** Aborts every run and closes every connection. */
  close(): void {
    this.abortAll();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private abortAll(): void {
    for (const r of this.running) r.abort();
  }

  private recordFailure(err: WebSeedError): void {
    if (err.kind === 'aborted') return;
    this.counters.requestsFailed++;
    if (this.kind === 'url-list' && err.kind === 'http-status' && (err.status === 404 || err.status === 410)) {
      const file = this.fileOfUrl(err.url);
      if (file !== null) {
        this.missingFiles.add(file);
        const present = this.layout.map.files.some((f, i) => !f.pad && f.length > 0 && !this.missingFiles.has(i));
        if (!present) this.dead ??= err;
        return;
      }
    }
    this.counters.consecutiveFailures++;
    if (err.permanent || this.counters.consecutiveFailures >= MAX_CONSECUTIVE_FAILURES) {
      this.dead ??= err;
      return;
    }
    this.retryAtMs = this.clock.now() + retryDelayMs(this.counters.consecutiveFailures, err.retryAfterMs);
  }

  private fileOfUrl(url: string): number | null {
    return this.urlToFile.get(url) ?? null;
  }

  private urlListJobs(first: number, last: number, assembler: RunAssembler): Job[] {
    const plan = planRun(this.layout, this.url, first, last);
    for (const pad of plan.padSpans) assembler.zero(pad.runOffset, pad.length);
    return plan.requests.map((r) => {
      this.urlToFile.set(r.url, r.fileIndex);
      return { runOffset: r.runOffset, get: { url: r.url, length: r.length, range: { start: r.start, fileLength: r.fileLength }, busyBodyIsSeconds: false } };
    });
  }

  private httpSeedJobs(first: number, last: number): Job[] {
    const { map } = this.layout;
    const jobs: Job[] = [];
    for (let p = first; p <= last; p++) {
      jobs.push({
        runOffset: (p - first) * map.pieceLength,
        get: { url: httpSeedUrl(this.url, this.infoHash!, p), length: map.pieceSize(p), range: null, busyBodyIsSeconds: true },
      });
    }
    return jobs;
  }
}

interface Job {
  readonly runOffset: number;
  readonly get: Parameters<typeof seedGet>[0];
}

/**
 * One WebSeed per usable URL of a torrent: `url-list` (BEP 19) entries, then `httpseeds`
 * (BEP 17) entries when the torrent has a v1 info hash; URLs that are not http(s) are skipped,
 * duplicates are dropped (the first kind listed wins).
 */
export function createWebSeeds(
  meta: Pick<Metainfo, 'name' | 'multiFile' | 'files' | 'pieceLength' | 'totalLength' | 'urlList' | 'httpSeeds' | 'infoHash'>,
  opts: Omit<WebSeedOptions, 'url' | 'kind' | 'layout' | 'infoHash'>,
): WebSeed[] {
  const layout = webSeedLayout(meta);
  const seen = new Set<string>();
  const out: WebSeed[] = [];
  const add = (url: string, kind: WebSeedKind): void => {
    if (parseSeedUrl(url) === null || seen.has(url)) return;
    seen.add(url);
    out.push(new WebSeed({ ...opts, url, kind, layout, infoHash: meta.infoHash }));
  };
  for (const u of meta.urlList) add(u, 'url-list');
  if (meta.infoHash !== null) for (const u of meta.httpSeeds) add(u, 'httpseeds');
  return out;
}
