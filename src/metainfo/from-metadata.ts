/**
 * A magnet's metadata (the info dictionary fetched with BEP 9) back into a whole .torrent: the
 * info bytes exactly as received (their SHA-1 / SHA-256 is the info hash), with the magnet's
 * trackers and web seeds around them, then parsed like any other torrent file. For v2 (BEP 52)
 * the piece layers fetched from peers with hash requests go in `piece layers` (hex pieces root
 * -> layer); without them the torrent parses with no layers, which is what a v2 magnet has
 * before they are fetched. parseTorrent checks every layer against its file's root again.
 */
import { BDict, encode, type BValue } from '../bencode/index.js';
import type { Magnet } from './magnet.js';
import { parseTorrent } from './parse.js';
import type { Metainfo } from './types.js';

export function torrentFromMetadata(
  infoBytes: Buffer,
  magnet: Pick<Magnet, 'trackers' | 'urlList'>,
  layers: ReadonlyMap<string, Buffer> = new Map(),
): { bytes: Buffer; meta: Metainfo } {
  const bytes = encodeTorrentFromMetadata(infoBytes, magnet, layers);
  return { bytes, meta: parseTorrent(bytes) };
}

/**
 * The .torrent bytes alone, not parsed: for layers that are already verified (the session's
 * cache saves), where parsing would hash every layer against its root once more.
 */
export function encodeTorrentFromMetadata(
  infoBytes: Buffer,
  magnet: Pick<Magnet, 'trackers' | 'urlList'>,
  layers: ReadonlyMap<string, Buffer> = new Map(),
): Buffer {
  const trackers = [...new Set(magnet.trackers)];
  // Keys in byte order: announce, announce-list, info, piece layers, url-list.
  const before: Record<string, unknown> = {};
  if (trackers.length > 0) {
    before.announce = trackers[0];
    if (trackers.length > 1) before['announce-list'] = [trackers];
  }
  const after: Record<string, unknown> = {};
  if (layers.size > 0) {
    // Raw 32-byte keys: a BDict keeps latin1 keys as the bytes they are.
    const byRoot = new Map<string, BValue>();
    for (const [hex, layer] of layers) byRoot.set(Buffer.from(hex, 'hex').toString('latin1'), layer);
    after['piece layers'] = new BDict(byRoot, 0, 0, false);
  }
  if (magnet.urlList.length > 0) after['url-list'] = [...magnet.urlList];
  const inner = (o: Record<string, unknown>): Buffer => {
    const b = encode(o as never);
    return b.subarray(1, b.length - 1); // without the dict's own 'd' … 'e'
  };
  return Buffer.concat([Buffer.from('d'), inner(before), Buffer.from('4:info'), infoBytes, inner(after), Buffer.from('e')]);
}
