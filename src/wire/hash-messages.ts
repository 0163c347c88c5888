/**
 * BEP 52 hash messages: the codecs of `hash request` (id 21), `hashes` (22) and `hash reject`
 * (23), by which v2 peers exchange the nodes of a file's merkle tree (piece layers for a magnet,
 * block hashes for a piece that failed). Pure: bytes in, a message or a ProtocolError out.
 *
 *   id  message       payload (integers u32 big-endian)
 *   21  hash request  pieces root (32), base layer, index, length, proof layers
 *   22  hashes        the same five fields, then 32-byte hashes: `length` from the base layer,
 *                     then the uncle hashes of the run's subtree, lowest layer first
 *   23  hash reject   the same five fields as the request it refuses
 *
 * Fields (BEP 52): `base layer` 0 is the leaves (16 KiB blocks), the piece layer is
 * log2(piece length / 16 KiB); `index` is the first node of the run in that layer, a multiple of
 * `length`; `length` is a power of two; `proof layers` is how many layers of uncle hashes above
 * the run are asked for.
 *
 * Invariants: every field is checked against a named bound that holds for any file a torrent
 * may describe, before anything is allocated, so one message can never make us hold or compute
 * more than MAX_HASH_REQUEST_LENGTH hashes; a `hashes` payload must carry at least `length`
 * hashes and at most `proof layers` more. Whether a request fits a particular file's tree
 * (`hashRequestFits`) and whether a reply hashes up to the pieces root (metainfo's
 * `verifyHashRun`) are the caller's checks; `hashes` views point into the decoded bytes.
 */
import { ProtocolError } from '../errors.js';

export const HashMessageId = {
  hashRequest: 21,
  hashes: 22,
  hashReject: 23,
} as const;

/** SHA-256: one node of a BEP 52 tree, and the size of a pieces root. */
export const MERKLE_NODE_BYTES = 32;
/** BEP 52 leaf size: each leaf of a file's tree is the hash of one 16 KiB block. */
const MERKLE_LEAF_BYTES = 16384;
/** pieces root + four u32 fields. */
const HASH_HEADER_BYTES = MERKLE_NODE_BYTES + 16;

/**
 * Most hashes one request may ask for. libtorrent refuses more than 8192 (the blocks of a
 * 128 MiB piece, so any piece it can download can be checked block by block with one request);
 * BEP 52 says requests SHOULD NOT exceed 512, which is what libtorrent itself asks for the piece
 * layer. 8192 hashes is 256 KiB of reply, within the framer's maxMessageBytes. A request for the
 * whole leaf layer of a large file (a 100 GiB file has 6,553,600 leaves) is refused here.
 */
export const MAX_HASH_REQUEST_LENGTH = 8192;
/**
 * Height of the tallest tree a torrent may have: the largest file we (and libtorrent) accept has
 * fewer than 2^30 16 KiB blocks (metainfo MAX_FILE_LENGTH), so its padded leaf row is at most
 * 2^30 wide and its root 30 layers up. No base layer, index range or proof can go beyond it.
 */
export const MAX_MERKLE_HEIGHT = 30;
/** Largest `hashes` frame body: id, header, a maximal run and a proof to the top of the tallest tree. */
export const MAX_HASHES_MESSAGE_BYTES = 1 + HASH_HEADER_BYTES + (MAX_HASH_REQUEST_LENGTH + MAX_MERKLE_HEIGHT) * MERKLE_NODE_BYTES;

export interface HashRequestFields {
  /** The file's pieces root (32 bytes); a view into the decoded bytes. */
  readonly piecesRoot: Buffer;
  readonly baseLayer: number;
  readonly index: number;
  readonly length: number;
  readonly proofLayers: number;
}

export type HashMessage =
  | ({ readonly type: 'hash-request' } & HashRequestFields)
  | ({ readonly type: 'hash-reject' } & HashRequestFields)
  | ({
      readonly type: 'hashes';
      /** `length` base-layer hashes, then the uncle hashes: concatenated 32-byte views. */
      readonly hashes: Buffer;
    } & HashRequestFields);

/** Why `f` is not a request any tree can answer, or null. */
export function hashRequestProblem(f: Omit<HashRequestFields, 'piecesRoot'>): string | null {
  const { baseLayer, index, length, proofLayers } = f;
  for (const [name, v] of [['base layer', baseLayer], ['index', index], ['length', length], ['proof layers', proofLayers]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) return `${name} ${v} is not a u32`;
  }
  if (length === 0 || (length & (length - 1)) !== 0) return `length ${length} is not a power of two`;
  if (length > MAX_HASH_REQUEST_LENGTH) return `length ${length} is more than ${MAX_HASH_REQUEST_LENGTH} hashes`;
  if (baseLayer > MAX_MERKLE_HEIGHT) return `base layer ${baseLayer} is above the tallest tree (${MAX_MERKLE_HEIGHT})`;
  if (proofLayers > MAX_MERKLE_HEIGHT) return `proof layers ${proofLayers} is more than the tallest tree (${MAX_MERKLE_HEIGHT})`;
  if (index % length !== 0) return `index ${index} is not a multiple of length ${length}`;
  if (index + length > 2 ** (MAX_MERKLE_HEIGHT - baseLayer)) return `index ${index} + ${length} is beyond layer ${baseLayer} of the tallest tree`;
  return null;
}

/**
 * Whether a request fits the tree of one file of `fileLength` bytes (its leaf row padded to a
 * power of two): the base layer exists, the run lies inside it, and the proof does not go past
 * the root. Null when it fits, else why (the answer is a hash reject).
 */
export function hashRequestFits(f: Omit<HashRequestFields, 'piecesRoot'>, fileLength: number): string | null {
  const structural = hashRequestProblem(f);
  if (structural !== null) return structural;
  const height = treeHeight(fileLength);
  const width = 2 ** height;
  if (f.baseLayer > height) return `base layer ${f.baseLayer} is above this file's root (layer ${height})`;
  if (f.index + f.length > width >> f.baseLayer) return `index ${f.index} + ${f.length} is beyond the ${width >> f.baseLayer} nodes of layer ${f.baseLayer}`;
  const runTop = f.baseLayer + Math.log2(f.length);
  if (runTop > height) return `a run of ${f.length} at layer ${f.baseLayer} is wider than this file's tree`;
  return null;
}

/**
 * How many uncle hashes an answer carries, as libtorrent 2.0 counts them (measured against
 * 2.0.8): `proof layers` names the highest layer, counted from the base layer, whose uncle is
 * sent; the uncles start at the run's top (a run of 2^k hashes proves its own first k layers) and
 * stop below the root. So a full proof is asked with proof layers = height - base layer - 1 and
 * carries height - base layer - log2(length) uncles; libtorrent rejects anything larger. A run of
 * one hash gets its sibling first, up to `proof layers` uncles.
 */
export function uncleCount(f: Omit<HashRequestFields, 'piecesRoot'>, fileLength: number): number {
  const height = treeHeight(fileLength);
  if (f.length === 1) return Math.max(0, Math.min(f.proofLayers, height - f.baseLayer));
  return Math.max(0, Math.min(f.proofLayers, height - 1 - f.baseLayer) - Math.log2(f.length) + 1);
}

/** `proof layers` that asks for a full proof of a run at `baseLayer` up to the root (libtorrent's count, see uncleCount). */
export function fullProofLayers(baseLayer: number, fileLength: number): number {
  return Math.max(0, treeHeight(fileLength) - 1 - baseLayer);
}

/** Layers above the leaves of a file's tree: log2 of its block count rounded up to a power of two. */
function treeHeight(fileLength: number): number {
  let height = 0;
  for (let width = 1; width * MERKLE_LEAF_BYTES < fileLength; width *= 2) height++;
  return height;
}

/** Whole frame, length prefix included. Throws RangeError for fields no peer may send. */
export function encodeHashMessage(m: HashMessage): Buffer {
  if (m.piecesRoot.length !== MERKLE_NODE_BYTES) throw new RangeError(`pieces root of ${m.piecesRoot.length} bytes`);
  const problem = hashRequestProblem(m);
  if (problem !== null) throw new RangeError(`${m.type}: ${problem}`);
  const extra = m.type === 'hashes' ? m.hashes.length : 0;
  if (m.type === 'hashes') {
    const count = m.hashes.length / MERKLE_NODE_BYTES;
    if (!Number.isInteger(count) || count < m.length || count - m.length > m.proofLayers) {
      throw new RangeError(`hashes: ${m.hashes.length} bytes of hashes for length ${m.length} and ${m.proofLayers} proof layers`);
    }
  }
  const body = 1 + HASH_HEADER_BYTES + extra;
  const out = Buffer.allocUnsafe(4 + body);
  out.writeUInt32BE(body, 0);
  out[4] = m.type === 'hash-request' ? HashMessageId.hashRequest : m.type === 'hashes' ? HashMessageId.hashes : HashMessageId.hashReject;
  m.piecesRoot.copy(out, 5);
  out.writeUInt32BE(m.baseLayer, 37);
  out.writeUInt32BE(m.index, 41);
  out.writeUInt32BE(m.length, 45);
  out.writeUInt32BE(m.proofLayers, 49);
  if (m.type === 'hashes') m.hashes.copy(out, 53);
  return out;
}

/** True for the ids this module decodes. */
export function isHashMessageId(id: number): boolean {
  return id === HashMessageId.hashRequest || id === HashMessageId.hashes || id === HashMessageId.hashReject;
}

/**
 * Decodes one frame body (id + payload, no length prefix) of id 21, 22 or 23. Throws
 * ProtocolError for a wrong size or a field out of bounds: a peer that sends one is broken or
 * hostile. `piecesRoot` and `hashes` are views into `body`.
 */
export function decodeHashMessage(body: Buffer): HashMessage {
  const id = body[0];
  if (id === undefined || !isHashMessageId(id)) throw new ProtocolError(`message id ${id ?? 'none'} is not a BEP 52 hash message`);
  const name = id === HashMessageId.hashRequest ? 'hash request' : id === HashMessageId.hashes ? 'hashes' : 'hash reject';
  const payload = body.length - 1;
  if (body.length > MAX_HASHES_MESSAGE_BYTES) throw new ProtocolError(`${name} message of ${body.length} bytes, more than ${MAX_HASHES_MESSAGE_BYTES}`);
  if (id === HashMessageId.hashes ? payload < HASH_HEADER_BYTES : payload !== HASH_HEADER_BYTES) {
    throw new ProtocolError(`${name} message: payload of ${payload} bytes, expected ${id === HashMessageId.hashes ? 'at least ' : ''}${HASH_HEADER_BYTES}`);
  }
  const fields: HashRequestFields = {
    piecesRoot: body.subarray(1, 1 + MERKLE_NODE_BYTES),
    baseLayer: body.readUInt32BE(33),
    index: body.readUInt32BE(37),
    length: body.readUInt32BE(41),
    proofLayers: body.readUInt32BE(45),
  };
  const problem = hashRequestProblem(fields);
  if (problem !== null) throw new ProtocolError(`${name} message: ${problem}`);
  if (id === HashMessageId.hashRequest) return { type: 'hash-request', ...fields };
  if (id === HashMessageId.hashReject) return { type: 'hash-reject', ...fields };
  const hashes = body.subarray(1 + HASH_HEADER_BYTES);
  if (hashes.length % MERKLE_NODE_BYTES !== 0) throw new ProtocolError(`hashes message: ${hashes.length} bytes of hashes is not a whole number of ${MERKLE_NODE_BYTES}-byte hashes`);
  const count = hashes.length / MERKLE_NODE_BYTES;
  if (count < fields.length) throw new ProtocolError(`hashes message: ${count} hashes for a run of ${fields.length}`);
  if (count - fields.length > fields.proofLayers) {
    throw new ProtocolError(`hashes message: ${count - fields.length} uncle hashes for ${fields.proofLayers} proof layers`);
  }
  return { type: 'hashes', ...fields, hashes };
}
