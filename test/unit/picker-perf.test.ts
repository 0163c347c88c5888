/**
 * Picks on a 1,000,000-piece torrent do not scan every piece. Measured by counting, not timing
 * (timings belong in `npm run bench`): the peer's bitfield is wrapped so that every `has(i)` probe
 * and every whole-bitfield walk (a read of its `buffer`, which the picker walks byte by byte) is
 * counted. A linear scan per pick would cost PIECES probes per pick; the picker's own bound is a
 * scan budget of about PIECES / 64 probes plus at most one walk of the peer's bitfield.
 * Each test builds its own swarm, so no test depends on what another did to a shared picker.
 */
import { describe, expect, it } from 'vitest';
import { PiecePicker, type BlockRef } from '../../src/picker/index.js';
import { Bitfield } from '../../src/util/bitfield.js';
import { seeded } from '../helpers/prng.js';

const PIECES = 1_000_000;
const PEERS = 50;
const PICKS = 10_000;
const BLOCKS_PER_PIECE = 16;
/** Pieces a nearly empty peer has: too few for the scan budget to find, so the picker walks its bitfield. */
const SPARSE_PIECES = 500;
/** Most `has` probes one pick may make: well under PIECES (a linear scan), above the picker's budget. */
const MAX_PROBES_PER_PICK = PIECES / 32;
/** Most walks of the peer's whole bitfield one pick may make. */
const MAX_WALKS_PER_PICK = 2;

interface Counts {
  probes: number;
  walks: number;
}

/** A peer with half the pieces (random bytes), or with `sparse` random pieces. */
function randomBitfield(rnd: () => number, sparse?: number): Bitfield {
  const buf = Buffer.alloc(Bitfield.byteLength(PIECES));
  if (sparse === undefined) for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(rnd() * 256);
  else for (let n = 0; n < sparse; n++) {
    const p = Math.floor(rnd() * PIECES);
    buf[p >> 3]! |= 0x80 >> (p & 7);
  }
  return new Bitfield(PIECES, buf);
}

/** A bitfield that counts its `has` probes and the reads of its buffer (walks) into `counts`. */
class CountingBitfield extends Bitfield {
  readonly counts: Counts = { probes: 0, walks: 0 };
  /** The bits, read by `has` without counting a walk. */
  private readonly raw: Buffer;

  constructor(bits: Bitfield) {
    super(bits.length, bits.buffer);
    const raw = this.buffer;
    this.raw = raw;
    const counts = this.counts;
    Object.defineProperty(this, 'buffer', {
      get: () => {
        counts.walks++;
        return raw;
      },
    });
  }

  override has(i: number): boolean {
    // Bitfield's constructor probes every bit before our fields exist: those are not picks.
    if ((this.raw as Buffer | undefined) === undefined) return super.has(i);
    this.counts.probes++;
    return i >= 0 && i < this.length && (this.raw[i >> 3]! & (0x80 >> (i & 7))) !== 0;
  }
}

function swarm(randomFirstPieces: number): { picker: PiecePicker; bits: CountingBitfield[] } {
  const rnd = seeded(7);
  const picker = new PiecePicker({
    pieceCount: PIECES,
    pieceLength: BLOCKS_PER_PIECE * 16384,
    totalLength: PIECES * BLOCKS_PER_PIECE * 16384,
    random: seeded(42),
    randomFirstPieces,
  });
  // Mostly half-full peers, a few nearly empty ones (they exercise the bitfield path).
  const bits = Array.from({ length: PEERS }, (_, i) => randomBitfield(rnd, i % 10 === 9 ? SPARSE_PIECES : undefined));
  for (const b of bits) picker.addBitfield(b);
  return { picker, bits: bits.map((b) => new CountingBitfield(b)) };
}

/** PICKS pick calls round-robin over the peers, requesting, receiving and verifying as we go. */
function run(picker: PiecePicker, bits: CountingBitfield[]): { blocks: number; maxProbes: number; maxWalks: number } {
  const outstanding = bits.map(() => [] as BlockRef[]);
  let blocks = 0;
  let maxProbes = 0;
  let maxWalks = 0;
  for (let i = 0; i < PICKS; i++) {
    const peer = i % PEERS;
    const has = bits[peer]!;
    const counts = has.counts;
    counts.probes = 0;
    counts.walks = 0;
    const r = picker.pick(peer, has, 16);
    maxProbes = Math.max(maxProbes, counts.probes);
    maxWalks = Math.max(maxWalks, counts.walks);
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
  return { blocks, maxProbes, maxWalks };
}

describe('piece picker work per pick (1M pieces, 50 peers, 10k picks)', () => {
  it('rarest first', () => {
    const { picker, bits } = swarm(0);
    const r = run(picker, bits);
    expect(r.blocks).toBeGreaterThan(PICKS * 8);
    expect(r.maxProbes).toBeLessThan(MAX_PROBES_PER_PICK);
    expect(r.maxWalks).toBeLessThanOrEqual(MAX_WALKS_PER_PICK);
    picker.assertInvariants();
  });

  it('sequential', () => {
    const { picker, bits } = swarm(0);
    picker.setSequential(true);
    const r = run(picker, bits);
    expect(r.blocks).toBeGreaterThan(PICKS * 8);
    expect(r.maxProbes).toBeLessThan(MAX_PROBES_PER_PICK);
    expect(r.maxWalks).toBeLessThanOrEqual(MAX_WALKS_PER_PICK);
    picker.assertInvariants();
  });

  it('random first', () => {
    const { picker, bits } = swarm(1_000_000); // stays in random-first mode throughout
    const r = run(picker, bits);
    expect(r.blocks).toBeGreaterThan(PICKS * 8);
    expect(r.maxProbes).toBeLessThan(MAX_PROBES_PER_PICK);
    expect(r.maxWalks).toBeLessThanOrEqual(MAX_WALKS_PER_PICK);
    picker.assertInvariants();
  });
});
