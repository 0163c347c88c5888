export { parseTorrent, MAX_TORRENT_BYTES, MAX_PIECES, MAX_FILES } from './parse.js';
export { parseMagnet, formatMagnet, isMagnetUri, parseSelect, formatSelect, formatHostPort, parsePeerAddress, type Magnet } from './magnet.js';
export type { Metainfo, TorrentFile, MetaVersion } from './types.js';
export { torrentFromMetadata } from './from-metadata.js';
