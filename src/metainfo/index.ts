export { parseTorrent } from './parse.js';
export { MAX_TORRENT_BYTES, MAX_PIECES, MAX_FILES, MAX_PIECE_LENGTH } from './limits.js';
export { buildTorrent, defaultPieceLength, isValidPieceLength, MIN_PIECE_LENGTH } from './build.js';
export { parseMagnet, formatMagnet, isMagnetUri, parseSelect, formatSelect, formatHostPort, parsePeerAddress, type Magnet } from './magnet.js';
export type { Metainfo, TorrentFile, MetaVersion } from './types.js';
export { encodeTorrentFromMetadata, torrentFromMetadata } from './from-metadata.js';
export {
  blockCount,
  checkPieceLayerRoot,
  FileMerkleHasher,
  fileTree,
  MERKLE_BLOCK_BYTES,
  MERKLE_HASH_BYTES,
  merkleRows,
  splitHashes,
  nextPowerOfTwo,
  pieceHash,
  pieceLayerHeight,
  verifyHashRun,
  type FileTree,
  type PieceLayerVerdict,
} from './merkle.js';
export {
  checkFilePieceLayer,
  expectedPieceHash,
  hybridFilesDiffer,
  v2PieceMap,
  verifyHybridPiece,
  verifyV1Piece,
  verifyV2Piece,
  type HybridVerdict,
  type PieceVerdict,
  type V2Piece,
} from './v2.js';
