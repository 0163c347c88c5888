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
 * Plaintext TCP connections read into one shared buffer (Node's `onread`): no allocation per
 * read on the hot path; the peer connection copies what it keeps before the buffer is reused.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { UsageError } from '../errors.js';
import { acceptIncoming, mseConnect, MseError } from '../mse/index.js';
import { addrKey, type PeerAddr } from '../util/address.js';
import type { Clock } from '../util/clock.js';

export type EncryptionMode = 'prefer' | 'require' | 'off';

/** One read fetches up to this much from a socket: fewer system calls than Node's 64 KiB. */
export const READ_BUFFER_BYTES = 256 * 1024;
/** The MSE handshake must finish within this (a peer that sends nothing meets it). */
export const MSE_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Peers remembered as plaintext-only (prefer mode); older ones are forgotten first. */
const MAX_PLAINTEXT_ONLY = 4096;

export interface DialResult {
  stream: Duplex;
  /** 'tcp', 'tcp+rc4' (encrypted), 'tcp+mse' (MSE handshake, plaintext payload). */
  transport: string;
  /** The transport calls this with each chunk read (shared-buffer reads); null = 'data' events. */
  bindReader: ((sink: (chunk: Buffer, shared: boolean) => void) => void) | null;
  /** Our BitTorrent handshake already went out (as MSE's initial payload). */
  handshakeSent: boolean;
}

export interface Dialer {
  /** Connects within timeoutMs or rejects (with the reason as message: ECONNREFUSED, timeout). */
  dial(addr: PeerAddr, timeoutMs: number, signal: AbortSignal): Promise<DialResult>;
}

export interface DialerOptions {
  encryption: EncryptionMode;
  /** Our 68-byte BitTorrent handshake (sent as MSE's initial payload). */
  handshake: Buffer;
  infoHash: Buffer;
  clock: Clock;
  randomBytes: (n: number) => Buffer;
}

/** TCP, plain or under MSE as the mode says. */
export function tcpDialer(o: DialerOptions): Dialer {
  const readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  const plaintextOnly = new Set<string>();
  const plain = (addr: PeerAddr, timeoutMs: number, signal: AbortSignal): Promise<DialResult> => {
    let sink: ((chunk: Buffer, shared: boolean) => void) | null = null;
    return connectTcp(addr, timeoutMs, signal, {
      buffer: readBuffer,
      callback: (n: number, buf: Uint8Array): boolean => {
        sink?.(Buffer.from(buf.buffer, buf.byteOffset, n), true);
        return true; // pausing is the peer connection's job (socket.pause)
      },
    }).then((socket) => ({ stream: socket, transport: 'tcp', bindReader: (s) => (sink = s), handshakeSent: false }));
  };
  const encrypted = async (addr: PeerAddr, timeoutMs: number, signal: AbortSignal, allowPlaintext: boolean): Promise<DialResult> => {
    const socket = await connectTcp(addr, timeoutMs, signal, null);
    const onAbort = (): void => void socket.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const r = await mseConnect(socket, {
        infoHash: o.infoHash,
        allowPlaintext,
        initialPayload: o.handshake,
        clock: o.clock,
        randomBytes: o.randomBytes,
        timeoutMs: MSE_HANDSHAKE_TIMEOUT_MS,
      });
      return { stream: r.stream, transport: r.method === 'rc4' ? 'tcp+rc4' : 'tcp+mse', bindReader: null, handshakeSent: true };
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  };
  return {
    async dial(addr, timeoutMs, signal) {
      if (o.encryption === 'off') return plain(addr, timeoutMs, signal);
      if (o.encryption === 'require') return encrypted(addr, timeoutMs, signal, false);
      const k = addrKey(addr);
      if (plaintextOnly.has(k)) return plain(addr, timeoutMs, signal);
      try {
        return await encrypted(addr, timeoutMs, signal, true);
      } catch (e) {
        // A peer without MSE closes on our handshake or never answers it: plaintext, at once.
        if (!(e instanceof MseError) || signal.aborted) throw e;
        if (plaintextOnly.size >= MAX_PLAINTEXT_ONLY) plaintextOnly.delete(plaintextOnly.values().next().value as string);
        plaintextOnly.add(k);
        return plain(addr, timeoutMs, signal);
      }
    },
  };
}

function connectTcp(
  addr: PeerAddr,
  timeoutMs: number,
  signal: AbortSignal,
  onread: { buffer: Buffer; callback: (n: number, buf: Uint8Array) => boolean } | null,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = onread ? netConnect({ host: addr.host, port: addr.port, onread }) : netConnect({ host: addr.host, port: addr.port });
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
  stream: Duplex;
  transport: string;
}

/**
 * An incoming TCP connection as the mode allows it: with `off`, the socket itself (plaintext
 * only: an MSE handshake fails at the BitTorrent handshake); otherwise sniffed and served as
 * plaintext or MSE. Rejects (the socket destroyed) for what the mode forbids.
 */
export async function acceptTcp(socket: Socket, o: Omit<DialerOptions, 'handshake'>): Promise<Accepted> {
  if (o.encryption === 'off') return { stream: socket, transport: 'tcp' };
  const r = await acceptIncoming(socket, {
    allowPlaintext: o.encryption === 'prefer',
    allowEncrypted: true,
    infoHashes: [o.infoHash],
    clock: o.clock,
    randomBytes: o.randomBytes,
    timeoutMs: MSE_HANDSHAKE_TIMEOUT_MS,
  });
  return { stream: r.stream, transport: r.encrypted ? 'tcp+rc4' : r.infoHash ? 'tcp+mse' : 'tcp' };
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
