/**
 * Turns the received byte stream into BEP 3 messages (`<length:u32 BE><id><payload>`, "peer
 * messages"), and before that hands out the raw handshake bytes. Never knows there is a socket:
 * the owner pushes chunks and pulls messages.
 *
 * Owns the receive buffer: a list of the pushed chunks plus a read position, never re-concatenated
 * (unlike webtorrent/bittorrent-protocol `_write`). A message whose body lies inside one chunk is
 * decoded in place, so `piece.block` is a view into that chunk; only a body that spans chunks is
 * copied, once, into a buffer of exactly its size.
 *
 * With a transport that reuses its read buffer (`detach()` after each read), a frame left
 * incomplete at the end of a read is accumulated: its bytes so far are copied into a buffer of
 * the frame's size, and each later read copies the frame's next bytes straight into it, so a
 * block that trickles in over many small reads is copied once, not once per read. `piece`
 * frames (blocks, which the session copies into their piece at once) accumulate in one buffer the
 * framer reuses; a message returned by `next()` is therefore valid until the next `detach()`,
 * as views into the transport's buffer always were. Other frames get a buffer of their own.
 *
 * Phases: until the first `next()` the framer only buffers (the handshake phase, served by
 * `takeRaw`), because handshake bytes read as a length prefix look like a 300 MB frame. From the
 * first `next()` on, every length prefix is checked against `maxMessageBytes` as soon as its 4
 * bytes are here: `push` throws a ProtocolError for an oversized one before any of that frame's
 * body is buffered or allocated.
 *
 * Invariants:
 * - `bufferedBytes` = bytes pushed - bytes returned (as messages or raw).
 * - Every prefix before `scanPos` has been checked; `scanPos` only moves forward, frame by frame.
 * - When the owner drains `next()` after each `push`, `bufferedBytes` < maxMessageBytes + 4 + the
 *   last chunk's size.
 * - After a ProtocolError the framer is dead: it drops its buffers and every later call rethrows
 *   that error (the owner closes the connection).
 */
import { ProtocolError } from '../errors.js';
import { decodeMessageAt, LENGTH_PREFIX_BYTES, type Message } from './messages.js';

/** Placeholder for consumed chunk slots, so their memory can be collected before compaction. */
const EMPTY = Buffer.alloc(0);
/** Consumed slots tolerated at the head of the chunk list before it is compacted. */
const MAX_DEAD_CHUNKS = 64;
/** BEP 3 `piece`: the frames accumulated in the reused buffer. */
const PIECE_ID = 7;
/** Size of the reused accumulation buffer: a 16 KiB block with its header; larger blocks up to MAX_REUSED_BYTES grow it. */
const REUSED_BYTES = 16 * 1024 + 16;
const MAX_REUSED_BYTES = 64 * 1024;

/** Turns a byte stream into messages. Never knows there is a socket. */
export class Framer {
  private readonly maxMessageBytes: number;
  /** Received chunks; `chunks[head]` holds the read position, at byte `offset`. */
  private chunks: Buffer[] = [];
  private head = 0;
  private offset = 0;
  /** Absolute stream positions: bytes consumed, bytes pushed, next unchecked length prefix. */
  private readPos = 0;
  private endPos = 0;
  private scanPos = 0;
  /** Body length of the frame whose prefix has been consumed, or -1 when at a prefix. */
  private pendingBody = -1;
  private framing = false;
  private failure: ProtocolError | null = null;
  /** The frame being accumulated: its buffer (body size), bytes in it so far, its body size. */
  private accBuf: Buffer | null = null;
  private accFill = 0;
  private accBody = 0;
  /** The buffer `piece` frames are accumulated in, kept between frames. */
  private reused: Buffer | null = null;

  constructor(opts: { maxMessageBytes: number }) {
    if (!Number.isSafeInteger(opts.maxMessageBytes) || opts.maxMessageBytes < 1) {
      throw new RangeError(`maxMessageBytes must be a positive integer, got ${opts.maxMessageBytes}`);
    }
    this.maxMessageBytes = opts.maxMessageBytes;
  }

  /**
   * Appends received bytes. Throws ProtocolError immediately when a length prefix exceeds
   * maxMessageBytes — BEFORE buffering that message (the caller closes the connection). Prefixes
   * are checked from the first `next()` call on; see the module comment.
   */
  push(chunk: Buffer): void {
    this.throwIfFailed();
    if (chunk.length === 0) return;
    if (this.accFill < this.accBody) {
      // The frame being accumulated is the last chunk, untouched since detach(): its next bytes
      // go straight into its buffer.
      const acc = this.accBuf!;
      const take = Math.min(this.accBody - this.accFill, chunk.length);
      chunk.copy(acc, this.accFill, 0, take);
      this.accFill += take;
      this.chunks[this.chunks.length - 1] = acc.subarray(0, this.accFill);
      this.endPos += take;
      if (this.accFill === this.accBody) this.accFill = this.accBody = 0;
      if (take === chunk.length) return;
      chunk = chunk.subarray(take);
    }
    this.chunks.push(chunk);
    this.endPos += chunk.length;
    if (this.framing) this.scan();
  }

  /** Next complete message or null when more bytes are needed. */
  next(): Message | null {
    this.throwIfFailed();
    if (!this.framing) {
      this.framing = true;
      this.scanPos = this.readPos;
      this.scan();
    }
    if (this.pendingBody < 0) {
      if (this.endPos - this.readPos < LENGTH_PREFIX_BYTES) return null;
      // scan() has checked this prefix already.
      this.pendingBody = this.readU32(this.head, this.offset);
      this.consume(LENGTH_PREFIX_BYTES);
    }
    const length = this.pendingBody;
    if (this.endPos - this.readPos < length) return null;
    this.pendingBody = -1;
    if (length === 0) return decodeMessageAt(EMPTY, 0, 0);
    const chunk = this.chunks[this.head]!;
    let message: Message;
    try {
      if (chunk.length - this.offset >= length) {
        message = decodeMessageAt(chunk, this.offset, length);
        this.consume(length);
      } else {
        message = decodeMessageAt(this.copyOut(length), 0, length);
      }
    } catch (e) {
      if (e instanceof ProtocolError) this.fail(e);
      throw e;
    }
    return message;
  }

  /**
   * Copies the bytes not yet returned into memory the framer owns, so the caller may reuse the
   * buffers it pushed (a socket reading into one shared buffer). Costs one copy of the partial
   * message at the end of each read, never of whole messages. Messages returned before the call
   * stay views of the caller's buffer: use them before reusing it.
   */
  detach(): void {
    this.throwIfFailed();
    const n = this.endPos - this.readPos;
    if (n === 0) {
      this.chunks.length = 0;
      this.head = 0;
      this.offset = 0;
      return;
    }
    // Accumulating: every byte not yet returned is already in the frame's own buffer.
    if (this.accFill < this.accBody) return;
    if (this.pendingBody > 0 && n < this.pendingBody) {
      this.accumulate(n);
      return;
    }
    const owned = Buffer.allocUnsafe(n);
    let written = 0;
    for (let i = this.head, off = this.offset; i < this.chunks.length; i++, off = 0) {
      const c = this.chunks[i]!;
      written += c.copy(owned, written, off);
    }
    this.chunks = [owned];
    this.head = 0;
    this.offset = 0;
  }

  /**
   * Starts accumulating the frame at the read position (its prefix consumed, `n` of its
   * `pendingBody` bytes here) in a buffer of the frame's size: the reused one for a `piece`.
   */
  private accumulate(n: number): void {
    const body = this.pendingBody;
    const chunk = this.chunks[this.head]!;
    const isPiece = chunk[this.offset] === PIECE_ID;
    let buf: Buffer;
    if (isPiece && body <= MAX_REUSED_BYTES) {
      if (!this.reused || this.reused.length < body) this.reused = Buffer.allocUnsafeSlow(Math.max(body, REUSED_BYTES));
      buf = this.reused;
    } else {
      buf = Buffer.allocUnsafe(body);
    }
    let written = 0;
    for (let i = this.head, off = this.offset; i < this.chunks.length; i++, off = 0) {
      written += this.chunks[i]!.copy(buf, written, off);
    }
    this.chunks = [buf.subarray(0, n)];
    this.head = 0;
    this.offset = 0;
    this.accBuf = buf;
    this.accFill = n;
    this.accBody = body;
  }

  /** Bytes buffered but not yet returned (for backpressure decisions). */
  get bufferedBytes(): number {
    return this.endPos - this.readPos;
  }

  /**
   * For the handshake phase: take exactly n raw bytes if available (used to read the 68-byte
   * handshake before framing starts), else null. A view when the bytes lie in one chunk, else a
   * copy. Only valid before the first `next()`: afterwards the stream is frames.
   */
  takeRaw(n: number): Buffer | null {
    this.throwIfFailed();
    if (this.framing) throw new Error('Framer.takeRaw called after framing started (next() was called)');
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`takeRaw needs a non-negative integer, got ${n}`);
    if (this.endPos - this.readPos < n) return null;
    if (n === 0) return EMPTY;
    const chunk = this.chunks[this.head]!;
    if (chunk.length - this.offset >= n) {
      const view = chunk.subarray(this.offset, this.offset + n);
      this.consume(n);
      return view;
    }
    return this.copyOut(n);
  }

  /** Checks every length prefix that has fully arrived and not been checked yet. */
  private scan(): void {
    while (this.endPos - this.scanPos >= LENGTH_PREFIX_BYTES) {
      const length = this.peekU32(this.scanPos);
      if (length > this.maxMessageBytes) {
        const e = new ProtocolError(`message of ${length} bytes exceeds the limit of ${this.maxMessageBytes}`);
        this.fail(e);
        throw e;
      }
      this.scanPos += LENGTH_PREFIX_BYTES + length;
    }
  }

  /** Big-endian u32 at absolute stream position `pos` (readPos <= pos, pos + 4 <= endPos). */
  private peekU32(pos: number): number {
    // The unchecked prefix is almost always in the last chunk or two: walk back from the end.
    let i = this.chunks.length - 1;
    let fromEnd = this.endPos - pos;
    let c = this.chunks[i]!;
    while (fromEnd > c.length) {
      fromEnd -= c.length;
      c = this.chunks[--i]!;
    }
    return this.readU32(i, c.length - fromEnd);
  }

  /** Big-endian u32 starting at byte `off` of `chunks[i]`, possibly running into later chunks. */
  private readU32(i: number, off: number): number {
    const c = this.chunks[i]!;
    if (c.length - off >= 4) return c.readUInt32BE(off);
    let value = 0;
    let chunk = c;
    for (let k = 0; k < 4; k++) {
      while (off >= chunk.length) {
        chunk = this.chunks[++i]!;
        off = 0;
      }
      value = value * 256 + chunk[off++]!;
    }
    return value;
  }

  /** Copies the next `n` bytes (spanning chunks) into one new buffer and consumes them. */
  private copyOut(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    while (written < n) {
      const chunk = this.chunks[this.head]!;
      const take = Math.min(n - written, chunk.length - this.offset);
      chunk.copy(out, written, this.offset, this.offset + take);
      written += take;
      this.consume(take);
    }
    return out;
  }

  /** Advances the read position by `n` buffered bytes, releasing chunks that are used up. */
  private consume(n: number): void {
    this.readPos += n;
    while (n > 0) {
      const chunk = this.chunks[this.head]!;
      const left = chunk.length - this.offset;
      if (n < left) {
        this.offset += n;
        return;
      }
      n -= left;
      this.chunks[this.head++] = EMPTY;
      this.offset = 0;
    }
    if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.head = 0;
    } else if (this.head > MAX_DEAD_CHUNKS) {
      this.chunks.splice(0, this.head);
      this.head = 0;
    }
  }

  private fail(e: ProtocolError): void {
    this.failure = e;
    this.accBuf = this.reused = null;
    this.accFill = this.accBody = 0;
    this.chunks = [];
    this.head = 0;
    this.offset = 0;
    this.readPos = this.endPos = this.scanPos = 0;
    this.pendingBody = -1;
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}
