/**
 * A scripted BitTorrent peer for integration tests: a TCP server on 127.0.0.1 (port 0) that
 * speaks BEP 3 through our own wire codec and seeds a torrent's data from an in-memory Buffer
 * (handshake, full bitfield, unchoke on interested, a piece message for each request), unless
 * told to misbehave. It never dials out.
 *
 * Misbehaviours (each on every connection):
 * - badData: every block it sends is corrupted (true), or only blocks of the listed pieces.
 * - hugeLengthPrefix: right after its handshake, a 2^31 length prefix (and nothing more).
 * - wrongInfoHash: answers the handshake with another info hash.
 * - trickle: everything it sends (its handshake first) goes out one byte per second.
 * - disconnectMidBlock: answers the first request with half a piece message, then closes.
 * - unrequestedPiece: on `interested`, sends a (correct) block nobody asked for, then unchokes.
 * Independent of those, `rateBytesPerSec` paces all its output (a slow honest seeder).
 *
 * It records what happened (`stats`): connections accepted and when each ended, every request,
 * bytes written, so tests can assert e.g. that a banned peer is never dialled or asked again.
 * `close()` ends every socket and timer it started.
 */
import { createHash } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Bitfield } from '../../src/util/bitfield.js';
import {
  decodeHandshake,
  encodeHandshake,
  encodeMessage,
  encodePieceHeader,
  Framer,
  HANDSHAKE_BYTES,
  maxMessageBytes,
  reservedBits,
  type Message,
} from '../../src/wire/index.js';

export interface ScriptedPeerOptions {
  /** The torrent's whole content (single file or the concatenation of its files). */
  data: Buffer;
  pieceLength: number;
  infoHash: Buffer;
  /** Corrupt every block (true) or only blocks of these pieces. */
  badData?: boolean | readonly number[];
  hugeLengthPrefix?: boolean;
  wrongInfoHash?: boolean;
  trickle?: boolean;
  disconnectMidBlock?: boolean;
  unrequestedPiece?: boolean;
  /** Pace everything this peer sends, summed over its connections (a slow seeder). */
  rateBytesPerSec?: number;
  /** 20 bytes; random-looking by default. */
  peerId?: Buffer;
}

export interface ConnectionRecord {
  /** 1-based, in accept order. */
  n: number;
  acceptedAt: number;
  /** When the socket closed (either side), or null while open. */
  closedAt: number | null;
  /** The other side (our client) ended the connection first. */
  closedByRemote: boolean;
  /** The client's handshake arrived and carried our info hash. */
  handshook: boolean;
}

export interface RequestRecord {
  connection: number;
  at: number;
  index: number;
  begin: number;
  length: number;
}

export interface ScriptedPeerStats {
  connections: ConnectionRecord[];
  requests: RequestRecord[];
  /** Every byte written to sockets (handshakes, messages, blocks). */
  bytesSent: number;
  /** Block bytes of piece messages written to sockets (whole or in part). */
  blockBytesSent: number;
  /** Blocks sent corrupted. */
  badBlocksSent: number;
}

export interface ScriptedPeer {
  readonly port: number;
  /** "127.0.0.1:<port>", for --peer. */
  readonly address: string;
  readonly stats: ScriptedPeerStats;
  /** Zeroes the counters and forgets past records (between two runs of the client). */
  resetStats(): void;
  close(): Promise<void>;
}

/** Pacing granularity of `rateBytesPerSec`. */
const PACE_INTERVAL_MS = 20;
const TRICKLE_INTERVAL_MS = 1000;
const BLOCK_SIZE = 16384;

/**
 * What one connection writes, in order. Items are whole frames; `key` marks a piece message for
 * a request so a cancel can drop it while none of it has been written.
 */
interface OutItem {
  buf: Buffer;
  sent: number;
  blockBytes: number;
  key?: string;
}

/** Shared pacing budget: `rateBytesPerSec` for the whole peer, one byte a second for trickle. */
class Pacer {
  private timer: NodeJS.Timeout | null = null;
  private readonly queues = new Set<Conn>();

  constructor(
    private readonly bytesPerTick: number,
    private readonly intervalMs: number,
  ) {}

  wake(c: Conn): void {
    this.queues.add(c);
    if (!this.timer) this.timer = setInterval(() => this.tick(), this.intervalMs);
  }

  forget(c: Conn): void {
    this.queues.delete(c);
    if (this.queues.size === 0) this.stop();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    let budget = this.bytesPerTick;
    // Round robin, one pass; a connection that has nothing left leaves the set.
    for (const c of [...this.queues]) {
      if (budget <= 0) break;
      budget -= c.flush(budget);
      if (!c.hasPending) this.queues.delete(c);
    }
    if (this.queues.size === 0) this.stop();
  }
}

interface Conn {
  flush(maxBytes: number): number;
  readonly hasPending: boolean;
}

export async function startScriptedPeer(opts: ScriptedPeerOptions): Promise<ScriptedPeer> {
  const { data, pieceLength } = opts;
  const pieceCount = Math.ceil(data.length / pieceLength);
  const peerId = opts.peerId ?? Buffer.concat([Buffer.from('-SP0001-'), createHash('sha1').update(String(Math.random())).digest().subarray(0, 12)]);
  const have = new Bitfield(pieceCount);
  for (let p = 0; p < pieceCount; p++) have.set(p);
  const stats: ScriptedPeerStats = { connections: [], requests: [], bytesSent: 0, blockBytesSent: 0, badBlocksSent: 0 };
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const pacer = opts.trickle
    ? new Pacer(1, TRICKLE_INTERVAL_MS)
    : opts.rateBytesPerSec
      ? new Pacer(Math.max(1, Math.round((opts.rateBytesPerSec * PACE_INTERVAL_MS) / 1000)), PACE_INTERVAL_MS)
      : null;
  let closing = false;
  let connectionCount = 0;

  const isBad = (piece: number): boolean =>
    opts.badData === true || (Array.isArray(opts.badData) && opts.badData.includes(piece));

  const block = (index: number, begin: number, length: number): Buffer | null => {
    if (index >= pieceCount || length === 0 || length > BLOCK_SIZE * 8) return null;
    const start = index * pieceLength + begin;
    const end = start + length;
    if (begin + length > pieceLength || end > data.length) return null;
    return data.subarray(start, end);
  };

  const onConnection = (socket: Socket): void => {
    if (closing) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    const record: ConnectionRecord = { n: ++connectionCount, acceptedAt: Date.now(), closedAt: null, closedByRemote: false, handshook: false };
    stats.connections.push(record);
    const framer = new Framer({ maxMessageBytes: maxMessageBytes(pieceCount) });
    const out: OutItem[] = [];
    let weClosed = false;
    let handshakeDone = false;
    let halfSent = false;
    let ended = false;

    const conn: Conn = {
      get hasPending() {
        return out.length > 0 && !ended;
      },
      flush(maxBytes: number): number {
        let used = 0;
        while (out.length > 0 && used < maxBytes && !ended) {
          const item = out[0]!;
          const n = Math.min(maxBytes - used, item.buf.length - item.sent);
          rawWrite(item, n);
          used += n;
          if (item.sent === item.buf.length) out.shift();
        }
        return used;
      },
    };

    const rawWrite = (item: OutItem, n: number): void => {
      const piece = item.buf.subarray(item.sent, item.sent + n);
      // The block part of a piece message is whatever lies past its 13-byte header.
      if (item.blockBytes > 0) {
        const headerBytes = item.buf.length - item.blockBytes;
        stats.blockBytesSent += Math.max(0, item.sent + n - Math.max(headerBytes, item.sent));
      }
      item.sent += n;
      stats.bytesSent += n;
      socket.write(piece);
    };

    const send = (buf: Buffer, blockBytes = 0, key?: string): void => {
      if (ended) return;
      const item: OutItem = { buf, sent: 0, blockBytes, ...(key ? { key } : {}) };
      if (!pacer) {
        rawWrite(item, buf.length);
        return;
      }
      out.push(item);
      pacer.wake(conn);
    };

    const endConnection = (): void => {
      if (ended) return;
      weClosed = true;
      ended = true;
      pacer?.forget(conn);
      socket.end();
      const t = setTimeout(() => socket.destroy(), 1000);
      timers.add(t);
      socket.once('close', () => {
        clearTimeout(t);
        timers.delete(t);
      });
    };

    const sendBlock = (index: number, begin: number, payload: Buffer, key?: string): void => {
      let body = payload;
      if (isBad(index)) {
        body = Buffer.from(payload);
        for (let i = 0; i < body.length; i += 997) body[i] = body[i]! ^ 0xff;
        stats.badBlocksSent++;
      }
      send(Buffer.concat([encodePieceHeader(index, begin, body.length), body]), body.length, key);
    };

    const onMessage = (msg: Message): void => {
      switch (msg.type) {
        case 'interested':
          if (opts.unrequestedPiece) {
            // Before the unchoke, so the client cannot have requested it (it only asks when unchoked).
            const b = block(0, 0, Math.min(BLOCK_SIZE, pieceLength, data.length))!;
            sendBlock(0, 0, b);
          }
          send(encodeMessage({ type: 'unchoke' }));
          break;
        case 'request': {
          stats.requests.push({ connection: record.n, at: Date.now(), index: msg.index, begin: msg.begin, length: msg.length });
          const b = block(msg.index, msg.begin, msg.length);
          if (!b) {
            endConnection();
            return;
          }
          if (opts.disconnectMidBlock) {
            if (halfSent) return;
            halfSent = true;
            const frame = Buffer.concat([encodePieceHeader(msg.index, msg.begin, b.length), b]);
            send(frame.subarray(0, Math.floor(frame.length / 2)), 0);
            if (pacer) {
              // Close once the half has gone out.
              const wait = setInterval(() => {
                if (out.length === 0) {
                  clearInterval(wait);
                  timers.delete(wait);
                  endConnection();
                }
              }, 10);
              timers.add(wait);
            } else {
              endConnection();
            }
            return;
          }
          sendBlock(msg.index, msg.begin, b, `${msg.index}:${msg.begin}:${msg.length}`);
          break;
        }
        case 'cancel': {
          const key = `${msg.index}:${msg.begin}:${msg.length}`;
          const i = out.findIndex((o) => o.key === key && o.sent === 0);
          if (i >= 0) out.splice(i, 1);
          break;
        }
        default:
          break;
      }
    };

    socket.on('data', (chunk: Buffer) => {
      if (ended) return;
      try {
        framer.push(chunk);
        if (!handshakeDone) {
          const raw = framer.takeRaw(HANDSHAKE_BYTES);
          if (!raw) return;
          const hs = decodeHandshake(raw)!;
          handshakeDone = true;
          if (!hs.infoHash.equals(opts.infoHash)) {
            endConnection();
            return;
          }
          record.handshook = true;
          const infoHash = opts.wrongInfoHash ? createHash('sha1').update('not this torrent').digest() : opts.infoHash;
          send(encodeHandshake({ reserved: reservedBits({}), infoHash, peerId }));
          if (opts.hugeLengthPrefix) {
            const prefix = Buffer.alloc(4);
            prefix.writeUInt32BE(2 ** 31, 0);
            send(prefix);
            return;
          }
          if (opts.wrongInfoHash) return;
          send(encodeMessage({ type: 'bitfield', bitfield: have.buffer }));
        }
        if (opts.hugeLengthPrefix || opts.wrongInfoHash) return;
        for (let m = framer.next(); m !== null && !ended; m = framer.next()) onMessage(m);
      } catch {
        // The client broke the protocol: a scripted peer just hangs up.
        endConnection();
      }
    });
    socket.on('error', () => undefined);
    socket.on('end', () => {
      if (!weClosed) record.closedByRemote = true;
    });
    socket.on('close', () => {
      if (!weClosed && record.closedAt === null) record.closedByRemote = true;
      record.closedAt = Date.now();
      ended = true;
      out.length = 0;
      pacer?.forget(conn);
      sockets.delete(socket);
    });
  };

  const server: Server = createServer(onConnection);
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    address: `127.0.0.1:${port}`,
    stats,
    resetStats() {
      stats.connections = [];
      stats.requests = [];
      stats.bytesSent = 0;
      stats.blockBytesSent = 0;
      stats.badBlocksSent = 0;
    },
    async close() {
      closing = true;
      pacer?.stop();
      for (const t of timers) {
        clearTimeout(t);
        clearInterval(t);
      }
      timers.clear();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
