/**
 * Perf sanity: picks on a 1,000,000-piece torrent must not scan every piece. The bound is
 * generous (a linear scan per pick would take minutes, not seconds); it only catches O(n) picks.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { PiecePicker, type BlockRef } from '../../src/picker/index.js';
import { Bitfield } from '../../src/util/bitfield.js';

const PIECES = 1_000_000;
const PEERS = 50;
const PICKS = 10_000;
const BLOCKS_PER_PIECE = 16;
const BOUND_MS = 5000;

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBitfield(rnd: () => number, density: number): Bitfield {
  const buf = Buffer.alloc(Bitfield.byteLength(PIECES));
  for (let i = 0; i < buf.length; i++) {
    let v = 0;
    for (let bit = 0; bit < 8; bit++) if (rnd() < density) v |= 0x80 >> bit;
    buf[i] = v;
  }
  return new Bitfield(PIECES, buf);
}

function swarm(randomFirstPieces: number): { picker: PiecePicker; bits: Bitfield[] } {
  const rnd = seeded(7);
  const picker = new PiecePicker({
    pieceCount: PIECES,
    pieceLength: BLOCKS_PER_PIECE * 16384,
    totalLength: PIECES * BLOCKS_PER_PIECE * 16384,
    random: seeded(42),
    randomFirstPieces,
  });
  // Mostly half-full peers, a few nearly empty ones (they exercise the bitfield path).
  const bits = Array.from({ length: PEERS }, (_, i) => randomBitfield(rnd, i % 10 === 9 ? 0.0005 : 0.5));
  for (const b of bits) picker.addBitfield(b);
  return { picker, bits };
}

/** PICKS pick calls round-robin over the peers, requesting, receiving and verifying as we go. */
function run(picker: PiecePicker, bits: Bitfield[]): { ms: number; blocks: number } {
  const outstanding = bits.map(() => [] as BlockRef[]);
  let blocks = 0;
  const start = performance.now();
  for (let i = 0; i < PICKS; i++) {
    const peer = i % PEERS;
    const r = picker.pick(peer, bits[peer]!, 16);
    for (const b of r.blocks) picker.markRequested(peer, b);
    blocks += r.blocks.length;
    const mine = outstanding[peer]!;
    mine.push(...r.blocks);
    if (mine.length > 64) {
      for (const b of mine.splice(0, 32)) {
        const got = picker.markReceived(peer, b);
        if (got.pieceComplete) picker.pieceVerified(b.piece);
      }
    }
  }
  return { ms: performance.now() - start, blocks };
}

describe('piece picker perf sanity (1M pieces, 50 peers, 10k picks)', () => {
  let rarest: { picker: PiecePicker; bits: Bitfield[] };
  beforeAll(() => {
    rarest = swarm(0); // ~1-2 s: 25M availability increments
  });

  it('rarest first', () => {
    const { ms, blocks } = run(rarest.picker, rarest.bits);
    expect(blocks).toBeGreaterThan(PICKS * 8);
    expect(ms).toBeLessThan(BOUND_MS);
  });

  it('sequential', () => {
    rarest.picker.setSequential(true);
    const { ms, blocks } = run(rarest.picker, rarest.bits);
    expect(blocks).toBeGreaterThan(PICKS * 8);
    expect(ms).toBeLessThan(BOUND_MS);
    rarest.picker.assertInvariants();
  });

  it('random first', () => {
    const { picker, bits } = swarm(1_000_000); // stays in random-first mode throughout
    const { ms, blocks } = run(picker, bits);
    expect(blocks).toBeGreaterThan(PICKS * 8);
    expect(ms).toBeLessThan(BOUND_MS);
  });
});
