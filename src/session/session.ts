/**
 * One torrent, from a magnet's first peer to the last byte seeded: the coordinator. It owns the
 * lifecycle (lifecycle.ts: one table of transitions) and routes events to small owners; it
 * decides nothing they can decide:
 * - discovery (src/discovery): every address, from trackers, the DHT, PEX, --peer, x.pe;
 * - the peer set (peer-set.ts) and the connections (connections.ts over connector.ts): dialling,
 *   accepting TCP and uTP, greeting, closing; PeerConnection (src/peer) keeps wire state only and
 *   LivePeer (live-peer.ts) the session's side of a peer;
 * - what peers' messages mean (messages.ts), the metadata phase (metadata-phase.ts), whose
 *   connections survive into the download; for v2 (BEP 52) the piece layers a magnet (or a
 *   .torrent without them) lacks, fetched from peers with hash requests before any piece is
 *   requested, and hash requests served (hash-exchange.ts over piece-layers.ts);
 * - once the metadata is known (torrent.ts): the request scheduler, the assembler, the uploader,
 *   progress, resume data, the --stdout window, web seeds.
 * States, ordering rules and the desired/actual request rule are in STATE.md beside this file.
 * Clock, randomness, the dialer, storage and the DHT are injected: tests drive a whole session
 * over in-memory streams on a fake clock. Nothing throws out of it: see `finished`.
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { Discovery, type DiscoveredPeer } from '../discovery/index.js';
import { asTorrentError, RuntimeError } from '../errors.js';
import { encodeTorrentFromMetadata, MAX_PIECES, torrentFromMetadata, type Magnet, type Metainfo } from '../metainfo/index.js';
import { checkExisting } from '../storage/check.js';
import { checkExistingV2 } from '../storage/check-v2.js';
import { loadResume, resumePath } from '../storage/resume.js';
import { addrKey } from '../util/address.js';
import { every, systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { EventQueue } from '../util/event-queue.js';
import { encodeHandshake, EXTENDED_HANDSHAKE_ID, hasReserved, makePeerId, maxMessageBytes, Reserved, reservedBits } from '../wire/index.js';
import { Connections } from './connections.js';
import { tcpDialer } from './connector.js';
import { ourExtendedHandshake } from './extensions.js';
import { isFinal, transition, type Lifecycle } from './lifecycle.js';
import type { LivePeer } from './live-peer.js';
import { HashExchange } from './hash-exchange.js';
import { LayerPhase } from './layer-phase.js';
import { forgetPieces, stillOnDisk } from './lost-pieces.js';
import { PeerMessages } from './messages.js';
import { MetadataPhase } from './metadata-phase.js';
import { loadCachedTorrent, saveCachedTorrent } from './metainfo-cache.js';
import { PieceLayerFetcher } from './piece-layers.js';
import { PeerSet } from './peer-set.js';
import { sendPex } from './pex.js';
import { StreamReader } from './stream-reader.js';
import { buildTorrent } from './torrent.js';
import type { Conn, Core, SessionEvent, SessionOptions, SessionStats, Torrent } from './types.js';
import { collectStats } from './stats.js';
import { maintainPeer, timeoutError } from './upkeep.js';
import { MAX_UPLOAD_QUEUE } from './uploader.js';

export type { SessionEvent, SessionOptions, SessionStats, TorrentStorage } from './types.js';

const TICK_MS = 1000;
const HANDSHAKE_TIMEOUT_MS = 15_000;
/** While seeding, the files are checked for changes from outside this often. */
const SEED_DISK_CHECK_MS = 30_000;

export class TorrentSession {
  readonly events = new EventQueue<SessionEvent>();
  readonly peerId: Buffer;
  readonly infoHash: Buffer;
  /** Resolves when the session stops (done, interrupted) or fails. */
  readonly finished: Promise<Lifecycle>;
  private life: Lifecycle;
  private t: Torrent | null = null;
  private readonly clock: Clock;
  private readonly core: Core;
  private readonly peers: PeerSet;
  private readonly conns = new Map<number, Conn>();
  private readonly connections: Connections;
  private readonly messages: PeerMessages;
  private readonly counters: { downloaded: number; uploaded: number; lastProgressAt: number };
  private discovery: Discovery | null = null;
  private ticker: TimerHandle | null = null;
  private seedingSince = 0;
  private lastDiskCheckAt = 0;
  /** What --stdout reads through (the CLI is handed this). */
  readonly reader: StreamReader;
  private settle!: (s: Lifecycle) => void;
  private shutdownStarted = false;
  private readonly hashes: HashExchange;
  /** A hybrid's second swarm: its truncated v2 info hash (null for v1-only and v2-only). */
  private readonly v2Swarm: Buffer | null;
  /** The info dictionary is verified (from peers or the cache); later copies are ignored. */
  private metadataKnown = false;
  /** While piece layers are fetched, before the torrent's owners exist. */
  private layerPhase: LayerPhase | null = null;
  /** Writes of a v2 magnet's .torrent to the cache, one at a time (awaited on shutdown). */
  private cacheWrites: Promise<void> = Promise.resolve();

  constructor(private readonly o: SessionOptions) {
    // A v2-only swarm is named by the SHA-256 info hash truncated to 20 bytes (BEP 52): in the
    // handshake, to trackers and in the DHT. A hybrid (or a magnet naming both hashes) is in both
    // swarms: its own hash is the v1 one, and discovery, dials and incoming connections also use
    // the v2 one; a magnet naming only btmh joins the v2 swarm.
    const meta0 = o.input.kind === 'torrent' ? o.input.meta : null;
    const magnet = o.input.kind === 'magnet' ? o.input.magnet : null;
    const hashes = meta0 ?? magnet!;
    const infoHash = hashes.infoHash ?? hashes.infoHashV2!.subarray(0, 20);
    this.infoHash = infoHash;
    this.clock = o.clock ?? systemClock();
    const randomBytes = o.randomBytes ?? ((n: number) => cryptoRandomBytes(n));
    this.peerId = makePeerId(randomBytes);
    this.peers = new PeerSet(o.maxPeers);
    this.life = o.input.kind === 'magnet' ? { kind: 'fetching-metadata' } : { kind: 'checking' };
    this.counters = { downloaded: 0, uploaded: 0, lastProgressAt: this.clock.now() };
    const isPrivate = meta0?.private ?? false;
    this.core = {
      o,
      clock: this.clock,
      random: o.random ?? Math.random,
      randomBytes,
      infoHash,
      peerId: this.peerId,
      isPrivate,
      peers: this.peers,
      conns: this.conns,
      metadata: magnet ? new MetadataPhase({ v1: magnet.infoHash, v2: magnet.infoHashV2 }) : null,
      counters: this.counters,
      life: () => this.life,
      torrent: () => this.t,
      discovery: () => this.discovery,
      listenPort: () => this.connections.listenPort,
      livePeers: () => this.livePeers(),
      warn: (message) => this.events.push({ type: 'warning', message }),
      emit: (event, droppable) => this.events.push(event, droppable),
      guard: (fn) => this.guard(fn),
      fail: (e) => void this.fail(e),
      onMetadata: (infoBytes) => this.onMetadata(infoBytes),
      banIds: (ids, why, piece) => this.banIds(ids, why, piece),
    };
    const pieceCount = meta0 ? meta0.pieceCount : MAX_PIECES;
    // A hybrid joins its v1 swarm with the v2 bit set: a v2 peer may answer on the v2 swarm
    // instead (BEP 52 upgrade), and only on such a connection does libtorrent serve hashes.
    const v2Hash20 = hashes.infoHashV2?.subarray(0, 20) ?? null;
    const hybrid = hashes.infoHash !== null ? v2Hash20 : null;
    this.v2Swarm = hybrid;
    const peerOptions = {
      infoHash,
      upgradeInfoHash: hybrid,
      alsoInfoHash: hybrid,
      peerId: this.peerId,
      reserved: reservedBits({ extensionProtocol: true, dht: o.dht !== null && !isPrivate, fast: true, v2: hashes.infoHashV2 != null }),
      maxMessageBytes: maxMessageBytes(pieceCount),
      handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
      clock: this.clock,
    };
    const encryption = o.encryption ?? 'prefer';
    const dialer =
      o.dialer ??
      tcpDialer({
        encryption,
        transport: o.transport ?? 'both',
        utp: () => this.connections.utp,
        handshake: encodeHandshake({ reserved: peerOptions.reserved, infoHash, peerId: this.peerId }),
        infoHash,
        clock: this.clock,
        randomBytes,
      });
    this.hashes = new HashExchange(this.core, v2Hash20);
    this.messages = new PeerMessages(this.core, this.hashes);
    this.connections = new Connections(this.core, peerOptions, dialer, encryption, {
      onMessage: (conn, msg) => this.messages.onMessage(conn, msg),
      onGone: (conn) => this.messages.onGone(conn),
    });
    this.reader = new StreamReader(() => this.t, () => this.livePeers());
    this.finished = new Promise((resolve) => (this.settle = resolve));
  }

  get port(): number {
    return this.connections.listenPort;
  }

  get lifecycle(): Lifecycle {
    return this.life;
  }

  get meta(): Metainfo | null {
    return this.t?.meta ?? null;
  }

  /** Listens, starts discovery, then fetches metadata or checks what is on disk. Never throws: see `finished`. */
  async start(): Promise<void> {
    try {
      if (this.o.port !== null) await this.connections.listen(this.o.port, this.o.portSearch, (this.o.transport ?? 'both') !== 'tcp');
      // A torrent's first state (checking) is told once its owners exist, in begin().
      if (this.life.kind === 'fetching-metadata') this.emitState();
      this.startDiscovery();
      this.ticker = every(this.clock, TICK_MS, () => this.guard(() => this.tick()));
      if (this.o.input.kind === 'torrent') await this.withLayers(this.o.input.meta);
      else await this.fromCacheOrPeers(this.o.input.magnet);
    } catch (e) {
      await this.fail(e);
    }
  }

  /** Graceful stop (Ctrl-C): drop in-flight blocks, flush, save resume data, announce stopped. */
  async stop(): Promise<void> {
    if (isFinal(this.life)) return;
    await this.end({ kind: 'stopped', reason: 'interrupted' });
  }

  stats(): SessionStats {
    return collectStats(this.core, this.life.kind);
  }

  fileProgress(): { fileIndex: number; length: number; done: number }[] {
    return this.t?.progress.fileProgress() ?? [];
  }

  isFileSelected(i: number): boolean {
    return this.t?.progress.isFileSelected(i) ?? false;
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  private moveTo(next: Lifecycle): void {
    this.life = transition(this.life, next);
    this.emitState();
  }

  private emitState(): void {
    this.events.push({ type: 'state', state: this.life.kind }, false);
  }

  /** The metadata is known: build the torrent's owners, check the disk, then download or seed. */
  private async begin(meta: Metainfo): Promise<void> {
    const t = buildTorrent(meta, this.core, {
      verified: (p) => this.onVerified(p),
      written: (p) => this.onWritten(p),
      failed: (p, liars) => this.onPieceFailed(p, liars),
      diskBusy: (busy) => this.onDiskBusy(busy),
      readError: (p, e) => {
        if (!this.t?.progress.written.has(p)) return;
        this.core.warn(`cannot read piece ${p} for upload: ${e.message}; no longer offered`);
        forgetPieces(this.core, this.t, [p], 'unreadable');
      },
      forget: (pieces) => forgetPieces(this.core, t, pieces, 'changed on disk'),
    });
    this.t = t;
    if (this.life.kind === 'fetching-metadata') this.moveTo({ kind: 'checking' });
    else this.emitState();
    for (const c of this.conns.values()) if (c.live) this.connections.adoptPieces(c.live);
    const disk = t.storage.disk;
    if (disk) {
      const hex = this.infoHash.toString('hex');
      const resume = this.o.cacheDir ? await loadResume(resumePath(this.o.cacheDir, hex, this.o.outputDir), hex, meta.pieceCount, meta.files.length) : null;
      const wanted = (p: number): boolean => t.progress.wanted.has(p);
      // v1 and hybrid: SHA-1, resume data trusted for unchanged files; v2-only: every present
      // piece against its merkle hash.
      const checked = meta.pieces ? await checkExisting({ storage: disk, meta, wanted, resume }) : await checkExistingV2({ storage: disk, meta, wanted });
      if (isFinal(this.life)) return; // stopped while checking
      for (const p of checked.verified.ones()) {
        t.picker.setHave(p);
        t.progress.markWritten(p);
      }
      this.events.push({ type: 'checked', verifiedPieces: checked.verified.count, hashed: checked.hashed, trusted: 'trusted' in checked ? checked.trusted : 0 }, false);
    }
    if (this.o.seedOnly) {
      const name = meta.name;
      if (t.progress.written.count === 0) {
        throw new RuntimeError('ERR_INCOMPLETE', `no complete piece of ${name} found in ${this.o.outputDir}: nothing to seed`, {
          hint: 'give the folder that holds the data (the one download -o used)',
        });
      }
      if (this.o.requireComplete && !t.progress.complete) {
        throw new RuntimeError('ERR_INCOMPLETE', `${name} is incomplete in ${this.o.outputDir}: ${t.progress.written.count} of ${t.progress.wantedPieces} pieces`, {
          hint: 'finish it with torrent download, or seed what is there without --require-complete',
        });
      }
      this.startSeeding();
    } else {
      await disk?.createEmptyFiles();
      if (isFinal(this.life)) return;
      if (t.progress.complete) {
        await this.complete();
      } else {
        this.moveTo({ kind: 'downloading' });
        this.peers.wakeNotNeeded(this.clock.now());
        t.webSeeds?.fill();
        // Peers met while fetching the metadata or checking are asked now, not at the next tick.
        t.scheduler.updateAll(this.livePeers());
      }
    }
    // Peers connected while we checked learn what we have now.
    for (const c of this.conns.values()) if (c.live) this.connections.greetWithPieces(c.live);
    this.connections.dialMore();
  }

  private async complete(): Promise<void> {
    const t = this.t!;
    // No success over missing data: a file changed from outside since we wrote it is noticed
    // here, its pieces are fetched again.
    if (!(await stillOnDisk(this.core, t))) {
      if (this.life.kind === 'checking') this.moveTo({ kind: 'downloading' });
      return;
    }
    if (isFinal(this.life)) return;
    t.webSeeds?.close(); // web seeds stop when the download is complete
    await t.resume?.save(this.clock.now());
    this.discovery?.completed();
    if (this.o.seed) this.startSeeding();
    else await this.end({ kind: 'stopped', reason: 'done' });
  }

  private startSeeding(): void {
    this.moveTo({ kind: 'seeding' });
    this.seedingSince = this.clock.now();
    for (const p of this.livePeers()) this.t!.scheduler.update(p); // not interested any more
  }

  private seedGoalReached(now: number): boolean {
    const { seedRatio, seedTimeMs } = this.o;
    if (seedRatio != null && this.counters.uploaded >= seedRatio * this.t!.progress.wantedBytes) return true;
    return seedTimeMs != null && now - this.seedingSince >= seedTimeMs;
  }

  private async fail(e: unknown): Promise<void> {
    if (isFinal(this.life)) return;
    await this.end({ kind: 'failed', error: asTorrentError(e) });
  }

  /** Runs engine code from a callback: an exception is a bug that fails the session, with its stack. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      void this.fail(e);
    }
  }

  private async end(final: Lifecycle): Promise<void> {
    if (this.shutdownStarted) return;
    this.shutdownStarted = true;
    this.moveTo(final);
    this.ticker?.cancel();
    const t = this.t;
    this.layerPhase?.stop();
    this.layerPhase = null;
    t?.dispose();
    t?.webSeeds?.close();
    t?.assembler.stop();
    await Promise.all([
      this.cacheWrites,
      this.connections.close(),
      this.discovery?.stop(),
      (async () => {
        if (!t) return;
        await t.assembler.drain();
        await t.resume?.save(this.clock.now());
        // A stream reader may still be reading the last pieces: storage closes after it.
        await Promise.all([...this.reader.leases]);
        await t.storage.store.close();
      })().catch((e: unknown) => this.core.warn(`closing storage: ${(e as Error).message}`)),
    ]);
    this.events.end();
    this.settle(this.life);
  }

  // ---- discovery and the metadata ----------------------------------------------------------

  private startDiscovery(): void {
    const input = this.o.input;
    const own = input.kind === 'torrent' ? input.meta.announce.map((tier) => [...tier]) : input.magnet.trackers.length > 0 ? [[...input.magnet.trackers]] : [];
    const extra = this.core.isPrivate ? [] : this.o.trackers.map((u) => [u]);
    this.discovery = new Discovery({
      infoHash: this.infoHash,
      infoHashV2: this.v2Swarm,
      peerId: this.peerId,
      port: this.connections.listenPort,
      trackers: [...own, ...extra],
      private: this.core.isPrivate,
      dht: this.o.dht,
      clock: this.clock,
      random: this.core.random,
      createTracker: this.o.createTracker,
      // Before the metadata the size is unknown; libtorrent announces 16 KiB too.
      stats: () => ({ uploaded: this.counters.uploaded, downloaded: this.counters.downloaded, left: this.t ? this.t.picker.wantedBytesLeft() : 16384 }),
      onPeers: (found) => this.guard(() => this.onDiscovered(found)),
      onWarning: (m) => this.core.warn(m),
    });
    this.discovery.start();
    this.discovery.addManual(this.o.peers, 'manual');
    if (input.kind === 'magnet') this.discovery.addManual(input.magnet.peers, 'magnet');
  }

  private onDiscovered(found: DiscoveredPeer[]): void {
    const now = this.clock.now();
    for (const f of found) this.peers.add(f.addr, f.source, now, f.swarm);
    this.connections.dialMore();
  }

  /**
   * A v2 magnet whose .torrent (info and the piece layers verified so far) is in the cache from an
   * interrupted run starts from it: no metadata fetch, and only the missing layers are asked.
   */
  private async fromCacheOrPeers(magnet: Magnet): Promise<void> {
    const cacheDir = this.o.cacheDir;
    const cached = magnet.infoHashV2 && cacheDir && !this.o.metadataOnly ? await loadCachedTorrent(cacheDir, magnet) : null;
    if (cached) this.onMetadata(cached);
    else this.connections.dialMore();
  }

  /** `found`: the info dictionary a metadata copy matched, or the cached torrent (checked and built). */
  private onMetadata(found: Buffer | { bytes: Buffer; meta: Metainfo }): void {
    if (this.o.input.kind !== 'magnet' || this.life.kind !== 'fetching-metadata' || this.metadataKnown) return;
    this.metadataKnown = true;
    this.core.metadata?.finish();
    let built: { bytes: Buffer; meta: Metainfo };
    try {
      built = Buffer.isBuffer(found) ? torrentFromMetadata(found, this.o.input.magnet) : found;
    } catch (e) {
      void this.fail(e);
      return;
    }
    if (this.o.metadataOnly) {
      this.events.push({ type: 'metadata', meta: built.meta, torrent: built.bytes }, false);
      void this.end({ kind: 'stopped', reason: 'done' });
      return;
    }
    this.withLayers(built.meta).catch((e: unknown) => this.fail(e));
    this.connections.dialMore();
  }

  /**
   * The info dictionary is known. A v2 or hybrid torrent first gets the piece layers it lacks
   * from v2 peers (BEP 52 hash requests; no piece is requested before, so none is written
   * unverified); then the torrent's owners are built. A magnet's `metadata` event carries the
   * .torrent with its layers, which is also kept in the cache until the download is resumed.
   */
  private async withLayers(meta: Metainfo): Promise<void> {
    const magnet = this.o.input.kind === 'magnet' ? this.o.input.magnet : null;
    const go = (layers: ReadonlyMap<string, Buffer>): Promise<void> => {
      const full: Metainfo = layers.size > meta.pieceLayers.size ? { ...meta, pieceLayers: new Map(layers) } : meta;
      if (magnet) {
        // The layers were verified against their roots as they came: encoded, not parsed again.
        const torrent = encodeTorrentFromMetadata(meta.infoBytes, magnet, full.pieceLayers);
        this.events.push({ type: 'metadata', meta: full, torrent }, false);
        if (full.infoHashV2 !== null) this.saveTorrent(torrent);
        // Peers learn that we now serve the metadata too (BEP 10 allows a second handshake).
        const hs = ourExtendedHandshake({ infoBytes: full.infoBytes, private: full.private, listenPort: this.connections.listenPort, reqq: MAX_UPLOAD_QUEUE });
        for (const p of this.livePeers()) if (hasReserved(p.conn.remote!.reserved, Reserved.extensionProtocol)) p.conn.send({ type: 'extended', id: EXTENDED_HANDSHAKE_ID, payload: hs });
      }
      this.hashes.serve(full, () => full.pieceLayers);
      return this.begin(full);
    };
    if (meta.infoHashV2 === null) return go(meta.pieceLayers);
    const fetcher = new PieceLayerFetcher(meta, meta.pieceLayers);
    if (fetcher.complete) return go(fetcher.layers);
    this.layerPhase = new LayerPhase(this.core, this.hashes, meta, fetcher, {
      saveLayers: magnet ? (layers) => this.saveTorrent(encodeTorrentFromMetadata(meta.infoBytes, magnet, layers)) : null,
      onDone: (layers) => {
        this.layerPhase = null;
        go(layers).catch((e: unknown) => this.fail(e));
      },
    });
  }

  /** Keeps a v2 magnet's .torrent with the layers verified so far (best effort, one write at a time). */
  private saveTorrent(torrent: Buffer): void {
    const cacheDir = this.o.cacheDir;
    if (this.o.input.kind !== 'magnet' || !cacheDir) return;
    const magnet = this.o.input.magnet;
    this.cacheWrites = this.cacheWrites.then(async () => {
      const warning = await saveCachedTorrent(cacheDir, magnet, torrent);
      if (warning) this.core.warn(warning);
    });
  }

  // ---- pieces ------------------------------------------------------------------------------

  /**
   * The picker has the piece: its holders are one piece less interesting. This must be when the
   * picker's `has` turns true, as a new peer's count of interesting pieces is taken against it: done
   * at `written` instead, a peer counted while the piece was being written lost it twice, went
   * not-interested with a piece still missing, and the download stalled.
   */
  private onVerified(piece: number): void {
    const t = this.t;
    if (!t || isFinal(this.life)) return;
    t.scheduler.onVerified(this.livePeers(), piece);
  }

  private onWritten(piece: number): void {
    const t = this.t!;
    if (isFinal(this.life)) return;
    for (const f of t.progress.markWritten(piece)) this.events.push({ type: 'file-done', fileIndex: f });
    t.resume?.markDirty();
    this.events.push({ type: 'piece', index: piece });
    // With --no-save the piece is gone once streamed: it is not announced. A peer that has the
    // piece (a seed, most often) is not told: it cannot want it, and in a swarm of seeds these
    // haves were one write per peer per piece (libtorrent's send_redundant_have off).
    for (const p of this.livePeers()) {
      if (!this.o.noSave && !p.bitfield?.has(piece)) p.conn.send({ type: 'have', index: piece });
    }
    t.resume?.maybeSave(this.clock.now());
    t.webSeeds?.fill();
    if (t.progress.complete && this.life.kind === 'downloading') void this.complete().catch((e: unknown) => this.fail(e));
  }

  private onPieceFailed(piece: number, liars: number[]): void {
    this.core.warn(`piece ${piece} failed its hash check; fetching it again`);
    this.banIds(liars, `sent bad data for piece ${piece}`, piece);
    this.t!.scheduler.updateAll(this.livePeers());
    this.t!.webSeeds?.fill();
  }

  /** Bans the peers proven to have sent bad data; a web seed among them is dropped instead. */
  private banIds(ids: number[], why: string, piece: number): void {
    for (const id of ids) {
      if (this.t?.webSeeds?.owns(id)) {
        this.t.webSeeds.badPiece(id, piece);
        continue;
      }
      const c = this.conns.get(id);
      if (!c) continue;
      this.core.warn(`banned ${addrKey(c.conn.address)}: ${why}`);
      c.conn.close('bad-data', why);
    }
  }

  private onDiskBusy(busy: boolean): void {
    for (const p of this.livePeers()) {
      if (busy) p.conn.pauseReads();
      else p.conn.resumeReads();
    }
    if (!busy) this.t!.scheduler.updateAll(this.livePeers());
  }

  // ---- the clock ---------------------------------------------------------------------------

  private tick(): void {
    if (isFinal(this.life)) return;
    const now = this.clock.now();
    const t = this.t;
    const live = this.livePeers();
    for (const p of live) maintainPeer(p, now, this.life.kind, !this.peers.hasRoom);
    if (t) {
      let freed = false;
      for (const p of live) if (t.scheduler.expire(p, now)) freed = true;
      if (freed || this.life.kind === 'downloading') t.scheduler.updateAll(live);
      t.uploader.maybeRechoke(live, this.life.kind === 'seeding', now);
      t.webSeeds?.fill();
      t.resume?.maybeSave(now);
      if (this.life.kind === 'seeding' && t.storage.disk && now - this.lastDiskCheckAt >= SEED_DISK_CHECK_MS) {
        this.lastDiskCheckAt = now;
        stillOnDisk(this.core, t).catch((e: unknown) => this.fail(e));
      }
    }
    const layersFailed = this.layerPhase?.tick(now);
    if (layersFailed) {
      void this.fail(layersFailed);
      return;
    }
    const metadata = this.core.metadata;
    if (metadata && this.life.kind === 'fetching-metadata' && !this.metadataKnown) {
      for (const id of metadata.timedOut(now)) this.conns.get(id)?.conn.close('not-useful', 'metadata request timed out');
    }
    if (!this.core.isPrivate) sendPex(this.livePeers(), now);
    if (this.life.kind === 'seeding' && this.seedGoalReached(now)) {
      void this.end({ kind: 'stopped', reason: 'done' });
      return;
    }
    this.connections.dialMore();
    const ms = this.o.timeoutMs;
    const state = this.life.kind;
    if (ms !== null && now - this.counters.lastProgressAt > ms && !this.layerPhase && (state === 'downloading' || state === 'fetching-metadata')) {
      void this.fail(timeoutError(state, ms, this.livePeers().length, this.peers.size));
    }
  }

  private livePeers(): LivePeer[] {
    const out: LivePeer[] = [];
    for (const c of this.conns.values()) if (c.live && c.conn.isOpen) out.push(c.live);
    return out;
  }
}
