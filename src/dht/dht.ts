/**
 * Mainline DHT (BEP 5): our interface around the `bittorrent-dht` package (webtorrent), the only
 * module that imports it. Owns one UDP socket (IPv4 only: BEP 32 is not supported), the routing
 * table file, and the get_peers lookups the sessions ask for.
 *
 * What we add around the package, and why:
 * - Bootstrap: the package (through k-rpc) falls back to public routers whenever `bootstrap` is
 *   missing, null or `true`. We always pass our own array; `[]` really means "no routers" (k-rpc's
 *   toBootstrapArray keeps an empty array, and its periodic re-bootstrap reuses that same list).
 *   Never pass `nodes`: k-rpc reads `opts.nodes || opts.bootstrap`.
 * - A guarded socket between the package and node:dgram. Every datagram goes through
 *   sanitizeKrpc (krpc.ts: our strict decoder, the KRPC shape the package reads, a canonical
 *   re-encoding) before the package sees it; anything else is dropped and counted. The package's
 *   handler still runs inside try/catch: a throw is a warning, never an uncaught exception.
 * - Outgoing replies are cut to BEP 5 sizes by trimReply (krpc.ts). Sends to unroutable
 *   addresses (0/8, multicast, broadcast, port 0), which a hostile `nodes` list can name, are
 *   dropped.
 * - The routing table (and our node id, so we keep our place in the keyspace) is persisted to a
 *   small JSON file, bounded and validated when read back (its format: state-file.ts).
 *
 * Invariants: `start` resolves only once the socket listens; after `close` nothing is sent and no
 * timer remains; callbacks (onPeer, onWarning) never run after `close` resolves.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { isIPv4, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
// @ts-expect-error bittorrent-dht ships no type declarations; DhtImpl types what we use.
import UntypedDHT from 'bittorrent-dht';
import { RuntimeError, UsageError } from '../errors.js';
import { isPort, isUnicastIPv4 } from '../util/address.js';
import { ID_BYTES, sanitizeKrpc, trimReply } from './krpc.js';
import { encodeStateFile, parseStateFile, type RoutingState, type StateContact } from './state-file.js';

export interface DhtNodeAddress {
  host: string;
  port: number;
}

export interface DhtOptions {
  /** UDP port; 0 = any. */
  port: number;
  /** Bind address, default '0.0.0.0' (IPv4 only). */
  host?: string;
  /** Replaces the package's public routers entirely; [] = none (stateFile nodes and addNode only). */
  bootstrap: DhtNodeAddress[];
  /** Routing table file (JSON), read at start when present, written every few minutes and on close. */
  stateFile: string | null;
  onWarning?: (message: string) => void;
  /** How often an active lookup runs again; default LOOKUP_INTERVAL_MS. */
  lookupIntervalMs?: number;
}

export interface DhtStats {
  /** Datagrams received. */
  received: number;
  /**
   * Datagrams dropped by our checks (malformed, oversized, unsupported query) or ignored by the
   * package (late replies, unknown transaction ids: routine on the real DHT).
   */
  dropped: number;
  /** Datagrams sent. */
  sent: number;
}

/** Public routers for real use (the CLI's default unless --dht-bootstrap is given); tests never use them. */
export const DEFAULT_BOOTSTRAP: readonly DhtNodeAddress[] = Object.freeze([
  { host: 'router.bittorrent.com', port: 6881 },
  { host: 'router.utorrent.com', port: 6881 },
  { host: 'dht.transmissionbt.com', port: 6881 },
  { host: 'dht.libtorrent.org', port: 25401 },
]);

export function defaultDhtStateFile(cacheDir: string): string {
  return join(cacheDir, 'dht.json');
}

/** start() waits this long for the first bootstrap round, then resolves anyway (it goes on in the background). */
export const BOOTSTRAP_WAIT_MS = 5_000;
/** BEP 5 suggests re-announcing about every 15 minutes; searching a third as often finds new peers while downloading. */
export const LOOKUP_INTERVAL_MS = 5 * 60_000;
/** announce() gives up after this: a lookup plus one round of announce_peer queries take seconds, not minutes. */
export const ANNOUNCE_TIMEOUT_MS = 30_000;
/** Written every this often as well as on close, so a crash loses at most a few minutes of table. */
export const STATE_SAVE_INTERVAL_MS = 5 * 60_000;
/** Distinct peers reported per lookup run: ~30 nodes answer, at most 100 values each; more is a flood. */
export const MAX_PEERS_PER_LOOKUP = 2000;
/** Concurrent lookups (one per torrent): a CLI runs a handful; the bound stops a runaway caller. */
export const MAX_ACTIVE_LOOKUPS = 256;
/** Peers others announce to us, all torrents together (the package's cap; each is 6 bytes). */
const MAX_STORED_PEERS = 2000;
/** Announced peers expire after about this (the package keeps them 2/3 to 4/3 of it). BEP 5 clients re-announce every 15-30 min. */
const STORED_PEER_TTL_MS = 30 * 60_000;
/** Recent lookup tables the package keeps for announce (each is one k-bucket). */
const MAX_LOOKUP_TABLES = 64;
/** addNode() pings each new address once; this many recent addresses are remembered to skip repeats. */
const MAX_RECENT_ADDED_NODES = 1024;

/** The part of bittorrent-dht we use. */
interface DhtImpl {
  nodes: { count(): number; toArray(): StateContact[] };
  on(event: 'peer', cb: (peer: DhtNodeAddress, infoHash: Buffer) => void): void;
  on(event: 'warning' | 'error', cb: (e: Error) => void): void;
  once(event: 'ready' | 'listening', cb: () => void): void;
  listen(port: number, host: string): void;
  lookup(infoHash: Buffer, cb: (err: Error | null) => void): () => void;
  announce(infoHash: Buffer, port: number, cb: (err: Error | null) => void): void;
  addNode(node: { host: string; port: number; id?: Buffer }): void;
  destroy(cb: () => void): void;
}

interface LookupRun {
  onPeer: (peer: DhtNodeAddress) => void;
  seen: Set<string>;
  abort: (() => void) | null;
  timer: NodeJS.Timeout;
}

export class Dht {
  private readonly lookups = new Map<string, LookupRun>();
  private readonly recentlyAdded = new Set<string>();
  private readonly saveTimer: NodeJS.Timeout;
  private closing: Promise<void> | null = null;
  private saving: Promise<void> = Promise.resolve();
  private lastPort: number;

  private constructor(
    private readonly impl: DhtImpl,
    private readonly socket: GuardedSocket,
    private readonly nodeId: Buffer,
    private readonly opts: DhtOptions,
    private readonly warn: (message: string) => void,
  ) {
    this.lastPort = socket.boundPort();
    impl.on('peer', (peer, infoHash) => this.onPeer(peer, infoHash));
    // Package warnings are malformed or late datagrams (unknown transaction ids): routine on the
    // real DHT, so counted rather than shown.
    impl.on('warning', () => {
      socket.stats.dropped++;
    });
    impl.on('error', (e) => this.warn(`dht: ${e.message}`));
    this.saveTimer = setInterval(() => void this.save(), STATE_SAVE_INTERVAL_MS);
    this.saveTimer.unref();
  }

  static async start(opts: DhtOptions): Promise<Dht> {
    const warn = (message: string): void => {
      try {
        opts.onWarning?.(message);
      } catch {
        // a logger that throws must not take the DHT down
      }
    };
    for (const b of opts.bootstrap) {
      if (typeof b.host !== 'string' || b.host === '' || !isPort(b.port)) {
        throw new UsageError(`bad DHT bootstrap node ${JSON.stringify(b)}`, { hint: 'use host:port, e.g. router.bittorrent.com:6881' });
      }
    }
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new UsageError(`bad DHT port ${opts.port}`);
    const host = opts.host ?? '0.0.0.0';
    if (!isIPv4(host)) throw new UsageError(`the DHT binds IPv4 only, not ${host}`);

    const state = opts.stateFile ? await loadState(opts.stateFile, warn) : null;
    const nodeId = state?.id ?? randomBytes(ID_BYTES);
    const socket = new GuardedSocket(createSocket({ type: 'udp4' }));
    const DHT = UntypedDHT as unknown as new (o: Record<string, unknown>) => DhtImpl;
    const impl = new DHT({
      socket,
      nodeId,
      // Always an array (possibly empty): anything else makes k-rpc use the public routers.
      bootstrap: opts.bootstrap.map((b) => ({ host: b.host, port: b.port })),
      maxPeers: MAX_STORED_PEERS,
      maxAge: STORED_PEER_TTL_MS,
      maxTables: MAX_LOOKUP_TABLES,
    });
    // Errors before listening decide start(); the Dht's own handler takes over afterwards.
    let startError: Error | null = null;
    impl.on('error', (e) => {
      startError ??= e;
    });
    // Bind and seed the table synchronously: the package starts bootstrapping on the next tick,
    // and a send on an unbound socket would bind it to a random port.
    impl.listen(opts.port, host);
    for (const n of state?.nodes ?? []) impl.addNode(n);
    // With nothing to ask, the first bootstrap round ends before the socket even listens.
    const bootstrapped = new Promise<void>((resolve) => impl.once('ready', resolve));

    const listening = await new Promise<boolean>((resolve) => {
      socket.onBindError = (e) => {
        startError ??= e;
        resolve(false);
      };
      impl.once('listening', () => resolve(true));
    });
    socket.onBindError = null;
    if (!listening || startError) {
      await new Promise<void>((resolve) => impl.destroy(() => resolve()));
      const e = startError as NodeJS.ErrnoException | null;
      if (e?.code === 'EADDRINUSE' || e?.code === 'EACCES') {
        throw new UsageError(`cannot listen for the DHT on UDP ${host}:${opts.port}: ${e.code === 'EACCES' ? 'permission denied' : 'it is in use'}`, {
          hint: 'pick another with --dht-port, or 0 for any',
          cause: e,
        });
      }
      throw new RuntimeError('ERR_INTERNAL', `cannot start the DHT: ${e?.message ?? 'socket closed'}`, { cause: e });
    }
    const dht = new Dht(impl, socket, nodeId, opts, warn);
    socket.onError = (e) => warn(`dht socket: ${e.message}`);
    socket.onHandlerError = (e, from) => warn(`dht: a datagram from ${from} made bittorrent-dht throw: ${e.message}`);

    let timer: NodeJS.Timeout | undefined;
    await Promise.race([bootstrapped, new Promise<void>((resolve) => (timer = setTimeout(resolve, BOOTSTRAP_WAIT_MS)))]);
    clearTimeout(timer);
    return dht;
  }

  get port(): number {
    if (!this.closing) this.lastPort = this.socket.boundPort() || this.lastPort;
    return this.lastPort;
  }

  get nodeCount(): number {
    return this.impl.nodes.count();
  }

  /** Datagram counters, for status lines and tests. */
  get stats(): Readonly<DhtStats> {
    return { ...this.socket.stats };
  }

  /**
   * Starts (or repeats) a get_peers lookup; peers go to onPeer (deduplicated within each run,
   * port 0 dropped; a later run reports them again). Runs again every lookupIntervalMs while
   * active, until stopLookup.
   */
  lookup(infoHash: Buffer, onPeer: (peer: DhtNodeAddress) => void): void {
    if (this.closing) return;
    if (infoHash.length !== ID_BYTES) {
      this.warn(`dht lookup: an info hash is ${ID_BYTES} bytes, not ${infoHash.length}`);
      return;
    }
    const key = infoHash.toString('hex');
    let run = this.lookups.get(key);
    if (run) {
      run.onPeer = onPeer;
    } else {
      if (this.lookups.size >= MAX_ACTIVE_LOOKUPS) {
        this.warn(`dht lookup: already ${MAX_ACTIVE_LOOKUPS} lookups active; ${key} not started`);
        return;
      }
      const timer = setInterval(() => this.runLookup(key, infoHash), this.opts.lookupIntervalMs ?? LOOKUP_INTERVAL_MS);
      timer.unref();
      run = { onPeer, seen: new Set(), abort: null, timer };
      this.lookups.set(key, run);
    }
    this.runLookup(key, infoHash);
  }

  stopLookup(infoHash: Buffer): void {
    const key = infoHash.toString('hex');
    const run = this.lookups.get(key);
    if (!run) return;
    clearInterval(run.timer);
    run.abort?.();
    this.lookups.delete(key);
  }

  /** announce_peer for infoHash with our TCP port (looks up first unless a recent lookup found nodes). Never throws. */
  async announce(infoHash: Buffer, port: number): Promise<void> {
    if (this.closing) return;
    if (infoHash.length !== ID_BYTES || !isPort(port)) {
      this.warn(`dht announce: bad info hash or port ${port}`);
      return;
    }
    const hex = infoHash.toString('hex');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.warn(`dht announce ${hex}: no answer within ${ANNOUNCE_TIMEOUT_MS / 1000} s`);
        resolve();
      }, ANNOUNCE_TIMEOUT_MS);
      timer.unref();
      const done = (err: Error | null): void => {
        clearTimeout(timer);
        if (err && !this.closing) this.warn(`dht announce ${hex}: ${err.message}`);
        resolve();
      };
      try {
        this.impl.announce(infoHash, port, done);
      } catch (e) {
        done(e as Error);
      }
    });
  }

  /** A peer told us its DHT port (BEP 5 `port` message): ping it, and it joins the table if it answers. */
  addNode(node: DhtNodeAddress): void {
    if (this.closing || !isIPv4(node.host) || !isPort(node.port) || !isUnicastIPv4(node.host)) return;
    const key = `${node.host}:${node.port}`;
    if (this.recentlyAdded.has(key)) return;
    if (this.recentlyAdded.size >= MAX_RECENT_ADDED_NODES) this.recentlyAdded.clear();
    this.recentlyAdded.add(key);
    try {
      this.impl.addNode({ host: node.host, port: node.port });
    } catch (e) {
      this.warn(`dht addNode: ${(e as Error).message}`);
    }
  }

  /** Saves the table and closes the socket; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.lastPort = this.socket.boundPort() || this.lastPort;
      clearInterval(this.saveTimer);
      for (const run of this.lookups.values()) {
        clearInterval(run.timer);
        run.abort?.();
      }
      this.lookups.clear();
      await this.saving;
      await this.writeState();
      await new Promise<void>((resolve) => this.impl.destroy(() => resolve()));
    })();
    return this.closing;
  }

  private runLookup(key: string, infoHash: Buffer): void {
    const run = this.lookups.get(key);
    if (!run || this.closing) return;
    run.abort?.();
    run.seen = new Set();
    try {
      const abort = this.impl.lookup(infoHash, (err) => {
        if (run.abort === abort) run.abort = null;
        if (err && !this.closing) this.warn(`dht lookup ${key}: ${err.message}`);
      });
      run.abort = abort;
    } catch (e) {
      this.warn(`dht lookup ${key}: ${(e as Error).message}`);
    }
  }

  private onPeer(peer: DhtNodeAddress, infoHash: Buffer): void {
    if (this.closing) return;
    const run = this.lookups.get(infoHash.toString('hex'));
    if (!run || !isPort(peer.port) || !isIPv4(peer.host) || !isUnicastIPv4(peer.host)) return;
    const key = `${peer.host}:${peer.port}`;
    if (run.seen.has(key) || run.seen.size >= MAX_PEERS_PER_LOOKUP) return;
    run.seen.add(key);
    try {
      run.onPeer({ host: peer.host, port: peer.port });
    } catch (e) {
      this.warn(`dht lookup: the peer handler threw: ${(e as Error).message}`);
    }
  }

  private save(): Promise<void> {
    this.saving = this.saving.then(() => this.writeState());
    return this.saving;
  }

  private async writeState(): Promise<void> {
    const path = this.opts.stateFile;
    if (!path) return;
    // Null for an empty table (offline run, closed before bootstrap): it must not erase what an earlier run learned.
    const bytes = encodeStateFile(this.nodeId, this.impl.nodes.toArray());
    if (!bytes) return;
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(tmp, bytes);
      await rename(tmp, path);
    } catch (e) {
      this.warn(`dht: cannot save the routing table to ${path}: ${(e as Error).message}`);
      await unlink(tmp).catch(() => {});
    }
  }
}

/** The saved table, or null (with a warning unless there is no file yet); the checks are parseStateFile's. */
async function loadState(path: string, warn: (m: string) => void): Promise<RoutingState | null> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') warn(`dht: cannot read ${path}: ${(e as Error).message}`);
    return null;
  }
  const parsed = parseStateFile(buf);
  if (!parsed.ok) {
    warn(`dht: ignoring ${path}: ${parsed.reason}`);
    return null;
  }
  return parsed.state;
}

// ---- the guarded socket ---------------------------------------------------------------------

/**
 * What k-rpc-socket needs from a dgram socket (bind, address, send, close, and the message,
 * listening and close events), with the checks described at the top of this file in between.
 */
class GuardedSocket extends EventEmitter {
  readonly stats: DhtStats = { received: 0, dropped: 0, sent: 0 };
  onBindError: ((e: Error) => void) | null = null;
  onError: ((e: Error) => void) | null = null;
  onHandlerError: ((e: Error, from: string) => void) | null = null;
  private closed = false;

  constructor(private readonly udp: Socket) {
    super();
    udp.on('message', (buf, rinfo) => this.receive(buf, rinfo));
    udp.on('listening', () => this.emit('listening'));
    udp.on('close', () => {
      this.closed = true;
      this.emit('close');
    });
    // Never forwarded to the package: a bind error decides start(), later ones are warnings.
    udp.on('error', (e) => {
      if (this.onBindError) this.onBindError(e);
      else this.onError?.(e);
    });
  }

  boundPort(): number {
    try {
      return this.udp.address().port;
    } catch {
      return 0;
    }
  }

  address(): AddressInfo {
    return this.udp.address();
  }

  bind(port: number, host: string): void {
    this.udp.bind(port, host);
  }

  send(buf: Buffer, offset: number, length: number, port: number, host: string, cb: (err: Error | null) => void): void {
    const fail = (why: string): void => {
      this.stats.dropped++;
      process.nextTick(() => cb(new Error(why)));
    };
    if (this.closed) return fail('the DHT socket is closed');
    if (!isPort(port) || !isIPv4(host) || !isUnicastIPv4(host)) return fail(`not sending to ${host}:${port}`);
    let out = buf.subarray(offset, offset + length);
    try {
      out = trimReply(out);
      this.udp.send(out, port, host, (err) => cb(err ?? null));
      this.stats.sent++;
    } catch (e) {
      fail((e as Error).message);
    }
  }

  close(): void {
    if (this.closed) {
      process.nextTick(() => this.emit('close'));
      return;
    }
    try {
      this.udp.close();
    } catch {
      this.closed = true;
      process.nextTick(() => this.emit('close'));
    }
  }

  private receive(buf: Buffer, rinfo: RemoteInfo): void {
    this.stats.received++;
    // sanitizeKrpc refuses oversized datagrams too (MAX_PACKET_BYTES), before decoding them.
    const clean = rinfo.port > 0 ? sanitizeKrpc(buf) : null;
    if (!clean) {
      this.stats.dropped++;
      return;
    }
    try {
      this.emit('message', clean, rinfo);
    } catch (e) {
      this.onHandlerError?.(e as Error, `${rinfo.address}:${rinfo.port}`);
    }
  }
}
