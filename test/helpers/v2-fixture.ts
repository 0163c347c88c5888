/**
 * BitTorrent v2 (BEP 52) torrents made in memory for tests: a multi-file v2-only or hybrid
 * torrent with its piece layers, the same torrent as a magnet would first know it (no layers),
 * and the piece stream a seeder serves (each file followed by zeros to a piece boundary).
 */
import { buildTorrent, fileTree, parseTorrent, type Metainfo } from '../../src/metainfo/index.js';
import { pieceHashes } from './make-torrent.js';

export interface V2Fixture {
  data: Buffer;
  pieceLength: number;
  torrent: Buffer;
  /** With every piece layer (a seeder's view). */
  meta: Metainfo;
  /** The same torrent without piece layers (a magnet's view once the info dict is known). */
  bare: Metainfo;
  /** `magnet:?xt=urn:btmh:…` (v2-only) or with btih too (hybrid). */
  magnet: string;
}

export function v2Fixture(name: string, files: { path: string; data: Buffer }[], pieceLength: number, version: 2 | 'hybrid' = 2): V2Fixture {
  const padded = files.map((f) => {
    const pad = (pieceLength - (f.data.length % pieceLength)) % pieceLength;
    return Buffer.concat([f.data, Buffer.alloc(pad)]);
  });
  const stream = Buffer.concat(padded);
  const torrent = buildTorrent({
    name,
    files: files.map((f) => ({ path: f.path.split('/'), length: f.data.length })),
    pieceLength,
    pieces: version === 2 ? null : pieceHashes(stream, pieceLength),
    version,
    trees: files.map((f) => fileTree(f.data, pieceLength)),
    announce: [],
    urlList: [],
    private: false,
    comment: null,
    createdBy: null,
    creationDate: null,
  });
  const meta = parseTorrent(torrent);
  const data = stream.length >= meta.totalLength ? stream.subarray(0, meta.totalLength) : Buffer.concat([stream, Buffer.alloc(meta.totalLength - stream.length)]);
  const bare: Metainfo = { ...meta, pieceLayers: new Map() };
  const xt = [`xt=urn:btmh:1220${meta.infoHashV2!.toString('hex')}`];
  if (meta.infoHash) xt.unshift(`xt=urn:btih:${meta.infoHash.toString('hex')}`);
  return { data, pieceLength, torrent, meta, bare, magnet: `magnet:?${xt.join('&')}&dn=${name}` };
}
