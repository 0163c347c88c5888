/**
 * Piece picker states built from strings, one character per piece, as in
 * arvidn/libtorrent/test/test_piece_picker.cpp (`setup_picker`).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PiecePicker, type BlockRef, type PickResult } from '../../src/picker/index.js';
import { Bitfield } from '../../src/util/bitfield.js';
import { seeded } from '../helpers/prng.js';

const BLOCK = 16384;

interface Setup {
  /** Peers having each piece, one digit per piece (counted through addHave). */
  availability?: string;
  /** '1' = verified from resume data. */
  have?: string;
  /** '0' = not wanted. */
  wanted?: string;
  /** One digit per piece, 0..7. */
  priority?: string;
  /** Blocks per full piece (default 4). */
  blocks?: number;
  /** Length of the last piece in bytes (default: full). */
  lastPieceBytes?: number;
  seed?: number;
  /** Default 0 here, so tests see rarest-first unless they ask. */
  randomFirst?: number;
}

function setup(s: Setup): PiecePicker {
  const n = (s.availability ?? s.have ?? s.wanted ?? s.priority)!.length;
  const pieceLength = (s.blocks ?? 4) * BLOCK;
  const totalLength = s.lastPieceBytes === undefined ? n * pieceLength : (n - 1) * pieceLength + s.lastPieceBytes;
  const picker = new PiecePicker({
    pieceCount: n,
    pieceLength,
    totalLength,
    random: seeded(s.seed ?? 1),
    randomFirstPieces: s.randomFirst ?? 0,
  });
  [...(s.availability ?? '')].forEach((c, p) => {
    for (let i = 0; i < Number(c); i++) picker.addHave(p);
  });
  [...(s.have ?? '')].forEach((c, p) => c === '1' && picker.setHave(p));
  [...(s.wanted ?? '')].forEach((c, p) => c === '0' && picker.setWanted(p, false));
  [...(s.priority ?? '')].forEach((c, p) => picker.setPriority(p, Number(c)));
  picker.assertInvariants();
  return picker;
}

const bits = (s: string): Bitfield => Bitfield.fromString(s);

/** Distinct pieces of a pick, in order. */
function piecesOf(r: PickResult | BlockRef[]): number[] {
  const blocks = Array.isArray(r) ? r : r.blocks;
  return [...new Set(blocks.map((b) => b.piece))];
}

/** pick + markRequested, as the session does. */
function request(picker: PiecePicker, peer: number, has: Bitfield, max: number): PickResult {
  const r = picker.pick(peer, has, max);
  for (const b of r.blocks) picker.markRequested(peer, b);
  picker.assertInvariants();
  return r;
}

/** Request and receive every block of a piece from one peer; returns the last receive result. */
function download(picker: PiecePicker, peer: number, piece: number): ReturnType<PiecePicker['markReceived']> {
  const n = picker.blocksInPiece(piece);
  let last: ReturnType<PiecePicker['markReceived']> | undefined;
  for (let b = 0; b < n; b++) {
    picker.markRequested(peer, { piece, block: b });
    last = picker.markReceived(peer, { piece, block: b });
  }
  picker.assertInvariants();
  return last!;
}

describe('piece picker: geometry', () => {
  it('gives the last piece and its last block their short lengths', () => {
    const p = setup({ availability: '111', blocks: 4, lastPieceBytes: BLOCK + 3616 });
    expect(p.pieceSize(0)).toBe(4 * BLOCK);
    expect(p.pieceSize(2)).toBe(BLOCK + 3616);
    expect(p.blocksInPiece(0)).toBe(4);
    expect(p.blocksInPiece(2)).toBe(2);
    expect(p.blockLength(0, 3)).toBe(BLOCK);
    expect(p.blockLength(2, 0)).toBe(BLOCK);
    expect(p.blockLength(2, 1)).toBe(3616);
    expect(() => p.blockLength(2, 2)).toThrow(RangeError);
    expect(() => p.pieceSize(3)).toThrow(RangeError);
    expect(p.wantedBytesLeft()).toBe(9 * BLOCK + 3616);
  });

  it('picks only the blocks the last piece has and completes it with them', () => {
    const p = setup({ availability: '221', lastPieceBytes: 100 });
    const r = request(p, 1, bits('111'), 10);
    expect(r.blocks.filter((b) => b.piece === 2)).toEqual([{ piece: 2, block: 0 }]);
    expect(p.blockLength(2, 0)).toBe(100);
    expect(p.markReceived(1, { piece: 2, block: 0 })).toEqual({ duplicate: false, otherPeers: [], pieceComplete: true });
  });

  it('rejects geometry that does not add up', () => {
    const random = seeded(1);
    expect(() => new PiecePicker({ pieceCount: 0, pieceLength: 1, totalLength: 1, random })).toThrow(RangeError);
    expect(() => new PiecePicker({ pieceCount: 2, pieceLength: 10, totalLength: 10, random })).toThrow(RangeError);
    expect(() => new PiecePicker({ pieceCount: 2, pieceLength: 10, totalLength: 21, random })).toThrow(RangeError);
    expect(() => new PiecePicker({ pieceCount: 2, pieceLength: 10, totalLength: 11, random, blockSize: 0 })).toThrow(RangeError);
    expect(new PiecePicker({ pieceCount: 2, pieceLength: 10, totalLength: 11, random, blockSize: 4 }).blocksInPiece(0)).toBe(3);
  });
});

describe('piece picker: availability', () => {
  it('counts bitfields, haves and seeds, and refuses to go negative', () => {
    const p = setup({ availability: '0120' });
    p.addBitfield(bits('1100'));
    p.addSeed();
    expect([0, 1, 2, 3].map((i) => p.availability(i))).toEqual([2, 3, 3, 1]);
    p.removeBitfield(bits('1100'));
    p.removeSeed();
    expect([0, 1, 2, 3].map((i) => p.availability(i))).toEqual([0, 1, 2, 0]);
    expect(() => p.removeBitfield(bits('1001'))).toThrow(RangeError);
    expect([0, 1, 2, 3].map((i) => p.availability(i))).toEqual([0, 1, 2, 0]); // unchanged
    expect(() => p.removeSeed()).toThrow(RangeError);
    expect(() => p.addBitfield(bits('11'))).toThrow(RangeError);
    p.assertInvariants();
  });
});

describe('piece picker: which new piece', () => {
  it('picks rarest first', () => {
    const p = setup({ availability: '3142' });
    expect(piecesOf(p.pick(1, bits('1111'), 16))).toEqual([1, 3, 0, 2]);
    expect(p.pick(1, bits('1111'), 4).blocks).toEqual([0, 1, 2, 3].map((block) => ({ piece: 1, block })));
  });

  it('never picks what the peer lacks, verified or not-wanted pieces', () => {
    const p = setup({ availability: '1111111', have: '0100000', wanted: '1110111' });
    expect(piecesOf(p.pick(1, bits('1111110'), 100)).sort()).toEqual([0, 2, 4, 5]);
    expect(p.pick(1, bits('0101000'), 100)).toEqual({ blocks: [], endgame: false });
    expect(p.toString()).toBe('.V.-...');
  });

  it('follows availability as peers come and go', () => {
    const p = setup({ availability: '1111' });
    p.addBitfield(bits('1110'));
    p.addBitfield(bits('1100'));
    expect(piecesOf(p.pick(1, bits('1111'), 4))).toEqual([3]); // 3 3 2 1
    p.removeBitfield(bits('1110'));
    p.addHave(3);
    p.addHave(3);
    expect(piecesOf(p.pick(1, bits('1111'), 4))).toEqual([2]); // 2 2 1 3
  });

  it('breaks ties at random, fairly', () => {
    const first = new Map<number, number>();
    for (let seed = 1; seed <= 400; seed++) {
      const p = setup({ availability: '21112', seed });
      const [piece] = piecesOf(p.pick(1, bits('11111'), 1));
      first.set(piece!, (first.get(piece!) ?? 0) + 1);
    }
    expect([...first.keys()].sort()).toEqual([1, 2, 3]);
    for (const n of first.values()) expect(n).toBeGreaterThan(90); // ~133 each
  });

  it('picks random available pieces until randomFirstPieces are verified, then rarest', () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 60; seed++) {
      const p = setup({ availability: '1999', randomFirst: 2, seed });
      const got = piecesOf(p.pick(1, bits('1111'), 4));
      expect(got).toHaveLength(1);
      seen.add(got[0]!);
    }
    expect(seen.size).toBe(4); // not only the rarest piece 0

    const p = setup({ availability: '19999', randomFirst: 2, seed: 5 });
    p.setHave(4);
    download(p, 1, 3);
    p.pieceVerified(3);
    expect(p.verifiedCount).toBe(2);
    expect(piecesOf(p.pick(1, bits('11111'), 4))).toEqual([0]);
  });

  it('random-first never picks what the peer lacks', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const p = setup({ availability: '11111111', randomFirst: 4, seed });
      expect(piecesOf(p.pick(1, bits('00100100'), 100)).sort()).toEqual([2, 5]);
    }
  });

  it('takes higher priority first, then rarest', () => {
    const p = setup({ availability: '1119', priority: '1112' });
    expect(piecesOf(p.pick(1, bits('1111'), 8))[0]).toBe(3);
    p.setPriority(3, 1);
    p.setPriority(1, 7);
    expect(piecesOf(p.pick(1, bits('1111'), 4))).toEqual([1]);
    p.setPriority(1, 0);
    expect(p.toString()).toBe('.-..');
    expect(() => p.setPriority(1, 8)).toThrow(RangeError);
    expect(() => p.setPriority(1, -1)).toThrow(RangeError);
  });

  it('picks lowest index first in sequential mode, after higher priority', () => {
    const p = setup({ availability: '3121' });
    p.setSequential(true);
    expect(piecesOf(p.pick(1, bits('1111'), 16))).toEqual([0, 1, 2, 3]);
    expect(piecesOf(p.pick(1, bits('0111'), 16))).toEqual([1, 2, 3]);
    p.setPriority(2, 2);
    expect(piecesOf(p.pick(1, bits('1111'), 16))).toEqual([2, 0, 1, 3]);
    request(p, 1, bits('1111'), 4); // piece 2
    expect(piecesOf(p.pick(2, bits('1111'), 4))).toEqual([0]);
    p.setSequential(false);
    expect(piecesOf(p.pick(2, bits('1111'), 4))).toEqual([1]);
  });

  it('sequential mode resumes at a piece that became free again', () => {
    const p = setup({ availability: '11111' });
    p.setSequential(true);
    request(p, 1, bits('11111'), 8); // pieces 0, 1
    expect(piecesOf(p.pick(2, bits('11111'), 4))).toEqual([2]);
    p.abortPeer(1);
    expect(piecesOf(p.pick(2, bits('11111'), 4))).toEqual([0]);
  });
});

describe('piece picker: pieces in progress', () => {
  it('lets a peer finish the piece it started (whole pieces per peer)', () => {
    const p = setup({ availability: '1122' });
    expect(request(p, 1, bits('1111'), 2).blocks).toEqual([
      { piece: 0, block: 0 },
      { piece: 0, block: 1 },
    ]);
    // Piece 1 is as rare as piece 0, but peer 1 continues piece 0.
    expect(p.pick(1, bits('1111'), 2).blocks).toEqual([
      { piece: 0, block: 2 },
      { piece: 0, block: 3 },
    ]);
    // Another peer starts its own piece rather than sharing piece 0.
    expect(piecesOf(p.pick(2, bits('1111'), 4))).toEqual([1]);
    expect(p.toString()).toBe('r...');
  });

  it('shares a piece another peer is downloading only when no new piece is left', () => {
    const p = setup({ availability: '11' });
    request(p, 1, bits('11'), 2); // piece 0 or 1, half requested
    const started = piecesOf(p.pick(1, bits('11'), 1))[0]!;
    expect(piecesOf(request(p, 2, bits('11'), 4))).toEqual([1 - started]); // a new piece, whole
    expect(p.toString()).toBe(started === 0 ? 'rR' : 'Rr');
    // Peer 3 has nothing new left: it shares peer 1's piece (still not endgame).
    expect(request(p, 3, bits('11'), 10)).toEqual({
      blocks: [
        { piece: started, block: 2 },
        { piece: started, block: 3 },
      ],
      endgame: false,
    });
  });

  it('finishes a piece nobody is downloading any more before starting a new one', () => {
    const p = setup({ availability: '3111' });
    p.addHave(1);
    p.addHave(2);
    p.addHave(3); // now 3 2 2 2: piece 0 is the most common
    p.markRequested(1, { piece: 0, block: 0 });
    p.markRequested(1, { piece: 0, block: 1 });
    p.markReceived(1, { piece: 0, block: 0 });
    p.abortPeer(1);
    expect(p.toString()).toBe('r...');
    expect(p.pick(2, bits('1111'), 4).blocks).toEqual([
      { piece: 0, block: 1 },
      { piece: 0, block: 2 },
      { piece: 0, block: 3 },
      expect.objectContaining({ block: 0 }),
    ]);
  });

  it('shows requested, fully requested and received states', () => {
    const p = setup({ availability: '111' });
    for (let b = 0; b < 4; b++) p.markRequested(1, { piece: 1, block: b });
    p.markRequested(1, { piece: 2, block: 0 });
    expect(p.toString()).toBe('.Rr');
    for (let b = 0; b < 4; b++) p.markReceived(1, { piece: 1, block: b });
    expect(p.toString()).toBe('.ur');
    p.pieceVerified(1);
    expect(p.toString()).toBe('.Vr');
  });
});

describe('piece picker: aborts', () => {
  it('abortRequest frees a block only when nobody else has it outstanding', () => {
    const p = setup({ availability: '1' });
    request(p, 1, bits('1'), 4);
    p.markRequested(2, { piece: 0, block: 0 }); // endgame duplicate
    p.abortRequest(1, { piece: 0, block: 0 });
    expect(p.toString()).toBe('R');
    p.abortRequest(2, { piece: 0, block: 0 });
    expect(p.toString()).toBe('r');
    expect(p.pick(3, bits('1'), 4).blocks).toEqual([{ piece: 0, block: 0 }]);
    p.abortRequest(3, { piece: 0, block: 0 }); // never requested: harmless
    p.assertInvariants();
  });

  it('abortPeer returns and frees every request of the peer', () => {
    const p = setup({ availability: '11' });
    const r = request(p, 1, bits('11'), 6);
    expect(p.toString()).toMatch(/^(Rr|rR)$/);
    expect(
      p
        .abortPeer(1)
        .map((b) => `${b.piece}/${b.block}`)
        .sort(),
    ).toEqual(r.blocks.map((b) => `${b.piece}/${b.block}`).sort());
    expect(p.toString()).toBe('..');
    expect(p.abortPeer(1)).toEqual([]);
    expect(p.pick(2, bits('11'), 8).blocks).toHaveLength(8);
    p.assertInvariants();
  });

  it('keeps received blocks when the requests of a piece are aborted', () => {
    const p = setup({ availability: '1' });
    request(p, 1, bits('1'), 4);
    p.markReceived(1, { piece: 0, block: 2 });
    p.abortPeer(1);
    expect(p.toString()).toBe('r');
    expect(p.pick(2, bits('1'), 4).blocks.map((b) => b.block)).toEqual([0, 1, 3]);
  });
});

describe('piece picker: endgame', () => {
  it('duplicates blocks requested from others, once per peer, and names peers to cancel', () => {
    const p = setup({ availability: '2' });
    request(p, 1, bits('1'), 4);
    const r2 = request(p, 2, bits('1'), 10);
    expect(r2.endgame).toBe(true);
    expect(r2.blocks).toHaveLength(4);
    // Peer 2 already has them all outstanding: nothing more for it.
    expect(p.pick(2, bits('1'), 10)).toEqual({ blocks: [], endgame: false });

    expect(p.markReceived(2, { piece: 0, block: 0 })).toEqual({ duplicate: false, otherPeers: [1], pieceComplete: false });
    // Peer 1's copy arrives after all: ignored.
    expect(p.markReceived(1, { piece: 0, block: 0 })).toEqual({ duplicate: true, otherPeers: [], pieceComplete: false });
    p.abortRequest(1, { piece: 0, block: 0 }); // the cancel's bookkeeping: a no-op now
    p.assertInvariants();
    for (let b = 1; b < 3; b++) p.markReceived(1, { piece: 0, block: b });
    const last = p.markReceived(2, { piece: 0, block: 3 });
    expect(last).toEqual({ duplicate: false, otherPeers: [1], pieceComplete: true });
    expect(p.contributors(0)).toEqual([1, 2]);
    expect(p.toString()).toBe('u');
    p.assertInvariants();
  });

  it('is not endgame while a wanted piece someone has is not started yet, even when the caller holds new pieces back', () => {
    const p = setup({ availability: '22' });
    const [started] = piecesOf(request(p, 1, bits('11'), 4)); // one piece fully requested from peer 1
    const onlyStarted = started === 0 ? bits('10') : bits('01');
    // At the assembler's cap: no new pieces, and no duplicates of the started one either.
    expect(p.pick(2, bits('11'), 10, { newPieces: false })).toEqual({ blocks: [], endgame: false });
    // A peer with only the started piece does not duplicate it while the other waits for someone.
    expect(p.pick(3, onlyStarted, 10)).toEqual({ blocks: [], endgame: false });
    request(p, 1, bits('11'), 4); // the other piece started too: now it is the endgame
    expect(p.pick(3, onlyStarted, 10).endgame).toBe(true);
  });

  it('duplicates the most recently requested blocks first: a cancel still reaches them in time', () => {
    const p = setup({ availability: '2', blocks: 4 });
    for (const block of [2, 0, 3, 1]) p.markRequested(1, { piece: 0, block });
    expect(p.pick(2, bits('1'), 2)).toEqual({ blocks: [{ piece: 0, block: 1 }, { piece: 0, block: 3 }], endgame: true });
  });

  it('duplicates only what the peer outruns: a block held by a faster peer is left to it', () => {
    const p = setup({ availability: '3', blocks: 2 });
    p.markRequested(1, { piece: 0, block: 0 });
    p.markRequested(2, { piece: 0, block: 1 });
    expect(p.pick(3, bits('1'), 4, { outruns: (h) => h === 2 })).toEqual({ blocks: [{ piece: 0, block: 1 }], endgame: true });
    expect(p.pick(3, bits('1'), 4, { outruns: () => false })).toEqual({ blocks: [], endgame: false });
  });

  it('gives an endgame pick at most endgameMax duplicates', () => {
    const p = setup({ availability: '2' });
    request(p, 1, bits('1'), 4);
    expect(p.pick(2, bits('1'), 10, { endgameMax: 2 }).blocks).toHaveLength(2);
    expect(p.pick(2, bits('1'), 10, { endgameMax: 0 })).toEqual({ blocks: [], endgame: false });
  });

  it('duplicates a higher-priority piece first, however early its blocks were requested', () => {
    const p = setup({ availability: '22', blocks: 2 });
    p.markRequested(1, { piece: 1, block: 0 }); // requested first: last by recency alone
    p.markRequested(1, { piece: 1, block: 1 });
    p.markRequested(1, { piece: 0, block: 0 });
    p.markRequested(1, { piece: 0, block: 1 });
    p.setPriority(1, 5);
    expect(p.pick(2, bits('11'), 3)).toEqual({ blocks: [{ piece: 1, block: 1 }, { piece: 1, block: 0 }, { piece: 0, block: 1 }], endgame: true });
    p.assertInvariants();
  });

  it('prefers blocks with the fewest requesters', () => {
    const p = setup({ availability: '3', blocks: 2 });
    request(p, 1, bits('1'), 2);
    p.markRequested(2, { piece: 0, block: 0 });
    const r = p.pick(3, bits('1'), 1);
    expect(r).toEqual({ blocks: [{ piece: 0, block: 1 }], endgame: true });
  });

  it('is not endgame while this peer still has free blocks to fetch', () => {
    const p = setup({ availability: '11' });
    request(p, 1, bits('10'), 4);
    expect(p.pick(2, bits('11'), 8)).toEqual({ blocks: expect.any(Array), endgame: false });
    expect(piecesOf(p.pick(2, bits('11'), 8))).toEqual([1]);
    // A peer with only piece 0 waits: piece 1 is not started, so it is not the endgame yet.
    expect(p.pick(3, bits('10'), 8)).toEqual({ blocks: [], endgame: false });
  });
});

describe('piece picker: receiving and verifying', () => {
  it('ignores blocks nobody asked this peer for (lying peer)', () => {
    const p = setup({ availability: '11' });
    const before = p.toString();
    const ignored = { duplicate: true, otherPeers: [], pieceComplete: false };
    expect(p.markReceived(9, { piece: 0, block: 0 })).toEqual(ignored);
    expect(p.markReceived(9, { piece: 7, block: 0 })).toEqual(ignored);
    expect(p.markReceived(9, { piece: 0, block: 99 })).toEqual(ignored);
    expect(p.markReceived(9, { piece: -1, block: 0.5 })).toEqual(ignored);
    p.markRequested(1, { piece: 0, block: 0 });
    expect(p.markReceived(9, { piece: 0, block: 0 })).toEqual(ignored); // asked peer 1, not 9
    expect(p.markReceived(9, { piece: 0, block: 1 })).toEqual(ignored);
    expect(p.toString()).toBe('r.');
    p.abortPeer(1);
    expect(p.toString()).toBe(before);
    expect(p.contributors(0)).toEqual([]);
    p.assertInvariants();
  });

  it('moves a complete piece to verified and counts what is left', () => {
    const p = setup({ availability: '1111', wanted: '1101', lastPieceBytes: 1000 });
    expect(p.wantedBytesLeft()).toBe(8 * BLOCK + 1000);
    expect(p.done).toBe(false);
    expect(download(p, 1, 3).pieceComplete).toBe(true);
    expect(p.wantedBytesLeft()).toBe(8 * BLOCK + 1000); // received is not verified
    p.pieceVerified(3);
    expect(p.wantedBytesLeft()).toBe(8 * BLOCK);
    expect(p.has(3)).toBe(true);
    download(p, 2, 0);
    p.pieceVerified(0);
    p.setHave(1);
    expect(p.verifiedCount).toBe(3);
    expect(p.done).toBe(true);
    expect(p.wantedBytesLeft()).toBe(0);
    expect(p.toString()).toBe('VV-V');
    const v = p.verified;
    expect(v.toString()).toBe('1101');
    v.set(2); // a copy
    expect(p.has(2)).toBe(false);
    expect(p.pick(1, bits('1111'), 10)).toEqual({ blocks: [], endgame: false });
    p.setWanted(2, true);
    expect(p.done).toBe(false);
    expect(p.wantedBytesLeft()).toBe(4 * BLOCK);
    expect(p.isWanted(2)).toBe(true);
  });

  it('frees all blocks of a failed piece and remembers who sent them', () => {
    const p = setup({ availability: '11' });
    p.markRequested(1, { piece: 0, block: 0 });
    p.markRequested(2, { piece: 0, block: 1 });
    p.markRequested(1, { piece: 0, block: 2 });
    p.markRequested(3, { piece: 0, block: 3 });
    p.markReceived(1, { piece: 0, block: 0 });
    p.markReceived(2, { piece: 0, block: 1 });
    p.markReceived(1, { piece: 0, block: 2 });
    expect(() => p.pieceFailed(0)).toThrow(/not awaiting/);
    expect(p.markReceived(3, { piece: 0, block: 3 }).pieceComplete).toBe(true);
    expect(p.contributors(0)).toEqual([1, 2, 3]);
    p.pieceFailed(0);
    expect(p.toString()).toBe('..');
    expect(p.contributors(0)).toEqual([1, 2, 3]);
    expect(p.verifiedCount).toBe(0);
    const again = request(p, 4, bits('10'), 4);
    expect(again.blocks).toHaveLength(4);
    expect(p.contributors(0)).toEqual([]); // a new attempt
    p.markReceived(4, { piece: 0, block: 0 });
    expect(p.contributors(0)).toEqual([4]);
  });

  it('throws on transitions that are not allowed', () => {
    const p = setup({ availability: '111' });
    p.markRequested(1, { piece: 0, block: 0 });
    expect(() => p.markRequested(1, { piece: 0, block: 0 })).toThrow(/already has/);
    expect(() => p.pieceVerified(0)).toThrow(/not awaiting/);
    expect(() => p.pieceVerified(1)).toThrow(/not awaiting/);
    expect(() => p.setHave(0)).toThrow(/in progress/);
    expect(() => p.markRequested(1, { piece: 0, block: 4 })).toThrow(RangeError);
    p.markReceived(1, { piece: 0, block: 0 });
    expect(() => p.markRequested(2, { piece: 0, block: 0 })).toThrow(/received/);
    p.setHave(2);
    p.setHave(2); // idempotent
    expect(() => p.markRequested(1, { piece: 2, block: 0 })).toThrow(/verified/);
    expect(() => p.pick(1, bits('11'), 1)).toThrow(RangeError);
    p.assertInvariants();
  });

  it('keeps an in-progress piece that stops being wanted, without picking it', () => {
    const p = setup({ availability: '11' });
    p.markRequested(1, { piece: 0, block: 0 });
    p.setWanted(0, false);
    expect(p.toString()).toBe('r.');
    expect(piecesOf(p.pick(1, bits('11'), 10))).toEqual([1]);
    expect(p.markReceived(1, { piece: 0, block: 0 }).duplicate).toBe(false);
    p.setWanted(0, true);
    expect(piecesOf(p.pick(1, bits('10'), 10))).toEqual([0]);
    p.assertInvariants();
  });
});

describe('piece picker: big torrents', () => {
  it('finds the rarest pieces of a peer that has few of them, exactly', () => {
    const n = 20_000;
    const p = new PiecePicker({ pieceCount: n, pieceLength: BLOCK, totalLength: n * BLOCK, random: seeded(3), randomFirstPieces: 0 });
    const common = new Bitfield(n);
    for (let i = 0; i < n; i++) common.set(i);
    p.addBitfield(common);
    p.addBitfield(common);
    // The sparse peer has 5 pieces (count 3); one of the common peers lacks two of them, making
    // those two the rarest of the peer's (count 2), while every piece the peer lacks (count 2)
    // comes before them in the queue: the scan gives up and the bitfield path must answer.
    const sparse = subset(n, [5, 900, 12_345, 17_000, 19_999]);
    p.addBitfield(sparse);
    p.removeBitfield(subset(n, [17_000, 5]));
    expect(p.availability(17_000)).toBe(2);
    expect(p.availability(5)).toBe(2);
    expect(piecesOf(p.pick(1, sparse, 2)).sort((a, b) => a - b)).toEqual([5, 17_000]);
    expect(piecesOf(p.pick(1, sparse, 10)).slice(2).sort((a, b) => a - b)).toEqual([900, 12_345, 19_999]);
    p.assertInvariants();
  });

  it('sequential mode on a big level walks the peer bitfield from the first free piece', () => {
    const n = 50_000;
    const p = new PiecePicker({ pieceCount: n, pieceLength: BLOCK, totalLength: n * BLOCK, random: seeded(4) });
    p.setSequential(true);
    const everything = Bitfield.full(n);
    p.addBitfield(everything);
    for (let i = 0; i < 30_000; i++) p.setHave(i);
    const peer = subset(n, [100, 30_001, 30_002, 40_000, 49_999]);
    p.addBitfield(peer);
    expect(piecesOf(p.pick(1, peer, 3))).toEqual([30_001, 30_002, 40_000]);
    // A read-ahead window at a higher priority comes first, lowest index first.
    p.setPriority(49_999, 7);
    p.setPriority(40_000, 7);
    expect(piecesOf(p.pick(1, peer, 3))).toEqual([40_000, 49_999, 30_001]);
    p.markRequested(2, { piece: 30_001, block: 0 });
    p.abortPeer(2); // back to free: the cursor must come back
    expect(piecesOf(p.pick(1, peer, 1))).toEqual([40_000]);
    p.setPriority(40_000, 1);
    p.setPriority(49_999, 1);
    expect(piecesOf(p.pick(1, peer, 2))).toEqual([30_001, 30_002]);
    p.assertInvariants();
  });

  it('random-first finds the few pieces a sparse peer has', () => {
    const n = 50_000;
    for (let seed = 1; seed <= 5; seed++) {
      const p = new PiecePicker({ pieceCount: n, pieceLength: BLOCK, totalLength: n * BLOCK, random: seeded(seed) });
      p.addBitfield(Bitfield.full(n));
      const peer = subset(n, [7, 25_000, 49_000]);
      p.addBitfield(peer);
      const got = piecesOf(p.pick(1, peer, 2));
      expect(got).toHaveLength(2);
      for (const g of got) expect([7, 25_000, 49_000]).toContain(g);
      expect(piecesOf(p.pick(1, peer, 10)).sort((a, b) => a - b)).toEqual([7, 25_000, 49_000]);
    }
  });

  it('does not pick pieces that no counted peer has for a peer without everything', () => {
    const p = setup({ availability: '0001' });
    p.addSeed();
    expect(piecesOf(p.pick(1, bits('1111'), 100))).toHaveLength(4); // a seed gets anything
    expect(piecesOf(p.pick(2, bits('0001'), 100))).toEqual([3]);
  });
});

describe('piece picker: own-piece marks', () => {
  it('picks the same when the per-pick stamp wraps around as when it starts at zero', () => {
    const make = (): PiecePicker => {
      const p = new PiecePicker({ pieceCount: 12, pieceLength: 8 * BLOCK, totalLength: 12 * 8 * BLOCK, random: seeded(3), randomFirstPieces: 0 });
      for (let i = 0; i < 12; i++) p.addHave(i);
      return p;
    };
    const fresh = make();
    const wrapping = make();
    wrapping['started']['stamp'] = 0xffffffff - 2;
    const all = Bitfield.full(12);
    const picks = (picker: PiecePicker): string[] => {
      const out: string[] = [];
      for (let round = 0; round < 8; round++) {
        for (const peer of [1, 2, 3]) {
          const { blocks } = picker.pick(peer, all, 3);
          for (const b of blocks) picker.markRequested(peer, b);
          out.push(`${peer}:${blocks.map((b) => `${b.piece}/${b.block}`).join(',')}`);
        }
      }
      picker.assertInvariants();
      return out;
    };
    expect(picks(wrapping)).toEqual(picks(fresh));
    expect(wrapping['started']['stamp']).toBeLessThan(100);
  });
});

describe('piece picker: neededIn', () => {
  it('counts the pieces a bitfield has that are wanted and not verified, as a per-piece check would', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70 }).chain((n) =>
          fc.record({
            n: fc.constant(n),
            theirs: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
            have: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
            priority: fc.array(fc.integer({ min: 0, max: 7 }), { minLength: n, maxLength: n }),
          }),
        ),
        ({ n, theirs, have, priority }) => {
          const picker = new PiecePicker({ pieceCount: n, pieceLength: BLOCK, totalLength: n * BLOCK, random: seeded(1) });
          for (let p = 0; p < n; p++) {
            picker.setPriority(p, priority[p]!);
            if (have[p]) picker.setHave(p);
          }
          const bits = subset(n, theirs.flatMap((t, i) => (t ? [i] : [])));
          let expected = 0;
          for (let p = 0; p < n; p++) if (theirs[p] && priority[p]! > 0 && !have[p]) expected++;
          expect(picker.neededIn(bits)).toBe(expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses a bitfield of another length', () => {
    const picker = setup({ availability: '0000' });
    expect(() => picker.neededIn(new Bitfield(5))).toThrow(RangeError);
  });
});

function subset(n: number, set: number[]): Bitfield {
  const b = new Bitfield(n);
  for (const i of set) b.set(i);
  return b;
}
