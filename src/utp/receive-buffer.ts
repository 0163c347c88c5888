/**
 * The receive side of one uTP connection (BEP 29) as a pure data structure: the peer's sequence
 * space as far as we have it, the packets held out of order, the peer's FIN, and the selective
 * ack that describes the holes. connection.ts hands it each DATA or FIN, takes the bytes that are
 * now in order and pushes them to the stream, and sends the acks. No socket, no clock, no stream.
 *
 * Sequence numbers are 16-bit and wrap: every comparison goes through seqDiff/seqLess.
 * - ackNr: we have everything up to it; `reorder` holds packets ackNr+2 … ackNr+MAX_REORDER_PACKETS.
 * - Once the peer's FIN is taken in order the buffer is `ended`: it holds nothing more and every
 *   later packet is a duplicate.
 *
 * Invariants:
 * - reorder.size <= MAX_REORDER_PACKETS; reorderBytes = payload bytes held in `reorder`.
 * - readableLength + reorderBytes <= recvBufferBytes + one packet, where readableLength is what
 *   the stream holds unread: a packet out of order is held only within recvBufferBytes, the next
 *   packet in order is taken if the unread bytes leave room for it (whatever is held), and any
 *   other is dropped. The window we advertise is what is left of recvBufferBytes, so a reader
 *   that stops reading stops the sender.
 * - Once the peer's FIN is known, packets past it are dropped.
 */
import { MAX_REORDER_PACKETS } from './constants.js';
import { MAX_SACK_BYTES, PacketType, SEQ_MASK, seqDiff, seqLess, type Packet } from './packet.js';

/** The counters this side keeps (connection.ts UtpStats holds them with the others). */
export interface ReceiveStats {
  duplicatePackets: number;
  droppedPackets: number;
}

/** What became of a packet handed to `ReceiveBuffer.receive`. */
export const Received = {
  /** It was next in order: take the bytes now in order with `takeNext`, and ack. */
  deliver: 0,
  /** Held out of order, a duplicate, or dropped for want of room: ack, so the sender learns where we are. */
  ack: 1,
  /** Dropped without an ack: too far ahead, past the peer's FIN, or a second FIN. */
  drop: 2,
} as const;
export type Received = (typeof Received)[keyof typeof Received];

/** Marks the FIN's place in the reorder buffer, and is what `takeNext` returns for it. */
export const FIN_MARK = Buffer.alloc(0);

export class ReceiveBuffer {
  private readonly recvBufferBytes: number;
  private readonly stats: ReceiveStats;
  private ackNumber: number;
  private readonly reorder = new Map<number, Buffer>();
  private reorderBytes = 0;
  private peerFinSeq: number | null = null;
  private finTaken = false;
  /** The packet `receive` found in order, for the first `takeNext`. */
  private inOrder: Buffer | null = null;

  /** `ackNr`: the last sequence number the peer used before its first DATA (its SYN's, for an acceptor). */
  constructor(recvBufferBytes: number, ackNr: number, stats: ReceiveStats) {
    this.recvBufferBytes = recvBufferBytes;
    this.ackNumber = ackNr;
    this.stats = stats;
  }

  /** The last sequence number we have everything up to: the ack_nr we send. */
  get ackNr(): number {
    return this.ackNumber;
  }

  /** The peer's FIN was taken in order: the stream has ended. */
  get ended(): boolean {
    return this.finTaken;
  }

  /** Packets held out of order. */
  get heldPackets(): number {
    return this.reorder.size;
  }

  /** The window to advertise when the stream holds `readableLength` bytes unread. */
  window(readableLength: number): number {
    return Math.max(0, this.recvBufferBytes - readableLength - this.reorderBytes);
  }

  /** A dialler learns from the acceptor's STATE the number its first DATA will carry. */
  expectFirst(seq: number): void {
    this.ackNumber = (seq - 1) & SEQ_MASK;
  }

  /** One DATA or FIN from the peer; `readableLength`: bytes the stream holds unread. */
  receive(p: Packet, readableLength: number): Received {
    const seq = p.seqNr;
    const d = seqDiff(seq, this.ackNumber);
    if (this.finTaken || d === 0 || d >= 0x8000) {
      // Already delivered: the sender missed our ack.
      this.stats.duplicatePackets++;
      return Received.ack;
    }
    if (d > MAX_REORDER_PACKETS) {
      this.stats.droppedPackets++;
      return Received.drop;
    }
    if (this.peerFinSeq !== null && seqLess(this.peerFinSeq, seq)) {
      this.stats.droppedPackets++;
      return Received.drop;
    }
    const isFin = p.type === PacketType.fin;
    if (isFin) {
      if (this.peerFinSeq !== null && this.peerFinSeq !== seq) return Received.drop;
      this.peerFinSeq = seq;
    }
    const payload = isFin ? FIN_MARK : Buffer.from(p.payload.buffer, p.payload.byteOffset, p.payload.byteLength);
    // The packet next in order is weighed against the unread bytes alone: held packets filling
    // the buffer must not shut out the one packet that delivers them, or the hole stays open for
    // good and the sender's retransmissions of it are dropped until it times out.
    if (readableLength + (d === 1 ? 0 : this.reorderBytes) + payload.length > this.recvBufferBytes) {
      // The sender ignored our window (or is probing it): drop, it comes again.
      this.stats.droppedPackets++;
      return Received.ack;
    }
    if (d === 1) {
      this.ackNumber = seq;
      this.inOrder = payload;
      return Received.deliver;
    }
    if (this.reorder.has(seq)) {
      this.stats.duplicatePackets++;
    } else {
      this.reorder.set(seq, payload);
      this.reorderBytes += payload.length;
    }
    return Received.ack;
  }

  /**
   * After `receive` said `deliver`: the next payload now in order (FIN_MARK for the FIN, after
   * which the buffer is ended and empty), or null when the next packet has not arrived. Call it
   * until it returns null. ackNr covers each payload by the time it is returned.
   */
  takeNext(): Buffer | null {
    let payload = this.inOrder;
    if (payload !== null) {
      this.inOrder = null;
    } else {
      const next = (this.ackNumber + 1) & SEQ_MASK;
      payload = this.reorder.get(next) ?? null;
      if (payload === null) return null;
      this.reorder.delete(next);
      this.reorderBytes -= payload.length;
      this.ackNumber = next;
    }
    if (payload === FIN_MARK) {
      this.finTaken = true;
      this.clear();
    }
    return payload;
  }

  /**
   * The selective ack for what is held (BEP 29: bit i = packet ackNr+2+i arrived), a multiple of
   * 4 bytes and at most MAX_SACK_BYTES; null when nothing is held.
   */
  buildSack(): Uint8Array | null {
    if (this.reorder.size === 0) return null;
    let maxBit = -1;
    for (const seq of this.reorder.keys()) maxBit = Math.max(maxBit, seqDiff(seq, this.ackNumber) - 2);
    if (maxBit < 0) return null;
    const bytes = Math.min(MAX_SACK_BYTES, Math.ceil((maxBit + 1) / 32) * 4);
    const mask = new Uint8Array(bytes);
    for (const seq of this.reorder.keys()) {
      const bit = seqDiff(seq, this.ackNumber) - 2;
      if (bit >= 0 && bit < bytes * 8) mask[bit >> 3]! |= 1 << (bit & 7);
    }
    return mask;
  }

  /** Forgets what is held (the stream ended, or the connection closed). */
  clear(): void {
    this.reorder.clear();
    this.reorderBytes = 0;
    this.inOrder = null;
  }
}
