/**
 * How a peer's byte stream comes to be: outgoing TCP connections (and, as they land, encrypted
 * and uTP ones) and the listening socket for incoming ones. It produces a connected `Duplex` and
 * knows nothing of the BitTorrent protocol above it: the session wraps what it gets in a
 * PeerConnection. This is the transport seam: a new transport is a new dialer here.
 *
 * TCP connections read into one shared buffer (Node's `onread`): no allocation per read on the
 * hot path; the peer connection copies what it keeps before the buffer is reused.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { UsageError } from '../errors.js';
import type { PeerAddr } from '../util/address.js';

/** One read fetches up to this much from a socket: fewer system calls than Node's 64 KiB. */
export const READ_BUFFER_BYTES = 256 * 1024;

export interface DialResult {
  stream: Duplex;
  transport: string;
  /** The transport calls this with each chunk read (shared-buffer reads); null = 'data' events. */
  bindReader: ((sink: (chunk: Buffer, shared: boolean) => void) => void) | null;
}

export interface Dialer {
  /** Connects within timeoutMs or rejects (with the reason as message: ECONNREFUSED, timeout). */
  dial(addr: PeerAddr, timeoutMs: number, signal: AbortSignal): Promise<DialResult>;
}

/** Plain TCP, reading into one buffer shared by every outgoing connection of this dialer. */
export function tcpDialer(): Dialer {
  const readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  return {
    dial(addr, timeoutMs, signal) {
      return new Promise((resolve, reject) => {
        let sink: ((chunk: Buffer, shared: boolean) => void) | null = null;
        const socket = netConnect({
          host: addr.host,
          port: addr.port,
          onread: {
            buffer: readBuffer,
            callback: (n: number, buf: Uint8Array): boolean => {
              sink?.(Buffer.from(buf.buffer, buf.byteOffset, n), true);
              return true; // pausing is the peer connection's job (socket.pause)
            },
          },
        });
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
          resolve({ stream: socket, transport: 'tcp', bindReader: (s) => (sink = s) });
        });
      });
    },
  };
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
