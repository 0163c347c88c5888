/**
 * HTTP(S) tracker client (BEP 3, 23, 7, 48): one GET per announce or scrape over node:http or
 * node:https, with no connection reuse.
 *
 * Owns: the bytes read from one tracker and the `tracker id` it gave us (sent back as `trackerid`
 * on later announces). Invariants: a body is never held beyond MAX_BODY_BYTES (the request is
 * destroyed the moment it would be, so a 100 MB or endless body costs at most that much); at most
 * MAX_REDIRECTS redirects, to http: or https: only; every call ends within its deadline
 * (default DEFAULT_HTTP_TIMEOUT_MS); every failure is a TrackerError carrying this tracker's URL.
 */
import http from 'node:http';
import https from 'node:https';
import { buildAnnounceUrl, buildScrapeUrl, MAX_SCRAPE_HASHES, parseAnnounceBody, parseScrapeBody, scrapeUrlFromAnnounce } from './http-codec.js';
import { minTimeout, OperationScope } from './deadline.js';
import { MAX_PEERS_PER_RESPONSE } from './peers.js';
import { toTrackerError, TrackerError } from './tracker-error.js';
import type { AnnounceRequest, AnnounceResponse, ScrapeResponse, ScrapeStats, Tracker, TrackerCallOptions } from './types.js';

/**
 * Largest body we read. A 2000-peer compact reply is 12 KB and a dictionary one ~100 KB; 2 MiB is
 * generous for any honest tracker and bounds what a hostile one can make us hold.
 */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;
/** libtorrent's tracker_completion_timeout is 30 s: a tracker slower than that is as good as down. */
export const DEFAULT_HTTP_TIMEOUT_MS = 30_000;
/** Enough for http->https and a load balancer hop; more is a loop or a trap. */
export const MAX_REDIRECTS = 3;

export interface HttpTrackerOptions {
  /** Per-call limit when the caller gives no shorter deadline. */
  timeoutMs?: number;
  maxBodyBytes?: number;
  maxRedirects?: number;
  maxPeers?: number;
  userAgent?: string;
}

interface HttpReply {
  status: number;
  body: Buffer;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export class HttpTracker implements Tracker {
  private trackerId: Buffer | undefined;
  private closed = false;
  private readonly inFlight = new Set<OperationScope>();
  private readonly timeoutMs: number;
  private readonly maxBodyBytes: number;
  private readonly maxRedirects: number;
  private readonly maxPeers: number;
  private readonly userAgent: string;

  constructor(
    readonly url: string,
    options: HttpTrackerOptions = {},
  ) {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new TrackerError('unsupported', `not an HTTP tracker URL: ${url}`, { url });
    }
    this.timeoutMs = options.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
    this.maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
    this.maxRedirects = options.maxRedirects ?? MAX_REDIRECTS;
    this.maxPeers = options.maxPeers ?? MAX_PEERS_PER_RESPONSE;
    this.userAgent = options.userAgent ?? 'torrent';
  }

  async announce(req: AnnounceRequest, opts: TrackerCallOptions = {}): Promise<AnnounceResponse> {
    return this.run(opts, async (scope) => {
      const reply = await this.get(buildAnnounceUrl(this.url, req, this.trackerId), scope);
      const res = this.parse(reply, (body) => parseAnnounceBody(body, this.maxPeers));
      if (res.trackerId !== undefined) this.trackerId = res.trackerId;
      return res;
    });
  }

  async scrape(infoHashes: Buffer[], opts: TrackerCallOptions = {}): Promise<ScrapeResponse> {
    return this.run(opts, async (scope) => {
      const scrapeUrl = scrapeUrlFromAnnounce(this.url);
      if (scrapeUrl === undefined) {
        throw new TrackerError('unsupported', "tracker does not support scrape (URL does not end in 'announce')");
      }
      const files = new Map<string, ScrapeStats>();
      for (let i = 0; i < infoHashes.length; i += MAX_SCRAPE_HASHES) {
        const batch = infoHashes.slice(i, i + MAX_SCRAPE_HASHES);
        const reply = await this.get(buildScrapeUrl(scrapeUrl, batch), scope);
        for (const [k, v] of this.parse(reply, (body) => parseScrapeBody(body, batch)).files) files.set(k, v);
      }
      return { files };
    });
  }

  close(): void {
    this.closed = true;
    for (const scope of this.inFlight) scope.abort(new TrackerError('aborted', 'tracker closed'));
  }

  private async run<T>(opts: TrackerCallOptions, body: (scope: OperationScope) => Promise<T>): Promise<T> {
    if (this.closed) throw new TrackerError('aborted', 'tracker closed', { url: this.url });
    const scope = new OperationScope(opts.signal, minTimeout(opts.deadlineMs, this.timeoutMs));
    this.inFlight.add(scope);
    try {
      scope.check();
      return await body(scope);
    } catch (e) {
      throw toTrackerError(scope.reason ?? e, this.url);
    } finally {
      scope.dispose();
      this.inFlight.delete(scope);
    }
  }

  /** Non-200 replies: the tracker's own `failure reason` if the body has one, else the status. */
  private parse<T>(reply: HttpReply, parse: (body: Buffer) => T): T {
    if (reply.status === 200) return parse(reply.body);
    try {
      parse(reply.body);
    } catch (e) {
      if (e instanceof TrackerError && e.kind === 'failure') throw e;
    }
    throw new TrackerError('network', `tracker answered HTTP ${reply.status}`);
  }

  private async get(target: string, scope: OperationScope): Promise<HttpReply> {
    let url = new URL(target);
    for (let hops = 0; ; hops++) {
      const reply = await this.getOnce(url, scope);
      if (!('location' in reply)) return reply;
      if (hops >= this.maxRedirects) throw new TrackerError('network', `more than ${this.maxRedirects} redirects`);
      let next: URL;
      try {
        next = new URL(reply.location, url);
      } catch (e) {
        throw new TrackerError('protocol', 'redirect to an invalid URL', { cause: e });
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new TrackerError('unsupported', `redirect to a ${next.protocol} URL`);
      }
      url = next;
    }
  }

  private getOnce(url: URL, scope: OperationScope): Promise<HttpReply | { location: string }> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (e: unknown): void => {
        if (settled) return;
        settled = true;
        request.destroy();
        reject(scope.reason ?? e);
      };
      const mod = url.protocol === 'https:' ? https : http;
      const request = mod.get(
        url,
        {
          agent: false,
          signal: scope.signal,
          headers: { 'user-agent': this.userAgent, 'accept-encoding': 'identity', connection: 'close' },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          const location = res.headers.location;
          if (REDIRECT_STATUSES.has(status) && typeof location === 'string') {
            settled = true;
            res.resume();
            request.destroy();
            resolve({ location });
            return;
          }
          const tooLarge = (): TrackerError =>
            new TrackerError('too-large', `tracker reply is larger than ${this.maxBodyBytes} bytes; read aborted`);
          const declared = Number(res.headers['content-length']);
          if (Number.isFinite(declared) && declared > this.maxBodyBytes) {
            fail(tooLarge());
            return;
          }
          const chunks: Buffer[] = [];
          let total = 0;
          res.on('data', (chunk: Buffer) => {
            if (settled) return;
            total += chunk.length;
            if (total > this.maxBodyBytes) {
              chunks.length = 0;
              fail(tooLarge());
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => {
            if (settled) return;
            settled = true;
            resolve({ status, body: Buffer.concat(chunks, total) });
          });
          res.on('error', (e) => fail(new TrackerError('protocol', `reply cut short: ${e.message}`, { cause: e })));
          res.on('aborted', () => fail(new TrackerError('protocol', 'reply cut short: connection closed mid-body')));
        },
      );
      request.on('error', (e) => fail(e));
    });
  }
}
