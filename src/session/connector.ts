/**
 * How a peer's byte stream comes to be: outgoing connections (plain TCP, or TCP under MSE/PE
 * encryption, src/mse) and the listening socket for incoming ones, told apart by their first
 * bytes. It produces a connected `Duplex` and knows nothing of the BitTorrent protocol above it:
 * the session wraps what it gets in a PeerConnection. This is the transport seam: a new
 * transport (uTP) is a new dialer here.
 *
 * Encryption modes (`--encryption`):
 * - prefer (default): we dial with an MSE handshake offering RC4 and plaintext; a peer that does
 *   not answer it (no MSE at all) is dialled again in plaintext at once, and remembered so later
 *   dials go plaintext first. Incoming connections are served either way. Most clients
 *   (libtorrent, Transmission, aria2) speak MSE, and some accept nothing else; the cost for one
 *   that does not is one extra round trip, once.
 * - require: only MSE with RC4, both ways; a peer that cannot is not connected.
 * - off: plaintext only, both ways.
 *
 * Outgoing TCP connections read into one shared buffer (Node's `onread`): no allocation per
 * read on the hot path; the peer connection copies what it keeps before the buffer is reused.
 * An RC4 payload is decrypted in place in that buffer (Rc4Socket), so an encrypted connection
 * reads with no more copies than a plaintext one and no stream layer per chunk.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { UsageError } from '../errors.js';
import { acceptIncoming, mseConnect, MseError, Rc4Socket, type ChunkSink, type MseStream } from '../mse/index.js';
import type { PeerStreamInit } from '../peer/index.js';
import type { UtpConnection, UtpSocket } from '../utp/index.js';
import { addrKey, type PeerAddr } from '../util/address.js';
import type { Clock, TimerHandle } from '../util/clock.js';

export type EncryptionMode = 'prefer' | 'require' | 'off';

/**
 * Transports for outgoing connections (`--transport`): tcp, utp, or both. With both, TCP is
 * dialled first and uTP when TCP is refused or times out (a peer that listens on uTP only, as a
 * "uTP only" libtorrent does). TCP first because on a fast path it costs far less CPU per byte
 * here (measured on loopback, bench/utp.mjs: 2.1 CPU s/GiB over TCP against 8.1 over uTP, whose
 * packets are 1400 bytes each); uTP's advantage, yielding to the user's other traffic, matters
 * on a home uplink, where incoming uTP is accepted whatever this setting.
 */
export type TransportMode = 'tcp' | 'utp' | 'both';

/** One read fetches up to this much from a socket: fewer system calls than Node's 64 KiB. */
export const READ_BUFFER_BYTES = 256 * 1024;
/** The MSE handshake must finish within this (a peer that sends nothing meets it). */
export const MSE_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Peers remembered as plaintext-only (prefer mode); older ones are forgotten first. */
const MAX_PLAINTEXT_ONLY = 4096;

/** The stream a peer connection runs over: a Duplex, or MSE's lighter Rc4Socket. */
export type PeerStream = PeerStreamInit['stream'];

export interface DialResult {
  stream: PeerStream;
  /** 'tcp', 'tcp+rc4' (encrypted), 'tcp+mse' (MSE handshake, plaintext payload). */
  transport: string;
  /** The transport calls this with each chunk read (shared-buffer reads); null = 'data' events. */
  bindReader: ((sink: (chunk: Buffer, shared: boolean) => void) => void) | null;
  /** Our BitTorrent handshake already went out (as MSE's initial payload). */
  handshakeSent: boolean;
  /** Bytes already received, to be read before the stream's own. */
  head?: Buffer[];
}

export interface Dialer {
  /**
   * Connects within timeoutMs or rejects (with the reason as message: ECONNREFUSED, timeout).
   * `failures`: earlier attempts at this address that came to nothing; with both transports, every
   * other attempt starts with uTP (a peer may accept TCP and close it at once, uTP being what it
   * really speaks). `connected` is called when a transport is up (the TCP connect or uTP SYN
   * answered), before any MSE handshake on it: the dial then no longer counts as half-open. It
   * may be called again for the same dial (the plaintext retry after a refused MSE handshake, or
   * the other transport, opens a new connection): callers treat it as idempotent.
   */
  dial(addr: PeerAddr, timeoutMs: number, signal: AbortSignal, failures?: number, swarm?: Swarm, connected?: () => void): Promise<DialResult>;
}

/** The swarm a dial joins when it is not the torrent's own (a hybrid's v2 swarm): MSE's key and initial payload. */
export interface Swarm {
  infoHash: Buffer;
  /** Our BitTorrent handshake naming `infoHash`. */
  handshake: Buffer;
}

export interface DialerOptions {
  encryption: EncryptionMode;
  transport: TransportMode;
  /** The session's uTP socket (null when uTP is off or could not bind). */
  utp: () => UtpSocket | null;
  /** Our 68-byte BitTorrent handshake (sent as MSE's initial payload). */
  handshake: Buffer;
  infoHash: Buffer;
  clock: Clock;
  randomBytes: (n: number) => Buffer;
}

/** TCP and uTP, plain or under MSE, as the modes say. */
export function tcpDialer(o: DialerOptions): Dialer {
  const readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  const plaintextOnly = new Set<string>();
  /**
   * A TCP socket reading into the shared buffer. `setSink` says where each chunk read goes: the
   * peer connection (no copy: it copies what it keeps), or, while an MSE handshake runs on the
   * socket, 'data' events carrying a copy (what the handshake and an RC4 stream listen to).
   */
  const sharedTcp = async (addr: PeerAddr, timeoutMs: number, signal: AbortSignal): Promise<{ socket: Socket; setSink: (s: (chunk: Buffer, shared: boolean) => void) => void }> => {
    let sink: ((chunk: Buffer, shared: boolean) => void) | null = null;
    const socket = await connectTcp(addr, timeoutMs, signal, {
      buffer: readBuffer,
      callback: (n: number, buf: Uint8Array): boolean => {
        sink?.(Buffer.from(buf.buffer, buf.byteOffset, n), true);
        return true; // pausing is the peer connection's job (socket.pause)
      },
    });
    return { socket, setSink: (s) => (sink = s) };
  };
  const plainTcp = async (addr: PeerAddr, timeoutMs: number, signal: AbortSignal): Promise<DialResult> => {
    const { socket, setSink } = await sharedTcp(addr, timeoutMs, signal);
    return { stream: socket, transport: 'tcp', bindReader: setSink, handshakeSent: false };
  };
  /** A connection of `kind` with the MSE handshake on it. */
  const encrypted = async (kind: 'tcp' | 'utp', addr: PeerAddr, timeoutMs: number, signal: AbortSignal, allowPlaintext: boolean, swarm?: Swarm, connected?: () => void): Promise<DialResult> => {
    let socket: Duplex;
    let setSink: ((s: (chunk: Buffer, shared: boolean) => void) => void) | null = null;
    if (kind === 'tcp') {
      const t = await sharedTcp(addr, timeoutMs, signal);
      socket = t.socket;
      setSink = t.setSink;
      setSink((chunk) => socket.emit('data', Buffer.from(chunk)));
    } else {
      socket = await connectUtp(o.utp(), o.clock, addr, timeoutMs, signal);
    }
    connected?.();
    const onAbort = (): void => void socket.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const r = await mseConnect(socket, {
        infoHash: swarm?.infoHash ?? o.infoHash,
        allowPlaintext,
        initialPayload: swarm?.handshake ?? o.handshake,
        clock: o.clock,
        randomBytes: o.randomBytes,
        timeoutMs: MSE_HANDSHAKE_TIMEOUT_MS,
      });
      const transport = r.method === 'rc4' ? `${kind}+rc4` : `${kind}+mse`;
      const light = lighten(r.stream, setSink !== null);
      // Over TCP the peer connection reads straight from the shared buffer again: as it is for a
      // plaintext payload, decrypted in place there for RC4.
      if (light) {
        const { rc4 } = light;
        const bindReader = setSink && rc4 ? (sink: ChunkSink): void => setSink(rc4.reader(sink)) : setSink;
        return { stream: light.stream, transport, bindReader, handshakeSent: true, head: light.head };
      }
      return { stream: r.stream, transport, bindReader: null, handshakeSent: true };
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  };
  /** One transport, with the encryption policy (prefer: MSE first, plaintext at once if refused). */
  const over = async (kind: 'tcp' | 'utp', addr: PeerAddr, timeoutMs: number, signal: AbortSignal, swarm?: Swarm, connected?: () => void): Promise<DialResult> => {
    const plain = async (): Promise<DialResult> => {
      const r: DialResult =
        kind === 'tcp' ? await plainTcp(addr, timeoutMs, signal) : { stream: await connectUtp(o.utp(), o.clock, addr, timeoutMs, signal), transport: 'utp', bindReader: null, handshakeSent: false };
      connected?.();
      return r;
    };
    if (o.encryption === 'off') return plain();
    if (o.encryption === 'require') return encrypted(kind, addr, timeoutMs, signal, false, swarm, connected);
    const k = `${kind} ${addrKey(addr)}`;
    if (plaintextOnly.has(k)) return plain();
    try {
      return await encrypted(kind, addr, timeoutMs, signal, true, swarm, connected);
    } catch (e) {
      // A peer without MSE closes on our handshake or never answers it: plaintext, at once.
      if (!(e instanceof MseError) || signal.aborted) throw e;
      if (plaintextOnly.size >= MAX_PLAINTEXT_ONLY) plaintextOnly.delete(plaintextOnly.values().next().value as string);
      plaintextOnly.add(k);
      return plain();
    }
  };
  return {
    async dial(addr, timeoutMs, signal, failures = 0, swarm, connected) {
      const utpUp = o.utp() !== null;
      if (o.transport === 'utp') return over('utp', addr, timeoutMs, signal, swarm, connected);
      if (o.transport === 'tcp' || !utpUp) return over('tcp', addr, timeoutMs, signal, swarm, connected);
      const [first, second]: ['tcp' | 'utp', 'tcp' | 'utp'] = failures % 2 === 0 ? ['tcp', 'utp'] : ['utp', 'tcp'];
      try {
        return await over(first, addr, timeoutMs, signal, swarm, connected);
      } catch (e) {
        // Refused or silent on one: it may listen on the other only.
        if (signal.aborted || e instanceof MseError) throw e;
        return over(second, addr, timeoutMs, signal, swarm, connected);
      }
    },
  };
}

/**
 * A uTP connection to `addr` through the session's socket, connected within timeoutMs by the
 * session's clock. However it ends (connected, failed, timed out, aborted), the timer is
 * cancelled and the abort listener removed.
 */
function connectUtp(socket: UtpSocket | null, clock: Clock, addr: PeerAddr, timeoutMs: number, signal: AbortSignal): Promise<UtpConnection> {
  if (!socket) return Promise.reject(new Error('uTP is not available'));
  return new Promise((resolve, reject) => {
    let conn: UtpConnection;
    try {
      conn = socket.connect(addr.host, addr.port);
    } catch (e) {
      reject(e as Error);
      return;
    }
    let timer: TimerHandle | null = null;
    const settle = (): void => {
      timer?.cancel();
      signal.removeEventListener('abort', onAbort);
    };
    const fail = (why: string): void => {
      settle();
      conn.destroy();
      reject(new Error(why));
    };
    const onAbort = (): void => fail('aborted');
    if (signal.aborted) return fail('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
    timer = clock.setTimeout(() => fail('timeout'), timeoutMs);
    conn.once('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
    conn.once('connect', () => {
      settle();
      conn.removeAllListeners('error');
      resolve(conn);
    });
  });
}

function connectTcp(
  addr: PeerAddr,
  timeoutMs: number,
  signal: AbortSignal,
  onread: { buffer: Buffer; callback: (n: number, buf: Uint8Array) => boolean },
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: addr.host, port: addr.port, onread });
    const fail = (why: string): void => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(new Error(why));
    };
    const onAbort = (): void => fail('aborted');
    if (signal.aborted) {
      fail('aborted');
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    socket.setTimeout(timeoutMs, () => fail('timeout'));
    socket.once('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.setTimeout(0);
      socket.removeAllListeners('error');
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

export interface Accepted {
  stream: PeerStream;
  transport: string;
  /** Bytes already received (the sniffed start), to be read first. */
  head?: Buffer[];
}

/**
 * An incoming TCP connection as the mode allows it: with `off`, the socket itself (plaintext
 * only: an MSE handshake fails at the BitTorrent handshake); otherwise sniffed and served as
 * plaintext or MSE. Rejects (the socket destroyed) for what the mode forbids.
 */
export async function acceptStream(
  socket: Duplex,
  kind: 'tcp' | 'utp',
  o: Pick<DialerOptions, 'encryption' | 'infoHash' | 'clock' | 'randomBytes'> & { alsoInfoHash?: Buffer | null },
): Promise<Accepted> {
  if (o.encryption === 'off') return { stream: socket, transport: kind };
  const r = await acceptIncoming(socket, {
    allowPlaintext: o.encryption === 'prefer',
    allowEncrypted: true,
    infoHashes: o.alsoInfoHash ? [o.infoHash, o.alsoInfoHash] : [o.infoHash],
    clock: o.clock,
    randomBytes: o.randomBytes,
    timeoutMs: MSE_HANDSHAKE_TIMEOUT_MS,
  });
  const transport = r.encrypted ? `${kind}+rc4` : r.infoHash ? `${kind}+mse` : kind;
  const light = lighten(r.stream, false);
  if (light) return { stream: light.stream, transport, head: light.head };
  return { stream: r.stream, transport };
}

/**
 * The MSE stream traded for the lightest stream with the same bytes: the socket itself for a
 * plaintext payload, an Rc4Socket over it for RC4 (`externalReads`: the socket reads into the
 * shared buffer, and chunks reach the peer connection through `rc4.reader`). Null when the
 * stream cannot be detached (the socket already gone): the caller keeps the MSE stream, which
 * reports the close.
 */
function lighten(mse: MseStream, externalReads: boolean): { stream: PeerStream; head: Buffer[]; rc4: Rc4Socket | null } | null {
  const d = mse.detach();
  if (!d) return null;
  if (!d.encryptor || !d.decryptor) return { stream: d.socket, head: d.head, rc4: null };
  const rc4 = new Rc4Socket(d.socket, d.encryptor, d.decryptor, { externalReads });
  return { stream: rc4, head: d.head, rc4 };
}

/**
 * Listens for incoming TCP connections on `port` (0 = any); with `search`, tries the next ports
 * when it is taken, as most clients do from 6881.
 */
export async function listenTcp(port: number, search: boolean, onSocket: (socket: Socket) => void): Promise<Server> {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    onSocket(socket);
  });
  const tryPort = (p: number): Promise<boolean> =>
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
      server.listen(p);
    });
  let ok = await tryPort(port);
  for (let p = port + 1; !ok && search && port !== 0 && p < port + 50 && p <= 65535; p++) ok = await tryPort(p);
  if (!ok) {
    throw new UsageError(`cannot listen on port ${port}: it is in use`, { hint: 'pick another with --port, or --port 0 for any' });
  }
  return server;
}
