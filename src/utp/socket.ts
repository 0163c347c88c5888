/**
 * One UDP port speaking uTP (BEP 29): demultiplexes datagrams to connections by (remote address,
 * remote port, connection id), admits incoming SYNs as new connections, answers packets for
 * unknown connections with a RESET, and hands every datagram that is not uTP to `onOtherPacket`.
 *
 * Sharing the port with the DHT (as libtorrent does, so one port mapping covers both): a uTP
 * packet's first byte is type << 4 | 1 with type <= 4, i.e. one of 0x01, 0x11, 0x21, 0x31, 0x41;
 * a DHT (KRPC, BEP 5) message is a bencoded dictionary and starts with 'd' (0x64). `looksLikeUtp`
 * tells them apart without parsing, and anything else goes to `onOtherPacket` untouched.
 *
 * Bounds (a flood of SYNs does not grow memory beyond them):
 * - at most `maxConnections` connections in total, `maxConnectionsPerAddress` from one IP;
 *   a SYN beyond either is refused (RESET, rate-limited) and nothing is allocated for it.
 * - RESETs we send (refused SYNs, packets for unknown connections) go through one token bucket,
 *   RESET_RATE_PER_S with bursts of RESET_BURST, so we cannot be turned into a reflector.
 * - a datagram the codec rejects (wrong version, truncated, a bad extension) is dropped and
 *   counted, never answered.
 *
 * The socket knows no clock of its own: the injected Clock and random source go to its
 * connections. `UtpSocket.bind` opens a real `node:dgram` socket; the constructor takes any
 * `DatagramTransport`, so tests drive a socket with scripted datagrams on a fake clock.
 */
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIPv6 } from 'node:net';
import type { Clock } from '../util/clock.js';
import { TokenBucket } from '../util/token-bucket.js';
import { UtpConnection, type UtpConnectionOptions } from './connection.js';
import { decodePacket, encodePacket, looksLikeUtp, PacketType, SEQ_MASK, type Packet } from './packet.js';

/** Connections per socket: a BitTorrent session keeps a few hundred peers at most. */
export const DEFAULT_MAX_CONNECTIONS = 1000;
/**
 * Connections from one IP address. Several clients can sit behind one NAT, but a flood of SYNs
 * from one address must not take every slot.
 */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 16;
/** RESETs per second we send in total, and the burst allowed (libutp rate-limits them too). */
export const RESET_RATE_PER_S = 20;
export const RESET_BURST = 20;
/**
 * Kernel send and receive buffers asked for the UDP socket: 4 MiB. Every connection on the port
 * shares them, and a receive buffer that overflows drops packets that LEDBAT then reads as
 * congestion; the Linux default (208 KiB) holds 150 packets, less than one peer's window. The
 * kernel caps the request at net.core.rmem_max / wmem_max, silently. libtorrent asks for large
 * buffers too (send_socket_buffer_size, recv_socket_buffer_size).
 */
export const UDP_SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
/** Tries to find an unused connection id for an outgoing connection before giving up. */
const MAX_ID_TRIES = 64;

export interface RemoteInfo {
  address: string;
  port: number;
}

/** Where packets leave: a dgram socket, or a test's scripted link. */
export interface DatagramTransport {
  send(msg: Buffer, port: number, address: string): void;
  close(): Promise<void>;
  address(): RemoteInfo;
}

export interface UtpSocketOptions {
  clock: Clock;
  random: (bytes: number) => Buffer;
  /** Whole uTP packet size (constants.ts DEFAULT_PACKET_BYTES). */
  packetBytes?: number;
  recvBufferBytes?: number;
  maxConnections?: number;
  maxConnectionsPerAddress?: number;
  /** Datagrams that are not uTP (a DHT message starts with 'd'). Dropped when absent. */
  onOtherPacket?: (msg: Buffer, rinfo: RemoteInfo) => void;
}

export interface UtpSocketStats {
  malformed: number;
  refusedSyns: number;
  unknownConnection: number;
  resetsSent: number;
  otherPackets: number;
  sendErrors: number;
}

export interface UtpBindOptions extends UtpSocketOptions {
  port: number;
  host?: string;
}

function key(address: string, port: number, id: number): string {
  return `${address}|${port}|${id}`;
}

export declare interface UtpSocket {
  on(event: 'connection', listener: (conn: UtpConnection) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}

export class UtpSocket extends EventEmitter {
  readonly stats: UtpSocketStats = { malformed: 0, refusedSyns: 0, unknownConnection: 0, resetsSent: 0, otherPackets: 0, sendErrors: 0 };
  private readonly transport: DatagramTransport;
  private readonly opts: UtpSocketOptions;
  private readonly conns = new Map<string, UtpConnection>();
  private readonly perAddress = new Map<string, number>();
  private readonly resetBucket: TokenBucket;
  private readonly maxConnections: number;
  private readonly maxPerAddress: number;
  private closed = false;

  constructor(transport: DatagramTransport, opts: UtpSocketOptions) {
    super();
    this.transport = transport;
    this.opts = opts;
    this.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.maxPerAddress = opts.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS;
    this.resetBucket = new TokenBucket(RESET_RATE_PER_S, RESET_BURST, opts.clock.now());
  }

  /** Opens a UDP socket on `host:port` (port 0: any free port) and serves uTP on it. */
  static override async bind(opts: UtpBindOptions): Promise<UtpSocket> {
    const host = opts.host ?? '127.0.0.1';
    const dgram: DgramSocket = createSocket({
      type: isIPv6(host) ? 'udp6' : 'udp4',
      recvBufferSize: UDP_SOCKET_BUFFER_BYTES,
      sendBufferSize: UDP_SOCKET_BUFFER_BYTES,
    });
    await new Promise<void>((resolve, reject) => {
      dgram.once('error', reject);
      dgram.bind(opts.port, host, () => {
        dgram.off('error', reject);
        resolve();
      });
    });
    let socket: UtpSocket | null = null;
    const transport: DatagramTransport = {
      // A failed send (an unreachable address) is counted, never thrown or emitted: the
      // connection's timers treat it as a lost packet.
      send: (msg, port, address) =>
        dgram.send(msg, port, address, (err) => {
          if (err && socket) socket.stats.sendErrors++;
        }),
      close: () => new Promise<void>((resolve) => dgram.close(() => resolve())),
      address: () => {
        const a = dgram.address();
        return { address: a.address, port: a.port };
      },
    };
    socket = new UtpSocket(transport, opts);
    const s = socket;
    dgram.on('message', (msg, rinfo) => s.handleDatagram(msg, rinfo));
    dgram.on('error', (err) => s.emit('error', err));
    return s;
  }

  address(): RemoteInfo {
    return this.transport.address();
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  /** Dials `host:port`; the connection emits 'connect' when the SYN is answered. */
  connect(host: string, port: number): UtpConnection {
    if (this.closed) throw new RangeError('utp: socket is closed');
    let recvId = -1;
    for (let i = 0; i < MAX_ID_TRIES; i++) {
      const id = this.opts.random(2).readUInt16BE(0);
      if (!this.conns.has(key(host, port, id))) {
        recvId = id;
        break;
      }
    }
    if (recvId < 0) throw new RangeError(`utp: no free connection id towards ${host}:${port}`);
    const k = key(host, port, recvId);
    const conn = UtpConnection.initiate(this.connectionOptions(host, port, () => this.forget(k, host)), recvId);
    this.register(k, host, conn);
    return conn;
  }

  /** One datagram from the network. Never throws. */
  handleDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closed) return;
    if (!looksLikeUtp(msg)) {
      this.stats.otherPackets++;
      this.opts.onOtherPacket?.(msg, rinfo);
      return;
    }
    const p = decodePacket(msg);
    if (p instanceof Error) {
      this.stats.malformed++;
      return;
    }
    if (p.type === PacketType.syn) {
      this.handleSyn(p, rinfo);
      return;
    }
    let conn = this.conns.get(key(rinfo.address, rinfo.port, p.connectionId));
    if (!conn && p.type === PacketType.reset) {
      // A RESET may carry either of the connection's ids (implementations differ).
      conn =
        this.conns.get(key(rinfo.address, rinfo.port, (p.connectionId + 1) & SEQ_MASK)) ??
        this.conns.get(key(rinfo.address, rinfo.port, (p.connectionId - 1) & SEQ_MASK));
    }
    if (!conn) {
      this.stats.unknownConnection++;
      if (p.type !== PacketType.reset) this.sendReset(rinfo, p.connectionId, p.seqNr);
      return;
    }
    conn.handlePacket(p);
  }

  private handleSyn(p: Packet, rinfo: RemoteInfo): void {
    const recvId = (p.connectionId + 1) & SEQ_MASK;
    const k = key(rinfo.address, rinfo.port, recvId);
    const existing = this.conns.get(k);
    if (existing) {
      existing.handlePacket(p);
      return;
    }
    const fromAddress = this.perAddress.get(rinfo.address) ?? 0;
    if (this.conns.size >= this.maxConnections || fromAddress >= this.maxPerAddress) {
      this.stats.refusedSyns++;
      this.sendReset(rinfo, p.connectionId, p.seqNr);
      return;
    }
    const conn = UtpConnection.accept(this.connectionOptions(rinfo.address, rinfo.port, () => this.forget(k, rinfo.address)), p);
    this.register(k, rinfo.address, conn);
    this.emit('connection', conn);
  }

  private connectionOptions(address: string, port: number, onClosed: () => void): UtpConnectionOptions {
    return {
      clock: this.opts.clock,
      random: this.opts.random,
      sendPacket: (buf: Buffer) => {
        if (!this.closed) this.transport.send(buf, port, address);
      },
      remoteAddress: address,
      remotePort: port,
      packetBytes: this.opts.packetBytes,
      recvBufferBytes: this.opts.recvBufferBytes,
      onClosed,
    };
  }

  private register(k: string, address: string, conn: UtpConnection): void {
    this.conns.set(k, conn);
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
  }

  private forget(k: string, address: string): void {
    if (!this.conns.delete(k)) return;
    const n = (this.perAddress.get(address) ?? 1) - 1;
    if (n <= 0) this.perAddress.delete(address);
    else this.perAddress.set(address, n);
  }

  private sendReset(rinfo: RemoteInfo, connectionId: number, seqNr: number): void {
    if (this.resetBucket.take(1, this.opts.clock.now()) > 0) return;
    this.stats.resetsSent++;
    const reset = encodePacket({
      type: PacketType.reset,
      connectionId,
      timestampUs: Math.floor(this.opts.clock.now() * 1000) >>> 0,
      timestampDiffUs: 0,
      wndSize: 0,
      seqNr: this.opts.random(2).readUInt16BE(0),
      ackNr: seqNr,
      sack: null,
      payload: new Uint8Array(0),
    });
    this.transport.send(reset, rinfo.port, rinfo.address);
  }

  /** Resets every connection and closes the port. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const conn of [...this.conns.values()]) conn.destroy();
    this.closed = true;
    this.conns.clear();
    this.perAddress.clear();
    await this.transport.close();
  }
}
