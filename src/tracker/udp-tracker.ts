/**
 * UDP tracker client (BEP 15): connect, announce and scrape over one dgram socket per tracker,
 * udp4 or udp6 according to the tracker's resolved address.
 *
 * Owns: the socket, the connection id and the table of pending transactions. Invariants:
 * - a reply is matched to a request by transaction id (random u32, unique among pending ones); a
 *   reply with an unknown id, or with the right id but the wrong action, is reported through
 *   onWarning and ignored, so a stray or spoofed datagram cannot fail an operation;
 * - a connection id is used for at most CONNECTION_ID_TTL_MS after the connect reply (BEP 15:
 *   "valid for one minute"); an expired one is re-requested before the next retransmission;
 * - a request not answered within baseTimeoutMs * 2^n is retransmitted, n = 0..MAX_RETRANSMITS
 *   shared by the whole operation (connect and announce); the wait is shortened to fit the
 *   caller's deadline; after the last wait the operation fails with kind 'timeout';
 * - the pending table only holds operations in flight and each removes its entry in `finally`.
 */
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { OperationScope } from './deadline.js';
import { MAX_PEERS_PER_RESPONSE } from './peers.js';
import { toTrackerError, TrackerError } from './tracker-error.js';
import { decodeReply, encodeAnnounce, encodeConnect, encodeScrape, MAX_SCRAPE_HASHES_PER_PACKET, peekTransactionId, type UdpReply } from './udp-codec.js';
import type { AnnounceRequest, AnnounceResponse, ScrapeResponse, ScrapeStats, Tracker, TrackerCallOptions } from './types.js';

/** BEP 15: "If a response is not received after 15 * 2 ^ n seconds, the client should retransmit". */
export const UDP_BASE_TIMEOUT_MS = 15_000;
/** BEP 15: n "is increased up to 8 (3840 seconds)". */
export const MAX_RETRANSMITS = 8;
/** BEP 15: a connection id "can be used for multiple requests" for one minute. */
export const CONNECTION_ID_TTL_MS = 60_000;

export interface UdpTrackerOptions {
  /** The 15 s of the 15 * 2^n schedule; tests shrink it. */
  baseTimeoutMs?: number;
  maxRetransmits?: number;
  connectionIdTtlMs?: number;
  maxPeers?: number;
  /** Source of transaction ids; must be unpredictable outside tests (spoofed replies). */
  randomU32?: () => number;
  /** Stray datagrams and other non-fatal oddities. */
  onWarning?: (message: string) => void;
  now?: () => number;
}

type Expect = 'connect' | 'announce' | 'scrape';

interface Pending {
  expect: Expect;
  resolve: (reply: UdpReply) => void;
  reject: (e: TrackerError) => void;
}

interface Endpoint {
  socket: dgram.Socket;
  family: 4 | 6;
}

/** Retransmission state of one operation: n is shared by its connect and its request. */
interface Attempt {
  n: number;
  scope: OperationScope;
}

function defaultRandomU32(): number {
  return randomBytes(4).readUInt32BE(0);
}

export class UdpTracker implements Tracker {
  private readonly host: string;
  private readonly port: number;
  private readonly baseTimeoutMs: number;
  private readonly maxRetransmits: number;
  private readonly ttlMs: number;
  private readonly maxPeers: number;
  private readonly randomU32: () => number;
  private readonly warn: (message: string) => void;
  private readonly now: () => number;
  private endpoint: Promise<Endpoint> | undefined;
  private connection: { id: Buffer; expiresAt: number } | undefined;
  private readonly pending = new Map<number, Pending>();
  private readonly inFlight = new Set<OperationScope>();
  private closed = false;

  constructor(
    readonly url: string,
    options: UdpTrackerOptions = {},
  ) {
    const u = new URL(url);
    if (u.protocol !== 'udp:') throw new TrackerError('unsupported', `not a UDP tracker URL: ${url}`, { url });
    const port = Number(u.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new TrackerError('unsupported', `UDP tracker URL without a port: ${url}`, { url });
    }
    this.host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    this.port = port;
    this.baseTimeoutMs = options.baseTimeoutMs ?? UDP_BASE_TIMEOUT_MS;
    this.maxRetransmits = options.maxRetransmits ?? MAX_RETRANSMITS;
    this.ttlMs = options.connectionIdTtlMs ?? CONNECTION_ID_TTL_MS;
    this.maxPeers = options.maxPeers ?? MAX_PEERS_PER_RESPONSE;
    this.randomU32 = options.randomU32 ?? defaultRandomU32;
    this.warn = options.onWarning ?? (() => {});
    this.now = options.now ?? Date.now;
  }

  async announce(req: AnnounceRequest, opts: TrackerCallOptions = {}): Promise<AnnounceResponse> {
    // Validate before any packet is sent, so a caller bug is not reported as a network problem.
    encodeAnnounce(Buffer.alloc(8), 0, req);
    return this.run(opts, async (attempt) => {
      const reply = await this.request('announce', attempt, (cid, tx) => encodeAnnounce(cid, tx, req));
      if (reply.action !== 'announce') throw new TrackerError('protocol', 'unexpected reply');
      return reply.response;
    });
  }

  async scrape(infoHashes: Buffer[], opts: TrackerCallOptions = {}): Promise<ScrapeResponse> {
    return this.run(opts, async (attempt) => {
      const files = new Map<string, ScrapeStats>();
      for (let i = 0; i < infoHashes.length; i += MAX_SCRAPE_HASHES_PER_PACKET) {
        const batch = infoHashes.slice(i, i + MAX_SCRAPE_HASHES_PER_PACKET);
        const reply = await this.request('scrape', attempt, (cid, tx) => encodeScrape(cid, tx, batch));
        if (reply.action !== 'scrape') throw new TrackerError('protocol', 'unexpected reply');
        batch.forEach((h, j) => {
          const s = reply.stats[j];
          if (s !== undefined) files.set(h.toString('hex'), s);
        });
      }
      return { files };
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const scope of this.inFlight) scope.abort(new TrackerError('aborted', 'tracker closed'));
    const closing = this.endpoint;
    this.endpoint = undefined;
    closing?.then(
      (ep) => ep.socket.close(),
      () => {},
    );
  }

  private async run<T>(opts: TrackerCallOptions, body: (attempt: Attempt) => Promise<T>): Promise<T> {
    if (this.closed) throw new TrackerError('aborted', 'tracker closed', { url: this.url });
    const scope = new OperationScope(opts.signal, opts.deadlineMs);
    this.inFlight.add(scope);
    try {
      scope.check();
      return await body({ n: 0, scope });
    } catch (e) {
      throw toTrackerError(scope.reason ?? e, this.url);
    } finally {
      scope.dispose();
      this.inFlight.delete(scope);
    }
  }

  /** Sends a request that needs a connection id, reconnecting whenever the id has expired. */
  private async request(
    expect: 'announce' | 'scrape',
    attempt: Attempt,
    encode: (connectionId: Buffer, tx: number) => Buffer,
  ): Promise<UdpReply> {
    for (;;) {
      const cid = await this.connectionId(attempt);
      const reply = await this.transact(expect, attempt, (tx) => encode(cid, tx), () => this.connection?.id === cid && this.now() < (this.connection?.expiresAt ?? 0));
      if (reply !== 'expired') return reply;
    }
  }

  private async connectionId(attempt: Attempt): Promise<Buffer> {
    const c = this.connection;
    if (c !== undefined && this.now() < c.expiresAt) return c.id;
    const reply = await this.transact('connect', attempt, encodeConnect, () => true);
    if (reply === 'expired' || reply.action !== 'connect') throw new TrackerError('protocol', 'unexpected reply');
    this.connection = { id: reply.connectionId, expiresAt: this.now() + this.ttlMs };
    return reply.connectionId;
  }

  /**
   * One request/reply exchange with retransmissions. Returns 'expired' when, at a
   * retransmission, `stillValid` says the packet's connection id has expired.
   */
  private async transact(
    expect: Expect,
    attempt: Attempt,
    encode: (tx: number) => Buffer,
    stillValid: () => boolean,
  ): Promise<UdpReply | 'expired'> {
    const { scope } = attempt;
    const ep = await this.socket(scope);
    const tx = this.newTransactionId();
    const packet = encode(tx);
    let settle!: { resolve: (r: UdpReply) => void; reject: (e: TrackerError) => void };
    const replied = new Promise<UdpReply>((resolve, reject) => {
      settle = { resolve, reject };
    });
    // A rejection that arrives while we are between waits must not be reported as unhandled.
    replied.catch(() => {});
    this.pending.set(tx, { expect, ...settle });
    try {
      for (;;) {
        scope.check();
        ep.socket.send(packet);
        const waitMs = Math.min(this.baseTimeoutMs * 2 ** attempt.n, scope.remainingMs());
        const outcome = await waitFor(replied, waitMs, scope.signal);
        if (outcome !== 'timeout') return outcome;
        scope.check();
        if (attempt.n >= this.maxRetransmits) {
          throw new TrackerError('timeout', `no reply after ${attempt.n + 1} attempts`);
        }
        if (scope.remainingMs() <= 0) throw new TrackerError('timeout', 'no reply before the deadline');
        attempt.n++;
        if (!stillValid()) return 'expired';
      }
    } finally {
      this.pending.delete(tx);
    }
  }

  private newTransactionId(): number {
    for (;;) {
      const tx = this.randomU32() >>> 0;
      if (!this.pending.has(tx)) return tx;
    }
  }

  private socket(scope: OperationScope): Promise<Endpoint> {
    if (this.endpoint === undefined) {
      const ep = this.open();
      this.endpoint = ep;
      // A failed open is forgotten so the next operation resolves and binds afresh.
      ep.catch(() => {
        if (this.endpoint === ep) this.endpoint = undefined;
      });
    }
    const ep = this.endpoint;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => reject(scope.reason);
      if (scope.signal.aborted) return onAbort();
      scope.signal.addEventListener('abort', onAbort, { once: true });
      ep.then(resolve, reject).finally(() => scope.signal.removeEventListener('abort', onAbort));
    });
  }

  private async open(): Promise<Endpoint> {
    let address = this.host;
    if (isIP(address) === 0) {
      try {
        address = (await lookup(this.host)).address;
      } catch (e) {
        throw new TrackerError('network', `cannot resolve ${this.host}: ${(e as Error).message}`, { cause: e });
      }
    }
    const family = isIP(address) === 6 ? 6 : 4;
    const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    socket.on('message', (msg) => this.onMessage(msg, family));
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => {
        socket.close();
        reject(new TrackerError('network', `cannot reach ${address}: ${e.message}`, { cause: e }));
      };
      socket.once('error', onError);
      socket.connect(this.port, address, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    socket.on('error', (e) => this.onSocketError(e));
    if (this.closed) {
      socket.close();
      throw new TrackerError('aborted', 'tracker closed');
    }
    return { socket, family };
  }

  private onMessage(msg: Buffer, family: 4 | 6): void {
    const tx = peekTransactionId(msg);
    const p = tx === undefined ? undefined : this.pending.get(tx);
    if (p === undefined) {
      this.warn(`ignored a ${msg.length}-byte UDP datagram with an unknown transaction id`);
      return;
    }
    let reply: UdpReply;
    try {
      reply = decodeReply(msg, family, this.maxPeers);
    } catch (e) {
      p.reject(toTrackerError(e, this.url));
      return;
    }
    if (reply.action === 'error') {
      p.reject(new TrackerError('failure', `tracker refused: ${reply.message || '(no reason given)'}`));
    } else if (reply.action !== p.expect) {
      this.warn(`ignored a UDP '${reply.action}' reply to a '${p.expect}' request`);
    } else {
      p.resolve(reply);
    }
  }

  /**
   * ICMP port unreachable arrives as ECONNREFUSED on a connected socket: every pending request is
   * failed at once rather than left to time out. The socket itself stays usable.
   */
  private onSocketError(e: Error & { code?: string }): void {
    const err = new TrackerError('network', e.code === 'ECONNREFUSED' ? 'connection refused' : e.message, { cause: e });
    for (const p of this.pending.values()) p.reject(err);
  }
}

/** The reply, or 'timeout' after `ms`; rejects with the reply's error or the abort reason. */
function waitFor(replied: Promise<UdpReply>, ms: number, signal: AbortSignal): Promise<UdpReply | 'timeout'> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(() => resolve('timeout')), Math.max(0, ms));
    const onAbort = (): void => done(() => reject(signal.reason));
    const done = (f: () => void): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      f();
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    replied.then(
      (r) => done(() => resolve(r)),
      (e) => done(() => reject(e)),
    );
  });
}
