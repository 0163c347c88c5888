/**
 * One torrent, from a magnet's first peer to the last byte seeded: the coordinator. It owns the
 * lifecycle (lifecycle.ts: one table of transitions) and routes events to small owners; it
 * decides nothing they can decide:
 * - discovery (src/discovery): every address, from trackers, the DHT, PEX, --peer, x.pe;
 * - the peer set (peer-set.ts): one entry per address, caps, backoff, bans, eviction;
 * - connections (src/peer over connector.ts): wire state only; LivePeer (live-peer.ts) holds
 *   the session's side of each;
 * - the metadata phase (metadata-phase.ts), whose connections survive into the download;
 * - the request scheduler (request-scheduler.ts), the assembler (piece-assembler.ts), the
 *   uploader (uploader.ts), progress (progress.ts), resume data (resume-saver.ts), the --stdout
 *   window (stream-window.ts).
 * States, ordering rules and the desired/actual request rule are in STATE.md beside this file.
 * Clock, randomness, the dialer, storage and the DHT are injected: tests drive a whole session
 * over in-memory streams on a fake clock. Nothing throws out of it: see `finished`.
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import type { Server, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Discovery, type DhtStarter, type DiscoveredPeer } from '../discovery/index.js';
import { asTorrentError, InternalError, InputError, ProtocolError, RuntimeError, TorrentError } from '../errors.js';
import {
  expectedPieceHash,
  MAX_PIECES,
  torrentFromMetadata,
  v2PieceMap,
  verifyHybridPiece,
  verifyV1Piece,
  verifyV2Piece,
  type Magnet,
  type Metainfo,
} from '../metainfo/index.js';
import { PeerConnection, type CloseReason, type PeerHandler, type PeerOptions } from '../peer/index.js';
import { PiecePicker } from '../picker/index.js';
import { checkExisting } from '../storage/check.js';
import { checkExistingV2 } from '../storage/check-v2.js';
import type { FileStorage } from '../storage/file-storage.js';
import { PieceMap } from '../storage/piece-map.js';
import { ReadCache } from '../storage/read-cache.js';
import { loadResume, resumePath } from '../storage/resume.js';
import type { Storage } from '../storage/storage.js';
import { addrKey, peerAddr, type PeerAddr } from '../util/address.js';
import { Bitfield } from '../util/bitfield.js';
import { every, systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { EventQueue } from '../util/event-queue.js';
import { TokenBucket } from '../util/token-bucket.js';
import {
  BLOCK_SIZE,
  decodeExtendedHandshake,
  decodePex,
  encodeHandshake,
  EXTENDED_HANDSHAKE_ID,
  makePeerId,
  maxMessageBytes,
  allowedFastSet,
  MAX_ALLOWED_FAST,
  PEX_INTERVAL_MS,
  reservedBits,
  validateBitfield,
  validateHave,
  type Message,
} from '../wire/index.js';
import { acceptStream, listenTcp, tcpDialer, type Dialer, type DialResult, type EncryptionMode, type TransportMode } from './connector.js';
import { UtpSocket } from '../utp/index.js';
import { answerMetadataRequest, decodeMetadataMessageOrSkip, ourExtendedHandshake, pexUpdate, UT_METADATA_ID, UT_PEX_ID } from './extensions.js';
import { isFinal, transition, type Lifecycle, type LifecycleKind } from './lifecycle.js';
import { LivePeer } from './live-peer.js';
import { MetadataPhase } from './metadata-phase.js';
import { PeerSet, type PeerEntry } from './peer-set.js';
import { PieceAssembler } from './piece-assembler.js';
import { Progress } from './progress.js';
import { RequestScheduler } from './request-scheduler.js';
import { ResumeSaver } from './resume-saver.js';
import { StreamWindow, type StreamPlan } from './stream-window.js';
import { MAX_UPLOAD_QUEUE, Uploader } from './uploader.js';
import { WebSeeds } from './web-seeds.js';

export type SessionEvent =
  | { type: 'state'; state: LifecycleKind }
  | { type: 'metadata'; meta: Metainfo; torrent: Buffer }
  | { type: 'checked'; verifiedPieces: number; hashed: number; trusted: number }
  | { type: 'piece'; index: number }
  | { type: 'file-done'; fileIndex: number }
  | { type: 'peer'; address: string; event: 'connected' | 'closed'; reason?: string; transport?: string }
  | { type: 'warning'; message: string };

/** Where the data lives: `store` reads and writes pieces; `disk` (null for --no-save) also checks and resumes. */
export interface TorrentStorage {
  store: Storage;
  disk: FileStorage | null;
}

export interface SessionOptions {
  input: { kind: 'torrent'; meta: Metainfo } | { kind: 'magnet'; magnet: Magnet };
  /** With a magnet: stop (done) as soon as the metadata is verified (info --fetch). */
  metadataOnly?: boolean;
  outputDir: string;
  /** Built by the caller once the metadata is known. */
  openStorage: (meta: Metainfo) => TorrentStorage;
  /** Indexes into meta.files to download; null = all. */
  select?: (meta: Metainfo) => ReadonlySet<number> | null;
  stream?: (meta: Metainfo) => StreamPlan | null;
  /** Listen port: exact (0 = any), or the first free one from `port` with portSearch. null = do not listen. */
  port: number | null;
  portSearch: boolean;
  maxPeers: number;
  /** --peer addresses. */
  peers: readonly { host: string; port: number }[];
  /** --tracker URLs (ignored for private torrents, BEP 27). */
  trackers: readonly string[];
  /** Give up after this long without progress (ms); null = never. */
  timeoutMs: number | null;
  /** Resume data lives here; null = no resume data. */
  cacheDir: string | null;
  seed: boolean;
  seedOnly?: boolean;
  seedRatio?: number | null;
  seedTimeMs?: number | null;
  requireComplete?: boolean;
  /** Nothing is kept on disk (--no-save): nothing is advertised or served. */
  noSave?: boolean;
  uploadLimit?: number | null;
  /** MSE/PE (see connector.ts); default prefer. */
  encryption?: EncryptionMode;
  /** Outgoing transports (see connector.ts); default both. Incoming uTP is served unless tcp. */
  transport?: TransportMode;
  /** Download at most this many bytes a second (peers and web seeds together); null = unlimited. */
  downloadLimit?: number | null;
  /** Use the torrent's web seeds (BEP 19 url-list, BEP 17 httpseeds); default true. */
  webSeeds?: boolean;
  dht: DhtStarter | null;
  clock?: Clock;
  random?: () => number;
  randomBytes?: (n: number) => Buffer;
  dialer?: Dialer;
  /** For tests: how trackers are built. */
  createTracker?: ConstructorParameters<typeof Discovery>[0]['createTracker'];
}

export interface SessionStats {
  state: LifecycleKind;
  downloaded: number;
  uploaded: number;
  /** Bytes of wanted pieces on disk. */
  verifiedBytes: number;
  wantedBytes: number;
  downloadRate: number;
  uploadRate: number;
  peers: number;
  /** Connected peers whose payload is encrypted (RC4). */
  encryptedPeers: number;
  /** Connected peers over uTP. */
  utpPeers: number;
  /** Web seeds still in use (BEP 19/17 servers). */
  webSeeds: number;
  knownPeers: number;
  verifiedPieces: number;
  wantedPieces: number;
}

const TICK_MS = 1000;
const CONNECT_TIMEOUT_MS = 10_000;
const HANDSHAKE_TIMEOUT_MS = 15_000;
/** BEP 3: peers drop connections silent for two minutes; a keep-alive every 90 s avoids it. */
const KEEPALIVE_MS = 90_000;
/** No whole message for this long: the peer is gone. */
const IDLE_TIMEOUT_MS = 150_000;
/** In the metadata phase, a peer that has not said it serves metadata by now is set aside. */
const METADATA_HANDSHAKE_MS = 10_000;
/** A full peer set evicts its least useful peer, never one younger than this. */
const EVICT_MIN_AGE_MS = 30_000;
/**
 * State changes and requests that make us answer (choke, unchoke, interested, not-interested,
 * ut_metadata requests) a peer may send per second. An honest peer sends a handful a minute; a
 * peer past this floods to make us write (each answer queues a small buffer that costs far more
 * memory than its bytes) and is dropped as a protocol error.
 */
const MAX_CONTROL_PER_SECOND = 50;
/** ut_metadata requests answered per peer per second; more are ignored (a request flood). */
const METADATA_ANSWERS_PER_SECOND = 8;
/** While seeding, the files are checked for changes from outside this often. */
const SEED_DISK_CHECK_MS = 30_000;
/** BEP 6: pieces a choked peer may still ask us for (the BEP suggests 10). */
const ALLOWED_FAST_K = 10;
/** Pieces kept in memory to serve uploads (whole pieces, LRU). */
const READ_CACHE_BYTES = 32 * 1024 * 1024;

interface Conn {
  conn: PeerConnection;
  entry: PeerEntry;
  live: LivePeer | null;
}

/** Everything that exists once the metadata is known. */
interface Torrent {
  meta: Metainfo;
  picker: PiecePicker;
  map: PieceMap;
  progress: Progress;
  storage: TorrentStorage;
  assembler: PieceAssembler;
  scheduler: RequestScheduler;
  uploader: Uploader;
  resume: ResumeSaver | null;
  stream: StreamWindow | null;
  webSeeds: WebSeeds | null;
}

export class TorrentSession {
  readonly events = new EventQueue<SessionEvent>();
  readonly peerId: Buffer;
  readonly infoHash: Buffer;
  /** Resolves when the session stops (done, interrupted) or fails. */
  readonly finished: Promise<Lifecycle>;
  private life: Lifecycle;
  private t: Torrent | null = null;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly peers: PeerSet;
  private readonly conns = new Map<number, Conn>();
  private readonly peerOptions: PeerOptions;
  private readonly dialer: Dialer;
  private readonly encryption: EncryptionMode;
  private readonly randomBytes: (n: number) => Buffer;
  private readonly metadata: MetadataPhase | null;
  private discovery: Discovery | null = null;
  private server: Server | null = null;
  /** uTP on the same port number as TCP (null: off, or the UDP port was taken). */
  private utp: UtpSocket | null = null;
  private ticker: TimerHandle | null = null;
  private listenPort = 0;
  private nextConnId = 1;
  private downloaded = 0;
  private uploaded = 0;
  private lastProgressAt: number;
  private seedingSince = 0;
  private lastDiskCheckAt = 0;
  /** Pending update after the download limit held requests back. */
  private budgetTimer: TimerHandle | null = null;
  private readonly leases = new Set<Promise<void>>();
  private settle!: (s: Lifecycle) => void;
  private shutdownStarted = false;
  /** Aborts dials still in progress when the session ends. */
  private readonly dials = new AbortController();
  /** Incoming sockets still in their (MSE) handshake: closed if the session ends first. */
  private readonly accepting = new Set<Duplex>();

  constructor(private readonly o: SessionOptions) {
    // A v2-only swarm is named by the SHA-256 info hash truncated to 20 bytes (BEP 52): in the
    // handshake, to trackers and in the DHT. A hybrid joins its v1 swarm.
    const meta0 = o.input.kind === 'torrent' ? o.input.meta : null;
    const infoHash = o.input.kind === 'torrent' ? (o.input.meta.infoHash ?? o.input.meta.infoHashV2?.subarray(0, 20) ?? null) : o.input.magnet.infoHash;
    if (!infoHash) {
      throw new InputError('ERR_BAD_MAGNET', 'a v2-only magnet (btmh) cannot be fetched yet: give the .torrent', {
        hint: 'or a magnet with a v1 info hash (xt=urn:btih:…)',
      });
    }
    this.infoHash = infoHash;
    this.clock = o.clock ?? systemClock();
    this.random = o.random ?? Math.random;
    this.peerId = makePeerId(o.randomBytes ?? ((n) => cryptoRandomBytes(n)));
    this.encryption = o.encryption ?? 'prefer';
    this.peers = new PeerSet(o.maxPeers);
    const randomBytes = o.randomBytes ?? ((n: number) => cryptoRandomBytes(n));
    this.randomBytes = randomBytes;
    this.life = o.input.kind === 'magnet' ? { kind: 'fetching-metadata' } : { kind: 'checking' };
    this.metadata = o.input.kind === 'magnet' ? new MetadataPhase(infoHash) : null;
    const pieceCount = o.input.kind === 'torrent' ? o.input.meta.pieceCount : MAX_PIECES;
    this.peerOptions = {
      infoHash,
      peerId: this.peerId,
      reserved: withV2Bit(reservedBits({ extensionProtocol: true, dht: o.dht !== null && !this.isPrivate, fast: true }), meta0?.infoHashV2 != null),
      maxMessageBytes: maxMessageBytes(pieceCount),
      handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
      clock: this.clock,
    };
    this.dialer =
      o.dialer ??
      tcpDialer({
        encryption: this.encryption,
        transport: o.transport ?? 'both',
        utp: () => this.utp,
        handshake: encodeHandshake({ reserved: this.peerOptions.reserved, infoHash, peerId: this.peerId }),
        infoHash,
        clock: this.clock,
        randomBytes,
      });
    this.lastProgressAt = this.clock.now();
    this.finished = new Promise((resolve) => (this.settle = resolve));
  }

  get port(): number {
    return this.listenPort;
  }

  get lifecycle(): Lifecycle {
    return this.life;
  }

  get meta(): Metainfo | null {
    return this.t?.meta ?? null;
  }

  private get isPrivate(): boolean {
    return this.o.input.kind === 'torrent' && this.o.input.meta.private;
  }

  /** Listens, starts discovery, then fetches metadata or checks what is on disk. Never throws: see `finished`. */
  async start(): Promise<void> {
    try {
      if (this.o.port !== null) {
        this.server = await listenTcp(this.o.port, this.o.portSearch, (s) => this.onIncoming(s));
        const a = this.server.address();
        this.listenPort = typeof a === 'object' && a ? a.port : 0;
        if ((this.o.transport ?? 'both') !== 'tcp') await this.listenUtp();
      }
      // A torrent's first state (checking) is told once its owners exist, in begin().
      if (this.life.kind === 'fetching-metadata') this.emitState();
      this.startDiscovery();
      this.ticker = every(this.clock, TICK_MS, () => this.guard(() => this.tick()));
      if (this.o.input.kind === 'torrent') await this.begin(this.o.input.meta);
      else this.dialMore();
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
    const now = this.clock.now();
    let downloadRate = 0;
    let uploadRate = 0;
    let live = 0;
    let encrypted = 0;
    let utp = 0;
    for (const c of this.conns.values()) {
      if (!c.live) continue;
      live++;
      if (c.conn.transport.endsWith('+rc4')) encrypted++;
      if (c.conn.transport.startsWith('utp')) utp++;
      downloadRate += c.conn.download.rate(now);
      uploadRate += c.conn.upload.rate(now);
    }
    const p = this.t?.progress;
    return {
      state: this.life.kind,
      downloaded: this.downloaded,
      uploaded: this.uploaded,
      verifiedBytes: p?.writtenWantedBytes ?? 0,
      wantedBytes: p?.wantedBytes ?? 0,
      downloadRate,
      uploadRate,
      peers: live,
      encryptedPeers: encrypted,
      utpPeers: utp,
      webSeeds: this.t?.webSeeds?.usable ?? 0,
      knownPeers: this.peers.size,
      verifiedPieces: p?.writtenWanted ?? 0,
      wantedPieces: p?.wantedPieces ?? 0,
    };
  }

  fileProgress(): { fileIndex: number; length: number; done: number }[] {
    return this.t?.progress.fileProgress() ?? [];
  }

  isFileSelected(i: number): boolean {
    return this.t?.progress.isFileSelected(i) ?? false;
  }

  // ---- the --stdout reader's view ----------------------------------------------------------

  /** Pieces on disk (or in the memory store). */
  hasWritten(piece: number): boolean {
    return this.t?.progress.written.has(piece) ?? false;
  }

  readPiece(piece: number): Promise<Buffer | null> {
    if (!this.t) return Promise.resolve(null);
    return this.t.storage.store.readPiece(piece);
  }

  /** With --no-save: the reader is done with this piece; its memory is released. */
  releasePiece(piece: number): void {
    const store = this.t?.storage.store as { release?: (p: number) => void } | undefined;
    store?.release?.(piece);
  }

  /** The reader has everything before `cursor`: move the read-ahead window. */
  setStreamCursor(cursor: number): void {
    const t = this.t;
    if (!t?.stream) return;
    const live = this.livePeers();
    for (const p of t.stream.advance(cursor)) t.scheduler.onWanted(live, p);
    t.scheduler.updateAll(live);
  }

  /** Keeps storage open past the end of the session until the returned function is called. */
  acquireStorageLease(): () => void {
    let release!: () => void;
    const lease = new Promise<void>((resolve) => (release = resolve));
    this.leases.add(lease);
    return () => {
      this.leases.delete(lease);
      release();
    };
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
    const t = this.buildTorrent(meta);
    this.t = t;
    if (this.life.kind === 'fetching-metadata') this.moveTo({ kind: 'checking' });
    else this.emitState();
    for (const c of this.conns.values()) if (c.live) this.adoptPieces(c.live);
    const disk = t.storage.disk;
    if (disk) {
      const resumeFile = this.o.cacheDir ? resumePath(this.o.cacheDir, this.infoHash.toString('hex'), this.o.outputDir) : null;
      const resume = resumeFile ? await loadResume(resumeFile, this.infoHash.toString('hex'), meta.pieceCount, meta.files.length) : null;
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
      if (t.progress.written.count === 0) {
        throw new RuntimeError('ERR_INCOMPLETE', `no complete piece of ${meta.name} found in ${this.o.outputDir}: nothing to seed`, {
          hint: 'give the folder that holds the data (the one download -o used)',
        });
      }
      if (this.o.requireComplete && !t.progress.complete) {
        throw new RuntimeError('ERR_INCOMPLETE', `${meta.name} is incomplete in ${this.o.outputDir}: ${t.progress.written.count} of ${t.progress.wantedPieces} pieces`, {
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
      }
    }
    // Peers connected while we checked learn what we have now.
    for (const c of this.conns.values()) if (c.live) this.greetWithPieces(c.live);
    this.dialMore();
  }

  private buildTorrent(meta: Metainfo): Torrent {
    const verify = pieceVerifier(meta);
    const picker = new PiecePicker({ pieceCount: meta.pieceCount, pieceLength: meta.pieceLength, totalLength: meta.totalLength, random: this.random });
    const map = new PieceMap(meta.files, meta.pieceLength, meta.totalLength);
    const progress = new Progress(meta, map, this.o.select?.(meta) ?? null);
    for (let p = 0; p < meta.pieceCount; p++) picker.setWanted(p, progress.wanted.has(p));
    const storage = this.o.openStorage(meta);
    const serving = !this.o.noSave;
    const assembler = new PieceAssembler({
      picker,
      storage: storage.store,
      verify,
      pieceLength: meta.pieceLength,
      storeKeepsBuffers: storage.disk === null,
      events: {
        written: (p) => this.guard(() => this.onWritten(p)),
        failed: (p, liars) => this.guard(() => this.onPieceFailed(p, liars)),
        liars: (p, liars) => this.guard(() => this.banIds(liars, `sent bad data for piece ${p}`, p)),
        diskError: (e) => void this.fail(e),
        diskBusy: (busy) => this.guard(() => this.onDiskBusy(busy)),
      },
    });
    const limit = this.o.downloadLimit ?? null;
    // Bursts of at most a quarter second of the limit (and never less than 4 blocks): requests
    // leave at the limit's pace, so pipelines stay full without a burst-then-stall pattern.
    const downBucket = limit ? new TokenBucket(limit, Math.max(limit / 4, 4 * BLOCK_SIZE), this.clock.now()) : null;
    const scheduler: RequestScheduler = new RequestScheduler({
      picker,
      downloading: () => this.life.kind === 'downloading',
      diskBusy: () => assembler.diskBusy,
      roomForNewPiece: () => assembler.roomForNewPiece,
      now: () => this.clock.now(),
      budget: downBucket ? (n) => downBucket.take(n, this.clock.now()) : undefined,
      retryIn: (ms) => {
        if (this.budgetTimer) return;
        this.budgetTimer = this.clock.setTimeout(() => {
          this.budgetTimer = null;
          this.guard(() => scheduler.updateAll(this.livePeers()));
        }, ms);
      },
    });
    const uploader = new Uploader({
      cache: serving ? new ReadCache(storage.store, READ_CACHE_BYTES) : null,
      bucket: this.o.uploadLimit ? new TokenBucket(this.o.uploadLimit, Math.max(this.o.uploadLimit, 4 * BLOCK_SIZE), this.clock.now()) : null,
      clock: this.clock,
      random: this.random,
      canServe: (p) => p < meta.pieceCount && progress.written.has(p),
      pieceSize: (p) => map.pieceSize(p),
      onUploaded: (n) => (this.uploaded += n),
      onReadError: (p, e) => this.guard(() => this.onReadError(p, e)),
    });
    const resume =
      storage.disk && this.o.cacheDir
        ? new ResumeSaver({
            path: resumePath(this.o.cacheDir, this.infoHash.toString('hex'), this.o.outputDir),
            infoHashHex: this.infoHash.toString('hex'),
            pieceCount: meta.pieceCount,
            disk: storage.disk,
            written: progress.written,
            onWarning: (m) => this.warn(m),
            forget: (pieces) => this.guard(() => this.forgetPieces(pieces, 'changed on disk')),
          })
        : null;
    const plan = this.o.stream?.(meta) ?? null;
    const stream = plan ? new StreamWindow(plan, picker) : null;
    if (stream && plan) stream.advance(plan.firstPiece);
    const webSeeds =
      this.o.webSeeds !== false && (meta.urlList.length > 0 || meta.httpSeeds.length > 0)
        ? new WebSeeds(meta, {
            picker,
            assembler,
            clock: this.clock,
            canFetch: () => this.life.kind === 'downloading' && !assembler.diskBusy,
            budget: (n) => (downBucket ? downBucket.take(n, this.clock.now()) : 0),
            onProgress: (n) => {
              this.downloaded += n;
              this.lastProgressAt = this.clock.now();
            },
            cancelOthers: (ids, piece, block) => {
              for (const id of ids) this.conns.get(id)?.conn.cancel(piece, block);
            },
            onWarning: (m) => this.warn(m),
            wake: () => this.guard(() => this.t?.webSeeds?.fill()),
          })
        : null;
    return { meta, picker, map, progress, storage, assembler, scheduler, uploader, resume, stream, webSeeds };
  }

  private async complete(): Promise<void> {
    const t = this.t!;
    // No success over missing data: a file changed from outside since we wrote it is noticed
    // here, its pieces are fetched again.
    if (t.storage.disk && !(await this.stillOnDisk())) {
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
    if (seedRatio != null && this.uploaded >= seedRatio * this.t!.progress.wantedBytes) return true;
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
    this.budgetTimer?.cancel();
    this.dials.abort();
    for (const s of this.accepting) s.destroy();
    for (const c of [...this.conns.values()]) c.conn.close('shutdown');
    this.server?.close();
    this.server = null;
    const utp = this.utp;
    this.utp = null;
    const t = this.t;
    t?.webSeeds?.close();
    t?.assembler.stop();
    await Promise.all([
      this.discovery?.stop(),
      utp?.close().catch(() => undefined),
      (async () => {
        if (!t) return;
        await t.assembler.drain();
        await t.resume?.save(this.clock.now());
        // A stream reader may still be reading the last pieces: storage closes after it.
        await Promise.all([...this.leases]);
        await t.storage.store.close();
      })().catch((e: unknown) => this.warn(`closing storage: ${(e as Error).message}`)),
    ]);
    this.events.end();
    this.settle(this.life);
  }

  // ---- peers: discovery, dialling, accepting -----------------------------------------------

  private startDiscovery(): void {
    const input = this.o.input;
    const own = input.kind === 'torrent' ? input.meta.announce.map((tier) => [...tier]) : input.magnet.trackers.length > 0 ? [[...input.magnet.trackers]] : [];
    const extra = this.isPrivate ? [] : this.o.trackers.map((u) => [u]);
    this.discovery = new Discovery({
      infoHash: this.infoHash,
      peerId: this.peerId,
      port: this.listenPort,
      trackers: [...own, ...extra],
      private: this.isPrivate,
      dht: this.o.dht,
      clock: this.clock,
      random: this.random,
      createTracker: this.o.createTracker,
      // Before the metadata the size is unknown; libtorrent announces 16 KiB too.
      stats: () => ({ uploaded: this.uploaded, downloaded: this.downloaded, left: this.t ? this.t.picker.wantedBytesLeft() : 16384 }),
      onPeers: (found) => this.guard(() => this.onDiscovered(found)),
      onWarning: (m) => this.warn(m),
    });
    this.discovery.start();
    this.discovery.addManual(this.o.peers, 'manual');
    if (input.kind === 'magnet') this.discovery.addManual(input.magnet.peers, 'magnet');
  }

  private onDiscovered(found: DiscoveredPeer[]): void {
    const now = this.clock.now();
    for (const f of found) this.peers.add(f.addr, f.source, now);
    this.dialMore();
  }

  private dialMore(): void {
    if (isFinal(this.life)) return;
    for (const entry of this.peers.toDial(this.clock.now())) {
      const id = this.nextConnId++;
      this.peers.dialing(entry, id);
      this.dialer.dial(entry.addr, CONNECT_TIMEOUT_MS, this.dials.signal, entry.failures).then(
        (r) => {
          if (isFinal(this.life)) {
            r.stream.destroy();
            return;
          }
          this.wrap(id, entry, true, r);
        },
        (e: Error) => {
          if (entry.state !== 'connecting' || entry.connId !== id) return;
          this.peers.closed(entry, this.clock.now(), { useful: false });
          this.peerEvent(entry.addr, 'closed', `connect-failed: ${e.message}`);
          this.dialMore();
        },
      );
    }
  }

  /** A connected stream becomes a PeerConnection, registered before any byte is read from it. */
  private wrap(id: number, entry: PeerEntry, outgoing: boolean, r: DialResult): PeerConnection {
    const addr = entry.addr;
    const conn = new PeerConnection(
      { id, stream: r.stream, address: addr, outgoing, transport: r.transport, externalReads: r.bindReader !== null, handshakeSent: r.handshakeSent },
      this.peerOptions,
      this.handler,
    );
    this.conns.set(id, { conn, entry, live: null });
    r.bindReader?.((chunk, shared) => conn.ingest(chunk, shared));
    for (const h of r.head ?? []) conn.ingest(h, false);
    return conn;
  }

  private onIncoming(socket: Socket): void {
    const addr = peerAddr(socket.remoteAddress ?? '', socket.remotePort ?? 0);
    if (!addr) {
      socket.destroy();
      return;
    }
    this.onIncomingStream(socket, addr, 'tcp');
  }

  /** An incoming connection over TCP or uTP: a peer-set entry first (caps, bans), then its handshake. */
  private onIncomingStream(stream: Duplex, addr: PeerAddr, kind: 'tcp' | 'utp'): void {
    if (isFinal(this.life) || this.peers.isBanned(addr)) {
      stream.destroy();
      return;
    }
    if (!this.peers.hasRoom) this.evictOne();
    const id = this.nextConnId++;
    const entry = this.peers.incoming(addr, id, this.clock.now());
    if (!entry) {
      stream.destroy();
      return;
    }
    // The slot is held from now: a peer that never finishes its (MSE) handshake meets its deadline.
    this.accepting.add(stream);
    stream.once('close', () => this.accepting.delete(stream));
    acceptStream(stream, kind, { encryption: this.encryption, infoHash: this.infoHash, clock: this.clock, randomBytes: this.randomBytes }).then(
      (a) => {
        this.accepting.delete(stream);
        if (isFinal(this.life) || entry.connId !== id) {
          a.stream.destroy();
          return;
        }
        this.wrap(id, entry, false, { stream: a.stream, transport: a.transport, bindReader: null, handshakeSent: false, head: a.head });
      },
      (e: Error) => {
        this.accepting.delete(stream);
        if (entry.connId !== id) return;
        this.peers.closed(entry, this.clock.now(), { useful: false });
        this.peerEvent(addr, 'closed', `handshake-failed: ${e.message}`);
      },
    );
  }

  /** uTP on the TCP port's number (BEP 29): incoming connections, and the socket outgoing ones use. */
  private async listenUtp(): Promise<void> {
    try {
      this.utp = await UtpSocket.bind({ port: this.listenPort, host: '0.0.0.0', clock: this.clock, random: this.randomBytes });
    } catch (e) {
      this.warn(`uTP not available on UDP port ${this.listenPort}: ${(e as Error).message}`);
      return;
    }
    this.utp.on('error', (e) => this.warn(`uTP socket: ${e.message}`));
    this.utp.on('connection', (conn) => {
      const addr = peerAddr(conn.remoteAddress, conn.remotePort);
      if (!addr) {
        conn.destroy();
        return;
      }
      this.onIncomingStream(conn, addr, 'utp');
    });
  }

  /**
   * A full peer set makes room: the live peer that has been least useful for longest (no
   * payload either way, not a candidate for the metadata) goes, if one is older than
   * EVICT_MIN_AGE_MS. Slots cannot be held by idle peers.
   */
  private evictOne(): void {
    const now = this.clock.now();
    let victim: LivePeer | null = null;
    let victimScore = Infinity;
    for (const p of this.livePeers()) {
      if (now - p.since < EVICT_MIN_AGE_MS) continue;
      const useful = p.conn.download.rate(now) + p.conn.upload.rate(now) + (p.uploadQueue.length > 0 ? 1 : 0);
      if (useful < victimScore) {
        victim = p;
        victimScore = useful;
      }
    }
    if (victim && victimScore === 0) victim.conn.close('evicted', 'made room for another peer');
  }

  private readonly handler: PeerHandler = {
    onOpen: (conn) => this.onOpen(conn),
    onMessage: (conn, msg) => this.onMessage(conn, msg),
    onClose: (conn, reason, detail) => this.guard(() => this.onClose(conn, reason, detail)),
    onDrain: (conn) => {
      const p = this.conns.get(conn.id)?.live;
      if (p && this.t) this.t.uploader.serve(p);
    },
    // A typed failure raised while handling a message (a hybrid whose hash sets disagree, a full
    // disk) fails the session as it is; anything else is a bug of ours.
    onBug: (_conn, e) => void this.fail(e instanceof TorrentError ? e : new InternalError(`peer handler: ${e instanceof Error ? e.message : String(e)}`, { cause: e })),
  };

  private onOpen(conn: PeerConnection): void {
    const c = this.conns.get(conn.id);
    if (!c) throw new InternalError(`connection ${conn.id} opened but is not known`);
    const remoteId = conn.remote!.peerId;
    for (const other of this.conns.values()) {
      if (other !== c && other.live && other.conn.remote!.peerId.equals(remoteId)) {
        conn.close('duplicate', 'already connected to this peer');
        return;
      }
    }
    if (c.entry.state === 'connecting') this.peers.connected(c.entry);
    const live = new LivePeer(conn, c.entry, this.clock.now());
    live.fast = (conn.remote!.reserved[7]! & 0x04) !== 0;
    c.live = live;
    this.peerEvent(conn.address, 'connected', undefined, conn.transport);
    if (conn.remote!.reserved[5]! & 0x10) {
      conn.send({
        type: 'extended',
        id: EXTENDED_HANDSHAKE_ID,
        payload: ourExtendedHandshake({ infoBytes: this.t?.meta.infoBytes ?? null, private: this.isPrivate, listenPort: this.listenPort, reqq: MAX_UPLOAD_QUEUE }),
      });
    }
    // BEP 5: tell DHT-capable peers where our DHT listens.
    const dhtPort = this.discovery?.dhtPort ?? null;
    if (dhtPort !== null && conn.remote!.reserved[7]! & 0x01) conn.send({ type: 'port', port: dhtPort });
    if (this.t) this.greetWithPieces(live);
    else {
      // Before the metadata we hold nothing: BEP 6 asks fast peers for a summary, others get none;
      // what we have later reaches both as haves.
      if (live.fast) conn.send({ type: 'have-none' });
      live.greeted = true;
    }
  }

  /**
   * What we have, told to a peer: the summary right after the handshake (a bitfield, or BEP 6
   * have-all / have-none), or haves for a peer that met us before the metadata was known. With
   * --no-save we serve nothing, so we advertise nothing. Fast peers also hear their allowed-fast set.
   */
  private greetWithPieces(p: LivePeer): void {
    const t = this.t!;
    const written = t.progress.written;
    const c = p.conn;
    if (!c.isOpen) return;
    const count = this.o.noSave ? 0 : written.count;
    if (p.greeted) {
      if (count > 0) for (const piece of written.ones()) c.send({ type: 'have', index: piece });
    } else if (p.fast) {
      c.send(count === t.meta.pieceCount ? { type: 'have-all' } : count === 0 ? { type: 'have-none' } : { type: 'bitfield', bitfield: written.buffer });
    } else if (count > 0) {
      c.send({ type: 'bitfield', bitfield: written.buffer });
    }
    p.greeted = true;
    if (p.fast && count > 0) {
      p.allowedFastOut = new Set(allowedFastSet(c.address.host, this.infoHash, t.meta.pieceCount, ALLOWED_FAST_K));
      for (const piece of p.allowedFastOut) if (written.has(piece)) c.send({ type: 'allowed-fast', index: piece });
    }
  }

  /** A peer met before the metadata: its held bitfield and haves now count. */
  private adoptPieces(p: LivePeer): void {
    const t = this.t!;
    const held = p.takePending();
    try {
      if (held.haveAll) {
        p.bitfield = Bitfield.full(t.meta.pieceCount);
      } else if (held.bitfield) {
        validateBitfield(held.bitfield, t.meta.pieceCount);
        p.setBitfield(held.bitfield, t.meta.pieceCount);
      } else {
        p.setBitfield(Buffer.alloc(Math.ceil(t.meta.pieceCount / 8)), t.meta.pieceCount);
      }
      for (const h of held.haves) {
        validateHave(h, t.meta.pieceCount);
        p.bitfield!.set(h);
      }
    } catch (e) {
      p.conn.close('protocol-error', (e as Error).message);
      return;
    }
    t.picker.addBitfield(p.bitfield!);
    t.scheduler.countInteresting(p);
  }

  private onClose(conn: PeerConnection, reason: CloseReason, detail: string): void {
    const c = this.conns.get(conn.id);
    if (!c) return;
    this.conns.delete(conn.id);
    const t = this.t;
    const p = c.live;
    if (p && t) {
      t.scheduler.abortAll(p);
      t.picker.abortPeer(p.id);
      if (p.bitfield) t.picker.removeBitfield(p.bitfield);
      t.uploader.drop(p);
    }
    const now = this.clock.now();
    const gone = this.metadata?.peerGone(conn.id, now);
    if (gone) this.sendMetadataRequests(gone.peerId, gone.payloads);
    if (c.entry.state === 'connecting' || c.entry.state === 'live') {
      const ban = reason === 'banned' || reason === 'bad-data' || reason === 'wrong-info-hash' || reason === 'self-connection';
      const useful = conn.download.total > 0 && reason !== 'protocol-error' && reason !== 'bad-data';
      this.peers.closed(c.entry, now, { useful, ban, notNeeded: reason === 'not-useful' });
    }
    this.peerEvent(conn.address, 'closed', detail ? `${reason}: ${detail}` : reason);
    if (t && !isFinal(this.life)) t.scheduler.updateAll(this.livePeers()); // its blocks are free again
    this.dialMore();
  }

  // ---- messages ----------------------------------------------------------------------------

  private onMessage(conn: PeerConnection, msg: Message): void {
    const p = this.conns.get(conn.id)?.live;
    if (!p) throw new InternalError(`message from connection ${conn.id} that is not live`);
    const t = this.t;
    if (CONTROL.has(msg.type) && !p.allowControl(this.clock.now(), MAX_CONTROL_PER_SECOND)) {
      throw new ProtocolError(`flooding: more than ${MAX_CONTROL_PER_SECOND} ${msg.type} and other state changes in a second`);
    }
    switch (msg.type) {
      case 'bitfield':
        this.summary(p, 'bitfield');
        if (!t) {
          p.setBitfield(msg.bitfield, null);
          break;
        }
        validateBitfield(msg.bitfield, t.meta.pieceCount);
        this.setPeerPieces(p, new Bitfield(t.meta.pieceCount, msg.bitfield));
        break;
      case 'have-all':
      case 'have-none':
        this.summary(p, msg.type);
        if (!t) {
          if (msg.type === 'have-all') p.holdHaveAll();
          break;
        }
        this.setPeerPieces(p, msg.type === 'have-all' ? Bitfield.full(t.meta.pieceCount) : new Bitfield(t.meta.pieceCount));
        break;
      case 'have':
        if (!t) {
          p.holdHave(msg.index);
          break;
        }
        validateHave(msg.index, t.meta.pieceCount);
        p.bitfield ??= new Bitfield(t.meta.pieceCount);
        if (!p.bitfield.has(msg.index)) {
          p.bitfield.set(msg.index);
          t.picker.addHave(msg.index);
          t.scheduler.onHave(p, msg.index);
          if (!conn.amInterested) t.scheduler.update(p);
        }
        break;
      case 'choke':
        conn.peerChoking = true;
        // BEP 6: with the fast extension a choke no longer drops our requests; the peer rejects
        // them one by one (or still serves those it allowed fast).
        if (t && !p.fast) {
          t.scheduler.abortAll(p);
          t.scheduler.updateAll(this.livePeers(), p);
        }
        break;
      case 'reject-request': {
        this.needFast(p, msg.type);
        const req = t ? conn.takeRequest(msg.index, msg.begin, msg.length) : null;
        if (!t || req === null) throw new ProtocolError(`rejected piece ${msg.index} offset ${msg.begin}, which we never asked for`);
        if (req !== 'late') t.picker.abortRequest(p.id, { piece: req.piece, block: req.block });
        t.scheduler.updateAll(this.livePeers(), p);
        break;
      }
      case 'allowed-fast':
        this.needFast(p, msg.type);
        if (t) validateHave(msg.index, t.meta.pieceCount);
        if (!p.allowedFastIn.has(msg.index) && p.allowedFastIn.size >= MAX_ALLOWED_FAST) {
          throw new ProtocolError(`more than ${MAX_ALLOWED_FAST} allowed-fast pieces`);
        }
        p.allowedFastIn.add(msg.index);
        if (t && conn.peerChoking) t.scheduler.update(p);
        break;
      case 'suggest-piece':
        // A hint (BEP 6): rarest-first already decides; only its validity is checked.
        this.needFast(p, msg.type);
        if (t) validateHave(msg.index, t.meta.pieceCount);
        break;
      case 'unchoke':
        conn.peerChoking = false;
        t?.scheduler.update(p);
        break;
      case 'interested':
        conn.peerInterested = true;
        t?.uploader.onInterested(p, this.livePeers());
        break;
      case 'not-interested':
        conn.peerInterested = false;
        t?.uploader.onNotInterested(p);
        break;
      case 'request':
        t?.uploader.onRequest(p, msg.index, msg.begin, msg.length);
        break;
      case 'cancel':
        t?.uploader.onCancel(p, msg.index, msg.begin, msg.length);
        break;
      case 'piece':
        this.onBlock(p, msg.index, msg.begin, msg.block);
        break;
      case 'extended':
        this.onExtended(p, msg.id, msg.payload);
        break;
      case 'port':
        this.discovery?.addDhtNode(conn.address.host, msg.port);
        break;
      default:
        break; // unknown message ids: ignored, as BEP 3 asks
    }
  }

  /**
   * A peer's piece summary. have-all/none need the fast extension. A later summary replaces the
   * earlier one (aria2 sends have-none, haves, then a bitfield), except after have-all: a peer
   * that said it has everything cannot take it back.
   */
  private summary(p: LivePeer, kind: 'bitfield' | 'have-all' | 'have-none'): void {
    if (kind !== 'bitfield') this.needFast(p, kind);
    if (p.saidHaveAll) throw new ProtocolError(`${kind} after have-all`);
    if (kind === 'have-all') p.saidHaveAll = true;
  }

  private needFast(p: LivePeer, what: string): void {
    if (!p.fast) throw new ProtocolError(`${what} without the fast extension (BEP 6)`);
  }

  /** The peer's pieces are now `bits` (a bitfield or have-all/none): picker and interest follow. */
  private setPeerPieces(p: LivePeer, bits: Bitfield): void {
    const t = this.t!;
    if (p.bitfield) t.picker.removeBitfield(p.bitfield);
    p.bitfield = bits;
    t.picker.addBitfield(bits);
    t.scheduler.countInteresting(p);
    t.scheduler.update(p);
  }

  private onBlock(p: LivePeer, piece: number, begin: number, block: Buffer): void {
    const t = this.t;
    const req = t ? p.conn.takeRequest(piece, begin, block.length) : null;
    if (!t || req === null) {
      p.conn.close('protocol-error', `sent piece ${piece} offset ${begin} that was never requested`);
      return;
    }
    const ref = { piece, block: begin / BLOCK_SIZE };
    if (req === 'late' && t.picker.blockLength(piece, ref.block) !== block.length) return;
    const r = t.picker.markReceived(p.id, ref);
    p.snubbed = false;
    if (!r.duplicate) {
      this.downloaded += block.length;
      this.lastProgressAt = this.clock.now();
      for (const otherId of r.otherPeers) this.conns.get(otherId)?.conn.cancel(piece, ref.block);
      t.assembler.addBlock(p.id, piece, begin, block, r.pieceComplete);
    }
    t.scheduler.update(p);
  }

  /** BEP 10 messages: the handshake, ut_metadata (BEP 9), ut_pex (BEP 11). */
  private onExtended(p: LivePeer, id: number, payload: Buffer): void {
    const now = this.clock.now();
    if (id === EXTENDED_HANDSHAKE_ID) {
      const hs = decodeExtendedHandshake(payload);
      if (hs.reqq !== null && hs.reqq > 0) p.reqq = hs.reqq;
      p.extendedSeen = true;
      p.ext = {
        metadata: hs.m.get('ut_metadata'),
        pex: this.isPrivate ? undefined : hs.m.get('ut_pex'),
        listenPort: hs.p ?? undefined,
        metadataSize: hs.metadataSize ?? undefined,
      };
      if (this.life.kind === 'fetching-metadata' && this.metadata && p.ext.metadata !== undefined && p.ext.metadataSize) {
        this.sendMetadataRequests(p.id, this.metadata.peerServes(p.id, p.ext.metadataSize, now));
      }
      return;
    }
    if (id === UT_METADATA_ID) {
      const m = decodeMetadataMessageOrSkip(payload);
      if (m === null) return;
      if (m.type === 'request') {
        if (!p.allowControl(now, MAX_CONTROL_PER_SECOND)) throw new ProtocolError(`flooding: more than ${MAX_CONTROL_PER_SECOND} metadata requests in a second`);
        if (p.ext.metadata === undefined || !p.allowAnswer(now, METADATA_ANSWERS_PER_SECOND)) return;
        p.conn.send({ type: 'extended', id: p.ext.metadata, payload: answerMetadataRequest(this.t?.meta.infoBytes ?? null, m.piece) });
        return;
      }
      if (this.life.kind !== 'fetching-metadata' || !this.metadata) return;
      this.lastProgressAt = now;
      const out = this.metadata.onMessage(p.id, m, now);
      if (out.kind === 'send') this.sendMetadataRequests(p.id, out.payloads);
      else if (out.kind === 'liar') {
        this.warn(`peer ${addrKey(p.conn.address)} sent metadata that does not match the info hash; banned`);
        p.conn.close('bad-data', 'wrong metadata');
      } else if (out.kind === 'done') this.onMetadata(out.infoBytes);
    } else if (id === UT_PEX_ID && !this.isPrivate) {
      this.discovery?.addPex(decodePex(payload).added);
    }
  }

  private sendMetadataRequests(peerId: number, payloads: Buffer[]): void {
    const p = this.conns.get(peerId)?.live;
    if (!p || p.ext.metadata === undefined) return;
    for (const payload of payloads) p.conn.send({ type: 'extended', id: p.ext.metadata, payload });
  }

  private onMetadata(infoBytes: Buffer): void {
    if (this.o.input.kind !== 'magnet' || this.life.kind !== 'fetching-metadata') return;
    let built: { bytes: Buffer; meta: Metainfo };
    try {
      built = torrentFromMetadata(infoBytes, this.o.input.magnet);
    } catch (e) {
      void this.fail(e);
      return;
    }
    this.events.push({ type: 'metadata', meta: built.meta, torrent: built.bytes }, false);
    if (this.o.metadataOnly) {
      void this.end({ kind: 'stopped', reason: 'done' });
      return;
    }
    // Peers learn that we now serve the metadata too (BEP 10 allows a second handshake).
    const hs = ourExtendedHandshake({ infoBytes: built.meta.infoBytes, private: built.meta.private, listenPort: this.listenPort, reqq: MAX_UPLOAD_QUEUE });
    for (const p of this.livePeers()) if (p.conn.remote!.reserved[5]! & 0x10) p.conn.send({ type: 'extended', id: EXTENDED_HANDSHAKE_ID, payload: hs });
    this.begin(built.meta).catch((e: unknown) => this.fail(e));
  }

  // ---- pieces ------------------------------------------------------------------------------

  private onWritten(piece: number): void {
    const t = this.t!;
    if (isFinal(this.life)) return;
    for (const f of t.progress.markWritten(piece)) this.events.push({ type: 'file-done', fileIndex: f });
    t.resume?.markDirty();
    this.events.push({ type: 'piece', index: piece });
    const live = this.livePeers();
    t.scheduler.onVerified(live, piece);
    // With --no-save the piece is gone once streamed: it is not announced.
    for (const p of live) {
      if (!this.o.noSave) p.conn.send({ type: 'have', index: piece });
      if (p.interesting === 0) t.scheduler.update(p);
    }
    t.resume?.maybeSave(this.clock.now());
    t.webSeeds?.fill();
    if (t.progress.complete && this.life.kind === 'downloading') void this.complete().catch((e: unknown) => this.fail(e));
  }

  private onPieceFailed(piece: number, liars: number[]): void {
    this.warn(`piece ${piece} failed its hash check; fetching it again`);
    this.banIds(liars, `sent bad data for piece ${piece}`, piece);
    this.t!.scheduler.updateAll(this.livePeers());
    this.t!.webSeeds?.fill();
  }

  /** A piece we claimed cannot be read: we stop claiming it, and fetch it again if wanted. */
  private onReadError(piece: number, e: Error): void {
    if (!this.t?.progress.written.has(piece)) return;
    this.warn(`cannot read piece ${piece} for upload: ${e.message}; no longer offered`);
    this.forgetPieces([piece], 'unreadable');
  }

  /**
   * Pieces we claimed are no longer on disk: they stop counting as ours (progress, picker,
   * resume data) and, while downloading, are fetched again. `have` cannot be taken back
   * (BEP 3): peers that may ask for them are dropped and get a bitfield without them when they
   * reconnect.
   */
  private forgetPieces(pieces: readonly number[], why: string): void {
    const t = this.t!;
    const lost = pieces.filter((p) => t.progress.written.has(p));
    if (lost.length === 0) return;
    for (const p of lost) {
      t.progress.forget(p);
      t.picker.pieceLost(p);
    }
    t.resume?.markDirty();
    this.warn(`${lost.length} piece(s) ${why}: ${lost.length === 1 ? `piece ${lost[0]}` : `pieces ${lost[0]}…${lost[lost.length - 1]}`} no longer counted as ours`);
    for (const p of this.livePeers()) {
      if (p.conn.peerInterested) p.conn.close('not-useful', 'pieces we offered are gone');
      else t.scheduler.countInteresting(p);
    }
    if (this.life.kind === 'seeding' && !this.o.seedOnly && !t.progress.complete) {
      this.warn('seeding incomplete data: run download again to repair it');
    }
    t.scheduler.updateAll(this.livePeers());
  }

  /** Checks the files of the pieces we hold; forgets what changed. True when nothing did. */
  private async stillOnDisk(): Promise<boolean> {
    const t = this.t!;
    const disk = t.storage.disk!;
    const changed = await disk.changedFiles((p) => t.progress.written.has(p));
    if (changed.pieces.length === 0) return true;
    this.forgetPieces(changed.pieces, 'changed on disk from outside');
    if (changed.files.length > 0) await disk.createEmptyFiles();
    return false;
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
      this.warn(`banned ${addrKey(c.conn.address)}: ${why}`);
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
    for (const p of live) this.maintain(p, now);
    if (t) {
      let freed = false;
      for (const p of live) if (t.scheduler.expire(p, now)) freed = true;
      if (freed || this.life.kind === 'downloading') t.scheduler.updateAll(live);
      t.uploader.maybeRechoke(live, this.life.kind === 'seeding', now);
      t.webSeeds?.fill();
      t.resume?.maybeSave(now);
      if (this.life.kind === 'seeding' && t.storage.disk && now - this.lastDiskCheckAt >= SEED_DISK_CHECK_MS) {
        this.lastDiskCheckAt = now;
        this.stillOnDisk().catch((e: unknown) => this.fail(e));
      }
    }
    if (this.metadata && this.life.kind === 'fetching-metadata') {
      for (const id of this.metadata.timedOut(now)) this.conns.get(id)?.conn.close('not-useful', 'metadata request timed out');
    }
    if (!this.isPrivate) this.sendPex(now);
    if (this.life.kind === 'seeding' && this.seedGoalReached(now)) {
      void this.end({ kind: 'stopped', reason: 'done' });
      return;
    }
    this.dialMore();
    this.checkTimeout(now);
  }

  /** Keep-alives, idle peers, seeds meeting seeds, peers useless in the metadata phase. */
  private maintain(p: LivePeer, now: number): void {
    const c = p.conn;
    if (now - c.lastReceivedAt > IDLE_TIMEOUT_MS) c.close('idle', 'silent for too long');
    else if (this.life.kind === 'seeding' && p.isSeed) c.close('not-useful', 'both sides are seeds');
    else if (this.life.kind === 'fetching-metadata' && now - p.since > METADATA_HANDSHAKE_MS && !this.servesMetadata(p) && !this.peers.hasRoom) {
      c.close('not-useful', 'does not serve the metadata');
    } else if (now - c.lastSentAt > KEEPALIVE_MS) c.send({ type: 'keep-alive' });
  }

  private servesMetadata(p: LivePeer): boolean {
    return p.ext.metadata !== undefined && (p.ext.metadataSize ?? 0) > 0;
  }

  private checkTimeout(now: number): void {
    const ms = this.o.timeoutMs;
    if (ms === null || now - this.lastProgressAt <= ms) return;
    if (this.life.kind !== 'downloading' && this.life.kind !== 'fetching-metadata') return;
    const open = this.livePeers().length;
    const s = Math.round(ms / 1000);
    const known = this.peers.size;
    let why: string;
    let hint: string;
    if (this.life.kind === 'fetching-metadata') {
      why = open > 0 ? `no metadata from ${open} connected peer(s) in ${s} s` : `no peer with the metadata found in ${s} s (${known} known)`;
      hint = 'a magnet needs peers: add trackers (tr=, --tracker), --peer, or let the DHT run longer';
    } else {
      why = open > 0 ? `no data for ${s} s from ${open} connected peer(s)` : known === 0 ? `no peers found in ${s} s` : `could not get data from any of ${known} known peer(s) in ${s} s`;
      hint = 'check the trackers, or add peers with --peer host:port';
    }
    void this.fail(new RuntimeError('ERR_NO_PEERS', why, { hint }));
  }

  /**
   * BEP 11: each PEX peer hears which of our peers came and went since its last message, at most
   * once a PEX_INTERVAL_MS. A peer is named by where it listens: the address we dialled, or its
   * BEP 10 `p`.
   */
  private sendPex(now: number): void {
    const live = this.livePeers();
    const current = new Map<string, PeerAddr>();
    const listenAddr = (p: LivePeer): PeerAddr | null =>
      p.conn.outgoing ? p.conn.address : p.ext.listenPort ? peerAddr(p.conn.address.host, p.ext.listenPort) : null;
    for (const p of live) {
      const a = listenAddr(p);
      if (a) current.set(addrKey(a), a);
    }
    for (const p of live) {
      if (p.ext.pex === undefined || now - p.lastPexAt < PEX_INTERVAL_MS) continue;
      const self = listenAddr(p);
      const payload = pexUpdate(current, p.pexSent, self ? addrKey(self) : null);
      if (!payload) continue;
      p.lastPexAt = now;
      p.conn.send({ type: 'extended', id: p.ext.pex, payload });
    }
  }

  // ---- small things ------------------------------------------------------------------------

  private livePeers(): LivePeer[] {
    const out: LivePeer[] = [];
    for (const c of this.conns.values()) if (c.live && c.conn.isOpen) out.push(c.live);
    return out;
  }

  private peerEvent(addr: PeerAddr, event: 'connected' | 'closed', reason?: string, transport?: string): void {
    this.events.push({ type: 'peer', address: addrKey(addr), event, reason, transport });
  }

  private warn(message: string): void {
    this.events.push({ type: 'warning', message });
  }
}


/** BEP 52: reserved bit 0x10 of byte 7 says we speak v2 (set for v2 and hybrid torrents). */
function withV2Bit(reserved: Buffer, v2: boolean): Buffer {
  if (v2) reserved[7]! |= 0x10;
  return reserved;
}

/**
 * How a complete piece is checked: SHA-1 (v1), its merkle hash from the piece layers (v2, BEP
 * 52), or both (hybrid: a piece must satisfy both; a torrent whose two hash sets disagree on a
 * piece is refused with a MetainfoError, which fails the session with exit 2). A v2 torrent
 * whose .torrent lacks a piece layer cannot be checked without BEP 52 hash requests: refused.
 */
function pieceVerifier(meta: Metainfo): (piece: number, data: Buffer) => boolean {
  if (meta.infoHashV2 === null) return (p, data) => verifyV1Piece(meta, p, data);
  const map = v2PieceMap(meta);
  const missing = map.find((at) => at !== null && expectedPieceHash(meta, at) === null);
  if (missing) {
    throw new InputError('ERR_BAD_TORRENT', `${meta.name}: no piece layer for ${missing.file.path.join('/')}: fetching piece layers from peers (BEP 52 hash requests) is not supported yet`, {
      hint: 'use a .torrent that carries its piece layers',
    });
  }
  if (meta.pieces) {
    return (p, data) => {
      const v = verifyHybridPiece(meta, p, map[p] ?? null, data);
      return v.v1 && v.v2 === 'ok';
    };
  }
  return (p, data) => {
    const at = map[p];
    return at === null || at === undefined ? data.every((b) => b === 0) : verifyV2Piece(meta, at, data) === 'ok';
  };
}

/** Messages that change a connection's state or ask for an answer: rate-limited per peer. */
const CONTROL: ReadonlySet<Message['type']> = new Set(['choke', 'unchoke', 'interested', 'not-interested']);
