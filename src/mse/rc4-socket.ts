/**
 * The RC4 payload of an MSE connection once its handshake is over, as the light stream object a
 * peer connection reads and writes: plaintext BitTorrent bytes on our side, RC4 on the socket. It
 * has the part of a Duplex's contract a peer connection uses (write, cork/uncork, writableLength,
 * pause/resume, destroy, destroyed; 'data', 'drain', 'end', 'close', 'error'), without a Readable
 * or Writable state machine per chunk: MseStream (transport.ts) is the full Duplex.
 *
 * Owns the socket from construction on: `destroy()` destroys it, and its 'drain', 'end', 'close'
 * and 'error' are this object's. Invariants:
 * - Reading: every byte read from the socket is decrypted exactly once, in place, in socket
 *   order, before anyone sees it. With `externalReads` the transport hands each chunk read to the
 *   function `reader(sink)` returns (a TCP socket reading into one shared buffer, decrypted
 *   there: no copy, no allocation per read); otherwise each socket 'data' chunk is decrypted in
 *   place (socket chunks are ours alone) and emitted as this object's 'data'.
 * - Back-pressure on reads: `pause()`/`resume()` are the socket's own, so a paused connection
 *   stops reading from the kernel exactly as a plaintext one does. Nothing resumes the socket
 *   but `resume()` (a 'data' listener does not, unlike a Readable's): it reads once its owner
 *   is ready for every byte.
 * - Writing: the caller's buffers are never modified (one may be a cached block). Outside a cork,
 *   a write is copied once into a new buffer, encrypted there and handed to the socket. Under a
 *   cork, writes are only referenced, and the outermost `uncork()` copies them all into one
 *   buffer, encrypts it with one RC4 call and makes one socket write. The keystream advances in
 *   write order, so the bytes on the socket are the RC4 of the bytes written, in order.
 * - `writableLength` = the socket's queued bytes + bytes held under a cork, so the peer
 *   connection's write bounds (pause, limit, stall) see everything not yet sent.
 * - After the socket is destroyed, writes are dropped (the keystream no longer matters).
 *
 * Why (npm run bench download with BENCH_DOWNLOAD_ENCRYPTED=1, 1 GiB from a libtorrent seeder
 * forcing RC4, medians of 5 in one run): 6.54 s and 5.93 CPU s/GiB, against 7.50 s and 7.32 with
 * MseStream between the socket and the peer connection, where each read was copied out of the
 * shared buffer into a new one and went through a Readable push: 56 mark-compact GCs per GiB
 * (external memory) against 12, and 7780 socket reads against 5848. What is left over our
 * plaintext download is RC4 itself (612 MB/s, bench/rc4.mjs).
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { Rc4 } from './rc4.js';

/** Where the transport delivers chunks read from the socket; `shared`: the buffer is reused after the call. */
export type ChunkSink = (chunk: Buffer, shared: boolean) => void;

export class Rc4Socket extends EventEmitter {
  private readonly socket: Duplex;
  private readonly encryptor: Rc4;
  private readonly decryptor: Rc4;
  private readonly externalReads: boolean;
  private corks = 0;
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** The `done` callbacks of held writes, called once their bytes are copied or dropped. */
  private heldDone: ((err?: Error | null) => void)[] = [];
  /** A held write returned false and the socket has not emitted 'drain' since. */
  private drainOwed = false;

  /**
   * `socket`: connected, with its MSE handshake done and no listener of ours left on it; paused
   * or not. `encryptor`/`decryptor`: the two keystreams as the handshake left them.
   * `externalReads`: the transport delivers reads through `reader()` instead of 'data' events.
   */
  constructor(socket: Duplex, encryptor: Rc4, decryptor: Rc4, opts: { externalReads: boolean }) {
    super();
    this.socket = socket;
    this.encryptor = encryptor;
    this.decryptor = decryptor;
    this.externalReads = opts.externalReads;
    if (!opts.externalReads) {
      socket.on('data', (chunk: Buffer) => {
        decryptor.process(chunk);
        this.emit('data', chunk);
      });
    }
    socket.on('drain', () => {
      this.drainOwed = false;
      this.emit('drain');
    });
    socket.on('end', () => this.emit('end'));
    socket.on('close', () => this.emit('close'));
    // An error with nobody listening yet (the stream not yet handed to its peer connection)
    // must not become an uncaught exception: the socket closes by itself after it.
    socket.on('error', (err: Error) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
  }

  /**
   * For `externalReads`: wraps `sink` into the function the transport calls with each chunk read
   * from the socket; it decrypts the chunk in place (in the transport's buffer) and passes it on.
   */
  reader(sink: ChunkSink): ChunkSink {
    if (!this.externalReads) throw new Error('Rc4Socket.reader needs externalReads: this socket reads through data events');
    const decryptor = this.decryptor;
    return (chunk, shared) => {
      decryptor.process(chunk);
      sink(chunk, shared);
    };
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  get writableLength(): number {
    return this.socket.writableLength + this.heldBytes;
  }

  /**
   * Writes `chunk` (plaintext; left unmodified). False when the caller should wait for 'drain'.
   * `done` is called once the chunk is copied (it is encrypted in a copy) or dropped.
   */
  write(chunk: Buffer, done?: (err?: Error | null) => void): boolean {
    if (this.socket.destroyed) {
      if (done) queueMicrotask(done);
      return false;
    }
    if (chunk.length === 0) {
      if (done) queueMicrotask(done);
      return true;
    }
    if (this.corks > 0) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      if (done) this.heldDone.push(done);
      const ok = this.writableLength < this.socket.writableHighWaterMark;
      if (!ok) this.drainOwed = true;
      return ok;
    }
    const out = Buffer.allocUnsafe(chunk.length);
    chunk.copy(out);
    if (done) queueMicrotask(done);
    this.encryptor.process(out);
    return this.socket.write(out);
  }

  /** Holds writes until the matching `uncork()`; nests like Writable's. */
  cork(): void {
    this.corks++;
  }

  /** Ends one cork; the outermost sends everything held as one encrypted write. */
  uncork(): void {
    if (this.corks === 0) return;
    if (--this.corks > 0 || this.held.length === 0) return;
    const held = this.held;
    const out = held.length === 1 ? Buffer.from(held[0]!) : Buffer.allocUnsafe(this.heldBytes);
    if (held.length > 1) {
      let o = 0;
      for (const b of held) o += b.copy(out, o);
    }
    this.held = [];
    this.heldBytes = 0;
    this.settleHeld();
    if (this.socket.destroyed) return;
    this.encryptor.process(out);
    // The socket took the whole batch without asking to wait, so it will not emit 'drain': a
    // writer told to wait (a held write returned false) gets ours, as from a Writable.
    if (this.socket.write(out) && this.drainOwed) {
      this.drainOwed = false;
      queueMicrotask(() => this.emit('drain'));
    }
  }

  /** Calls the held writes' callbacks (their bytes are copied or dropped), on a later turn. */
  private settleHeld(): void {
    if (this.heldDone.length === 0) return;
    const done = this.heldDone;
    this.heldDone = [];
    queueMicrotask(() => {
      for (const d of done) d();
    });
  }

  pause(): this {
    this.socket.pause();
    return this;
  }

  resume(): this {
    this.socket.resume();
    return this;
  }

  destroy(err?: Error): this {
    this.held = [];
    this.heldBytes = 0;
    this.settleHeld();
    this.socket.destroy(err);
    return this;
  }
}
