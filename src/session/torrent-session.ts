/**
 * One torrent being downloaded (and, later, seeded): the thin coordinator that wires peers, the
 * piece picker, storage and the announcer. States, transitions and ordering rules are written
 * down in STATE.md beside this file; `transition()` is the only place the lifecycle changes.
 *
 * Ownership: the picker owns piece/block states; this module owns the bytes of in-progress pieces
 * (blocks held until the piece verifies), the set of connections and the peer pool. Peers report
 * through PeerHandler in arrival order; nothing here runs inside a consumer's listener: events
 * go out through a bounded EventQueue.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { InputError, RuntimeError, TorrentError } from '../errors.js';
import type { Metainfo } from '../metainfo/index.js';
import { MAX_INCOMING_REQUESTS, PeerConnection, type CloseReason, type PeerHandler, type PeerOptions } from '../peer/peer-connection.js';
import { PiecePicker } from '../picker/index.js';
import { checkExisting } from '../storage/check.js';
import { FileStorage } from '../storage/file-storage.js';
import { MemoryStorage } from '../storage/memory-storage.js';
import { PieceMap } from '../storage/piece-map.js';
import type { Storage } from '../storage/storage.js';
import { ReadCache } from '../storage/read-cache.js';
import { loadResume, resumePath, saveResume, type ResumeData } from '../storage/resume.js';
import { Announcer, type TrackerWarning } from '../tracker/index.js';
import { Bitfield } from '../util/bitfield.js';
import { EventQueue } from '../util/event-queue.js';
import { TokenBucket } from '../util/token-bucket.js';
import {
  BLOCK_SIZE,
  makePeerId,
  maxMessageBytes,
  reservedBits,
  decodeExtendedHandshake,
  decodePex,
  encodeExtendedHandshake,
  encodeMetadataMessage,
  encodePex,
  EXTENDED_HANDSHAKE_ID,
  METADATA_PIECE_BYTES,
  MAX_METADATA_BYTES,
  PEX_INTERVAL_MS,
  type PexPeer,
  validateBitfield,
  validateHave,
  type Message,
} from '../wire/index.js';
import { chooseUnchoked, OPTIMISTIC_INTERVAL_MS, pickOptimistic, RECHOKE_INTERVAL_MS, REGULAR_UNCHOKE_SLOTS } from './choker.js';
import type { Dht } from '../dht/index.js';
import { decodeMetadataMessageOrSkip, UT_METADATA_ID, UT_PEX_ID } from './extensions.js';
import { addressKey, PeerPool, type Candidate } from './peer-pool.js';
import { PieceBufferPool } from './piece-buffers.js';
import { SmartBan } from './smart-ban.js';

export type SessionState =
  | { kind: 'checking' }
  | { kind: 'downloading' }
  | { kind: 'seeding' }
  | { kind: 'stopped'; reason: 'done' | 'interrupted' }
  | { kind: 'failed'; error: TorrentError };

export type SessionEvent =
  | { type: 'state'; state: SessionState['kind'] }
  | { type: 'checked'; verifiedPieces: number; hashed: number; trusted: number }
  | { type: 'piece'; index: number }
  | { type: 'file-done'; fileIndex: number }
  | { type: 'peer'; address: string; event: 'connected' | 'closed'; reason?: string }
  | { type: 'warning'; message: string };

export interface SessionOptions {
  meta: Metainfo;
  outputDir: string;
  /** Indexes into meta.files (pad files included) to download; null = all. */
  selected: ReadonlySet<number> | null;
  /** Listen port: exact (0 = any) or the first free port from `port` when portSearch is set. */
  port: number;
  portSearch: boolean;
  maxPeers: number;
  /** --peer addresses. */
  peers: readonly { host: string; port: number }[];
  /** Tracker tiers to announce to (the torrent's plus --tracker). */
  trackers: readonly (readonly string[])[];
  /** Give up after this long without a piece (ms); null = never. */
  timeoutMs: number | null;
  cacheDir: string;
  /** Keep running after completion (seeding) instead of stopping. */
  seed: boolean;
  /** Only seed what is on disk; never download (torrent seed). */
  seedOnly?: boolean;
  /** Stop seeding once uploaded >= ratio x the torrent's wanted bytes. */
  seedRatio?: number | null;
  /** Stop seeding after this long (ms). */
  seedTimeMs?: number | null;
  /** With seedOnly: fail (exit 1) instead of seeding incomplete data. */
  requireComplete?: boolean;
  /**
   * Stream a byte range in order (--stdout): pieces [firstPiece, lastPiece] are fetched in order,
   * `windowPieces` ahead of the reader first. With `hard`, nothing beyond the window is fetched
   * (memory stays bounded when nothing is saved); otherwise the rest follows at lower priority.
   */
  stream?: { firstPiece: number; lastPiece: number; windowPieces: number; hard: boolean } | null;
  /** Keep verified pieces in memory only (--no-save); nothing is written to disk or uploaded. */
  noSave?: boolean;
  /** Upload at most this many bytes a second (all peers together); null = unlimited. */
  uploadLimit?: number | null;
  /** A running DHT to find peers and announce in (not used for private torrents, BEP 27). */
  dht?: Dht | null;
  now?: () => number;
  random?: () => number;
}

export interface SessionStats {
  state: SessionState['kind'];
  downloaded: number;
  uploaded: number;
  /** Bytes of wanted pieces verified (and so on disk or about to be). */
  verifiedBytes: number;
  wantedBytes: number;
  downloadRate: number;
  uploadRate: number;
  peers: number;
  knownPeers: number;
  verifiedPieces: number;
  wantedPieces: number;
}

/** The session's clock: timeouts, keep-alives, rates, reconnects. */
const TICK_MS = 1000;
const CONNECT_TIMEOUT_MS = 10_000;
const HANDSHAKE_TIMEOUT_MS = 15_000;
/** BEP 3: peers drop connections silent for two minutes; a keep-alive every 90 s avoids it. */
const KEEPALIVE_MS = 90_000;
const IDLE_TIMEOUT_MS = 150_000;
/** A request unanswered this long is given to other peers and its peer marked snubbed. */
const REQUEST_TIMEOUT_MS = 15_000;
/** Connections being set up at once; more would only queue in the kernel. */
const MAX_HALF_OPEN = 16;
/**
 * Bytes of received but unverified blocks held in memory. Past it, socket reads pause until
 * pieces verify (anacrolix's MaxUnverifiedBytes); memory does not grow with torrent size.
 */
const MAX_UNVERIFIED_BYTES = 32 * 1024 * 1024;
/** One read fetches up to this much from a socket: fewer system calls than Node's 64 KiB. */
const READ_BUFFER_BYTES = 256 * 1024;
/** Bytes handed to storage but not yet written; past it, reads pause (libtorrent's disk queue). */
const DISK_HIGH_WATER_BYTES = 16 * 1024 * 1024;
/** Request queue per peer: rate x this long, in blocks (libtorrent's request_queue_time). */
const REQUEST_QUEUE_SECONDS = 2;
const MIN_QUEUE = 4;
/** Requests are topped up when at least this many (or a quarter of the queue) are missing. */
const REQUEST_BATCH = 32;
const MAX_QUEUE = 1000;
/** Without a BEP 10 `reqq` we assume what libtorrent and most clients accept. */
const DEFAULT_REQQ = 250;
/** Resume data written this often while pieces arrive (and on stop). */
const RESUME_SAVE_MS = 5_000;
/** Pieces kept in memory to serve uploads (whole pieces, LRU). */
const READ_CACHE_BYTES = 32 * 1024 * 1024;
/** Bytes queued in one peer's socket before we stop reading more blocks for it. */
const UPLOAD_HIGH_WATER_BYTES = 1024 * 1024;
/** Disk reads in flight per peer. */
const MAX_READS_PER_PEER = 4;
/** A peer that sends this many invalid requests is dropped. */
const MAX_INVALID_REQUESTS = 20;
/** Stream priorities: inside the read-ahead window first, then the rest (soft window). */
const STREAM_WINDOW_PRIORITY = 2;
const STREAM_BEHIND_PRIORITY = 1;
/** BEP 10 extended handshake message id. */
const CLIENT_VERSION = 'torrent 0.1.0';
/** BEP 11: at most 50 added and 50 dropped peers per message. */
const PEX_MAX_PEERS = 50;
/** How often we announce ourselves in the DHT (BEP 5 peers expire after ~30 min). */
const DHT_ANNOUNCE_MS = 15 * 60_000;
/** A DHT announce that found no node to tell is tried again after this long. */
const DHT_RETRY_MS = 60_000;
/** The first DHT announce waits for the lookup to have found nodes. */
const DHT_FIRST_ANNOUNCE_MS = 10_000;

interface InProgress {
  /** The piece's bytes as blocks arrive (from the buffer pool). */
  data: Buffer;
  /** Who sent each block (for smart ban). */
  senders: number[];
}

export class TorrentSession {
  readonly events = new EventQueue<SessionEvent>();
  readonly peerId: Buffer;
  readonly picker: PiecePicker;
  readonly storage: Storage;
  readonly map: PieceMap;
  /** The disk backend, or null with noSave. */
  private readonly files: FileStorage | null;
  private state: SessionState = { kind: 'checking' };
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly peers = new Map<number, PeerConnection>();
  private readonly peerCandidate = new Map<number, Candidate>();
  private readonly pool = new PeerPool();
  /** Banned IP addresses (loopback excepted: many local peers share it) and peer ids. */
  private readonly bannedHosts = new Set<string>();
  private readonly bannedPeerIds = new Set<string>();
  private readonly inProgress = new Map<number, InProgress>();
  private readonly buffers: PieceBufferPool;
  /** Outgoing connections read into this one buffer (see PeerOptions.readBuffer). */
  private readonly readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  /** Per peer: pieces it has that we want and lack (drives interested / not interested). */
  private readonly interesting = new Map<number, number>();
  /** Per peer, from its BEP 10 handshake: its ids for our extensions and its listen port. */
  private readonly extensions = new Map<number, { metadata?: number; pex?: number; listenPort?: number }>();
  /** Per peer: the addresses our last PEX messages told it about. */
  private readonly pexSent = new Map<number, Set<string>>();
  /** When each peer last got a PEX message from us. */
  private readonly lastPexTo = new Map<number, number>();
  private lastDhtAnnounceAt = 0;
  /** The DHT, unless absent or the torrent is private. */
  private readonly dht: Dht | null;
  private readonly smartBan = new SmartBan();
  private readonly written: Bitfield;
  private readonly peerOptions: PeerOptions;
  private readonly fileRemaining: number[];
  /** The selection is fixed for the session: its pieces and totals are computed once. */
  private readonly wanted = { pieces: 0, bytes: 0 };
  private readonly wantedSet: Bitfield;
  private readonly leases = new Set<Promise<void>>();
  /** Wanted pieces written: the download is done when this reaches wanted.pieces. */
  private writtenWanted = 0;
  /** Pieces below this have been raised into the stream's read-ahead window. */
  private streamWindowEnd = 0;
  private server: Server | null = null;
  private announcer: Announcer | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private unverifiedBytes = 0;
  private diskQueueBytes = 0;
  private readsPaused = false;
  private downloadedBytes = 0;
  private uploadedBytes = 0;
  private lastProgressAt: number;
  private lastResumeSaveAt = 0;
  private resumeDirty = false;
  private resumeChain: Promise<void> = Promise.resolve();
  private listenPort = 0;
  private settled!: (state: SessionState) => void;
  /** Resolves when the session stops (done, interrupted) or fails. */
  readonly finished: Promise<SessionState>;
  private readonly resumeFile: string;
  private readonly readCache: ReadCache;
  private readonly uploadBucket: TokenBucket | null;
  private lastRechokeAt = 0;
  private lastOptimisticAt = 0;
  private optimistic: number | null = null;
  private seedingSince = 0;

  constructor(private readonly opts: SessionOptions) {
    const { meta } = opts;
    if (!meta.pieces || !meta.infoHash) {
      throw new InputError('ERR_BAD_TORRENT', 'v2-only torrents cannot be downloaded yet; only v1 and hybrid torrents');
    }
    this.now = opts.now ?? Date.now;
    this.dht = opts.dht && !meta.private ? opts.dht : null;
    this.random = opts.random ?? Math.random;
    this.peerId = makePeerId((n) => randomBytes(n));
    this.picker = new PiecePicker({
      pieceCount: meta.pieceCount,
      pieceLength: meta.pieceLength,
      totalLength: meta.totalLength,
      random: this.random,
    });
    this.map = new PieceMap(meta.files, meta.pieceLength, meta.totalLength);
    this.files = opts.noSave ? null : new FileStorage({ root: opts.outputDir, meta, selected: opts.selected });
    this.storage = this.files ?? new MemoryStorage((p) => this.map.pieceSize(p));
    this.written = new Bitfield(meta.pieceCount);
    this.readCache = new ReadCache(this.storage, READ_CACHE_BYTES);
    this.uploadBucket = opts.uploadLimit ? new TokenBucket(opts.uploadLimit, Math.max(opts.uploadLimit, 4 * BLOCK_SIZE), this.now()) : null;
    this.buffers = new PieceBufferPool(meta.pieceLength, Math.ceil((MAX_UNVERIFIED_BYTES + DISK_HIGH_WATER_BYTES) / meta.pieceLength) + 2);
    this.fileRemaining = meta.files.map((f) => (f.pad ? 0 : f.length));
    this.wantedSet = new Bitfield(meta.pieceCount);
    for (let p = 0; p < meta.pieceCount; p++) {
      const w = this.isWanted(p);
      this.picker.setWanted(p, w);
      if (w) {
        this.wantedSet.set(p);
        this.wanted.pieces++;
        this.wanted.bytes += this.picker.pieceSize(p);
      }
    }
    if (opts.stream) {
      this.picker.setSequential(true);
      this.streamWindowEnd = opts.stream.firstPiece;
      for (let p = opts.stream.firstPiece; p <= opts.stream.lastPiece; p++) {
        if (opts.stream.hard) this.picker.setPriority(p, 0);
        else this.picker.setPriority(p, STREAM_BEHIND_PRIORITY);
      }
      this.setStreamCursor(opts.stream.firstPiece);
    }
    this.peerOptions = {
      infoHash: meta.infoHash,
      peerId: this.peerId,
      reserved: reservedBits({ extensionProtocol: true, dht: this.dht !== null }),
      pieceCount: meta.pieceCount,
      maxMessageBytes: maxMessageBytes(meta.pieceCount),
      handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
      now: this.now,
      readBuffer: this.readBuffer,
    };
    this.lastProgressAt = this.now();
    this.resumeFile = resumePath(opts.cacheDir, meta.infoHash.toString('hex'), opts.outputDir);
    this.finished = new Promise((resolve) => {
      this.settled = resolve;
    });
  }

  get port(): number {
    return this.listenPort;
  }

  get lifecycle(): SessionState {
    return this.state;
  }

  /** Checks existing data, then connects, announces and downloads. Never throws: see `finished`. */
  async start(): Promise<void> {
    try {
      await this.listen();
      this.emitState();
      if (this.files) {
        const resume = await loadResume(this.resumeFile, this.opts.meta.infoHash!.toString('hex'), this.opts.meta.pieceCount, this.opts.meta.files.length);
        const checked = await checkExisting({
          storage: this.files,
          meta: this.opts.meta,
          wanted: (p) => this.wantedSet.has(p),
          resume,
        });
        if (this.state.kind !== 'checking') return; // stopped while checking
        for (const p of checked.verified.ones()) {
          this.picker.setHave(p);
          this.markWritten(p);
          this.accountFileBytes(p);
        }
        this.events.push({ type: 'checked', verifiedPieces: checked.verified.count, hashed: checked.hashed, trusted: checked.trusted });
      }
      if (this.opts.seedOnly) {
        if (this.written.count === 0) {
          throw new RuntimeError('ERR_INCOMPLETE', `no complete piece of ${this.opts.meta.name} found in ${this.opts.outputDir}: nothing to seed`, {
            hint: 'give the folder that holds the data (the one download -o used)',
          });
        }
        if (this.opts.requireComplete && !this.allWantedWritten()) {
          throw new RuntimeError(
            'ERR_INCOMPLETE',
            `${this.opts.meta.name} is incomplete in ${this.opts.outputDir}: ${this.written.count} of ${this.wanted.pieces} pieces`,
            { hint: 'finish it with torrent download, or seed what is there without --require-complete' },
          );
        }
        this.startSeeding();
      } else {
        await this.files?.createEmptyFiles();
        if (this.allWantedWritten()) {
          await this.complete();
          if (!this.opts.seed) return;
        } else {
          this.transition({ kind: 'downloading' });
        }
      }
      this.startAnnouncer();
      for (const p of this.opts.peers) this.pool.add(p.host, p.port, 'manual', this.now());
      if (this.dht) {
        this.dht.lookup(this.opts.meta.infoHash!, (p) => {
          this.pool.add(p.host, p.port, 'dht', this.now());
          this.connectMore();
        });
        // The first announce after the lookup has had time to find nodes, then every 15 min.
        this.lastDhtAnnounceAt = this.now() - DHT_ANNOUNCE_MS + DHT_FIRST_ANNOUNCE_MS;
      }
      this.tickTimer = setInterval(() => this.tick(), TICK_MS);
      this.connectMore();
    } catch (e) {
      await this.fail(e);
    }
  }

  /** Graceful stop (Ctrl-C): drop in-flight blocks, flush, save resume data, announce stopped. */
  async stop(): Promise<void> {
    if (this.state.kind === 'stopped' || this.state.kind === 'failed') return;
    this.transition({ kind: 'stopped', reason: 'interrupted' });
    await this.shutdown();
    this.settled(this.state);
  }

  /** Bytes on disk (verified) per file of meta.files, pad files 0. */
  fileProgress(): { fileIndex: number; length: number; done: number }[] {
    return this.opts.meta.files.map((f, i) => ({
      fileIndex: i,
      length: f.pad ? 0 : f.length,
      done: f.pad ? 0 : f.length - this.fileRemaining[i]!,
    }));
  }

  /** Whether file `i` of meta.files is part of the download. */
  isFileSelected(i: number): boolean {
    const f = this.opts.meta.files[i]!;
    return !f.pad && (this.opts.selected === null || this.opts.selected.has(i));
  }

  stats(): SessionStats {
    const now = this.now();
    let downloadRate = 0;
    let uploadRate = 0;
    let peers = 0;
    for (const p of this.peers.values()) {
      if (!p.isOpen) continue;
      peers++;
      downloadRate += p.download.rate(now);
      uploadRate += p.upload.rate(now);
    }
    const wantedBytes = this.wanted.bytes;
    return {
      state: this.state.kind,
      downloaded: this.downloadedBytes,
      uploaded: this.uploadedBytes,
      verifiedBytes: wantedBytes - this.picker.wantedBytesLeft(),
      wantedBytes,
      downloadRate,
      uploadRate,
      peers,
      knownPeers: this.pool.size,
      verifiedPieces: this.picker.verifiedCount,
      wantedPieces: this.wanted.pieces,
    };
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  /** The only place the lifecycle changes; an illegal transition is a bug. */
  private transition(next: SessionState): void {
    const from = this.state.kind;
    const legal: Record<SessionState['kind'], SessionState['kind'][]> = {
      checking: ['downloading', 'seeding', 'stopped', 'failed'],
      downloading: ['seeding', 'stopped', 'failed'],
      seeding: ['stopped', 'failed'],
      stopped: [],
      failed: [],
    };
    if (!legal[from].includes(next.kind)) {
      throw new Error(`illegal session transition ${from} -> ${next.kind}`);
    }
    this.state = next;
    this.emitState();
  }

  private emitState(): void {
    this.events.push({ type: 'state', state: this.state.kind });
  }

  private async complete(): Promise<void> {
    await this.saveResumeNow();
    this.announcer?.completed();
    if (this.opts.seed) {
      this.startSeeding();
      return;
    }
    this.transition({ kind: 'stopped', reason: 'done' });
    await this.shutdown();
    this.settled(this.state);
  }

  private startSeeding(): void {
    this.transition({ kind: 'seeding' });
    this.seedingSince = this.now();
    for (const p of this.peers.values()) {
      if (p.isOpen && p.amInterested) p.send({ type: 'not-interested' });
    }
  }

  /** Seeding ends (exit 0) at --seed-ratio or --seed-time. */
  private seedGoalReached(now: number): boolean {
    const { seedRatio, seedTimeMs } = this.opts;
    if (seedRatio !== undefined && seedRatio !== null && this.uploadedBytes >= seedRatio * this.wanted.bytes) return true;
    if (seedTimeMs !== undefined && seedTimeMs !== null && now - this.seedingSince >= seedTimeMs) return true;
    return false;
  }

  private async finishSeeding(): Promise<void> {
    this.transition({ kind: 'stopped', reason: 'done' });
    await this.shutdown();
    this.settled(this.state);
  }

  private async fail(e: unknown): Promise<void> {
    if (this.state.kind === 'stopped' || this.state.kind === 'failed') return;
    const error =
      e instanceof TorrentError ? e : new RuntimeError('ERR_INTERNAL', e instanceof Error ? e.message : String(e), { cause: e });
    this.transition({ kind: 'failed', error });
    await this.shutdown();
    this.settled(this.state);
  }

  private async shutdown(): Promise<void> {
    this.dht?.stopLookup(this.opts.meta.infoHash!);
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = null;
    for (const p of [...this.peers.values()]) p.close('shutdown');
    this.server?.close();
    this.server = null;
    // In-flight blocks are dropped: only verified pieces were ever written.
    this.inProgress.clear();
    await Promise.all([
      this.announcer ? this.announcer.stop().catch(() => undefined) : undefined,
      (async () => {
        await this.waitForDisk();
        await this.saveResumeNow().catch(() => undefined);
        // A stream reader may still be reading the last pieces: storage closes after it.
        await Promise.all([...this.leases]);
        await this.storage.close();
      })(),
    ]);
    this.events.end();
  }

  // ---- peers: sources and connections ------------------------------------------------------

  private async listen(): Promise<void> {
    const server = createServer((socket) => this.onIncoming(socket));
    const tryPort = (port: number): Promise<boolean> =>
      new Promise((resolve, reject) => {
        const onError = (e: NodeJS.ErrnoException): void => {
          server.off('listening', onListening);
          if (e.code === 'EADDRINUSE' || e.code === 'EACCES') resolve(false);
          else reject(e);
        };
        const onListening = (): void => {
          server.off('error', onError);
          resolve(true);
        };
        server.once('error', onError);
        server.once('listening', onListening);
        server.listen(port);
      });
    const first = this.opts.port;
    let ok = await tryPort(first);
    for (let p = first + 1; !ok && this.opts.portSearch && first !== 0 && p < first + 50 && p <= 65535; p++) ok = await tryPort(p);
    if (!ok) throw new RuntimeError('ERR_USAGE', `cannot listen on port ${first}: it is in use`, { hint: 'pick another with --port, or --port 0 for any' });
    server.on('error', (e) => this.warn(`listen socket: ${e.message}`));
    this.server = server;
    const addr = server.address();
    this.listenPort = typeof addr === 'object' && addr ? addr.port : 0;
  }

  private startAnnouncer(): void {
    if (this.opts.trackers.length === 0) return;
    this.announcer = new Announcer({
      tiers: this.opts.trackers,
      infoHash: this.opts.meta.infoHash!,
      peerId: this.peerId,
      port: this.listenPort,
      key: randomBytes(4).readUInt32BE(0),
      stats: () => ({
        uploaded: this.uploadedBytes,
        downloaded: this.downloadedBytes,
        left: this.picker.wantedBytesLeft(),
      }),
      onPeers: (peers, source) => {
        const now = this.now();
        for (const p of peers) {
          // Trackers often return us to ourselves (opentracker does).
          if (p.port === this.listenPort && isLocalAddress(p.ip)) continue;
          this.pool.add(p.ip, p.port, source, now);
        }
        this.connectMore();
      },
      onWarning: (w: TrackerWarning) => this.warn(w.url ? `tracker ${w.url}: ${w.message}` : w.message),
    });
    this.announcer.start();
  }

  private connectMore(): void {
    if (this.state.kind !== 'downloading' && this.state.kind !== 'seeding') return;
    let connecting = 0;
    for (const p of this.peers.values()) if (!p.isOpen) connecting++;
    const room = Math.min(this.opts.maxPeers - this.peers.size, MAX_HALF_OPEN - connecting);
    if (room <= 0) return;
    for (const c of this.pool.ready(this.now(), room)) {
      this.pool.markConnecting(c);
      const peer = PeerConnection.connect({ host: c.host, port: c.port }, this.peerOptions, this.handler, CONNECT_TIMEOUT_MS);
      this.peers.set(peer.id, peer);
      this.peerCandidate.set(peer.id, c);
    }
  }

  private onIncoming(socket: Socket): void {
    const host = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (this.peers.size >= this.opts.maxPeers || this.bannedHosts.has(host) || this.state.kind === 'stopped' || this.state.kind === 'failed') {
      socket.destroy();
      return;
    }
    const peer = PeerConnection.accept(socket, this.peerOptions, this.handler);
    this.peers.set(peer.id, peer);
  }

  private readonly handler: PeerHandler = {
    onOpen: (peer) => this.onPeerOpen(peer),
    onMessage: (peer, msg) => this.onPeerMessage(peer, msg),
    onClose: (peer, reason, detail) => this.onPeerClose(peer, reason, detail),
    onDrain: (peer) => this.serve(peer),
  };

  private onPeerOpen(peer: PeerConnection): void {
    if (this.bannedPeerIds.has(peer.remote!.peerId.toString('hex'))) {
      peer.close('banned', 'this peer sent bad data before');
      return;
    }
    // One connection per peer id: a second one (both sides dialled) is dropped.
    for (const other of this.peers.values()) {
      if (other !== peer && other.isOpen && other.remote!.peerId.equals(peer.remote!.peerId)) {
        peer.close('duplicate', 'already connected to this peer');
        return;
      }
    }
    this.events.push({ type: 'peer', address: `${peer.address.host}:${peer.address.port}`, event: 'connected' });
    if (peer.remote!.reserved[5]! & 0x10) {
      // Metadata larger than any peer would accept (BEP 9 limit) is not offered.
      const servable = this.opts.meta.infoBytes.length <= MAX_METADATA_BYTES;
      const m: Record<string, number> = servable ? { ut_metadata: UT_METADATA_ID } : {};
      if (!this.opts.meta.private) m.ut_pex = UT_PEX_ID; // BEP 27: no PEX for private torrents
      const payload = encodeExtendedHandshake({
        m,
        v: CLIENT_VERSION,
        p: this.listenPort || undefined,
        reqq: MAX_INCOMING_REQUESTS,
        metadataSize: servable ? this.opts.meta.infoBytes.length : undefined,
      });
      peer.send({ type: 'extended', id: EXTENDED_HANDSHAKE_ID, payload });
    }
    // BEP 5: tell DHT-capable peers where our DHT listens.
    if (this.dht && peer.remote!.reserved[7]! & 0x01) peer.send({ type: 'port', port: this.dht.port });
    if (this.written.count > 0) peer.send({ type: 'bitfield', bitfield: this.written.buffer });
  }

  private onPeerClose(peer: PeerConnection, reason: CloseReason, detail: string): void {
    this.peers.delete(peer.id);
    this.interesting.delete(peer.id);
    this.extensions.delete(peer.id);
    this.pexSent.delete(peer.id);
    this.lastPexTo.delete(peer.id);
    for (const o of peer.clearOutstanding()) this.picker.abortRequest(peer.id, { piece: o.piece, block: o.block });
    this.picker.abortPeer(peer.id);
    if (peer.remote) this.picker.removeBitfield(peer.bitfield);
    const c = this.peerCandidate.get(peer.id);
    this.peerCandidate.delete(peer.id);
    if (c) {
      // A connection is worth redialling soon only if it delivered and did not misbehave.
      const useful = peer.download.total > 0 && reason !== 'protocol-error' && reason !== 'bad-data';
      this.pool.markClosed(c, this.now(), useful);
      if (reason === 'banned' || reason === 'bad-data' || reason === 'wrong-info-hash' || reason === 'self-connection') {
        this.pool.ban(c.host, c.port);
      }
    }
    this.events.push({
      type: 'peer',
      address: `${peer.address.host}:${peer.address.port}`,
      event: 'closed',
      reason: detail ? `${reason}: ${detail}` : reason,
    });
    this.updateReadPause();
    // Aborted blocks are free again: let the others pick them up.
    for (const other of this.peers.values()) this.fillRequests(other);
    this.connectMore();
  }

  // ---- messages ----------------------------------------------------------------------------

  private onPeerMessage(peer: PeerConnection, msg: Message): void {
    switch (msg.type) {
      case 'bitfield':
        validateBitfield(msg.bitfield, this.opts.meta.pieceCount);
        this.picker.removeBitfield(peer.bitfield);
        peer.bitfield = new Bitfield(this.opts.meta.pieceCount, msg.bitfield);
        this.picker.addBitfield(peer.bitfield);
        this.interesting.set(peer.id, this.countInteresting(peer.bitfield));
        this.updateInterest(peer);
        break;
      case 'have':
        validateHave(msg.index, this.opts.meta.pieceCount);
        if (!peer.bitfield.has(msg.index)) {
          peer.bitfield.set(msg.index);
          this.picker.addHave(msg.index);
          if (this.picker.isWanted(msg.index) && !this.picker.has(msg.index)) {
            this.interesting.set(peer.id, (this.interesting.get(peer.id) ?? 0) + 1);
            if (!peer.amInterested) this.updateInterest(peer);
          }
        }
        break;
      case 'choke':
        peer.peerChoking = true;
        for (const o of peer.clearOutstanding()) this.picker.abortRequest(peer.id, { piece: o.piece, block: o.block });
        for (const other of this.peers.values()) if (other !== peer) this.fillRequests(other);
        break;
      case 'unchoke':
        peer.peerChoking = false;
        this.fillRequests(peer);
        break;
      case 'interested':
        peer.peerInterested = true;
        // A free slot is given at once rather than at the next rechoke.
        if (this.files && peer.amChoking && this.unchokedCount() < REGULAR_UNCHOKE_SLOTS + 1) peer.send({ type: 'unchoke' });
        break;
      case 'not-interested':
        peer.peerInterested = false;
        if (!peer.amChoking) peer.send({ type: 'choke' });
        break;
      case 'request':
        this.onRequest(peer, msg.index, msg.begin, msg.length);
        break;
      case 'cancel':
        peer.incoming = peer.incoming.filter((r) => !(r.index === msg.index && r.begin === msg.begin && r.length === msg.length));
        break;
      case 'piece':
        this.onBlock(peer, msg.index, msg.begin, msg.block);
        break;
      case 'extended':
        this.onExtended(peer, msg.id, msg.payload);
        break;
      case 'port':
        this.dht?.addNode({ host: peer.address.host, port: msg.port });
        break;
      default:
        // unknown message ids: ignored, as BEP 3 asks.
        break;
    }
  }

  /** BEP 10 messages: the handshake, ut_metadata (BEP 9) requests, ut_pex (BEP 11). */
  private onExtended(peer: PeerConnection, id: number, payload: Buffer): void {
    if (id === EXTENDED_HANDSHAKE_ID) {
      const hs = decodeExtendedHandshake(payload);
      if (hs.reqq !== null && hs.reqq > 0) peer.reqq = Math.min(hs.reqq, MAX_QUEUE);
      this.extensions.set(peer.id, {
        metadata: hs.m.get('ut_metadata'),
        pex: this.opts.meta.private ? undefined : hs.m.get('ut_pex'),
        listenPort: hs.p ?? undefined,
      });
      return;
    }
    const ext = this.extensions.get(peer.id);
    if (id === UT_METADATA_ID) {
      const m = decodeMetadataMessageOrSkip(payload);
      if (m?.type !== 'request' || ext?.metadata === undefined) return;
      const info = this.opts.meta.infoBytes;
      const start = m.piece * METADATA_PIECE_BYTES;
      const reply =
        start < info.length && info.length <= MAX_METADATA_BYTES
          ? encodeMetadataMessage({ type: 'data', piece: m.piece, totalSize: info.length, data: info.subarray(start, start + METADATA_PIECE_BYTES) })
          : encodeMetadataMessage({ type: 'reject', piece: m.piece });
      peer.send({ type: 'extended', id: ext.metadata, payload: reply });
    } else if (id === UT_PEX_ID && !this.opts.meta.private) {
      const now = this.now();
      for (const p of decodePex(payload).added) this.pool.add(p.host, p.port, 'pex', now);
      this.connectMore();
    }
  }

  /** Where each open peer accepts connections (for PEX): dialled address, or its BEP 10 `p`. */
  private listenAddress(peer: PeerConnection): { host: string; port: number } | null {
    if (peer.outgoing) return peer.address;
    const port = this.extensions.get(peer.id)?.listenPort;
    return port ? { host: peer.address.host, port } : null;
  }

  /**
   * BEP 11: each PEX peer hears which of our peers came and went since its last message: the
   * first soon after its handshake, then at most once a minute.
   */
  private sendPex(now: number): void {
    const current = new Map<string, { host: string; port: number }>();
    for (const p of this.peers.values()) {
      if (!p.isOpen) continue;
      const a = this.listenAddress(p);
      if (a) current.set(addressKey(a.host, a.port), a);
    }
    for (const peer of this.peers.values()) {
      const id = this.extensions.get(peer.id)?.pex;
      if (!peer.isOpen || id === undefined) continue;
      if (now - (this.lastPexTo.get(peer.id) ?? -Infinity) < PEX_INTERVAL_MS) continue;
      const sent = this.pexSent.get(peer.id) ?? new Set<string>();
      const self = this.listenAddress(peer);
      const selfKey = self ? addressKey(self.host, self.port) : '';
      const added: PexPeer[] = [];
      for (const [k, a] of current) {
        if (k !== selfKey && !sent.has(k) && added.length < PEX_MAX_PEERS) added.push({ ...a, flags: 0 });
      }
      const dropped: { host: string; port: number }[] = [];
      for (const k of sent) {
        if (!current.has(k) && dropped.length < PEX_MAX_PEERS) dropped.push(parseAddressKey(k));
      }
      if (added.length === 0 && dropped.length === 0) continue;
      for (const a of added) sent.add(addressKey(a.host, a.port));
      for (const d of dropped) sent.delete(addressKey(d.host, d.port));
      this.pexSent.set(peer.id, sent);
      this.lastPexTo.set(peer.id, now);
      peer.send({ type: 'extended', id, payload: encodePex({ added, dropped }) });
    }
  }

  private onBlock(peer: PeerConnection, piece: number, begin: number, block: Buffer): void {
    const req = peer.takeRequest(piece, begin, block.length);
    if (req === null) {
      peer.close('protocol-error', `sent piece ${piece} offset ${begin} that was never requested`);
      return;
    }
    const ref = { piece, block: begin / BLOCK_SIZE };
    if (req === 'late' && this.picker.blockLength(piece, ref.block) !== block.length) return;
    const r = this.picker.markReceived(peer.id, ref);
    peer.snubbed = false;
    if (r.duplicate) {
      this.fillRequests(peer);
      return;
    }
    this.downloadedBytes += block.length;
    this.lastProgressAt = this.now();
    for (const otherId of r.otherPeers) this.peers.get(otherId)?.cancel(piece, ref.block);
    let ip = this.inProgress.get(piece);
    if (!ip) {
      const size = this.picker.pieceSize(piece);
      ip = { data: this.buffers.take(size), senders: new Array<number>(this.picker.blocksInPiece(piece)).fill(0) };
      this.inProgress.set(piece, ip);
      this.unverifiedBytes += size;
    }
    // The one copy of the block: out of the socket's read buffer into its piece.
    block.copy(ip.data, begin);
    ip.senders[ref.block] = peer.id;
    if (r.pieceComplete) this.verifyPiece(piece, ip);
    this.updateReadPause();
    this.fillRequests(peer);
  }

  /** Verify, then write: SHA-1 first; only a verified piece reaches storage. */
  private verifyPiece(piece: number, ip: InProgress): void {
    this.inProgress.delete(piece);
    const size = ip.data.length;
    this.unverifiedBytes -= size;
    const expected = this.opts.meta.pieces!.subarray(piece * 20, piece * 20 + 20);
    if (!createHash('sha1').update(ip.data).digest().equals(expected)) {
      this.picker.pieceFailed(piece);
      const proven = this.smartBan.pieceFailed(piece, this.blocksOf(ip.data), ip.senders);
      this.buffers.give(ip.data);
      this.warn(`piece ${piece} failed its hash check; fetching it again`);
      for (const id of proven) this.banPeer(id, `sent bad data for piece ${piece}`);
      return;
    }
    this.picker.pieceVerified(piece);
    for (const p of this.peers.values()) {
      if (!p.bitfield.has(piece)) continue;
      const left = (this.interesting.get(p.id) ?? 1) - 1;
      this.interesting.set(p.id, left);
      if (left === 0) this.updateInterest(p);
    }
    for (const id of this.smartBan.pieceVerified(piece, this.blocksOf(ip.data))) this.banPeer(id, `sent bad data for piece ${piece}`);
    this.diskQueueBytes += size;
    this.storage.writePiece(piece, [ip.data]).then(
      () => {
        // A memory store keeps the buffer until the stream reader is done with it.
        if (this.files) this.buffers.give(ip.data);
        this.onPieceWritten(piece, size);
      },
      (e: unknown) => void this.fail(e),
    );
  }

  /** A piece's blocks as views (for smart ban's per-block comparison). */
  private blocksOf(data: Buffer): Buffer[] {
    const out: Buffer[] = [];
    for (let o = 0; o < data.length; o += BLOCK_SIZE) out.push(data.subarray(o, o + BLOCK_SIZE));
    return out;
  }

  private onPieceWritten(piece: number, size: number): void {
    this.diskQueueBytes -= size;
    this.updateReadPause();
    if (this.state.kind !== 'downloading' && this.state.kind !== 'seeding') return;
    this.markWritten(piece);
    this.resumeDirty = true;
    this.events.push({ type: 'piece', index: piece });
    this.accountFileBytes(piece, true);
    // With noSave the piece is gone once streamed: it is not announced.
    if (this.files) for (const p of this.peers.values()) if (p.isOpen) p.send({ type: 'have', index: piece });
    if (this.now() - this.lastResumeSaveAt > RESUME_SAVE_MS) void this.saveResumeNow().catch(() => undefined);
    if (this.allWantedWritten()) void this.complete().catch((e: unknown) => this.fail(e));
  }

  private banPeer(id: number, why: string): void {
    const peer = this.peers.get(id);
    if (!peer) return;
    if (!isLoopback(peer.address.host)) this.bannedHosts.add(peer.address.host);
    if (peer.remote) this.bannedPeerIds.add(peer.remote.peerId.toString('hex'));
    this.warn(`banned ${peer.address.host}:${peer.address.port}: ${why}`);
    peer.close('bad-data', why);
  }

  // ---- uploads -----------------------------------------------------------------------------

  private onRequest(peer: PeerConnection, index: number, begin: number, length: number): void {
    if (peer.amChoking || !this.files) return; // BEP 3: requests while choked are dropped
    const valid =
      index < this.opts.meta.pieceCount &&
      this.written.has(index) &&
      length > 0 &&
      length <= BLOCK_SIZE &&
      begin + length <= this.picker.pieceSize(index);
    if (!valid) {
      if (++peer.invalidRequests > MAX_INVALID_REQUESTS) peer.close('protocol-error', 'too many invalid requests');
      return;
    }
    if (peer.incoming.length >= MAX_INCOMING_REQUESTS) return; // more than our reqq: dropped
    peer.incoming.push({ index, begin, length });
    this.serve(peer);
  }

  /** Sends queued blocks while the peer's socket has room; reads go through the read cache. */
  private serve(peer: PeerConnection): void {
    while (peer.incoming.length > 0 && peer.reading < MAX_READS_PER_PEER && peer.writeQueueBytes < UPLOAD_HIGH_WATER_BYTES) {
      const wait = this.uploadBucket ? this.uploadBucket.take(peer.incoming[0]!.length, this.now()) : 0;
      if (wait > 0) {
        // Over --upload-limit: this peer's queue waits, then carries on where it stopped.
        if (!peer.serveTimer) {
          peer.serveTimer = setTimeout(() => {
            peer.serveTimer = null;
            this.serve(peer);
          }, wait);
        }
        return;
      }
      const r = peer.incoming.shift()!;
      peer.reading++;
      this.readCache.block(r.index, r.begin, r.length).then(
        (block) => {
          peer.reading--;
          if (!peer.isOpen || peer.amChoking) return;
          peer.sendPiece(r.index, r.begin, block);
          this.uploadedBytes += block.length;
          this.serve(peer);
        },
        (e: unknown) => {
          peer.reading--;
          this.warn(`cannot read piece ${r.index} for upload: ${(e as Error).message}`);
        },
      );
    }
  }

  private unchokedCount(): number {
    let n = 0;
    for (const p of this.peers.values()) if (p.isOpen && !p.amChoking) n++;
    return n;
  }

  /** Every 10 s: regular slots by rate; every 30 s: a new optimistic unchoke. */
  private rechoke(now: number): void {
    const open = [...this.peers.values()].filter((p) => p.isOpen);
    const candidates = open.map((p) => ({
      id: p.id,
      interested: p.peerInterested,
      downloadRate: p.download.rate(now),
      uploadRate: p.upload.rate(now),
    }));
    const seeding = this.state.kind === 'seeding';
    if (now - this.lastOptimisticAt >= OPTIMISTIC_INTERVAL_MS || (this.optimistic !== null && !this.peers.has(this.optimistic))) {
      this.lastOptimisticAt = now;
      const regular = chooseUnchoked(candidates, { seeding, optimistic: null });
      this.optimistic = pickOptimistic(candidates, regular, this.random);
    }
    const unchoke = chooseUnchoked(candidates, { seeding, optimistic: this.optimistic });
    for (const p of open) {
      if (unchoke.has(p.id) && p.amChoking) p.send({ type: 'unchoke' });
      else if (!unchoke.has(p.id) && !p.amChoking) p.send({ type: 'choke' });
    }
  }

  // ---- requests ----------------------------------------------------------------------------

  /** Pieces in `bits` that we want and lack: O(pieceCount), once per bitfield. */
  private countInteresting(bits: Bitfield): number {
    let n = 0;
    for (const p of bits.ones()) if (this.picker.isWanted(p) && !this.picker.has(p)) n++;
    return n;
  }

  /** Interested exactly while the peer has a piece we want and lack (kept as a count per peer). */
  private updateInterest(peer: PeerConnection): void {
    const wants = this.state.kind === 'downloading' && (this.interesting.get(peer.id) ?? 0) > 0;
    if (wants && !peer.amInterested) peer.send({ type: 'interested' });
    else if (!wants && peer.amInterested) peer.send({ type: 'not-interested' });
    if (wants) this.fillRequests(peer);
  }

  /** Queue depth from the peer's measured rate (libtorrent's update_desired_queue_size). */
  private desiredQueue(peer: PeerConnection): number {
    if (peer.snubbed) return 1;
    const rate = peer.download.rate(this.now());
    const fromRate = Math.ceil((rate * REQUEST_QUEUE_SECONDS) / BLOCK_SIZE);
    const cap = peer.reqq > 0 ? peer.reqq : DEFAULT_REQQ;
    return Math.min(Math.max(fromRate, MIN_QUEUE * 4), MAX_QUEUE, cap);
  }

  private fillRequests(peer: PeerConnection): void {
    if (!peer.isOpen || peer.peerChoking || !peer.amInterested || this.readsPaused) return;
    if (this.state.kind !== 'downloading') return;
    const desired = this.desiredQueue(peer);
    const want = desired - peer.outstanding.size;
    // Top the queue up in batches, not one block per arriving block: fewer picks, fewer writes.
    if (want <= 0 || (peer.outstanding.size > 0 && want < Math.min(REQUEST_BATCH, Math.ceil(desired / 4)))) return;
    // At the cap for pieces being assembled: finish those before starting new ones.
    const newPieces = this.unverifiedBytes + this.picker.pieceLength <= MAX_UNVERIFIED_BYTES;
    const { blocks } = this.picker.pick(peer.id, peer.bitfield, want, { newPieces });
    for (const b of blocks) {
      this.picker.markRequested(peer.id, b);
      peer.request(b.piece, b.block, this.picker.blockLength(b.piece, b.block));
    }
  }

  private updateReadPause(): void {
    // Pieces being assembled are capped where they start (fillRequests), so reads never wait
    // for them; only a disk that cannot keep up pauses the sockets.
    const over = this.diskQueueBytes > DISK_HIGH_WATER_BYTES;
    const under = this.diskQueueBytes < DISK_HIGH_WATER_BYTES / 2;
    if (over && !this.readsPaused) {
      this.readsPaused = true;
      for (const p of this.peers.values()) p.pauseReads();
    } else if (under && this.readsPaused) {
      this.readsPaused = false;
      for (const p of this.peers.values()) {
        p.resumeReads();
        this.fillRequests(p);
      }
    }
  }

  // ---- the clock ---------------------------------------------------------------------------

  private tick(): void {
    const now = this.now();
    for (const peer of [...this.peers.values()]) {
      if (!peer.isOpen) continue;
      // Requests unanswered too long go back to the picker; the peer is snubbed.
      let timedOut = false;
      for (const o of [...peer.outstanding.values()]) {
        if (now - o.sentAt > REQUEST_TIMEOUT_MS) {
          peer.cancel(o.piece, o.block);
          this.picker.abortRequest(peer.id, { piece: o.piece, block: o.block });
          timedOut = true;
        }
      }
      if (timedOut) {
        peer.snubbed = true;
        for (const other of this.peers.values()) if (other !== peer) this.fillRequests(other);
      }
      for (const [k, at] of peer.cancelled) if (now - at > REQUEST_TIMEOUT_MS) peer.cancelled.delete(k);
      if (now - peer.lastReceivedAt > IDLE_TIMEOUT_MS) {
        peer.close('idle', 'silent for too long');
        continue;
      }
      if (now - peer.lastSentAt > KEEPALIVE_MS) peer.send({ type: 'keep-alive' });
      if (this.state.kind === 'seeding' && peer.isSeed) peer.close('not-useful', 'both sides are seeds');
      else this.fillRequests(peer);
    }
    if (!this.opts.meta.private) this.sendPex(now);
    if (this.dht && now - this.lastDhtAnnounceAt >= DHT_ANNOUNCE_MS) {
      this.lastDhtAnnounceAt = now;
      // A DHT that knows no node yet has nobody to tell: try again in a minute.
      if (this.dht.nodeCount > 0) void this.dht.announce(this.opts.meta.infoHash!, this.listenPort);
      else this.lastDhtAnnounceAt = now - DHT_ANNOUNCE_MS + DHT_RETRY_MS;
    }
    if (this.files && now - this.lastRechokeAt >= RECHOKE_INTERVAL_MS) {
      this.lastRechokeAt = now;
      this.rechoke(now);
    }
    if (this.state.kind === 'seeding' && this.seedGoalReached(now)) {
      void this.finishSeeding().catch((e: unknown) => this.fail(e));
      return;
    }
    this.connectMore();
    if (this.resumeDirty && now - this.lastResumeSaveAt > RESUME_SAVE_MS) void this.saveResumeNow().catch(() => undefined);
    if (this.state.kind === 'downloading' && this.opts.timeoutMs !== null && now - this.lastProgressAt > this.opts.timeoutMs) {
      const open = [...this.peers.values()].filter((p) => p.isOpen).length;
      const why =
        open > 0
          ? `no data for ${Math.round(this.opts.timeoutMs / 1000)} s from ${open} connected peer(s)`
          : this.pool.size === 0
            ? `no peers found in ${Math.round(this.opts.timeoutMs / 1000)} s`
            : `could not get data from any of ${this.pool.size} known peer(s) in ${Math.round(this.opts.timeoutMs / 1000)} s`;
      void this.fail(new RuntimeError('ERR_NO_PEERS', why, { hint: 'check the trackers, or add peers with --peer host:port' }));
    }
  }

  // ---- bookkeeping -------------------------------------------------------------------------

  private isWanted(piece: number): boolean {
    const sel = this.opts.selected;
    if (!sel) return true;
    for (const s of this.map.pieceSpans(piece)) if (!s.pad && sel.has(s.fileIndex)) return true;
    return false;
  }


  private markWritten(piece: number): void {
    if (this.written.has(piece)) return;
    this.written.set(piece);
    if (this.wantedSet.has(piece)) this.writtenWanted++;
  }

  private allWantedWritten(): boolean {
    return this.writtenWanted === this.wanted.pieces;
  }

  /**
   * The stream's reader has everything before `cursor`: raise the next window of pieces to the
   * top priority (and, with a hard window, make them wanted at all; peers that have them become
   * interesting again).
   */
  setStreamCursor(cursor: number): void {
    const stream = this.opts.stream;
    if (!stream) return;
    const end = Math.min(stream.lastPiece + 1, cursor + stream.windowPieces);
    for (let p = this.streamWindowEnd; p < end; p++) {
      if (this.picker.has(p)) continue;
      this.picker.setPriority(p, STREAM_WINDOW_PRIORITY);
      if (!stream.hard) continue;
      for (const peer of this.peers.values()) {
        if (!peer.bitfield.has(p)) continue;
        this.interesting.set(peer.id, (this.interesting.get(peer.id) ?? 0) + 1);
        if (!peer.amInterested) this.updateInterest(peer);
      }
    }
    this.streamWindowEnd = Math.max(this.streamWindowEnd, end);
    for (const peer of this.peers.values()) this.fillRequests(peer);
  }

  /**
   * Keeps storage open past the end of the session until the returned function is called (a
   * stream reader finishing the last pieces). The holder must release it when it sees the
   * session stop or fail.
   */
  acquireStorageLease(): () => void {
    let release!: () => void;
    const lease = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.leases.add(lease);
    return () => {
      this.leases.delete(lease);
      release();
    };
  }

  /** With noSave: the reader has consumed this piece; its memory is released. */
  releasePiece(piece: number): void {
    if (this.storage instanceof MemoryStorage) this.storage.release(piece);
  }

  /** Reads a written piece (for --stdout). */
  readPiece(piece: number): Promise<Buffer | null> {
    return this.storage.readPiece(piece);
  }

  /** Pieces already written (resume), for a stream reader that starts late. */
  hasWritten(piece: number): boolean {
    return this.written.has(piece);
  }

  /** Tracks bytes left per file to report files as they complete. */
  private accountFileBytes(piece: number, announce = false): void {
    for (const s of this.map.pieceSpans(piece)) {
      if (s.pad) continue;
      const left = (this.fileRemaining[s.fileIndex]! -= s.length);
      if (left === 0 && announce && this.isFileSelected(s.fileIndex)) this.events.push({ type: 'file-done', fileIndex: s.fileIndex });
    }
  }

  private async waitForDisk(): Promise<void> {
    for (let i = 0; i < 600 && this.diskQueueBytes > 0; i++) await new Promise((r) => setTimeout(r, 50));
  }

  /** Saves are serialised: each one records the state at the moment it runs. */
  private saveResumeNow(): Promise<void> {
    this.lastResumeSaveAt = this.now();
    this.resumeDirty = false;
    if (!this.files) return Promise.resolve();
    this.resumeChain = this.resumeChain.catch(() => undefined).then(() => this.writeResume());
    return this.resumeChain;
  }

  private async writeResume(): Promise<void> {
    const data: ResumeData = {
      version: 1,
      infoHash: this.opts.meta.infoHash!.toString('hex'),
      pieceCount: this.opts.meta.pieceCount,
      verified: this.written.buffer.toString('base64'),
      files: await this.files!.fileStats(),
    };
    await saveResume(this.resumeFile, data);
  }

  private warn(message: string): void {
    this.events.push({ type: 'warning', message });
  }
}

/** Inverse of addressKey: "1.2.3.4:5" or "[::1]:5". */
function parseAddressKey(k: string): { host: string; port: number } {
  const i = k.lastIndexOf(':');
  return { host: k.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(k.slice(i + 1)) };
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

function isLocalAddress(ip: string): boolean {
  return ip === '127.0.0.1' || ip === '::1' || ip === '0.0.0.0' || ip === '::';
}
