/**
 * The peer set: one entry per address, whatever told us of it, and the state it is in. Pure: time
 * is passed in; the session dials what `toDial` returns and reports back.
 *
 * Entry states (one at a time; only the verbs below move them):
 *   queued ──dialing──> connecting ──connected──> live ──closed──> backoff ──(time)──> queued
 *      │                    └──────closed────────────────────────────┘
 *      └─ any ──ban──> banned (never dialled or accepted again this session)
 *   closed(notNeeded) ──> not-needed (both seeds, or a peer useless in this phase: not redialled
 *   until `wakeNotNeeded`, e.g. when the session starts downloading again)
 * Incoming connections get an entry too (state live, source 'incoming').
 *
 * Bounds and fairness (a hostile source must not crowd out an honest one):
 * - at most MAX_ENTRIES addresses; when full, a new address evicts a failed or queued entry of
 *   the source that holds the most entries (so a PEX or DHT flood evicts its own), never a live
 *   or connecting one; if that source is the one adding, the newcomer replaces its own oldest;
 * - `toDial` prefers fewer failures, then the more trusted source (manual, magnet, tracker,
 *   incoming, dht, pex), then the oldest: a tracker's answer is dialled before a PEX flood;
 * - live + connecting <= maxPeers; half-open <= maxHalfOpen, where half-open are the connecting
 *   entries whose transport is not up yet (`transportUp`: the TCP connect or uTP SYN is done and
 *   only handshakes remain, MSE's and BitTorrent's, a few round trips on a distant peer that need
 *   not hold back the next dials);
 * - a failed or unproductive connection waits RETRY_BASE_MS, doubling up to RETRY_MAX_MS; one
 *   that was delivering data when the peer or the network cut it is redialled at once if it
 *   lived CUT_REDIAL_LIFE_MS, else after RETRY_CUT_MS (a flaky link or a restarted peer is worth
 *   its bandwidth back at once, as a new connection costs a few round trips; a peer that cuts
 *   every connection soon after it opens is redialled at most once a second);
 * - `nextWakeAt`: when the earliest backoff ends, so the session can dial then rather than at
 *   its next tick;
 * - banned: the address (and, off loopback, the whole host), at most MAX_BANNED remembered.
 */
import type { PeerSource } from '../discovery/index.js';
import { InternalError } from '../errors.js';
import { addrKey, isLoopback, type PeerAddr } from '../util/address.js';

export type EntryState = 'queued' | 'connecting' | 'live' | 'backoff' | 'banned' | 'not-needed';

export interface PeerEntry {
  readonly key: string;
  readonly addr: PeerAddr;
  source: PeerSource;
  state: EntryState;
  failures: number;
  nextAttemptAt: number;
  readonly addedAt: number;
  /** Only a hybrid's v2 swarm named it: it is greeted with the truncated v2 info hash. */
  swarm?: 'v2';
  /** While connecting: the transport is up and only the BitTorrent handshake remains. */
  transportUp?: boolean;
  /** The connection's id while connecting or live. */
  connId: number | null;
  /** When its current (or last) connection went live. */
  liveSince?: number;
}

export const MAX_ENTRIES = 2000;
export const MAX_BANNED = 10_000;
/** Dials whose transport (the TCP connect or uTP SYN) is not up yet; libtorrent has no such cap since 1.2, a few dozen is gentle on home routers. */
export const MAX_HALF_OPEN = 32;
export const RETRY_BASE_MS = 5_000;
export const RETRY_MAX_MS = 5 * 60_000;
/** Redial delay after a productive connection was cut by the peer or the network... */
export const RETRY_CUT_MS = 1_000;
/** ...unless the connection lived this long: then it is redialled at once. */
export const CUT_REDIAL_LIFE_MS = 2_000;

const SOURCE_RANK: Record<PeerSource, number> = { manual: 0, magnet: 1, tracker: 2, incoming: 3, dht: 4, pex: 5 };

export class PeerSet {
  private readonly entries = new Map<string, PeerEntry>();
  private readonly bannedHosts = new Set<string>();
  private readonly bySource = new Map<PeerSource, number>();
  private connecting = 0;
  /** Connecting entries whose transport is not up yet. */
  private halfOpen = 0;
  private live = 0;
  private wakeAt = Infinity;

  constructor(
    private readonly maxPeers: number,
    private readonly maxHalfOpen = MAX_HALF_OPEN,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get liveCount(): number {
    return this.live;
  }

  get connectingCount(): number {
    return this.connecting;
  }

  /** When the earliest backoff ends (Infinity: none), as of the last `toDial`. */
  get nextWakeAt(): number {
    return this.wakeAt;
  }

  get(addr: PeerAddr): PeerEntry | undefined {
    return this.entries.get(addrKey(addr));
  }

  isBanned(addr: PeerAddr): boolean {
    return (!isLoopback(addr.host) && this.bannedHosts.has(addr.host)) || this.entries.get(addrKey(addr))?.state === 'banned';
  }

  /** A new address from `source`; known addresses keep their state (and their best source). */
  add(addr: PeerAddr, source: PeerSource, now: number, swarm?: 'v2'): 'added' | 'known' | 'banned' | 'full' {
    const k = addrKey(addr);
    const known = this.entries.get(k);
    if (known) {
      if (SOURCE_RANK[source] < SOURCE_RANK[known.source]) this.retag(known, source);
      return known.state === 'banned' ? 'banned' : 'known';
    }
    if (this.isBanned(addr)) return 'banned';
    if (this.entries.size >= MAX_ENTRIES && !this.evictFor(source)) return 'full';
    const e: PeerEntry = { key: k, addr, source, state: 'queued', failures: 0, nextAttemptAt: now, addedAt: now, connId: null };
    if (swarm) e.swarm = swarm;
    this.entries.set(k, e);
    this.bySource.set(source, (this.bySource.get(source) ?? 0) + 1);
    return 'added';
  }

  /** Room for more connections (outgoing or incoming). */
  get hasRoom(): boolean {
    return this.live + this.connecting < this.maxPeers;
  }

  /** Up to the free room, the entries to dial now, best first. Marks nothing: call dialing(). */
  toDial(now: number): PeerEntry[] {
    const room = Math.min(this.maxPeers - this.live - this.connecting, this.maxHalfOpen - this.halfOpen);
    if (room <= 0) {
      // Nothing can be dialled until a connection ends, which dials again anyway.
      this.wakeAt = Infinity;
      return [];
    }
    const ready: PeerEntry[] = [];
    this.wakeAt = Infinity;
    for (const e of this.entries.values()) {
      if (e.state === 'backoff') {
        if (e.nextAttemptAt <= now) e.state = 'queued';
        else if (e.nextAttemptAt < this.wakeAt) this.wakeAt = e.nextAttemptAt;
      }
      if (e.state === 'queued') ready.push(e);
    }
    ready.sort((a, b) => a.failures - b.failures || SOURCE_RANK[a.source] - SOURCE_RANK[b.source] || a.addedAt - b.addedAt);
    return ready.slice(0, room);
  }

  dialing(e: PeerEntry, connId: number): void {
    this.expect(e, ['queued']);
    this.move(e, 'connecting');
    e.connId = connId;
  }

  /** The outgoing connection's transport is up: it no longer counts as half-open. */
  transportUp(e: PeerEntry): void {
    this.expect(e, ['connecting']);
    if (e.transportUp) return;
    e.transportUp = true;
    this.halfOpen--;
  }

  /** The handshake completed on an outgoing connection. */
  connected(e: PeerEntry, now: number): void {
    this.expect(e, ['connecting']);
    this.move(e, 'live');
    e.liveSince = now;
  }

  /**
   * An incoming connection from `addr` (its source port: not where it listens). Null when
   * banned or full; the entry is live at once (its handshake is the connection's business).
   */
  incoming(addr: PeerAddr, connId: number, now: number): PeerEntry | null {
    if (this.isBanned(addr) || !this.hasRoom) return null;
    const k = addrKey(addr);
    let e = this.entries.get(k);
    if (e && (e.state === 'live' || e.state === 'connecting')) return null;
    if (!e) {
      if (this.entries.size >= MAX_ENTRIES && !this.evictFor('incoming')) return null;
      e = { key: k, addr, source: 'incoming', state: 'queued', failures: 0, nextAttemptAt: now, addedAt: now, connId: null };
      this.entries.set(k, e);
      this.bySource.set('incoming', (this.bySource.get('incoming') ?? 0) + 1);
    }
    this.move(e, 'live');
    e.connId = connId;
    e.liveSince = now;
    return e;
  }

  /**
   * The connection ended. `useful`: it delivered data (failures start over); `cut`: it was still
   * delivering when the other side or the network ended it (redialled soon: see the top);
   * `notNeeded`: do not redial until woken; `ban`: never again. Incoming entries are forgotten
   * (their port was ephemeral) unless banned.
   */
  closed(e: PeerEntry, now: number, how: { useful: boolean; cut?: boolean; ban?: boolean; notNeeded?: boolean }): void {
    this.expect(e, ['connecting', 'live']);
    e.connId = null;
    if (how.ban) {
      this.ban(e);
      return;
    }
    if (e.source === 'incoming') {
      this.move(e, 'backoff');
      this.remove(e);
      return;
    }
    if (how.notNeeded) {
      this.move(e, 'not-needed');
      return;
    }
    e.failures = how.useful ? 0 : e.failures + 1;
    if (how.useful && how.cut) e.nextAttemptAt = now - (e.liveSince ?? now) >= CUT_REDIAL_LIFE_MS ? now : now + RETRY_CUT_MS;
    else e.nextAttemptAt = now + Math.min(RETRY_BASE_MS * 2 ** Math.max(0, e.failures - 1), RETRY_MAX_MS);
    this.move(e, 'backoff');
  }

  ban(e: PeerEntry): void {
    if (e.state === 'live' || e.state === 'connecting') e.connId = null;
    this.move(e, 'banned');
    if (!isLoopback(e.addr.host) && this.bannedHosts.size < MAX_BANNED) this.bannedHosts.add(e.addr.host);
  }

  /** Entries parked as not-needed may be dialled again (e.g. the phase changed). */
  wakeNotNeeded(now: number): void {
    for (const e of this.entries.values()) {
      if (e.state === 'not-needed') {
        this.move(e, 'backoff');
        e.nextAttemptAt = now;
      }
    }
  }

  /** One character per entry in insertion order (q c l b x n): tests read states from strings. */
  toString(): string {
    const ch: Record<EntryState, string> = { queued: 'q', connecting: 'c', live: 'l', backoff: 'b', banned: 'x', 'not-needed': 'n' };
    return [...this.entries.values()].map((e) => ch[e.state]).join('');
  }

  private move(e: PeerEntry, to: EntryState): void {
    if (e.state === 'connecting') {
      this.connecting--;
      if (!e.transportUp) this.halfOpen--;
    }
    if (e.state === 'live') this.live--;
    if (to === 'connecting') {
      this.connecting++;
      this.halfOpen++;
      e.transportUp = false;
    }
    if (to === 'live') this.live++;
    e.state = to;
  }

  private expect(e: PeerEntry, states: EntryState[]): void {
    if (!states.includes(e.state)) throw new InternalError(`peer set: ${e.key} is ${e.state}, expected ${states.join(' or ')}`);
  }

  private retag(e: PeerEntry, source: PeerSource): void {
    this.bySource.set(e.source, (this.bySource.get(e.source) ?? 1) - 1);
    this.bySource.set(source, (this.bySource.get(source) ?? 0) + 1);
    e.source = source;
  }

  private remove(e: PeerEntry): void {
    this.entries.delete(e.key);
    this.bySource.set(e.source, (this.bySource.get(e.source) ?? 1) - 1);
  }

  /** Frees one slot for a newcomer from `source`; false if nothing may be evicted. */
  private evictFor(source: PeerSource): boolean {
    let biggest: PeerSource = source;
    for (const [s, n] of this.bySource) if (n > (this.bySource.get(biggest) ?? 0)) biggest = s;
    const victim = this.victimOf(biggest) ?? this.victimOf(source);
    if (!victim) return false;
    this.remove(victim);
    return true;
  }

  /** The least promising idle entry of a source: most failures first, then the oldest. */
  private victimOf(source: PeerSource): PeerEntry | null {
    let best: PeerEntry | null = null;
    for (const e of this.entries.values()) {
      if (e.source !== source || (e.state !== 'queued' && e.state !== 'backoff' && e.state !== 'not-needed')) continue;
      if (!best || e.failures > best.failures || (e.failures === best.failures && e.addedAt < best.addedAt)) best = e;
    }
    return best;
  }
}
