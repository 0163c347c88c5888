export { parseTorrent, MAX_TORRENT_BYTES, MAX_PIECES, MAX_FILES, MAX_PIECE_LENGTH } from './parse.js';
export { buildTorrent, defaultPieceLength, isValidPieceLength, MIN_PIECE_LENGTH } from './build.js';
export { parseMagnet, formatMagnet, isMagnetUri, parseSelect, formatSelect, formatHostPort, parsePeerAddress, type Magnet } from './magnet.js';
export type { Metainfo, TorrentFile, MetaVersion } from './types.js';
export { torrentFromMetadata } from './from-metadata.js';
