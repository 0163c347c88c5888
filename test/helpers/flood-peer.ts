/**
 * A scriptable hostile BitTorrent peer for attack tests (issue 17): one TCP connection, dialled
 * out (`dialFloodPeer`) or accepted (`startFloodServer`, 127.0.0.1, port 0), that speaks just
 * enough BEP 3 / BEP 10 through our own wire codecs to be taken for a peer, then misbehaves:
 *
 * - handshakeByteMs: its handshake goes out one byte per this many ms (a trickle that never
 *   lets a handshake deadline be reset by "activity");
 * - dripByteMs: after the handshake (and bitfield), one byte per this many ms and nothing else
 *   (the bytes of keep-alives, so the stream stays valid: it holds a slot while looking alive);
 * - neither drip nor flood: after the handshake (and bitfield), nothing at all (silent);
 * - flood: as fast as the socket takes it, one of
 *     'metadata-requests'  BEP 9 ut_metadata requests for piece 0 (each asks for a 16 KiB answer);
 *     'interest'           interested / not-interested, alternately;
 *     'choke'              unchoke / choke, alternately (each unchoke invites a batch of requests);
 *     'pex'                BEP 11 ut_pex messages carrying `pexAddresses` fake IPv4 contacts in
 *                          total, `pexPerMessage` per message, then nothing more;
 * - stopReading: once the remote's handshake (and extended handshake, when it sends one) is in,
 *   or with a flood as the flood starts, the socket is paused for good: whatever the remote
 *   sends piles up on its side.
 *
 * Writes respect this side's own back-pressure (a flood waits for 'drain'), so the test process
 * holds at most one batch (FLOOD_BATCH_BYTES) per connection. Each connection records what
 * happened (`FloodStats`): whether the handshake completed, bytes and flood messages written,
 * bytes read, and whether the other side closed first (it dropped us). `close()` ends every
 * socket, timer and listener this helper started.
 *
 * Also here: `startHeldTracker`, an HTTP tracker that names the honest peers only late (once the
 * attack has been delivered); `probeSeeder`, a minimal BEP 6 leecher that asks a seeder for every
 * block it offers and records each answer; and `rssKiB`, a process's resident memory from /proc.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { encode } from '../../src/bencode/index.js';
import { Bitfield } from '../../src/util/bitfield.js';
import {
  decodeExtendedHandshake,
  decodeHandshake,
  encodeExtendedHandshake,
  encodeHandshake,
  encodeMessage,
  encodeMetadataMessage,
  EXTENDED_HANDSHAKE_ID,
  Framer,
  HANDSHAKE_BYTES,
  maxMessageBytes,
  reservedBits,
  type PexPeer,
} from '../../src/wire/index.js';

export type FloodKind = 'metadata-requests' | 'interest' | 'choke' | 'pex';

export interface FloodScript {
  infoHash: Buffer;
  /** Pieces of the torrent, for the bitfield; 0 = send no bitfield (e.g. in the magnet phase). */
  pieceCount: number;
  /** Claim every piece (a seeder) or none. Default: none. */
  haveAll?: boolean;
  /** Send the BEP 10 extended handshake (with ut_metadata and ut_pex). Default true. */
  extended?: boolean;
  /** metadata_size to advertise; default none (we do not serve the metadata). */
  metadataSize?: number;
  handshakeByteMs?: number;
  dripByteMs?: number;
  flood?: FloodKind;
  /** For flood 'pex': contacts in total and per message. */
  pexAddresses?: number;
  pexPerMessage?: number;
  stopReading?: boolean;
  /** A flood stops after writing this many bytes (default: never). */
  maxFloodBytes?: number;
}

export interface FloodStats {
  /** When the socket connected (ms since epoch). */
  openedAt: number;
  /** The remote's handshake arrived with our info hash. */
  handshook: boolean;
  /** The remote's extended handshake arrived. */
  extendedHandshook: boolean;
  bytesWritten: number;
  floodMessages: number;
  /** A bounded flood (pex, maxFloodBytes) has handed its last byte to the socket. */
  floodDone: boolean;
  bytesRead: number;
  /** When the socket closed, or null while open. */
  closedAt: number | null;
  /** The other side ended the connection (we did not). */
  closedByRemote: boolean;
}

export interface FloodConnection {
  readonly stats: FloodStats;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  close(): void;
}

export interface FloodServer {
  readonly port: number;
  readonly address: string;
  readonly connections: FloodConnection[];
  close(): Promise<void>;
}

/** One flood write: big enough to keep the socket busy, small enough to hold per connection. */
const FLOOD_BATCH_BYTES = 64 * 1024;
/** Default fake contacts per ut_pex message: what BEP 11 lets a first message carry and more. */
const DEFAULT_PEX_PER_MESSAGE = 200;
/** The ids we ask the remote to use for its messages to us (BEP 10 `m`). */
const OUR_UT_METADATA = 3;
const OUR_UT_PEX = 4;

/** Port of every fake contact: a privileged port nothing on a test machine listens on. */
const FAKE_PORT = 9;

let peerCounter = 0;

/** A distinct peer id per connection: our client drops a second connection from the same id. */
function nextPeerId(): Buffer {
  const id = Buffer.alloc(20);
  id.write('-FL0001-');
  id.writeUInt32BE(process.pid, 8);
  id.writeUInt32BE(++peerCounter, 12);
  id.writeUInt32BE(Date.now() >>> 0, 16);
  return id;
}

/**
 * `n` distinct fake IPv4 contacts, all on loopback (127.1.0.0 and up, never 127.0.0.1) so that
 * dialling them stays on this machine: nothing listens there on these ports, so each dial is
 * refused at once. Tests must never make the client send a packet off the machine.
 */
export function fakeContacts(n: number, offset = 0): PexPeer[] {
  const out: PexPeer[] = [];
  for (let i = offset; i < offset + n; i++) {
    // Last octet 1..250, so no .0 and no .255 that a client may treat as special.
    const host = `127.${1 + (Math.floor(i / 64_000) % 254)}.${Math.floor(i / 250) % 256}.${(i % 250) + 1}`;
    out.push({ host, port: FAKE_PORT, flags: 0x10 });
  }
  return out;
}

/**
 * A ut_pex payload (BEP 11) with any number of IPv4 contacts: encodePex refuses more than
 * MAX_PEX_PEERS, as our client should, but an attacker is not bound by that.
 */
function pexPayload(contacts: PexPeer[]): Buffer {
  const added = Buffer.alloc(contacts.length * 6);
  contacts.forEach((c, i) => {
    const o = c.host.split('.').map(Number);
    for (let k = 0; k < 4; k++) added[i * 6 + k] = o[k]!;
    added.writeUInt16BE(c.port, i * 6 + 4);
  });
  return encode({ added, 'added.f': Buffer.from(contacts.map((c) => c.flags)), dropped: Buffer.alloc(0) });
}

/** Runs `script` on a connected socket; `outgoing` = we dialled (we send our handshake first). */
function drive(socket: Socket, script: FloodScript, outgoing: boolean): FloodConnection {
  const stats: FloodStats = {
    openedAt: Date.now(),
    handshook: false,
    extendedHandshook: false,
    bytesWritten: 0,
    floodMessages: 0,
    floodDone: false,
    bytesRead: 0,
    closedAt: null,
    closedByRemote: false,
  };
  const timers = new Set<NodeJS.Timeout>();
  const framer = new Framer({ maxMessageBytes: maxMessageBytes(Math.max(1, script.pieceCount)) });
  const peerId = nextPeerId();
  let weClosed = false;
  let ended = false;
  let handshakeSent = false;
  let afterHandshakeStarted = false;
  let remoteMetadataId = 0;
  let remotePexId = 0;
  let floodStarted = false;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));

  const write = (buf: Buffer): boolean => {
    if (ended) return false;
    stats.bytesWritten += buf.length;
    return socket.write(buf);
  };

  const every = (ms: number, fn: () => boolean): void => {
    const t = setInterval(() => {
      if (ended || !fn()) {
        clearInterval(t);
        timers.delete(t);
      }
    }, ms);
    timers.add(t);
  };

  const sendHandshake = (): void => {
    if (handshakeSent) return;
    handshakeSent = true;
    const hs = encodeHandshake({ reserved: reservedBits({ extensionProtocol: script.extended !== false }), infoHash: script.infoHash, peerId });
    if (!script.handshakeByteMs) {
      write(hs);
      return;
    }
    let i = 0;
    every(script.handshakeByteMs, () => {
      write(hs.subarray(i, i + 1));
      i++;
      if (i === hs.length) {
        startAfterHandshake();
        return false;
      }
      return true;
    });
  };

  const startAfterHandshake = (): void => {
    if (afterHandshakeStarted || ended) return;
    afterHandshakeStarted = true;
    if (script.extended !== false) {
      const payload = encodeExtendedHandshake({
        m: { ut_metadata: OUR_UT_METADATA, ut_pex: OUR_UT_PEX },
        v: 'flood-peer',
        ...(script.metadataSize ? { metadataSize: script.metadataSize } : {}),
      });
      write(encodeMessage({ type: 'extended', id: EXTENDED_HANDSHAKE_ID, payload }));
    }
    if (script.pieceCount > 0) {
      const have = new Bitfield(script.pieceCount);
      if (script.haveAll) for (let p = 0; p < script.pieceCount; p++) have.set(p);
      write(encodeMessage({ type: 'bitfield', bitfield: have.buffer }));
    }
    if (script.dripByteMs) {
      // Keep-alives are four zero bytes: any number of zero bytes is a valid stream.
      every(script.dripByteMs, () => write(Buffer.alloc(1)) || true);
    }
    maybeFlood();
  };

  /** A flood needs the remote's extension ids when it speaks an extension. */
  const maybeFlood = (): void => {
    if (floodStarted || ended || !script.flood || !afterHandshakeStarted) return;
    if ((script.flood === 'metadata-requests' && remoteMetadataId === 0) || (script.flood === 'pex' && remotePexId === 0)) return;
    floodStarted = true;
    if (script.stopReading) socket.pause();
    void flood();
  };

  const floodBatch = (kind: FloodKind, state: { n: number; pexSent: number }): Buffer | null => {
    const parts: Buffer[] = [];
    let size = 0;
    while (size < FLOOD_BATCH_BYTES) {
      let msg: Buffer;
      switch (kind) {
        case 'metadata-requests':
          msg = encodeMessage({ type: 'extended', id: remoteMetadataId, payload: encodeMetadataMessage({ type: 'request', piece: 0 }) });
          break;
        case 'interest':
          msg = encodeMessage({ type: state.n % 2 === 0 ? 'interested' : 'not-interested' });
          break;
        case 'choke':
          msg = encodeMessage({ type: state.n % 2 === 0 ? 'unchoke' : 'choke' });
          break;
        case 'pex': {
          // A bounded flood: when every contact has been sent, the last (short) batch goes out.
          const total = script.pexAddresses ?? 0;
          if (state.pexSent >= total) return parts.length > 0 ? Buffer.concat(parts) : null;
          const n = Math.min(script.pexPerMessage ?? DEFAULT_PEX_PER_MESSAGE, total - state.pexSent);
          msg = encodeMessage({ type: 'extended', id: remotePexId, payload: pexPayload(fakeContacts(n, state.pexSent)) });
          state.pexSent += n;
          break;
        }
      }
      parts.push(msg);
      size += msg.length;
      state.n++;
      stats.floodMessages++;
    }
    return Buffer.concat(parts);
  };

  const flood = async (): Promise<void> => {
    const state = { n: 0, pexSent: 0 };
    const limit = script.maxFloodBytes ?? Infinity;
    let sent = 0;
    while (!ended && sent < limit) {
      const batch = floodBatch(script.flood!, state);
      if (!batch) break;
      sent += batch.length;
      if (!write(batch)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            socket.off('drain', done);
            socket.off('close', done);
            resolve();
          };
          socket.on('drain', done);
          socket.on('close', done);
        });
      } else {
        // Let the event loop breathe between batches the socket took at once.
        await new Promise<void>((r) => setImmediate(r));
      }
    }
    if (!ended) stats.floodDone = true;
  };

  socket.on('data', (chunk: Buffer) => {
    stats.bytesRead += chunk.length;
    if (ended) return;
    try {
      framer.push(chunk);
      if (!stats.handshook) {
        const raw = framer.takeRaw(HANDSHAKE_BYTES);
        if (!raw) return;
        const hs = decodeHandshake(raw);
        if (!hs || !hs.infoHash.equals(script.infoHash)) {
          close();
          return;
        }
        stats.handshook = true;
        if (!outgoing) sendHandshake();
        if (!script.handshakeByteMs) startAfterHandshake();
        if (script.stopReading && (script.extended === false || !(hs.reserved[5]! & 0x10)) && !script.flood) socket.pause();
      }
      for (let m = framer.next(); m !== null && !ended; m = framer.next()) {
        if (m.type === 'extended' && m.id === EXTENDED_HANDSHAKE_ID && !stats.extendedHandshook) {
          const ext = decodeExtendedHandshake(m.payload);
          stats.extendedHandshook = true;
          remoteMetadataId = ext.m.get('ut_metadata') ?? 0;
          remotePexId = ext.m.get('ut_pex') ?? 0;
          if (script.stopReading && !script.flood) socket.pause();
          maybeFlood();
        }
      }
    } catch {
      close();
    }
  });
  socket.on('error', () => undefined);
  socket.on('end', () => {
    if (!weClosed) stats.closedByRemote = true;
  });
  socket.on('close', () => {
    if (!weClosed) stats.closedByRemote = true;
    stats.closedAt = Date.now();
    ended = true;
    for (const t of timers) clearInterval(t);
    timers.clear();
    resolveClosed();
  });

  const close = (): void => {
    if (ended) return;
    weClosed = true;
    ended = true;
    for (const t of timers) clearInterval(t);
    timers.clear();
    socket.destroy();
  };

  if (outgoing) {
    if (socket.connecting) socket.once('connect', sendHandshake);
    else sendHandshake();
  }
  return { stats, closed, close };
}

/** Dials `host:port` and runs `script` on the connection. */
export function dialFloodPeer(host: string, port: number, script: FloodScript): FloodConnection {
  const socket = connect({ host, port });
  return drive(socket, script, true);
}

/** Listens on 127.0.0.1 (port 0) and runs `script` on every accepted connection. */
export async function startFloodServer(script: FloodScript): Promise<FloodServer> {
  const connections: FloodConnection[] = [];
  let closing = false;
  const server: Server = createServer((socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    connections.push(drive(socket, script, false));
  });
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
    connections,
    async close() {
      closing = true;
      for (const c of connections) c.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** VmRSS of a process in KiB (Linux /proc), or null once it is gone. */
export function rssKiB(pid: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+) kB/m.exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export interface HeldTracker {
  /** The announce URL, for --tracker. */
  readonly url: string;
  /** Announces received. */
  readonly announces: number;
  close(): Promise<void>;
}

/** How often a held announce looks at its condition again. */
const HELD_POLL_MS = 50;
/** A held announce is answered anyway after this (the test then fails on what it counts). */
const HELD_MAX_WAIT_MS = 30_000;

/**
 * A tiny BEP 3 HTTP tracker on 127.0.0.1 (port 0) that names `ports` (on 127.0.0.1, compact,
 * BEP 23) only once `ready()` holds and a further `holdMs` has passed: "a tracker that answers
 * late", so a test can make hostile sources speak first. Every announce gets the same answer.
 */
export async function startHeldTracker(ports: number[], ready: () => boolean, holdMs: number): Promise<HeldTracker> {
  const peers = Buffer.alloc(ports.length * 6);
  ports.forEach((p, i) => {
    peers.set([127, 0, 0, 1], i * 6);
    peers.writeUInt16BE(p, i * 6 + 4);
  });
  const timers = new Set<NodeJS.Timeout>();
  let announces = 0;
  const server = createHttpServer((req, res) => {
    announces++;
    req.resume();
    const startedAt = Date.now();
    const wait = setInterval(() => {
      if (!ready() && Date.now() - startedAt < HELD_MAX_WAIT_MS) return;
      clearInterval(wait);
      timers.delete(wait);
      const hold = setTimeout(() => {
        timers.delete(hold);
        res.end(encode({ interval: 1800, peers }));
      }, holdMs);
      timers.add(hold);
    }, HELD_POLL_MS);
    timers.add(wait);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/announce`,
    get announces() {
      return announces;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ProbeOptions {
  infoHash: Buffer;
  pieceLength: number;
  /** The torrent's total length. */
  length: number;
  /** Fails (rejects) when the requests are not all answered, and the socket still open, by then. */
  deadlineMs: number;
}

export interface ProbeResult {
  /** Pieces the remote said it has (bitfield, have-all, have), after its first messages. */
  advertised: Set<number>;
  /** "index:begin" -> the block received for it. */
  received: Map<string, Buffer>;
  /** "index:begin" of requests the remote rejected (BEP 6). */
  rejected: Set<string>;
  /** "index:begin" of requests neither answered nor rejected when the probe ended. */
  unanswered: string[];
  /** The remote closed the connection before every request was answered. */
  closedByRemote: boolean;
}

/** Blocks a probe asks for (BEP 3's customary request size). */
const PROBE_BLOCK = 16 * 1024;

/**
 * A minimal leecher that dials `host:port`, says it supports the Fast extension (BEP 6), reads
 * what the remote advertises, asks (once unchoked) for every block of every advertised piece and
 * records each answer: the block, a reject, or nothing. Resolves when every request is answered
 * or the remote closes; rejects at `deadlineMs` while requests are still unanswered on an open
 * connection (the remote is stuck on them). Always closes its socket.
 */
export function probeSeeder(host: string, port: number, o: ProbeOptions): Promise<ProbeResult> {
  const pieceCount = Math.ceil(o.length / o.pieceLength);
  const result: ProbeResult = { advertised: new Set(), received: new Map(), rejected: new Set(), unanswered: [], closedByRemote: false };
  const pending = new Set<string>();
  const framer = new Framer({ maxMessageBytes: maxMessageBytes(pieceCount) });
  const socket = connect({ host, port });
  let handshook = false;
  let requested = false;
  let settled = false;
  return new Promise<ProbeResult>((resolve, reject) => {
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      result.unanswered = [...pending];
      socket.destroy();
      if (error) reject(error);
      else resolve(result);
    };
    const deadline = setTimeout(
      () => finish(new Error(`probe: ${pending.size} requests unanswered after ${o.deadlineMs} ms on an open connection: ${[...pending].slice(0, 10).join(' ')}`)),
      o.deadlineMs,
    );
    const requestAll = (): void => {
      if (requested) return;
      requested = true;
      const out: Buffer[] = [];
      for (const index of [...result.advertised].sort((a, b) => a - b)) {
        const size = Math.min(o.pieceLength, o.length - index * o.pieceLength);
        for (let begin = 0; begin < size; begin += PROBE_BLOCK) {
          pending.add(`${index}:${begin}`);
          out.push(encodeMessage({ type: 'request', index, begin, length: Math.min(PROBE_BLOCK, size - begin) }));
        }
      }
      if (pending.size === 0) finish();
      else socket.write(Buffer.concat(out));
    };
    socket.on('connect', () => {
      socket.write(encodeHandshake({ reserved: reservedBits({ fast: true }), infoHash: o.infoHash, peerId: nextPeerId() }));
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        framer.push(chunk);
        if (!handshook) {
          const raw = framer.takeRaw(HANDSHAKE_BYTES);
          if (!raw) return;
          handshook = true;
          // BEP 6: with the Fast extension, the first message says what we have (nothing).
          socket.write(Buffer.concat([encodeMessage({ type: 'have-none' }), encodeMessage({ type: 'interested' })]));
        }
        for (let m = framer.next(); m !== null && !settled; m = framer.next()) {
          switch (m.type) {
            case 'bitfield':
              for (let i = 0; i < pieceCount; i++) if (m.bitfield[i >> 3]! & (0x80 >> (i & 7))) result.advertised.add(i);
              break;
            case 'have-all':
              for (let i = 0; i < pieceCount; i++) result.advertised.add(i);
              break;
            case 'have':
              // Only before we ask: what is advertised once the requests are out is not counted.
              if (!requested) result.advertised.add(m.index);
              break;
            case 'unchoke':
              requestAll();
              break;
            case 'piece': {
              const key = `${m.index}:${m.begin}`;
              result.received.set(key, Buffer.from(m.block));
              pending.delete(key);
              break;
            }
            case 'reject-request': {
              const key = `${m.index}:${m.begin}`;
              result.rejected.add(key);
              pending.delete(key);
              break;
            }
            default:
              break;
          }
          if (requested && pending.size === 0) finish();
        }
      } catch (e) {
        finish(e instanceof Error ? e : new Error(String(e)));
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      result.closedByRemote = !settled;
      finish();
    });
  });
}
