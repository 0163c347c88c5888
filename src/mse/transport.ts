/**
 * The MSE/PE transport over a byte stream: the socket driver for the handshake machines of
 * handshake.ts, and `MseStream`, the Duplex of plaintext BitTorrent bytes once the handshake is
 * over (RC4 or plaintext on the socket). The session's connector trades it at once (`detach()`)
 * for the socket itself or an Rc4Socket (rc4-socket.ts), which carry the same bytes without a
 * Readable/Writable layer per chunk; the Duplex serves any other caller.
 *
 * Owns the socket from the moment it is handed in: on success it belongs to the returned stream,
 * on failure it is destroyed. Invariants:
 * - Handshake: every received chunk goes straight to the machine, which holds at most its phase's
 *   bound; the deadline comes from the injected Clock; on any failure the socket is destroyed and
 *   the promise rejects with MseError (a ProtocolError), never anything untyped from the peer.
 * - Reading: a received chunk is decrypted in place (socket chunks are ours alone) and pushed;
 *   when `push` returns false the socket is paused until `_read` asks for more.
 * - Writing: RC4 encrypts into one new buffer per write (never the caller's buffer, which may be a
 *   cached block); `_writev` turns a corked batch into one buffer and one socket write. The
 *   callback waits for the socket's 'drain' when its write returns false, so the socket's buffer
 *   governs ours. Plaintext passes the caller's buffers through uncopied.
 * - 'error' and 'close' of the socket reach the stream; `destroy()` destroys the socket.
 */
import { Duplex } from 'node:stream';
import type { Clock } from '../util/clock.js';
import { MseError } from './errors.js';
import { MseInitiator, MseReceiver, type MseMethod, type MseOutcome, type ReceiverOutcome, type Step } from './handshake.js';
import type { Rc4 } from './rc4.js';

/** A stream of plaintext BitTorrent bytes over a socket that may be RC4-encrypted. */
export class MseStream extends Duplex {
  private readonly socket: Duplex;
  private readonly encryptor: Rc4 | null;
  private readonly decryptor: Rc4 | null;
  private readonly onData = (chunk: Buffer): void => {
    this.decryptor?.process(chunk);
    if (!this.push(chunk)) this.socket.pause();
  };
  private readonly onEnd = (): void => {
    this.push(null);
  };
  private readonly onError = (err: Error): void => {
    this.destroy(err);
  };
  private readonly onClose = (): void => {
    this.push(null);
    if (this.readableEnded || this.readableLength === 0) this.destroy();
    else this.once('end', () => this.destroy());
  };

  /**
   * `socket` must be paused with no 'data' listener. `head` holds bytes already received and
   * already decrypted (or plaintext), delivered before anything read from the socket.
   */
  constructor(socket: Duplex, encryptor: Rc4 | null, decryptor: Rc4 | null, head: readonly Buffer[]) {
    super({ allowHalfOpen: false });
    this.socket = socket;
    this.encryptor = encryptor;
    this.decryptor = decryptor;
    for (const h of head) if (h.length > 0) this.push(h);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    if (socket.destroyed) queueMicrotask(this.onClose);
  }

  /** Whether the bytes on the socket are RC4-encrypted. */
  get encrypted(): boolean {
    return this.encryptor !== null;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    let out = chunk;
    if (this.encryptor) {
      out = Buffer.allocUnsafe(chunk.length);
      chunk.copy(out);
      this.encryptor.process(out);
    }
    this.forward(out, callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>, callback: (error?: Error | null) => void): void {
    if (!this.encryptor) {
      // Plaintext: hand the socket the caller's buffers as they are; it corks them itself.
      for (let k = 0; k < chunks.length - 1; k++) this.socket.write(chunks[k]!.chunk);
      this.forward(chunks[chunks.length - 1]!.chunk, callback);
      return;
    }
    let total = 0;
    for (const c of chunks) total += c.chunk.length;
    const out = Buffer.allocUnsafe(total);
    let o = 0;
    for (const c of chunks) o += c.chunk.copy(out, o);
    this.encryptor.process(out);
    this.forward(out, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(callback);
  }

  /**
   * Hands back the socket itself, paused, with this stream's keystreams (null for plaintext) and
   * the bytes already received (decrypted) that the caller must read first; this stream is then
   * unusable. The peer connection then reads the socket directly (plaintext) or through an
   * Rc4Socket, without a Readable/Writable layer per chunk. Null when something was already
   * written through this stream or the socket is gone (this stream then reports its close).
   */
  detach(): { socket: Duplex; head: Buffer[]; encryptor: Rc4 | null; decryptor: Rc4 | null } | null {
    if (this.writableLength > 0 || this.destroyed || this.socket.destroyed) return null;
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('error', this.onError);
    this.socket.off('close', this.onClose);
    const head: Buffer[] = [];
    for (let c = this.read() as Buffer | null; c !== null; c = this.read() as Buffer | null) head.push(c);
    // After the reads: read() may ask _read for more, which resumes the socket.
    this.socket.pause();
    return { socket: this.socket, head, encryptor: this.encryptor, decryptor: this.decryptor };
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onClose);
    // Keep an error listener: a late socket error must not become an uncaught exception.
    this.socket.off('error', this.onError);
    this.socket.on('error', () => {});
    this.socket.destroy();
    callback(err);
  }

  private forward(buf: Buffer, callback: (error?: Error | null) => void): void {
    if (this.socket.write(buf)) {
      callback();
      return;
    }
    const done = (): void => {
      this.socket.off('drain', done);
      this.socket.off('close', done);
      callback();
    };
    this.socket.on('drain', done);
    this.socket.on('close', done);
  }
}

export interface MseConnectOptions {
  /** The torrent we ask for (SKEY). */
  infoHash: Buffer;
  /** Offer plaintext as well as RC4 for after the handshake (`--encryption prefer`). */
  allowPlaintext: boolean;
  /** IA: normally our 68-byte BitTorrent handshake, so it costs no extra round trip. */
  initialPayload?: Buffer;
  clock: Clock;
  randomBytes: (n: number) => Buffer;
  /** Deadline for the whole handshake, from the moment mseConnect is called. */
  timeoutMs: number;
}

export interface MseConnectResult {
  stream: MseStream;
  method: MseMethod;
}

/**
 * Runs the initiator's handshake on a connected socket. Resolves with the plaintext stream (the
 * initial payload has already been sent: do not send it again); rejects with MseError after
 * destroying the socket. A peer that does not speak MSE fails here ('no-vc', 'timeout' or
 * 'closed'); retrying it in plaintext on a new connection is the caller's policy.
 */
export function mseConnect(socket: Duplex, opts: MseConnectOptions): Promise<MseConnectResult> {
  const machine = new MseInitiator({
    infoHash: opts.infoHash,
    allowPlaintext: opts.allowPlaintext,
    randomBytes: opts.randomBytes,
    ...(opts.initialPayload ? { initialPayload: opts.initialPayload } : {}),
  });
  return drive<MseOutcome>(socket, opts.clock, opts.timeoutMs, (send, finish) => {
    send(machine.start());
    return (chunk) => {
      const step = machine.receive(chunk);
      if (step.send) send(step.send);
      if (step.done) finish(step.done);
    };
  }).then((o) => {
    o.decrypt?.process(o.rest);
    return { stream: new MseStream(socket, o.encrypt, o.decrypt, [o.rest]), method: o.method };
  });
}

export interface AcceptOptions {
  allowPlaintext: boolean;
  allowEncrypted: boolean;
  /** The torrents we serve: an encrypted initiator must name one of them. */
  infoHashes: readonly Buffer[];
  clock: Clock;
  randomBytes: (n: number) => Buffer;
  timeoutMs: number;
}

export interface AcceptResult {
  stream: MseStream;
  /** True when the payload is RC4-encrypted on the socket. */
  encrypted: boolean;
  /** The torrent an MSE initiator asked for; null for plaintext (its BitTorrent handshake tells). */
  infoHash: Buffer | null;
}

/** BEP 3: the first 20 bytes of every plaintext connection. */
const PLAINTEXT_PREFIX = Buffer.from('\x13BitTorrent protocol', 'latin1');

/**
 * Serves an incoming connection either way: a plaintext BitTorrent handshake (its first bytes are
 * replayed at the start of the returned stream) or an MSE handshake as the receiver. Refuses what
 * `allowPlaintext`/`allowEncrypted` forbid with MseError; destroys the socket on any failure. An
 * MSE initiator's IA (its BitTorrent handshake) comes first on the returned stream.
 */
export function acceptIncoming(socket: Duplex, opts: AcceptOptions): Promise<AcceptResult> {
  type Outcome = { kind: 'plaintext'; head: Buffer; rest: Buffer } | { kind: 'mse'; outcome: ReceiverOutcome };
  return drive<Outcome>(socket, opts.clock, opts.timeoutMs, (send, finish) => {
    let sniffed = Buffer.alloc(0);
    let receiver: MseReceiver | null = null;
    const feed = (chunk: Buffer): void => {
      const step: Step<ReceiverOutcome> = receiver!.receive(chunk);
      if (step.send) send(step.send);
      if (step.done) finish({ kind: 'mse', outcome: step.done });
    };
    return (chunk) => {
      if (receiver) return feed(chunk);
      // Decide as soon as the bytes stop matching the plaintext prefix; at most 20 bytes held.
      const take = Math.min(PLAINTEXT_PREFIX.length - sniffed.length, chunk.length);
      const candidate = Buffer.concat([sniffed, chunk.subarray(0, take)]);
      const matches = PLAINTEXT_PREFIX.subarray(0, candidate.length).equals(candidate);
      if (matches && candidate.length < PLAINTEXT_PREFIX.length) {
        sniffed = candidate;
        return;
      }
      if (matches) {
        if (!opts.allowPlaintext) throw new MseError('plaintext-refused', 'the peer opened in plaintext, and only encrypted connections are allowed');
        return finish({ kind: 'plaintext', head: candidate, rest: chunk.subarray(take) });
      }
      if (!opts.allowEncrypted) throw new MseError('encrypted-refused', 'the peer opened with an encrypted handshake, and encryption is off');
      receiver = new MseReceiver({
        infoHashes: opts.infoHashes,
        allowPlaintext: opts.allowPlaintext,
        allowRc4: opts.allowEncrypted,
        randomBytes: opts.randomBytes,
      });
      if (sniffed.length > 0) feed(sniffed);
      feed(chunk);
    };
  }).then((r) => {
    if (r.kind === 'plaintext') {
      return { stream: new MseStream(socket, null, null, [r.head, r.rest]), encrypted: false, infoHash: null };
    }
    const o = r.outcome;
    o.decrypt?.process(o.rest);
    return { stream: new MseStream(socket, o.encrypt, o.decrypt, [o.initialPayload, o.rest]), encrypted: o.method === 'rc4', infoHash: o.infoHash };
  });
}

/**
 * Runs a handshake over `socket`: `setup` gets `send` and `finish` and returns the handler for
 * each received chunk (which may throw MseError). Settles once: with the outcome (the socket
 * paused, our listeners removed, ready for MseStream) or with an error (the socket destroyed).
 */
function drive<T>(
  socket: Duplex,
  clock: Clock,
  timeoutMs: number,
  setup: (send: (b: Buffer) => void, finish: (outcome: T) => void) => (chunk: Buffer) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const cleanup = (): void => {
      settled = true;
      timer.cancel();
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
    };
    const fail = (e: unknown): void => {
      if (settled) return;
      cleanup();
      // Keep an error listener: a late socket error must not become an uncaught exception.
      socket.on('error', () => {});
      socket.destroy();
      reject(e instanceof MseError ? e : new MseError('closed', `connection failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e }));
    };
    const finish = (outcome: T): void => {
      if (settled) return;
      socket.pause();
      cleanup();
      resolve(outcome);
    };
    const send = (b: Buffer): void => {
      socket.write(b);
    };
    const onData = (chunk: Buffer): void => {
      if (settled) return;
      try {
        handler(chunk);
      } catch (e) {
        if (e instanceof MseError) fail(e);
        else {
          // A bug of ours, not the peer's: close the connection and surface it unchanged.
          if (settled) return;
          cleanup();
          socket.on('error', () => {});
          socket.destroy();
          reject(e);
        }
      }
    };
    const onEnd = (): void => fail(new MseError('closed', 'the peer closed the connection during the handshake'));
    const onError = (err: Error): void => fail(new MseError('closed', `connection error during the handshake: ${err.message}`, { cause: err }));
    const timer = clock.setTimeout(() => fail(new MseError('timeout', `no complete handshake within ${timeoutMs} ms`)), timeoutMs);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    let handler: (chunk: Buffer) => void;
    try {
      handler = setup(send, finish);
    } catch (e) {
      fail(e);
      return;
    }
    socket.on('data', onData);
  });
}
