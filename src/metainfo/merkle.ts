/**
 * BEP 52 per-file SHA-256 merkle trees: hashing a file's data into its `pieces root` and piece
 * layer, and checking data or hashes against them. Pure: bytes in, hashes or verdicts out.
 *
 * The tree (BEP 52, "File tree" and "piece layers"):
 * - Leaves are the SHA-256 of each 16 KiB block of one file (`MERKLE_BLOCK_BYTES`); the last block
 *   is hashed as it is, shorter, never padded with zero bytes.
 * - The leaf row is padded to a power of two with all-zero 32-byte hashes; each node above is
 *   SHA-256(left || right). The top node is the file's `pieces root`.
 * - The piece layer is the row at height log2(pieceLength / 16 KiB): one node per piece, covering
 *   that piece's blocks. A file of more than one piece has exactly ceil(length / pieceLength)
 *   piece-layer hashes; padding nodes beyond them are the root of an all-zero piece subtree, so
 *   the layer alone hashes up to the root. A file of one piece or less has no piece layer: its
 *   root is computed from its own blocks, padded only to its own power of two (not to a piece).
 * - An empty file has no tree and no pieces root.
 *
 * Invariants: every function takes whole trees or whole pieces of one file (v2 pieces never span
 * files); lengths are checked and a wrong size is a verdict (`false` / a reason), never a throw,
 * so a peer's bytes can be checked without try/catch. Memory: `FileMerkleHasher` keeps one
 * piece's leaf hashes (pieceLength / 16 KiB × 32 bytes) plus the piece layer (32 bytes a piece),
 * never the data.
 */
import { createHash } from 'node:crypto';

/** BEP 52: merkle leaves are 16 KiB blocks of a file, the same size as BEP 3 requests. */
export const MERKLE_BLOCK_BYTES = 16384;
/** SHA-256 digest size: one node of the tree. */
export const MERKLE_HASH_BYTES = 32;

const ZERO_HASH = Buffer.alloc(MERKLE_HASH_BYTES);

/**
 * Roots of all-zero subtrees by height, computed once: height 0 is the zero leaf. A tree of the
 * largest file (2^30 blocks) is 30 layers high; 64 covers any tree a safe integer can describe.
 */
const MAX_TREE_HEIGHT = 64;
const ZERO_ROOTS: readonly Buffer[] = (() => {
  const out: Buffer[] = [ZERO_HASH];
  for (let h = 1; h <= MAX_TREE_HEIGHT; h++) out.push(hashPair(out[h - 1]!, out[h - 1]!));
  return out;
})();

export function hashPair(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(left).update(right).digest();
}

/** SHA-256 of one block (the last block of a file may be shorter). */
export function hashBlock(block: Buffer): Buffer {
  return createHash('sha256').update(block).digest();
}

/** Smallest power of two >= n (n >= 1). */
export function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** log2 of a power of two. */
export function log2(powerOfTwo: number): number {
  let h = 0;
  for (let p = 1; p < powerOfTwo; p *= 2) h++;
  return h;
}

/** Root of an all-zero subtree of `height` (0 = one zero leaf). */
export function zeroRoot(height: number): Buffer {
  const r = ZERO_ROOTS[height];
  if (r === undefined) throw new RangeError(`merkle subtree height ${height}`);
  return r;
}

/**
 * Root of `nodes` (all at one height `height` above the leaves), padded on the right with
 * all-zero subtrees of that height to `width` nodes (a power of two >= nodes.length).
 */
export function rootOfRow(nodes: readonly Buffer[], width: number, height = 0): Buffer {
  if (nodes.length > width || (width & (width - 1)) !== 0) throw new RangeError(`${nodes.length} nodes in a row of ${width}`);
  let row = nodes.slice();
  let pad = zeroRoot(height);
  for (let w = width; w > 1; w /= 2) {
    const next: Buffer[] = [];
    for (let i = 0; i < row.length; i += 2) next.push(hashPair(row[i]!, row[i + 1] ?? pad));
    row = next;
    pad = hashPair(pad, pad);
  }
  return row[0] ?? pad;
}

/**
 * Every row of a tree from `nodes` (one row at `height` above the leaves, padded on the right
 * with all-zero subtrees of that height to `width`, a power of two) up to the root: rows[0] is the
 * padded row, the last row is [root]. For serving BEP 52 hash requests from a piece layer.
 */
export function merkleRows(nodes: readonly Buffer[], width: number, height = 0): Buffer[][] {
  if (nodes.length > width || (width & (width - 1)) !== 0) throw new RangeError(`${nodes.length} nodes in a row of ${width}`);
  const pad = zeroRoot(height);
  let row: Buffer[] = [];
  for (let i = 0; i < width; i++) row.push(nodes[i] ?? pad);
  const rows = [row];
  while (row.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < row.length; i += 2) next.push(hashPair(row[i]!, row[i + 1]!));
    rows.push((row = next));
  }
  return rows;
}

/** Blocks (leaves) of a file of `length` bytes. */
export function blockCount(length: number): number {
  return Math.ceil(length / MERKLE_BLOCK_BYTES);
}

/** Height of the piece layer above the leaves: log2(pieceLength / 16 KiB). */
export function pieceLayerHeight(pieceLength: number): number {
  return log2(pieceLength / MERKLE_BLOCK_BYTES);
}

/** Leaf hashes of `data` (whole blocks, the last one short). */
export function leafHashes(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < data.length; o += MERKLE_BLOCK_BYTES) out.push(hashBlock(data.subarray(o, o + MERKLE_BLOCK_BYTES)));
  return out;
}

export interface FileTree {
  /** The file's `pieces root`. */
  readonly root: Buffer;
  /** Concatenated 32-byte piece-layer hashes; empty for a file of one piece or less. */
  readonly pieceLayer: Buffer;
}

/**
 * Streams one file's bytes into its root and piece layer. Feed `update` any chunk sizes; call
 * `digest` once at the end. Holds at most one piece of leaf hashes
 * and the piece layer.
 */
export class FileMerkleHasher {
  private readonly blocksPerPiece: number;
  private readonly pieceNodes: Buffer[] = [];
  private leaves: Buffer[] = [];
  private block = createHash('sha256');
  private inBlock = 0;
  private length = 0;
  private done = false;

  constructor(private readonly pieceLength: number) {
    if (!Number.isSafeInteger(pieceLength) || pieceLength < MERKLE_BLOCK_BYTES || (pieceLength & (pieceLength - 1)) !== 0) {
      throw new RangeError(`piece length ${pieceLength} is not a power of two of at least ${MERKLE_BLOCK_BYTES}`);
    }
    this.blocksPerPiece = pieceLength / MERKLE_BLOCK_BYTES;
  }

  update(chunk: Buffer): this {
    if (this.done) throw new Error('FileMerkleHasher: update after digest');
    let at = 0;
    while (at < chunk.length) {
      const take = Math.min(MERKLE_BLOCK_BYTES - this.inBlock, chunk.length - at);
      this.block.update(chunk.subarray(at, at + take));
      at += take;
      this.inBlock += take;
      this.length += take;
      if (this.inBlock === MERKLE_BLOCK_BYTES) this.endBlock();
    }
    return this;
  }

  /** Root and piece layer of everything fed; null for an empty file (it has no tree). */
  digest(): FileTree | null {
    if (this.done) throw new Error('FileMerkleHasher: digest twice');
    this.done = true;
    if (this.inBlock > 0) this.endBlock();
    if (this.length === 0) return null;
    if (this.length <= this.pieceLength) {
      // One piece or less: the tree is as wide as the file's own blocks, not a whole piece. A file
      // of exactly one piece was already folded into its one piece node, which is that root.
      const root = this.leaves.length > 0 ? rootOfRow(this.leaves, nextPowerOfTwo(this.leaves.length)) : this.pieceNodes[0]!;
      return { root, pieceLayer: Buffer.alloc(0) };
    }
    if (this.leaves.length > 0) this.endPiece();
    const height = pieceLayerHeight(this.pieceLength);
    return {
      root: rootOfRow(this.pieceNodes, nextPowerOfTwo(this.pieceNodes.length), height),
      pieceLayer: Buffer.concat(this.pieceNodes),
    };
  }

  private endBlock(): void {
    this.leaves.push(this.block.digest());
    this.block = createHash('sha256');
    this.inBlock = 0;
    if (this.leaves.length === this.blocksPerPiece) this.endPiece();
  }

  private endPiece(): void {
    this.pieceNodes.push(rootOfRow(this.leaves, this.blocksPerPiece));
    this.leaves = [];
  }
}

/** Root and piece layer of one whole file held in memory (tests, small files). */
export function fileTree(data: Buffer, pieceLength: number): FileTree | null {
  return new FileMerkleHasher(pieceLength).update(data).digest();
}

/** Splits a concatenated layer into its 32-byte hashes (views, not copies). */
export function splitHashes(layer: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o + MERKLE_HASH_BYTES <= layer.length; o += MERKLE_HASH_BYTES) out.push(layer.subarray(o, o + MERKLE_HASH_BYTES));
  return out;
}

export type PieceLayerVerdict = 'ok' | 'no-layer' | 'wrong-size' | 'wrong-root';

/**
 * Checks a piece layer (concatenated 32-byte hashes) of a file of `fileLength` bytes against the
 * file's pieces root: 'no-layer' when such a file has none (one piece or less), 'wrong-size'
 * when the count is not ceil(length / pieceLength), 'wrong-root' when it does not hash up.
 */
export function checkPieceLayerRoot(layer: Buffer, piecesRoot: Buffer, fileLength: number, pieceLength: number): PieceLayerVerdict {
  if (fileLength <= pieceLength) return 'no-layer';
  const pieces = Math.ceil(fileLength / pieceLength);
  if (layer.length !== pieces * MERKLE_HASH_BYTES) return 'wrong-size';
  const root = rootOfRow(splitHashes(layer), nextPowerOfTwo(pieces), pieceLayerHeight(pieceLength));
  return root.equals(piecesRoot) ? 'ok' : 'wrong-root';
}

/**
 * The hash one piece of a file must have, from its data (`data.length` is the piece's bytes of
 * the file: pieceLength, or less for the file's last piece). For a file of more than one piece
 * it is the piece-layer node (the piece's blocks padded with zero leaves to a whole piece); for
 * a file of one piece or less it is the file's pieces root itself.
 */
export function pieceHash(data: Buffer, fileLength: number, pieceLength: number): Buffer {
  const leaves = leafHashes(data);
  const width = fileLength <= pieceLength ? nextPowerOfTwo(Math.max(1, leaves.length)) : pieceLength / MERKLE_BLOCK_BYTES;
  return rootOfRow(leaves, width);
}

/**
 * Verifies a run of hashes from one row of a file's tree with their uncle (proof) hashes, as a
 * BEP 52 `hashes` message carries them: `base` hashes from row `baseLayer` (0 = leaves) starting
 * at `index` (a multiple of base.length, a power of two), then `proof` sibling hashes from the
 * subtree's top upwards. Returns true when they hash up to `root`, which requires the proof to
 * reach the root (a tree of `leafCount` padded leaves). The top of a proof that stops short of the
 * root cannot be checked here and is false.
 */
export function verifyHashRun(
  root: Buffer,
  leafCount: number,
  baseLayer: number,
  index: number,
  base: readonly Buffer[],
  proof: readonly Buffer[],
): boolean {
  const count = base.length;
  if (count === 0 || (count & (count - 1)) !== 0 || index % count !== 0) return false;
  const width = nextPowerOfTwo(Math.max(1, leafCount));
  const treeHeight = log2(width);
  const runHeight = log2(count);
  if (baseLayer < 0 || baseLayer + runHeight > treeHeight) return false;
  if (index + count > width >> baseLayer) return false;
  if (proof.length !== treeHeight - baseLayer - runHeight) return false;
  if (base.some((h) => h.length !== MERKLE_HASH_BYTES) || proof.some((h) => h.length !== MERKLE_HASH_BYTES)) return false;
  let node = rootOfRow(base, count, baseLayer);
  let pos = index / count;
  for (const uncle of proof) {
    node = pos % 2 === 0 ? hashPair(node, uncle) : hashPair(uncle, node);
    pos = Math.floor(pos / 2);
  }
  return node.equals(root);
}
