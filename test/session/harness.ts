/**
 * Session tests without sockets or real time: peers are in-memory stream pairs whose far end is
 * a scripted peer speaking exact bytes through our wire codecs, the session runs on a FakeClock,
 * storage is in memory. A test drives fake time with `runUntil` and asserts what the session did
 * (whom it banned, what it asked of whom) as well as the result.
 */
import { createHash } from 'node:crypto';
import { Duplex } from 'node:stream';
import { parseTorrent, type Metainfo } from '../../src/metainfo/index.js';
import { TorrentSession, type Dialer, type SessionEvent, type SessionOptions } from '../../src/session/index.js';
import { MemoryStorage } from '../../src/storage/index.js';
import { addrKey, type PeerAddr } from '../../src/util/address.js';
import { Bitfield } from '../../src/util/bitfield.js';
import {
  decodeExtendedHandshake,
  decodeHandshake,
  decodeMetadataMessage,
  encodeExtendedHandshake,
  encodeMetadataMessage,
  EXTENDED_HANDSHAKE_ID,
  METADATA_PIECE_BYTES,
  encodeHandshake,
  encodeMessage,
  encodePieceHeader,
  Framer,
  HANDSHAKE_BYTES,
  maxMessageBytes,
  reservedBits,
  type Message,
} from '../../src/wire/index.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { seeded } from '../helpers/prng.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';

/**
 * Two Duplex ends: what one writes, the other reads (delivered on the next turn of the loop).
 * Back-pressure is real: a write completes only once the other end's read buffer has room, so a
 * peer that never reads makes our writable side fill up as a TCP socket would.
 */
export function duplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const waiting: (() => void)[][] = [[], []];
  const make = (me: number): Duplex => {
    const other = 1 - me;
    return new Duplex({
      highWaterMark: 64 * 1024,
      read() {
        // Room again on this side: the other side's held writes complete.
        for (const cb of waiting[other]!.splice(0)) cb();
      },
      // Chunks written while one is in flight arrive together (as TCP would coalesce them).
      writev(chunks: { chunk: Buffer }[], cb) {
        setImmediate(() => {
          const o = ends[other]!;
          if (o.destroyed) return cb();
          if (o.push(Buffer.concat(chunks.map((c) => c.chunk)))) cb();
          else waiting[me]!.push(cb);
        });
      },
      final(cb) {
        setImmediate(() => ends[other]!.push(null));
        cb();
      },
      destroy(err, cb) {
        setImmediate(() => {
          const o = ends[other]!;
          if (!o.destroyed) o.destroy();
        });
        for (const w of waiting[me]!.splice(0)) w();
        cb(err);
      },
    });
  };
  ends.push(make(0), make(1));
  return [ends[0]!, ends[1]!];
}

export type Behaviour =
  | 'honest'
  | 'wrong-info-hash'
  | 'huge-length-prefix'
  | 'bad-data'
  | 'silent'
  | 'disconnect-mid-block'
  | 'unrequested-piece'
  | 'have-flood'
  | 'trickle'
  | 'invalid-requests'
  | 'choke-flood'
  | 'never-reads';

export interface PeerLog {
  /** Requests it received: "piece:begin". */
  requests: string[];
  blocksSent: number;
  connections: number;
  closedByUs: number;
  /** Messages of each type it received. */
  received: Map<string, number>;
  /** The peer ids of the BitTorrent handshakes it received. */
  handshakes: string[];
  /** BEP 9 metadata pieces it served. */
  metadataServed: number;
}

export interface TorrentFixture {
  data: Buffer;
  pieceLength: number;
  torrent: Buffer;
  meta: Metainfo;
}

export function fixture(size = 1024 * 1024, pieceLength = 64 * 1024, seed = 3): TorrentFixture {
  const data = bytes(size, seed);
  const torrent = makeTorrent({ name: 'file.bin', data, pieceLength });
  return { data, pieceLength, torrent, meta: parseTorrent(torrent) };
}

/** What a script can do on its connection. */
export interface PeerIo {
  send(m: Message): void;
  /** Sends the block as an honest seeder would. */
  serve(index: number, begin: number, length: number): void;
  close(): void;
}

export interface ScriptOptions {
  badPieces?: number[];
  has?: Bitfield;
  serveMetadata?: boolean;
  /** Sets the BEP 6 bit in its handshake. */
  fast?: boolean;
  /** Replaces the bitfield it sends after the handshake (e.g. BEP 6 have-all). */
  afterHandshake?: (io: PeerIo) => void;
  /** Sees each message first; returning true means handled (the default behaviour is skipped). */
  onMessage?: (m: Message, io: PeerIo) => boolean;
}

/** One scripted peer (per connection: a dial makes a new one on the far end). */
export class ScriptedMemoryPeer {
  readonly log: PeerLog = { requests: [], blocksSent: 0, connections: 0, closedByUs: 0, received: new Map(), handshakes: [], metadataServed: 0 };
  readonly peerId: Buffer;

  constructor(
    readonly fx: TorrentFixture,
    readonly behaviour: Behaviour,
    private readonly clock: FakeClock,
    private readonly opts: ScriptOptions = {},
  ) {
    this.peerId = Buffer.concat([Buffer.from('-SM0001-'), createHash('sha1').update(`${behaviour}${Math.random()}`).digest().subarray(0, 12)]);
  }

  attach(s: Duplex): void {
    this.log.connections++;
    const fx = this.fx;
    const pieceCount = fx.meta.pieceCount;
    const framer = new Framer({ maxMessageBytes: maxMessageBytes(pieceCount) });
    let open = false;
    let servedOne = false;
    let metadataId: number | null = null;
    const send = (b: Buffer): void => {
      if (!s.destroyed) s.write(b);
    };
    const msg = (m: Message): void => send(encodeMessage(m));
    const io: PeerIo = {
      send: msg,
      serve: (index, begin, length) => {
        const start = index * fx.pieceLength + begin;
        send(Buffer.concat([encodePieceHeader(index, begin, length), fx.data.subarray(start, start + length)]));
        this.log.blocksSent++;
      },
      close: () => s.destroy(),
    };
    s.on('close', () => {
      if (!s.destroyed) return;
    });
    s.on('end', () => this.log.closedByUs++);
    s.on('error', () => {});
    const hs = encodeHandshake({
      reserved: reservedBits({ extensionProtocol: this.opts.serveMetadata === true, dht: false, fast: this.opts.fast === true }),
      infoHash: this.behaviour === 'wrong-info-hash' ? Buffer.alloc(20, 7) : (fx.meta.infoHash ?? fx.meta.infoHashV2!.subarray(0, 20)),
      peerId: this.peerId,
    });
    if (this.behaviour === 'trickle') {
      let i = 0;
      const drip = (): void => {
        if (s.destroyed || i >= hs.length) return;
        send(hs.subarray(i, i + 1));
        i++;
        this.clock.setTimeout(drip, 1000);
      };
      drip();
    }
    if (this.behaviour === 'never-reads') {
      // Handshake, bitfield, then a flood of unchokes and chokes; it never reads a byte of ours.
      s.pause();
      send(hs);
      msg({ type: 'bitfield', bitfield: Bitfield.full(pieceCount).buffer });
      for (let k = 0; k < 20_000; k++) {
        msg({ type: 'unchoke' });
        msg({ type: 'choke' });
      }
      return;
    }
    s.on('data', (chunk: Buffer) => {
      framer.push(chunk);
      try {
        if (!open) {
          const raw = framer.takeRaw(HANDSHAKE_BYTES);
          if (!raw) return;
          const theirs = decodeHandshake(raw);
          if (theirs) this.log.handshakes.push(theirs.peerId.toString('hex'));
          open = true;
          if (this.behaviour === 'trickle') return;
          send(hs);
          if (this.behaviour === 'huge-length-prefix') {
            const b = Buffer.alloc(4);
            b.writeUInt32BE(2 ** 31);
            send(b);
            return;
          }
          if (this.opts.afterHandshake) this.opts.afterHandshake(io);
          else msg({ type: 'bitfield', bitfield: (this.opts.has ?? Bitfield.full(pieceCount)).buffer });
          if (this.behaviour === 'have-flood') for (let k = 0; k < 5000; k++) msg({ type: 'have', index: k % pieceCount });
          if (this.behaviour === 'invalid-requests') {
            msg({ type: 'interested' });
            for (let k = 0; k < 100; k++) msg({ type: 'request', index: pieceCount + k, begin: 0, length: 16384 });
          }
        }
        for (let m = framer.next(); m !== null; m = framer.next()) {
          this.log.received.set(m.type, (this.log.received.get(m.type) ?? 0) + 1);
          if (m.type === 'request') this.log.requests.push(`${m.index}:${m.begin}`);
          if (this.opts.onMessage?.(m, io)) continue;
          if (m.type === 'interested') {
            if (this.behaviour === 'unrequested-piece') send(Buffer.concat([encodePieceHeader(0, 0, 16384), fx.data.subarray(0, 16384)]));
            msg({ type: 'unchoke' });
            if (this.behaviour === 'choke-flood') for (let k = 0; k < 200; k++) { msg({ type: 'choke' }); msg({ type: 'unchoke' }); }
          } else if (m.type === 'extended' && this.opts.serveMetadata) {
            const info = fx.meta.infoBytes;
            if (m.id === EXTENDED_HANDSHAKE_ID) {
              const theirs = decodeExtendedHandshake(m.payload);
              metadataId = theirs.m.get('ut_metadata') ?? null;
              msg({ type: 'extended', id: 0, payload: encodeExtendedHandshake({ m: { ut_metadata: 3 }, metadataSize: info.length }) });
            } else if (m.id === 3 && metadataId !== null) {
              const r = decodeMetadataMessage(m.payload);
              if (r.type === 'request') {
                const start = r.piece * METADATA_PIECE_BYTES;
                this.log.metadataServed++;
                msg({ type: 'extended', id: metadataId, payload: encodeMetadataMessage({ type: 'data', piece: r.piece, totalSize: info.length, data: info.subarray(start, start + METADATA_PIECE_BYTES) }) });
              }
            }
          } else if (m.type === 'request') {
            if (this.behaviour === 'silent') continue;
            const start = m.index * fx.pieceLength + m.begin;
            let block = fx.data.subarray(start, start + m.length);
            if (this.behaviour === 'bad-data' && (!this.opts.badPieces || this.opts.badPieces.includes(m.index))) {
              block = Buffer.from(block);
              block[0]! ^= 0xff;
            }
            if (this.behaviour === 'disconnect-mid-block' && !servedOne) {
              servedOne = true;
              send(Buffer.concat([encodePieceHeader(m.index, m.begin, m.length), block.subarray(0, block.length >> 1)]));
              s.destroy();
              return;
            }
            send(Buffer.concat([encodePieceHeader(m.index, m.begin, m.length), block]));
            this.log.blocksSent++;
          }
        }
      } catch {
        s.destroy();
      }
    });
  }
}

/** A dialer over memory: each known address gets a fresh pair whose far end a scripted peer drives. */
export function memoryDialer(peers: Map<string, ScriptedMemoryPeer>, dialled: string[] = [], onDial?: () => void): Dialer {
  return {
    dial(addr: PeerAddr) {
      const k = addrKey(addr);
      dialled.push(k);
      onDial?.();
      const p = peers.get(k);
      if (!p) return Promise.reject(new Error('ECONNREFUSED'));
      const [near, far] = duplexPair();
      p.attach(far);
      return Promise.resolve({ stream: near, transport: 'mem', bindReader: null, handshakeSent: false });
    },
  };
}

export interface Harness {
  clock: FakeClock;
  session: TorrentSession;
  events: SessionEvent[];
  dialled: string[];
  /** The fake time of each dial, in the order of `dialled`. */
  dialledAt: number[];
  store: MemoryStorage | null;
  /** Advances fake time in steps until `cond()` or `maxMs` of fake time passed; returns cond(). */
  runUntil(cond: () => boolean, maxMs?: number, stepMs?: number): Promise<boolean>;
  closedReasons(address: string): string[];
}

export async function startHarness(
  fx: TorrentFixture,
  peers: Record<string, ScriptedMemoryPeer>,
  over: Partial<SessionOptions> = {},
  clock = new FakeClock(),
): Promise<Harness> {
  const map = new Map(Object.entries(peers));
  const dialled: string[] = [];
  const dialledAt: number[] = [];
  let store: MemoryStorage | null = null;
  const session = new TorrentSession({
    input: { kind: 'torrent', meta: fx.meta },
    outputDir: '/nonexistent',
    openStorage: (meta) => {
      store = new MemoryStorage((p) => (p === meta.pieceCount - 1 ? meta.totalLength - meta.pieceLength * (meta.pieceCount - 1) : meta.pieceLength));
      // The test reads what was stored after the session closed its storage.
      store.close = () => Promise.resolve();
      return { store, disk: null };
    },
    port: null,
    portSearch: false,
    maxPeers: 50,
    peers: Object.keys(peers).map((k) => {
      const i = k.lastIndexOf(':');
      return { host: k.slice(0, i), port: Number(k.slice(i + 1)) };
    }),
    trackers: [],
    timeoutMs: null,
    cacheDir: null,
    seed: false,
    dht: null,
    clock,
    random: seeded(42),
    dialer: memoryDialer(map, dialled, () => dialledAt.push(clock.now())),
    ...over,
  });
  const events: SessionEvent[] = [];
  void (async () => {
    for await (const e of session.events) events.push(e);
  })();
  await session.start();
  await settle();
  return {
    clock,
    session,
    events,
    dialled,
    dialledAt,
    get store() {
      return store;
    },
    async runUntil(cond, maxMs = 120_000, stepMs = 100) {
      for (let t = 0; t < maxMs && !cond(); t += stepMs) await clock.advance(stepMs);
      return cond();
    },
    closedReasons(address: string) {
      return events.flatMap((e) => (e.type === 'peer' && e.event === 'closed' && e.address === address ? [e.reason ?? ''] : []));
    },
  };
}

/** Everything the session wrote, in piece order. */
export async function storedBytes(store: MemoryStorage, pieceCount: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let p = 0; p < pieceCount; p++) parts.push((await store.readPiece(p)) ?? Buffer.alloc(0));
  return Buffer.concat(parts);
}
