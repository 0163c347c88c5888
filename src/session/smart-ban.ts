/**
 * Who sent bad data. When a piece fails its hash, the hash of each block and who sent it is kept;
 * when the piece later verifies, every peer whose block differs from the good one is proven to
 * have lied. A piece with a single contributor proves it at once. (anacrolix/torrent smartban.)
 * Bounded: at most MAX_TRACKED_PIECES failed pieces are remembered.
 */
import { createHash } from 'node:crypto';

/** Failed pieces remembered for comparison; older ones are forgotten. */
export const MAX_TRACKED_PIECES = 256;

export class SmartBan {
  private readonly failed = new Map<number, Map<number, { peer: number; hash: string }>>();

  /** Records a failed piece's blocks; returns the peers proven bad right away (sole sender). */
  pieceFailed(piece: number, blocks: readonly Buffer[], senders: readonly number[]): number[] {
    const distinct = new Set(senders);
    if (distinct.size === 1) return [...distinct];
    const record = new Map<number, { peer: number; hash: string }>();
    blocks.forEach((b, i) => record.set(i, { peer: senders[i]!, hash: digest(b) }));
    this.failed.delete(piece);
    this.failed.set(piece, record);
    while (this.failed.size > MAX_TRACKED_PIECES) this.failed.delete(this.failed.keys().next().value as number);
    return [];
  }

  /** Whether a failed copy of `piece` is remembered (pieceVerified has something to compare). */
  tracks(piece: number): boolean {
    return this.failed.has(piece);
  }

  /** A piece verified: peers that had sent a different block for it before are returned. */
  pieceVerified(piece: number, blocks: readonly Buffer[]): number[] {
    const record = this.failed.get(piece);
    if (!record) return [];
    this.failed.delete(piece);
    const bad = new Set<number>();
    for (const [i, { peer, hash }] of record) {
      const good = blocks[i];
      if (good && digest(good) !== hash) bad.add(peer);
    }
    return [...bad];
  }
}

function digest(b: Buffer): string {
  return createHash('sha1').update(b).digest('hex');
}
