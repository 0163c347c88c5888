/**
 * session/piece-assembler with streamSha1: blocks are hashed in order as they arrive, whatever
 * order they come in, and the check gets the SHA-1 of exactly the piece's bytes; a bad block
 * still fails the piece and nothing of it is written; a short last piece is hashed to its end;
 * without streamSha1 (v2) the check hashes the bytes itself.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PiecePicker } from '../../src/picker/index.js';
import { MAX_UNVERIFIED_BYTES, MIN_UNVERIFIED_BYTES, PieceAssembler, type AssemblerEvents } from '../../src/session/piece-assembler.js';
import type { Storage } from '../../src/storage/storage.js';
import { BLOCK_SIZE } from '../../src/wire/index.js';
import { bytes } from '../helpers/make-torrent.js';

const sha1 = (b: Buffer): Buffer => createHash('sha1').update(b).digest();

/** The piece geometry the assembler asks the picker for, and what it tells it. */
function fakePicker(pieceLength: number, totalLength: number): PiecePicker & { verified: number[]; failed: number[] } {
  const size = (p: number): number => Math.min(pieceLength, totalLength - p * pieceLength);
  const verified: number[] = [];
  const failed: number[] = [];
  return {
    verified,
    failed,
    pieceSize: size,
    blocksInPiece: (p: number) => Math.ceil(size(p) / BLOCK_SIZE),
    pieceVerified: (p: number) => void verified.push(p),
    pieceFailed: (p: number) => void failed.push(p),
  } as unknown as PiecePicker & { verified: number[]; failed: number[] };
}

function setup(o: { pieceLength: number; totalLength: number; streamSha1: boolean }) {
  const picker = fakePicker(o.pieceLength, o.totalLength);
  const written = new Map<number, Buffer>();
  const seen: { piece: number; sha1: Buffer | undefined }[] = [];
  const storage = {
    writePiece: async (p: number, blocks: readonly Buffer[]) => void written.set(p, Buffer.concat(blocks)),
  } as unknown as Storage;
  const events: AssemblerEvents = { verified: () => undefined, written: () => undefined, failed: () => undefined, liars: () => undefined, diskError: (e) => { throw e; }, diskBusy: () => undefined };
  const expected = new Map<number, Buffer>();
  const assembler = new PieceAssembler({
    picker,
    storage,
    pieceLength: o.pieceLength,
    streamSha1: o.streamSha1,
    storeKeepsBuffers: true,
    events,
    verify: (piece, data, digest) => {
      seen.push({ piece, sha1: digest });
      return (digest ?? sha1(data)).equals(expected.get(piece)!);
    },
  });
  return { assembler, picker, written, seen, expected };
}

/** Feeds `piece`'s blocks of `data` in `order` (block indexes), the last one completing it. */
function feed(assembler: PieceAssembler, piece: number, data: Buffer, order: number[]): void {
  order.forEach((i, k) => assembler.addBlock(1 + (i % 3), piece, i * BLOCK_SIZE, data.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE), k === order.length - 1));
}

describe('PieceAssembler, hashing blocks as they arrive', () => {
  it('hands the check the SHA-1 of the piece whatever order its blocks come in', async () => {
    const pieceLength = 8 * BLOCK_SIZE;
    await fc.assert(
      fc.asyncProperty(fc.shuffledSubarray([0, 1, 2, 3, 4, 5, 6, 7], { minLength: 8, maxLength: 8 }), fc.integer({ min: 1, max: 1000 }), async (order, seed) => {
        const { assembler, picker, written, seen, expected } = setup({ pieceLength, totalLength: 4 * pieceLength, streamSha1: true });
        const data = bytes(pieceLength, seed);
        expected.set(2, sha1(data));
        feed(assembler, 2, data, order);
        await assembler.drain();
        expect(seen).toEqual([{ piece: 2, sha1: sha1(data) }]);
        expect(picker.verified).toEqual([2]);
        expect(written.get(2)!.equals(data)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('hashes a short last piece to its end', async () => {
    const pieceLength = 4 * BLOCK_SIZE;
    const tail = 2 * BLOCK_SIZE + 777;
    const { assembler, written, seen, expected } = setup({ pieceLength, totalLength: pieceLength + tail, streamSha1: true });
    const data = bytes(tail, 9);
    expected.set(1, sha1(data));
    feed(assembler, 1, data, [2, 0, 1]);
    await assembler.drain();
    expect(seen[0]!.sha1).toEqual(sha1(data));
    expect(written.get(1)!.equals(data)).toBe(true);
  });

  it('fails a piece with a bad block and writes nothing of it', async () => {
    const pieceLength = 4 * BLOCK_SIZE;
    const { assembler, picker, written, seen, expected } = setup({ pieceLength, totalLength: pieceLength, streamSha1: true });
    const good = bytes(pieceLength, 4);
    expected.set(0, sha1(good));
    const bad = Buffer.from(good);
    bad[BLOCK_SIZE + 5]! ^= 1;
    feed(assembler, 0, bad, [3, 1, 0, 2]);
    await assembler.drain();
    expect(seen[0]!.sha1).toEqual(sha1(bad));
    expect(picker.failed).toEqual([0]);
    expect(written.size).toBe(0);
    // The piece again, right this time: a fresh running hash, not the failed one's.
    feed(assembler, 0, good, [0, 1, 2, 3]);
    await assembler.drain();
    expect(seen[1]!.sha1).toEqual(sha1(good));
    expect(written.get(0)!.equals(good)).toBe(true);
  });

  it('leaves hashing to the check when not streaming (v2)', async () => {
    const pieceLength = 2 * BLOCK_SIZE;
    const { assembler, written, seen, expected } = setup({ pieceLength, totalLength: pieceLength, streamSha1: false });
    const data = bytes(pieceLength, 5);
    expected.set(0, sha1(data));
    feed(assembler, 0, data, [1, 0]);
    await assembler.drain();
    expect(seen).toEqual([{ piece: 0, sha1: undefined }]);
    expect(written.get(0)!.equals(data)).toBe(true);
  });
});

describe('PieceAssembler, room for new pieces', () => {
  /** How many pieces can be started (one block each) before there is no room, with `peers` connected. */
  function startable(pieceLength: number, peers: number): number {
    const { assembler } = setup({ pieceLength, totalLength: 64 * pieceLength, streamSha1: true });
    let started = 0;
    while (assembler.roomForNewPiece(peers) && started < 64) {
      assembler.addBlock(1, started, 0, Buffer.alloc(BLOCK_SIZE), false);
      started++;
    }
    assembler.stop();
    return started;
  }

  it('holds one piece being assembled per connected peer, within its minimum and maximum', () => {
    const MiB = 1 << 20;
    expect(startable(8 * MiB, 1)).toBe(MIN_UNVERIFIED_BYTES / (8 * MiB)); // a lone peer: the minimum
    expect(startable(8 * MiB, 6)).toBe(6);
    expect(startable(64 * MiB, 40)).toBe(MAX_UNVERIFIED_BYTES / (64 * MiB)); // many peers, big pieces: the maximum
  });
});

