/**
 * BEP 52 merkle trees (src/metainfo/merkle.ts) against a straightforward reference: build the
 * whole padded tree of a file, row by row, and read the root and the piece layer off it. The
 * property tests draw file sizes around block and piece boundaries and piece lengths 16-128 KiB.
 * Fixed vectors pin the zero-padding rules a reference built the same wrong way would miss.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkPieceLayerRoot,
  FileMerkleHasher,
  fileTree,
  pieceHash,
  verifyHashRun,
} from '../../src/metainfo/index.js';
import { bytes } from '../helpers/make-torrent.js';

const BLOCK = 16384;
const sha = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** Every row of the padded tree of `data`, leaves first (row 0), the root last. */
function referenceRows(data: Buffer, minLeaves = 1): Buffer[][] {
  const leaves: Buffer[] = [];
  for (let o = 0; o < data.length; o += BLOCK) leaves.push(sha(data.subarray(o, o + BLOCK)));
  let width = 1;
  while (width < Math.max(leaves.length, minLeaves)) width *= 2;
  while (leaves.length < width) leaves.push(Buffer.alloc(32));
  const rows = [leaves];
  while (rows[rows.length - 1]!.length > 1) {
    const prev = rows[rows.length - 1]!;
    const next: Buffer[] = [];
    for (let i = 0; i < prev.length; i += 2) next.push(sha(prev[i]!, prev[i + 1]!));
    rows.push(next);
  }
  return rows;
}

function reference(data: Buffer, pieceLength: number): { root: Buffer; pieceLayer: Buffer } {
  const rows = referenceRows(data);
  const root = rows[rows.length - 1]![0]!;
  if (data.length <= pieceLength) return { root, pieceLayer: Buffer.alloc(0) };
  const height = Math.log2(pieceLength / BLOCK);
  const pieces = Math.ceil(data.length / pieceLength);
  return { root, pieceLayer: Buffer.concat(rows[height]!.slice(0, pieces)) };
}

const pieceLengthArb = fc.constantFrom(16384, 32768, 65536, 131072);
/** Sizes clustered at the edges that matter: block and piece boundaries, plus or minus one. */
const sizeArb = fc.oneof(
  fc.integer({ min: 1, max: 600_000 }),
  fc.tuple(fc.integer({ min: 1, max: 20 }), fc.constantFrom(-1, 0, 1)).map(([n, d]) => Math.max(1, n * BLOCK + d)),
);

describe('merkle trees (BEP 52)', () => {
  it('an empty file has no tree', () => {
    expect(fileTree(Buffer.alloc(0), BLOCK)).toBeNull();
  });

  it('one short block: the root is the leaf hash itself (no zero padding for a tree of one leaf)', () => {
    const data = Buffer.from('hello');
    expect(fileTree(data, 65536)!.root).toEqual(sha(data));
  });

  it('three blocks in a larger piece: padded to four leaves, not to the piece', () => {
    const data = bytes(3 * BLOCK - 5, 7);
    const l = [0, 1, 2].map((i) => sha(data.subarray(i * BLOCK, (i + 1) * BLOCK)));
    const z = Buffer.alloc(32);
    const expected = sha(sha(l[0]!, l[1]!), sha(l[2]!, z));
    const t = fileTree(data, 16 * BLOCK)!;
    expect(t.root).toEqual(expected);
    expect(t.pieceLayer.length).toBe(0);
  });

  it('three pieces of two blocks: the layer is padded with the root of a zero piece', () => {
    const pieceLength = 2 * BLOCK;
    const data = bytes(5 * BLOCK + 1, 3);
    const leaf = (i: number): Buffer => sha(data.subarray(i * BLOCK, (i + 1) * BLOCK));
    const z = Buffer.alloc(32);
    const p = [sha(leaf(0), leaf(1)), sha(leaf(2), leaf(3)), sha(leaf(4), leaf(5))];
    const zeroPiece = sha(z, z);
    const t = fileTree(data, pieceLength)!;
    expect(t.pieceLayer).toEqual(Buffer.concat(p));
    expect(t.root).toEqual(sha(sha(p[0]!, p[1]!), sha(p[2]!, zeroPiece)));
  });

  it('root and piece layer equal the reference, fed in any chunk sizes', () => {
    fc.assert(
      fc.property(sizeArb, pieceLengthArb, fc.integer({ min: 1, max: 70_000 }), fc.integer(), (size, pieceLength, chunk, seed) => {
        const data = bytes(size, seed);
        const want = reference(data, pieceLength);
        const h = new FileMerkleHasher(pieceLength);
        for (let o = 0; o < data.length; o += chunk) h.update(data.subarray(o, o + chunk));
        const got = h.digest()!;
        expect(got.root).toEqual(want.root);
        expect(got.pieceLayer).toEqual(want.pieceLayer);
      }),
      { numRuns: 60 },
    );
  });

  it('a piece layer verifies against its root; a changed hash, a missing one or an extra one does not', () => {
    fc.assert(
      fc.property(sizeArb, pieceLengthArb, fc.integer(), fc.nat(), (size, pieceLength, seed, pick) => {
        const data = bytes(size, seed);
        const { root, pieceLayer } = reference(data, pieceLength);
        if (size <= pieceLength) {
          expect(checkPieceLayerRoot(pieceLayer, root, size, pieceLength)).toBe('no-layer');
          return;
        }
        expect(checkPieceLayerRoot(pieceLayer, root, size, pieceLength)).toBe('ok');
        const bad = Buffer.from(pieceLayer);
        bad[pick % bad.length]! ^= 1;
        expect(checkPieceLayerRoot(bad, root, size, pieceLength)).toBe('wrong-root');
        expect(checkPieceLayerRoot(pieceLayer.subarray(32), root, size, pieceLength)).toBe('wrong-size');
        expect(checkPieceLayerRoot(Buffer.concat([pieceLayer, Buffer.alloc(32)]), root, size, pieceLength)).toBe('wrong-size');
      }),
      { numRuns: 60 },
    );
  });

  it("each piece's data hashes to its layer hash (or the root, for a one-piece file); one flipped byte does not", () => {
    fc.assert(
      fc.property(sizeArb, pieceLengthArb, fc.integer(), fc.nat(), (size, pieceLength, seed, pick) => {
        const data = bytes(size, seed);
        const { root, pieceLayer } = reference(data, pieceLength);
        const pieces = Math.ceil(size / pieceLength);
        for (let k = 0; k < pieces; k++) {
          const piece = data.subarray(k * pieceLength, (k + 1) * pieceLength);
          const expected = size <= pieceLength ? root : pieceLayer.subarray(k * 32, k * 32 + 32);
          expect(pieceHash(piece, size, pieceLength)).toEqual(expected);
        }
        const k = pick % pieces;
        const piece = Buffer.from(data.subarray(k * pieceLength, (k + 1) * pieceLength));
        const expected = size <= pieceLength ? root : pieceLayer.subarray(k * 32, k * 32 + 32);
        piece[pick % piece.length]! ^= 0x80;
        expect(pieceHash(piece, size, pieceLength)).not.toEqual(expected);
      }),
      { numRuns: 40 },
    );
  });

  it('a run of hashes with its uncle hashes verifies up to the root; any changed hash or a short proof does not', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 300 }),
        fc.integer(),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        (blocks, seed, layerPick, runPick, flip) => {
          const data = bytes(blocks * BLOCK - (seed & 1023), seed);
          const rows = referenceRows(data);
          const root = rows[rows.length - 1]![0]!;
          const treeHeight = rows.length - 1;
          const baseLayer = layerPick % treeHeight;
          const rowWidth = rows[baseLayer]!.length;
          const count = 2 ** (runPick % (Math.log2(rowWidth) + 1));
          const index = ((flip % (rowWidth / count)) | 0) * count;
          const base = rows[baseLayer]!.slice(index, index + count);
          const proof: Buffer[] = [];
          let pos = index / count;
          for (let layer = baseLayer + Math.log2(count); layer < treeHeight; layer++) {
            proof.push(rows[layer]![pos ^ 1]!);
            pos >>= 1;
          }
          const leafCount = Math.ceil(data.length / BLOCK);
          expect(verifyHashRun(root, leafCount, baseLayer, index, base, proof)).toBe(true);
          const all = [...base, ...proof];
          const which = flip % all.length;
          const bad = all.map((h, i) => (i === which ? sha(h) : h));
          expect(verifyHashRun(root, leafCount, baseLayer, index, bad.slice(0, count), bad.slice(count))).toBe(false);
          if (proof.length > 0) expect(verifyHashRun(root, leafCount, baseLayer, index, base, proof.slice(1))).toBe(false);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a run that is not a power of two or not aligned is refused, not computed', () => {
    const data = bytes(8 * BLOCK, 1);
    const rows = referenceRows(data);
    const root = rows[3]![0]!;
    expect(verifyHashRun(root, 8, 0, 0, rows[0]!.slice(0, 3), [])).toBe(false);
    expect(verifyHashRun(root, 8, 0, 2, rows[0]!.slice(2, 6), [rows[2]![1]!])).toBe(false);
    expect(verifyHashRun(root, 8, 0, 0, rows[0]!, [])).toBe(true);
  });
});
