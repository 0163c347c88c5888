/**
 * The `fetching-metadata` phase of a magnet (BEP 9 over BEP 10): which peers we are fetching the
 * info dictionary from and what each has sent. Connections belong to the session; this module
 * only decides what to ask whom and checks the result.
 *
 * Each serving peer fills its own copy (metadata is small: fetching from two or three at once
 * costs little and one liar cannot spoil an honest copy). A copy is checked against every info
 * hash the magnet names: SHA-1 for `btih` (BEP 9), SHA-256 for `btmh` (BEP 52), both for a
 * hybrid magnet; a copy that fails one is thrown away and its peer reported as a liar. Sizes above MAX_METADATA_BYTES are refused
 * before anything is allocated; at most MAX_PARALLEL_COPIES copies exist at once, so memory is
 * bounded by MAX_PARALLEL_COPIES x MAX_METADATA_BYTES.
 */
import { createHash } from 'node:crypto';
import { ProtocolError } from '../errors.js';
import { encodeMetadataMessage, MAX_METADATA_BYTES, MetadataAssembler, type MetadataMessage } from '../wire/index.js';

/** Peers assembling a copy at the same time. */
export const MAX_PARALLEL_COPIES = 3;
/** Requests in flight per peer (BEP 9 pieces are 16 KiB). */
export const PIECES_IN_FLIGHT = 4;
/** A metadata piece unanswered this long: the peer is dropped and another asked. */
export const PIECE_TIMEOUT_MS = 15_000;

interface Copy {
  assembler: MetadataAssembler;
  /** piece -> when requested */
  requested: Map<number, number>;
}

export type MetadataOutcome =
  | { kind: 'none' }
  | { kind: 'send'; payloads: Buffer[] }
  | { kind: 'done'; infoBytes: Buffer }
  | { kind: 'liar' };

/**
 * Whether `infoBytes` hash to every info hash a magnet names: `v1` its SHA-1 one (btih, BEP 9),
 * `v2` its SHA-256 one (btmh, BEP 52), both for a hybrid magnet. A peer's copy and a cached
 * torrent are trusted by this check alone.
 */
export function infoBytesMatch(infoBytes: Buffer, expected: { v1: Buffer | null; v2: Buffer | null }): boolean {
  const { v1, v2 } = expected;
  if (v1 !== null && !createHash('sha1').update(infoBytes).digest().equals(v1)) return false;
  return v2 === null || createHash('sha256').update(infoBytes).digest().equals(v2);
}

export class MetadataPhase {
  private readonly copies = new Map<number, Copy>();
  /** Peers that serve metadata (id -> announced size) waiting for a free copy slot. */
  private readonly waiting = new Map<number, number>();
  /** A copy verified (or the metadata came from elsewhere): nothing more is asked or taken. */
  private finished = false;

  /** `v1`: the magnet's SHA-1 info hash (btih); `v2`: its SHA-256 one (btmh, 32 bytes). At least one. */
  constructor(private readonly expected: { v1: Buffer | null; v2: Buffer | null }) {
    if (expected.v1 === null && expected.v2 === null) throw new RangeError('MetadataPhase: no info hash to check against');
  }

  /**
   * A peer's BEP 10 handshake said it serves `size` bytes of metadata. Returns the requests to
   * send it now (none if every copy slot is taken: it waits for one).
   */
  peerServes(peerId: number, size: number, now: number): Buffer[] {
    if (this.finished) return [];
    if (size <= 0 || size > MAX_METADATA_BYTES) throw new ProtocolError(`metadata_size ${size} is not within 1..${MAX_METADATA_BYTES}`);
    if (this.copies.size >= MAX_PARALLEL_COPIES) {
      this.waiting.set(peerId, size);
      return [];
    }
    const copy: Copy = { assembler: new MetadataAssembler(size), requested: new Map() };
    this.copies.set(peerId, copy);
    return this.requestMore(copy, now);
  }

  /** A ut_metadata message from a peer (requests are answered by the session, not here). */
  onMessage(peerId: number, m: MetadataMessage, now: number): MetadataOutcome {
    const copy = this.copies.get(peerId);
    if (this.finished || !copy || m.type === 'request') return { kind: 'none' };
    if (m.type === 'reject') throw new ProtocolError(`refused metadata piece ${m.piece}`);
    if (!copy.requested.has(m.piece)) throw new ProtocolError(`sent metadata piece ${m.piece} that was not requested`);
    copy.requested.delete(m.piece);
    copy.assembler.add(m.piece, m.data, peerId);
    if (!copy.assembler.complete) return { kind: 'send', payloads: this.requestMore(copy, now) };
    const bytes = copy.assembler.bytes();
    this.copies.delete(peerId);
    if (infoBytesMatch(bytes, this.expected)) {
      this.finish();
      return { kind: 'done', infoBytes: Buffer.from(bytes) };
    }
    return { kind: 'liar' };
  }

  /** The metadata is known: every copy is dropped and no peer is asked again. */
  finish(): void {
    this.finished = true;
    this.copies.clear();
    this.waiting.clear();
  }

  /** Peers whose oldest request is older than PIECE_TIMEOUT_MS (the session drops them). */
  timedOut(now: number): number[] {
    const out: number[] = [];
    for (const [id, c] of this.copies) {
      for (const at of c.requested.values()) {
        if (now - at > PIECE_TIMEOUT_MS) {
          out.push(id);
          break;
        }
      }
    }
    return out;
  }

  /**
   * The peer is gone (or was dropped): its copy is discarded and a waiting peer may take the
   * slot. Returns that peer and the requests to send it, if any.
   */
  peerGone(peerId: number, now: number): { peerId: number; payloads: Buffer[] } | null {
    this.waiting.delete(peerId);
    if (!this.copies.delete(peerId)) return null;
    for (const [id, size] of this.waiting) {
      this.waiting.delete(id);
      return { peerId: id, payloads: this.peerServes(id, size, now) };
    }
    return null;
  }

  private requestMore(copy: Copy, now: number): Buffer[] {
    const out: Buffer[] = [];
    for (const piece of copy.assembler.missing()) {
      if (copy.requested.size >= PIECES_IN_FLIGHT) break;
      if (copy.requested.has(piece)) continue;
      copy.requested.set(piece, now);
      out.push(encodeMetadataMessage({ type: 'request', piece }));
    }
    return out;
  }
}
