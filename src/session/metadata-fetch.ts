/**
 * The `fetching-metadata` phase of a magnet link (BEP 9 over BEP 10): find peers (the magnet's
 * `tr` trackers and `x.pe` peers, the DHT, PEX), ask those that announce ut_metadata for the info
 * dictionary, and accept it only when its SHA-1 is the magnet's info hash.
 *
 * Each serving peer fills its own assembler (metadata is small: fetching it from two or three
 * peers at once costs little and means one liar cannot spoil an honest copy); a copy that does not
 * hash right is thrown away and its peer banned. Sizes above MAX_METADATA_BYTES are refused
 * before anything is allocated. Resolves with the info bytes and every peer address learned, so
 * the download that follows starts with them; rejects with a RuntimeError on --timeout.
 */
import { createHash, randomBytes } from 'node:crypto';
import { RuntimeError } from '../errors.js';
import { MAX_PIECES, type Magnet } from '../metainfo/index.js';
import { PeerConnection, type CloseReason, type PeerHandler, type PeerOptions } from '../peer/peer-connection.js';
import { Announcer } from '../tracker/index.js';
import type { Dht } from '../dht/index.js';
import {
  decodeExtendedHandshake,
  decodePex,
  encodeExtendedHandshake,
  encodeMetadataMessage,
  EXTENDED_HANDSHAKE_ID,
  makePeerId,
  maxMessageBytes,
  MAX_METADATA_BYTES,
  MetadataAssembler,
  metadataPieceCount,
  reservedBits,
  type Message,
} from '../wire/index.js';
import { PeerPool, type Candidate } from './peer-pool.js';
import { decodeMetadataMessageOrSkip, UT_METADATA_ID, UT_PEX_ID } from './extensions.js';

const CLIENT_VERSION = 'torrent 0.1.0';

const TICK_MS = 1000;
const CONNECT_TIMEOUT_MS = 10_000;
const HANDSHAKE_TIMEOUT_MS = 15_000;
/** A metadata piece unanswered this long is asked of another peer. */
const PIECE_TIMEOUT_MS = 15_000;
/** Peers assembling a copy at the same time: bounds memory to this many x MAX_METADATA_BYTES. */
const MAX_PARALLEL_COPIES = 3;
/** Requests in flight per peer (BEP 9 pieces are 16 KiB). */
const PIECES_IN_FLIGHT = 4;
const MAX_CONNECTIONS = 30;

export interface MetadataFetchOptions {
  magnet: Magnet;
  trackers: readonly (readonly string[])[];
  peers: readonly { host: string; port: number }[];
  dht: Dht | null;
  /** Our listen port, announced to trackers and the DHT (0 if none). */
  port: number;
  timeoutMs: number | null;
  onWarning: (message: string) => void;
  now?: () => number;
}

export interface MetadataResult {
  infoBytes: Buffer;
  peers: { host: string; port: number }[];
}

interface Fetching {
  assembler: MetadataAssembler;
  requested: Map<number, number>;
}

export class MetadataFetch {
  private readonly pool = new PeerPool();
  private readonly peers = new Map<number, PeerConnection>();
  private readonly candidates = new Map<number, Candidate>();
  private readonly fetching = new Map<number, Fetching>();
  private readonly metadataIds = new Map<number, number>();
  /** metadata_size each serving peer announced (validated). */
  private readonly sizes = new Map<number, number>();
  private readonly banned = new Set<string>();
  private readonly peerOptions: PeerOptions;
  private readonly now: () => number;
  private announcer: Announcer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastProgressAt: number;
  private settle!: { resolve: (r: MetadataResult) => void; reject: (e: unknown) => void };
  private done = false;

  constructor(private readonly opts: MetadataFetchOptions) {
    this.now = opts.now ?? Date.now;
    this.lastProgressAt = this.now();
    this.peerOptions = {
      infoHash: opts.magnet.infoHash!,
      peerId: makePeerId((n) => randomBytes(n)),
      reserved: reservedBits({ extensionProtocol: true, dht: opts.dht !== null }),
      // Bitfields are ignored in this phase; any size a torrent may have is accepted.
      pieceCount: 0,
      maxMessageBytes: maxMessageBytes(MAX_PIECES),
      handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
      now: this.now,
    };
  }

  run(): Promise<MetadataResult> {
    const result = new Promise<MetadataResult>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    const infoHash = this.opts.magnet.infoHash!;
    for (const p of this.opts.peers) this.pool.add(p.host, p.port, 'magnet', this.now());
    if (this.opts.trackers.length > 0) {
      this.announcer = new Announcer({
        tiers: this.opts.trackers,
        infoHash,
        peerId: this.peerOptions.peerId,
        port: this.opts.port,
        key: randomBytes(4).readUInt32BE(0),
        // The size is unknown until the metadata is here; libtorrent announces 16 KiB too.
        stats: () => ({ uploaded: 0, downloaded: 0, left: 16384 }),
        onPeers: (peers, source) => this.addPeers(peers.map((p) => ({ host: p.ip, port: p.port })), source),
        onWarning: (w) => this.opts.onWarning(w.url ? `tracker ${w.url}: ${w.message}` : w.message),
      });
      this.announcer.start();
    }
    this.opts.dht?.lookup(infoHash, (p) => this.addPeers([p], 'dht'));
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.connectMore();
    return result;
  }

  /** Every address seen so far (for the download that follows). */
  knownPeers(): { host: string; port: number }[] {
    return this.pool.all().map((c) => ({ host: c.host, port: c.port }));
  }

  private addPeers(peers: { host: string; port: number }[], source: string): void {
    const now = this.now();
    for (const p of peers) if (!(p.port === this.opts.port && (p.host === '127.0.0.1' || p.host === '::1'))) this.pool.add(p.host, p.port, source, now);
    this.connectMore();
  }

  private connectMore(): void {
    if (this.done) return;
    const room = MAX_CONNECTIONS - this.peers.size;
    if (room <= 0) return;
    for (const c of this.pool.ready(this.now(), room)) {
      this.pool.markConnecting(c);
      const peer = PeerConnection.connect({ host: c.host, port: c.port }, this.peerOptions, this.handler, CONNECT_TIMEOUT_MS);
      this.peers.set(peer.id, peer);
      this.candidates.set(peer.id, c);
    }
  }

  private readonly handler: PeerHandler = {
    onOpen: (peer) => {
      if (this.banned.has(peer.remote!.peerId.toString('hex'))) {
        peer.close('banned', 'sent wrong metadata before');
        return;
      }
      if (!(peer.remote!.reserved[5]! & 0x10)) {
        peer.close('not-useful', 'no extension protocol: cannot serve metadata');
        return;
      }
      peer.send({
        type: 'extended',
        id: EXTENDED_HANDSHAKE_ID,
        payload: encodeExtendedHandshake({ m: { ut_metadata: UT_METADATA_ID, ut_pex: UT_PEX_ID }, v: CLIENT_VERSION, p: this.opts.port || undefined }),
      });
    },
    onMessage: (peer, msg) => this.onMessage(peer, msg),
    onClose: (peer, reason) => this.onClose(peer, reason),
    onDrain: () => undefined,
  };

  private onMessage(peer: PeerConnection, msg: Message): void {
    if (msg.type === 'port') {
      this.opts.dht?.addNode({ host: peer.address.host, port: msg.port });
      return;
    }
    if (msg.type !== 'extended') return; // bitfield, have, choke…: not for this phase
    if (msg.id === EXTENDED_HANDSHAKE_ID) {
      const hs = decodeExtendedHandshake(msg.payload);
      const id = hs.m.get('ut_metadata');
      if (id === undefined || hs.metadataSize === null || hs.metadataSize === 0) {
        peer.close('not-useful', 'does not serve metadata');
        return;
      }
      if (hs.metadataSize > MAX_METADATA_BYTES) {
        peer.close('protocol-error', `metadata_size ${hs.metadataSize} is more than ${MAX_METADATA_BYTES}`);
        return;
      }
      this.metadataIds.set(peer.id, id);
      this.sizes.set(peer.id, hs.metadataSize);
      if (this.fetching.size < MAX_PARALLEL_COPIES) this.startCopy(peer, hs.metadataSize);
      return;
    }
    if (msg.id === UT_PEX_ID) {
      const pex = decodePex(msg.payload);
      this.addPeers(pex.added, 'pex');
      return;
    }
    if (msg.id !== UT_METADATA_ID) return;
    const m = decodeMetadataMessageOrSkip(msg.payload);
    if (m === null) return;
    const f = this.fetching.get(peer.id);
    if (m.type === 'request') {
      peer.send({ type: 'extended', id: this.metadataIds.get(peer.id) ?? UT_METADATA_ID, payload: encodeMetadataMessage({ type: 'reject', piece: m.piece }) });
      return;
    }
    if (!f) return;
    if (m.type === 'reject') {
      peer.close('not-useful', `refused metadata piece ${m.piece}`);
      return;
    }
    if (!f.requested.has(m.piece)) {
      peer.close('protocol-error', `sent metadata piece ${m.piece} that was not requested`);
      return;
    }
    f.requested.delete(m.piece);
    f.assembler.add(m.piece, m.data, peer.id);
    this.lastProgressAt = this.now();
    if (f.assembler.complete) {
      const bytes = f.assembler.bytes();
      if (createHash('sha1').update(bytes).digest().equals(this.opts.magnet.infoHash!)) {
        this.finish(bytes);
        return;
      }
      this.opts.onWarning(`peer ${peer.address.host}:${peer.address.port} sent metadata that does not match the info hash; banned`);
      this.banned.add(peer.remote!.peerId.toString('hex'));
      this.pool.ban(peer.address.host, peer.address.port);
      peer.close('bad-data', 'wrong metadata');
      return;
    }
    this.requestMore(peer, f);
  }

  private startCopy(peer: PeerConnection, size: number): void {
    const f: Fetching = { assembler: new MetadataAssembler(size), requested: new Map() };
    this.fetching.set(peer.id, f);
    this.requestMore(peer, f);
  }

  private requestMore(peer: PeerConnection, f: Fetching): void {
    const id = this.metadataIds.get(peer.id)!;
    for (const piece of f.assembler.missing()) {
      if (f.requested.size >= PIECES_IN_FLIGHT) break;
      if (f.requested.has(piece)) continue;
      f.requested.set(piece, this.now());
      peer.send({ type: 'extended', id, payload: encodeMetadataMessage({ type: 'request', piece }) });
    }
  }

  private onClose(peer: PeerConnection, reason: CloseReason): void {
    this.peers.delete(peer.id);
    this.fetching.delete(peer.id);
    this.metadataIds.delete(peer.id);
    this.sizes.delete(peer.id);
    const c = this.candidates.get(peer.id);
    this.candidates.delete(peer.id);
    if (c) {
      this.pool.markClosed(c, this.now(), false);
      if (reason === 'bad-data' || reason === 'wrong-info-hash') this.pool.ban(c.host, c.port);
    }
    // A waiting peer that serves metadata takes the freed slot.
    for (const [id, other] of this.peers) {
      if (this.fetching.size >= MAX_PARALLEL_COPIES) break;
      if (!this.fetching.has(id) && this.metadataIds.has(id) && other.isOpen) this.restartCopy(other);
    }
    this.connectMore();
  }

  /** A peer that serves metadata but found no free slot at its handshake starts now. */
  private restartCopy(peer: PeerConnection): void {
    const size = this.sizes.get(peer.id);
    if (size !== undefined) this.startCopy(peer, size);
  }

  private tick(): void {
    const now = this.now();
    for (const [id, f] of this.fetching) {
      const peer = this.peers.get(id);
      if (!peer) continue;
      for (const [, at] of f.requested) {
        if (now - at > PIECE_TIMEOUT_MS) {
          peer.close('not-useful', 'metadata request timed out');
          break;
        }
      }
    }
    this.connectMore();
    if (this.opts.timeoutMs !== null && now - this.lastProgressAt > this.opts.timeoutMs) {
      const open = [...this.peers.values()].filter((p) => p.isOpen).length;
      this.fail(
        new RuntimeError(
          'ERR_NO_PEERS',
          open > 0
            ? `no metadata from ${open} connected peer(s) in ${Math.round(this.opts.timeoutMs / 1000)} s`
            : `no peer with the metadata found in ${Math.round(this.opts.timeoutMs / 1000)} s (${this.pool.size} known)`,
          { hint: 'a magnet needs peers: add trackers (tr=, --tracker), --peer, or let the DHT run longer' },
        ),
      );
    }
  }

  private finish(infoBytes: Buffer): void {
    if (this.done) return;
    const peers = this.knownPeers();
    void this.shutdown().then(() => this.settle.resolve({ infoBytes: Buffer.from(infoBytes), peers }));
  }

  private fail(e: unknown): void {
    if (this.done) return;
    void this.shutdown().then(() => this.settle.reject(e));
  }

  /** Stops everything (Ctrl-C): the run() promise rejects with `reason`. */
  cancel(reason: unknown): void {
    this.fail(reason);
  }

  private async shutdown(): Promise<void> {
    this.done = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.opts.dht?.stopLookup(this.opts.magnet.infoHash!);
    for (const p of [...this.peers.values()]) p.close('shutdown');
    await this.announcer?.stop().catch(() => undefined);
  }
}
