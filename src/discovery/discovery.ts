/**
 * Discovery: one stream of `{ addr, source }` for one torrent, from every place peers come from
 * (trackers, the DHT, PEX, --peer, a magnet's x.pe, incoming connections), for the whole life of
 * the session: the metadata phase and the download share it, so there is one peer id, one
 * `started` announce and one DHT lookup. As webtorrent's torrent-discovery and rqbit's
 * `Session::make_peer_rx`.
 *
 * Owns: the announcer (BEP 3/12), the DHT (started here without holding anybody up: peers
 * from trackers and --peer flow at once, the DHT's join it when it is ready), its lookup and its
 * re-announce timer (BEP 5), and the rules every address passes through in one place:
 * - spelled one way (util/address `peerAddr`), port 1..65535;
 * - never ourselves (our listen port on a local address);
 * - BEP 27: a private torrent takes peers from its trackers, --peer and incoming only: no DHT, no PEX;
 * - bounded: at most MAX_BATCH addresses per delivery, and a source that has delivered
 *   MAX_PER_SOURCE_PER_MINUTE addresses in the last minute is ignored until the minute is over,
 *   so a flood from one PEX peer or a poisoned DHT cannot crowd out a tracker's answer (the peer
 *   set downstream is bounded per source too).
 * A hybrid torrent (BEP 52) is one torrent in two swarms: the v1 swarm under its SHA-1 info hash
 * and the v2 swarm under its SHA-256 info hash truncated to 20 bytes. Given `infoHashV2`, every
 * tracker is announced to and the DHT looked up and announced under both, and each peer says
 * which swarm named it (`swarm: 'v2'`), so it is greeted with the hash it knows us by.
 * Nothing throws out of it: failures become warnings.
 */
import { randomBytes } from 'node:crypto';
import type { Dht } from '../dht/index.js';
import { Announcer, type AnnouncerOptions, type TransferStats } from '../tracker/index.js';
import { isLocalAddress, peerAddr, type PeerAddr } from '../util/address.js';
import { every, type Clock, type TimerHandle } from '../util/clock.js';

export type PeerSource = 'tracker' | 'dht' | 'pex' | 'manual' | 'magnet' | 'incoming';

export interface DiscoveredPeer {
  addr: PeerAddr;
  source: PeerSource;
  /** Named by the hybrid's v2 swarm (its truncated SHA-256 info hash); absent for the main swarm. */
  swarm?: 'v2';
}

/** Starts the process's DHT when discovery wants it; null or a failure = no DHT. */
export type DhtStarter = () => Promise<Dht | null>;

export interface DiscoveryOptions {
  infoHash: Buffer;
  /** A hybrid's second swarm: its v2 info hash truncated to 20 bytes (null or absent otherwise). */
  infoHashV2?: Buffer | null;
  peerId: Buffer;
  /** Our listen port (known before discovery starts). */
  port: number;
  /** Tracker tiers (BEP 12). */
  trackers: readonly (readonly string[])[];
  private: boolean;
  dht: DhtStarter | null;
  clock: Clock;
  stats: () => TransferStats;
  onPeers: (peers: DiscoveredPeer[]) => void;
  onWarning: (message: string) => void;
  /** For tests: how trackers are built (see Announcer). */
  createTracker?: AnnouncerOptions['createTracker'];
  random?: () => number;
}

/** Addresses handed on per delivery; a tracker answers 200 at most in practice. */
export const MAX_BATCH = 500;
/** Addresses one source may deliver per minute (trackers and --peer are exempt). */
export const MAX_PER_SOURCE_PER_MINUTE = 1000;
/** BEP 5 peers expire after ~30 min; re-announce well before. */
export const DHT_ANNOUNCE_MS = 15 * 60_000;
/** An announce with no node to tell is retried this soon. */
export const DHT_RETRY_MS = 60_000;
/** The first DHT announce waits for the lookup to have found nodes. */
export const DHT_FIRST_ANNOUNCE_MS = 10_000;

const RATE_WINDOW_MS = 60_000;
const LIMITED: ReadonlySet<PeerSource> = new Set(['dht', 'pex', 'incoming', 'magnet']);

export class Discovery {
  private readonly announcers: Announcer[] = [];
  private dht: Dht | null = null;
  private dhtTimer: TimerHandle | null = null;
  private stopped = false;
  private readonly window = new Map<PeerSource, { start: number; count: number }>();
  private dhtStarting: Promise<void> | null = null;

  constructor(private readonly opts: DiscoveryOptions) {}

  /** Starts the announcers at once and the DHT in the background. */
  start(): void {
    const o = this.opts;
    if (o.trackers.length > 0) {
      const key = randomBytes(4).readUInt32BE(0);
      for (const { hash, swarm } of this.swarms()) {
        const announcer = new Announcer({
          tiers: o.trackers,
          infoHash: hash,
          peerId: o.peerId,
          port: o.port,
          key,
          stats: o.stats,
          onPeers: (peers) => this.deliver(peers.map((p) => ({ host: p.ip, port: p.port })), 'tracker', swarm),
          onWarning: (w) => o.onWarning(`${swarm === 'v2' ? '(v2 swarm) ' : ''}${w.url ? `tracker ${w.url}: ${w.message}` : w.message}`),
          now: () => o.clock.now(),
          timers: {
            setTimeout: (fn, ms) => o.clock.setTimeout(fn, ms),
            clearTimeout: (h) => (h as TimerHandle | undefined)?.cancel(),
          },
          random: o.random,
          createTracker: o.createTracker,
        });
        this.announcers.push(announcer);
        announcer.start();
      }
    }
    if (o.dht && !o.private) this.dhtStarting = this.startDht(o.dht);
  }

  /** The swarms this torrent is in: its own, and a hybrid's v2 swarm. */
  private swarms(): { hash: Buffer; swarm: 'v2' | undefined }[] {
    const out: { hash: Buffer; swarm: 'v2' | undefined }[] = [{ hash: this.opts.infoHash, swarm: undefined }];
    const v2 = this.opts.infoHashV2;
    if (v2 && !v2.equals(this.opts.infoHash)) out.push({ hash: v2, swarm: 'v2' });
    return out;
  }

  /** Peers from --peer or a magnet's x.pe (never rate-limited: the user named them). */
  addManual(addrs: readonly { host: string; port: number }[], source: 'manual' | 'magnet'): void {
    this.deliver(addrs, source);
  }

  /** Peers a PEX message named (ignored for private torrents, BEP 27). */
  addPex(addrs: readonly { host: string; port: number }[]): void {
    if (!this.opts.private) this.deliver(addrs, 'pex');
  }

  /** A peer's BEP 5 `port` message: a DHT node to know. */
  addDhtNode(host: string, port: number): void {
    this.dht?.addNode({ host, port });
  }

  /** The port our DHT listens on (for BEP 5 `port` messages), or null. */
  get dhtPort(): number | null {
    return this.dht ? this.dht.port : null;
  }

  completed(): void {
    for (const a of this.announcers) a.completed();
  }

  /** Stops announcing (`stopped` within the announcer's bound) and closes the DHT. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.dhtTimer?.cancel();
    await Promise.all([
      ...this.announcers.map((a) => a.stop().catch(() => undefined)),
      (async () => {
        await this.dhtStarting;
        if (this.dht) {
          for (const { hash } of this.swarms()) this.dht.stopLookup(hash);
          await this.dht.close().catch(() => undefined);
        }
      })(),
    ]);
  }

  private async startDht(starter: DhtStarter): Promise<void> {
    let dht: Dht | null = null;
    try {
      dht = await starter();
    } catch (e) {
      this.opts.onWarning(`DHT not started: ${(e as Error).message}`);
    }
    if (!dht) return;
    if (this.stopped) {
      await dht.close().catch(() => undefined);
      return;
    }
    this.dht = dht;
    for (const { hash, swarm } of this.swarms()) dht.lookup(hash, (p) => this.deliver([p], 'dht', swarm));
    const announce = (): void => {
      if (this.stopped || !this.dht) return;
      // A DHT that knows no node yet has nobody to tell: try again sooner.
      if (this.dht.nodeCount === 0) return;
      for (const { hash } of this.swarms()) void this.dht.announce(hash, this.opts.port).catch(() => undefined);
    };
    const first = this.opts.clock.setTimeout(() => {
      announce();
      this.dhtTimer = every(this.opts.clock, DHT_ANNOUNCE_MS, announce);
    }, DHT_FIRST_ANNOUNCE_MS);
    this.dhtTimer = first;
  }

  private deliver(raw: readonly { host: string; port: number }[], source: PeerSource, swarm?: 'v2'): void {
    if (this.stopped) return;
    const now = this.opts.clock.now();
    let budget = MAX_BATCH;
    if (LIMITED.has(source)) {
      let w = this.window.get(source);
      if (!w || now - w.start >= RATE_WINDOW_MS) {
        w = { start: now, count: 0 };
        this.window.set(source, w);
      }
      budget = Math.min(budget, MAX_PER_SOURCE_PER_MINUTE - w.count);
      if (budget <= 0) return;
    }
    const out: DiscoveredPeer[] = [];
    for (const r of raw) {
      if (out.length >= budget) break;
      const addr = peerAddr(r.host, r.port);
      if (!addr) continue;
      // Trackers (opentracker among them) often hand us back to ourselves.
      if (addr.port === this.opts.port && isLocalAddress(addr.host)) continue;
      out.push(swarm ? { addr, source, swarm } : { addr, source });
    }
    if (LIMITED.has(source)) this.window.get(source)!.count += out.length;
    if (out.length > 0) this.opts.onPeers(out);
  }
}
