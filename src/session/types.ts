/**
 * The session's shared vocabulary: its public types (options, events, stats) and, for its own
 * parts, the `Core` they all see: the state the coordinator owns and the few verbs it offers
 * (warn, guard, fail…). Parts read the core; only the coordinator changes the lifecycle.
 */
import type { DhtStarter, Discovery } from '../discovery/index.js';
import type { TorrentError } from '../errors.js';
import type { Magnet, Metainfo } from '../metainfo/index.js';
import type { PeerConnection } from '../peer/index.js';
import type { PiecePicker } from '../picker/index.js';
import type { FileStorage } from '../storage/file-storage.js';
import type { PieceMap } from '../storage/piece-map.js';
import type { Storage } from '../storage/storage.js';
import type { Clock } from '../util/clock.js';
import type { Dialer, EncryptionMode, TransportMode } from './connector.js';
import type { Lifecycle, LifecycleKind } from './lifecycle.js';
import type { LivePeer } from './live-peer.js';
import type { MetadataPhase } from './metadata-phase.js';
import type { PeerEntry, PeerSet } from './peer-set.js';
import type { PieceAssembler } from './piece-assembler.js';
import type { Progress } from './progress.js';
import type { RequestScheduler } from './request-scheduler.js';
import type { ResumeSaver } from './resume-saver.js';
import type { StreamPlan, StreamWindow } from './stream-window.js';
import type { Uploader } from './uploader.js';
import type { WebSeeds } from './web-seeds.js';

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

/** One connection the session knows: its wire side, its peer-set entry, its live side once open. */
export interface Conn {
  conn: PeerConnection;
  entry: PeerEntry;
  live: LivePeer | null;
}

/** Everything that exists once the metadata is known. */
export interface Torrent {
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
  /** Cancels the timers of these parts (the session is ending). */
  dispose(): void;
}

/** What the coordinator shares with its parts (connections, messages, the torrent's owners). */
export interface Core {
  readonly o: SessionOptions;
  readonly clock: Clock;
  readonly random: () => number;
  readonly randomBytes: (n: number) => Buffer;
  readonly infoHash: Buffer;
  readonly peerId: Buffer;
  readonly isPrivate: boolean;
  readonly peers: PeerSet;
  readonly conns: Map<number, Conn>;
  readonly metadata: MetadataPhase | null;
  /** Payload bytes in and out, and when data last arrived (for --timeout). */
  readonly counters: { downloaded: number; uploaded: number; lastProgressAt: number };
  life(): Lifecycle;
  torrent(): Torrent | null;
  discovery(): Discovery | null;
  listenPort(): number;
  livePeers(): LivePeer[];
  warn(message: string): void;
  emit(event: SessionEvent, droppable?: boolean): void;
  /** Runs engine code from a callback: an exception fails the session. */
  guard(fn: () => void): void;
  fail(e: unknown): void;
  /** The magnet's metadata arrived and verified. */
  onMetadata(infoBytes: Buffer): void;
  /** Peers (or web seeds) proven to have sent bad data for `piece`. */
  banIds(ids: number[], why: string, piece: number): void;
}
