/**
 * The session's connections: dialling the peer set's entries, accepting incoming TCP and uTP
 * connections (the listening socket and the uTP socket on the same port number), turning each
 * connected byte stream into a PeerConnection, greeting a peer once its handshake is in (BEP 10
 * handshake, BEP 5 port, our pieces: bitfield or BEP 6 have-all/have-none and allowed-fast), and
 * the bookkeeping when a connection ends (its requests back to the picker, its entry's backoff
 * or ban). Messages of open connections go to the handler the coordinator gives.
 *
 * Bounds: the peer set's caps (connections, half-open); an incoming connection holds its slot
 * through its (MSE) handshake, whose deadline it meets; a full set evicts its least useful peer
 * (EVICT_MIN_AGE_MS old, no payload either way) to make room; dials and handshakes still pending
 * when the session ends are aborted.
 */
import type { Server, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { InternalError, TorrentError } from '../errors.js';
import { PeerConnection, type CloseReason, type PeerHandler, type PeerOptions } from '../peer/index.js';
import { peerAddr, addrKey, type PeerAddr } from '../util/address.js';
import { Bitfield } from '../util/bitfield.js';
import type { TimerHandle } from '../util/clock.js';
import { UtpSocket } from '../utp/index.js';
import { allowedFastSet, encodeHandshake, EXTENDED_HANDSHAKE_ID, hasReserved, Reserved, validateBitfield, validateHave, type Message } from '../wire/index.js';
import { acceptStream, listenTcp, type Dialer, type DialResult, type EncryptionMode, type Swarm } from './connector.js';
import { ourExtendedHandshake } from './extensions.js';
import { isFinal } from './lifecycle.js';
import { LivePeer } from './live-peer.js';
import type { PeerEntry } from './peer-set.js';
import type { Core } from './types.js';
import { MAX_UPLOAD_QUEUE } from './uploader.js';

const CONNECT_TIMEOUT_MS = 10_000;
/** A full peer set evicts its least useful peer, never one younger than this. */
const EVICT_MIN_AGE_MS = 30_000;
/** BEP 6: pieces a choked peer may still ask us for (the BEP suggests 10). */
const ALLOWED_FAST_K = 10;

export interface ConnectionHooks {
  onMessage(conn: PeerConnection, msg: Message): void;
  /** A live peer's connection ended (after the picker and uploader let it go). */
  onGone(conn: PeerConnection): void;
}

export class Connections {
  private server: Server | null = null;
  /** uTP on the same port number as TCP (null: off, or the UDP port was taken). */
  private utpSocket: UtpSocket | null = null;
  private port = 0;
  private nextConnId = 1;
  /** Aborts dials still in progress when the session ends. */
  private readonly dials = new AbortController();
  /** Incoming streams still in their (MSE) handshake: closed if the session ends first. */
  private readonly accepting = new Set<Duplex>();
  /** Dials again when the earliest backoff ends (at `wakeAt`), not at the session's next tick. */
  private wake: TimerHandle | null = null;
  private wakeAt = Infinity;

  /** A hybrid's v2 swarm (peers it named are greeted with its hash), or null. */
  private readonly v2Swarm: Swarm | null;

  constructor(
    private readonly core: Core,
    private readonly peerOptions: PeerOptions,
    private readonly dialer: Dialer,
    private readonly encryption: EncryptionMode,
    private readonly hooks: ConnectionHooks,
  ) {
    const v2 = peerOptions.alsoInfoHash ?? null;
    this.v2Swarm = v2 ? { infoHash: v2, handshake: encodeHandshake({ reserved: peerOptions.reserved, infoHash: v2, peerId: peerOptions.peerId }) } : null;
  }

  get listenPort(): number {
    return this.port;
  }

  /** The uTP socket outgoing uTP connections use (for the dialer). */
  get utp(): UtpSocket | null {
    return this.utpSocket;
  }

  /** Listens on TCP (and uTP unless --transport tcp) at `port` (0 = any; search: the next free ones). */
  async listen(port: number, search: boolean, utp: boolean): Promise<void> {
    this.server = await listenTcp(port, search, (s) => this.onIncoming(s));
    const a = this.server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
    if (utp) await this.listenUtp();
  }

  /** Dials what the peer set says may be dialled now. */
  dialMore(): void {
    const { core } = this;
    if (isFinal(core.life())) return;
    for (const entry of core.peers.toDial(core.clock.now())) {
      const id = this.nextConnId++;
      core.peers.dialing(entry, id);
      const swarm = entry.swarm === 'v2' && this.v2Swarm ? this.v2Swarm : undefined;
      // Once the transport is up, only handshakes remain (MSE's, then BitTorrent's: a round trip
      // or two on a distant peer): the next dial need not wait for them. Counting MSE as
      // half-open held 200 distant peers to ~32 new connections a second.
      const up = (): void => {
        if (entry.state !== 'connecting' || entry.connId !== id || entry.transportUp || isFinal(core.life())) return;
        core.peers.transportUp(entry);
        this.dialMore();
      };
      this.dialer.dial(entry.addr, CONNECT_TIMEOUT_MS, this.dials.signal, entry.failures, swarm, up).then(
        (r) => {
          if (isFinal(core.life())) {
            r.stream.destroy();
            return;
          }
          this.wrap(id, entry, true, r, swarm?.infoHash);
          up();
        },
        (e: Error) => {
          if (entry.state !== 'connecting' || entry.connId !== id) return;
          core.peers.closed(entry, core.clock.now(), { useful: false });
          this.peerEvent(entry.addr, 'closed', `connect-failed: ${e.message}`);
          this.dialMore();
        },
      );
    }
    this.armWake();
  }

  private armWake(): void {
    const at = this.core.peers.nextWakeAt;
    if (at >= this.wakeAt) return;
    this.wake?.cancel();
    this.wakeAt = at;
    this.wake = this.core.clock.setTimeout(
      () => {
        this.wake = null;
        this.wakeAt = Infinity;
        this.core.guard(() => this.dialMore());
      },
      Math.max(0, at - this.core.clock.now()),
    );
  }

  /**
   * A full peer set makes room: the live peer that has been least useful for longest (no
   * payload either way) goes, if one is older than EVICT_MIN_AGE_MS. Slots cannot be held by
   * idle peers.
   */
  evictOne(): void {
    const now = this.core.clock.now();
    let victim: LivePeer | null = null;
    let victimScore = Infinity;
    for (const p of this.core.livePeers()) {
      if (now - p.since < EVICT_MIN_AGE_MS) continue;
      const useful = p.conn.download.rate(now) + p.conn.upload.rate(now) + (p.uploadQueue.length > 0 ? 1 : 0);
      if (useful < victimScore) {
        victim = p;
        victimScore = useful;
      }
    }
    if (victim && victimScore === 0) victim.conn.close('evicted', 'made room for another peer');
  }

  /**
   * What we have, told to a peer: the summary right after the handshake (a bitfield, or BEP 6
   * have-all / have-none), or haves for a peer that met us before the metadata was known. With
   * --no-save we serve nothing, so we advertise nothing. Fast peers also hear their allowed-fast set.
   */
  greetWithPieces(p: LivePeer): void {
    const t = this.core.torrent()!;
    const written = t.progress.written;
    const c = p.conn;
    if (!c.isOpen) return;
    const count = this.core.o.noSave ? 0 : written.count;
    if (p.greeted) {
      // Haves (a bitfield may only follow the handshake), all in one write.
      c.sendHaves(written.ones(), count);
    } else if (p.fast) {
      c.send(count === t.meta.pieceCount ? { type: 'have-all' } : count === 0 ? { type: 'have-none' } : { type: 'bitfield', bitfield: written.buffer });
    } else if (count > 0) {
      c.send({ type: 'bitfield', bitfield: written.buffer });
    }
    p.greeted = true;
    if (p.fast && count > 0) {
      p.allowedFastOut = new Set(allowedFastSet(c.address.host, this.core.infoHash, t.meta.pieceCount, ALLOWED_FAST_K));
      for (const piece of p.allowedFastOut) if (written.has(piece)) c.send({ type: 'allowed-fast', index: piece });
    }
  }

  /** A peer met before the metadata: its held bitfield and haves now count. */
  adoptPieces(p: LivePeer): void {
    const t = this.core.torrent()!;
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

  /** Ends everything: pending dials and handshakes, connections, listening sockets. */
  async close(): Promise<void> {
    this.dials.abort();
    this.wake?.cancel();
    this.wake = null;
    for (const s of this.accepting) s.destroy();
    for (const c of [...this.core.conns.values()]) c.conn.close('shutdown');
    this.server?.close();
    this.server = null;
    const utp = this.utpSocket;
    this.utpSocket = null;
    await utp?.close().catch(() => undefined);
  }

  peerEvent(addr: PeerAddr, event: 'connected' | 'closed', reason?: string, transport?: string): void {
    this.core.emit({ type: 'peer', address: addrKey(addr), event, reason, transport });
  }

  /** A connected stream becomes a PeerConnection, registered before any byte is read from it. */
  private wrap(id: number, entry: PeerEntry, outgoing: boolean, r: DialResult, infoHash?: Buffer): PeerConnection {
    const conn = new PeerConnection(
      { id, stream: r.stream, address: entry.addr, outgoing, transport: r.transport, externalReads: r.bindReader !== null, handshakeSent: r.handshakeSent, infoHash },
      this.peerOptions,
      this.handler,
    );
    this.core.conns.set(id, { conn, entry, live: null });
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
    const { core } = this;
    if (isFinal(core.life()) || core.peers.isBanned(addr)) {
      stream.destroy();
      return;
    }
    if (!core.peers.hasRoom) this.evictOne();
    const id = this.nextConnId++;
    const entry = core.peers.incoming(addr, id, core.clock.now());
    if (!entry) {
      stream.destroy();
      return;
    }
    // The slot is held from now: a peer that never finishes its (MSE) handshake meets its deadline.
    this.accepting.add(stream);
    stream.once('close', () => this.accepting.delete(stream));
    acceptStream(stream, kind, { encryption: this.encryption, infoHash: core.infoHash, alsoInfoHash: this.v2Swarm?.infoHash, clock: core.clock, randomBytes: core.randomBytes }).then(
      (a) => {
        this.accepting.delete(stream);
        if (isFinal(core.life()) || entry.connId !== id) {
          a.stream.destroy();
          return;
        }
        this.wrap(id, entry, false, { stream: a.stream, transport: a.transport, bindReader: null, handshakeSent: false, head: a.head });
      },
      (e: Error) => {
        this.accepting.delete(stream);
        if (entry.connId !== id) return;
        core.peers.closed(entry, core.clock.now(), { useful: false });
        this.peerEvent(addr, 'closed', `handshake-failed: ${e.message}`);
      },
    );
  }

  /** uTP on the TCP port's number (BEP 29): incoming connections, and the socket outgoing ones use. */
  private async listenUtp(): Promise<void> {
    const { core } = this;
    try {
      this.utpSocket = await UtpSocket.bind({ port: this.port, host: '0.0.0.0', clock: core.clock, random: core.randomBytes });
    } catch (e) {
      core.warn(`uTP not available on UDP port ${this.port}: ${(e as Error).message}`);
      return;
    }
    this.utpSocket.on('error', (e) => core.warn(`uTP socket: ${e.message}`));
    this.utpSocket.on('connection', (conn) => {
      const addr = peerAddr(conn.remoteAddress, conn.remotePort);
      if (!addr) {
        conn.destroy();
        return;
      }
      this.onIncomingStream(conn, addr, 'utp');
    });
  }

  private readonly handler: PeerHandler = {
    onOpen: (conn) => this.onOpen(conn),
    onMessage: (conn, msg) => this.hooks.onMessage(conn, msg),
    onClose: (conn, reason, detail) => this.core.guard(() => this.onClose(conn, reason, detail)),
    onDrain: (conn) => {
      const p = this.core.conns.get(conn.id)?.live;
      const t = this.core.torrent();
      if (p && t) t.uploader.serve(p);
    },
    // A typed failure raised while handling a message (a hybrid whose hash sets disagree, a full
    // disk) fails the session as it is; anything else is a bug of ours.
    onBug: (_conn, e) => this.core.fail(e instanceof TorrentError ? e : new InternalError(`peer handler: ${e instanceof Error ? e.message : String(e)}`, { cause: e })),
  };

  private onOpen(conn: PeerConnection): void {
    const { core } = this;
    const c = core.conns.get(conn.id);
    if (!c) throw new InternalError(`connection ${conn.id} opened but is not known`);
    const remoteId = conn.remote!.peerId;
    for (const other of core.conns.values()) {
      if (other !== c && other.live && other.conn.remote!.peerId.equals(remoteId)) {
        conn.close('duplicate', 'already connected to this peer');
        return;
      }
    }
    if (c.entry.state === 'connecting') core.peers.connected(c.entry, core.clock.now());
    const live = new LivePeer(conn, c.entry, core.clock.now());
    live.fast = hasReserved(conn.remote!.reserved, Reserved.fast);
    c.live = live;
    this.peerEvent(conn.address, 'connected', undefined, conn.transport);
    const t = core.torrent();
    if (hasReserved(conn.remote!.reserved, Reserved.extensionProtocol)) {
      conn.send({
        type: 'extended',
        id: EXTENDED_HANDSHAKE_ID,
        payload: ourExtendedHandshake({ infoBytes: t?.meta.infoBytes ?? null, private: core.isPrivate, listenPort: this.port, reqq: MAX_UPLOAD_QUEUE }),
      });
    }
    // BEP 5: tell DHT-capable peers where our DHT listens.
    const dhtPort = core.discovery()?.dhtPort ?? null;
    if (dhtPort !== null && hasReserved(conn.remote!.reserved, Reserved.dht)) conn.send({ type: 'port', port: dhtPort });
    if (t) this.greetWithPieces(live);
    else {
      // Before the metadata we hold nothing: BEP 6 asks fast peers for a summary, others get none;
      // what we have later reaches both as haves.
      if (live.fast) conn.send({ type: 'have-none' });
      live.greeted = true;
    }
  }

  private onClose(conn: PeerConnection, reason: CloseReason, detail: string): void {
    const { core } = this;
    const c = core.conns.get(conn.id);
    if (!c) return;
    core.conns.delete(conn.id);
    const t = core.torrent();
    const p = c.live;
    if (p && t) {
      t.scheduler.abortAll(p);
      t.picker.abortPeer(p.id);
      if (p.bitfield) t.picker.removeBitfield(p.bitfield);
      t.uploader.drop(p);
    }
    const now = core.clock.now();
    if (c.entry.state === 'connecting' || c.entry.state === 'live') {
      const ban = reason === 'banned' || reason === 'bad-data' || reason === 'wrong-info-hash' || reason === 'self-connection';
      const useful = conn.download.total > 0 && reason !== 'protocol-error' && reason !== 'bad-data';
      // Cut while it was delivering: the link dropped or the peer restarted, not a verdict on us.
      const cut = useful && (reason === 'remote-closed' || reason === 'socket-error') && conn.download.rate(now) > 0;
      core.peers.closed(c.entry, now, { useful, cut, ban, notNeeded: reason === 'not-useful' });
    }
    this.peerEvent(conn.address, 'closed', detail ? `${reason}: ${detail}` : reason);
    this.hooks.onGone(conn);
    if (t && !isFinal(core.life())) t.scheduler.updateAll(core.livePeers()); // its blocks are free again
    this.dialMore();
  }
}
