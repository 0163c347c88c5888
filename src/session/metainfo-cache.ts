/**
 * The .torrent a v2 magnet (BEP 52 `btmh`) has built so far: its verified info dictionary and
 * every piece layer verified from peers' `hashes`, kept in the cache folder beside the resume
 * data. A v2 piece can only be checked against its file's layer, so an interrupted magnet
 * download resumed without them would have to fetch every layer again before it could trust one
 * byte on disk; with this file it starts where it stopped, even when no peer serves the metadata.
 *
 * Trust: nothing here is believed. A cached file is used only when its info dictionary hashes to
 * every info hash the magnet names (SHA-1 for btih, SHA-256 for btmh: infoBytesMatch, as for a
 * peer's copy), and parseTorrent checks each layer against its file's pieces root again. Writes
 * are atomic (temp file + rename) and best effort: a failure is a warning, it costs only a
 * refetch next time.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { encodeTorrentFromMetadata, MAX_TORRENT_BYTES, parseTorrent, type Magnet, type Metainfo } from '../metainfo/index.js';
import { infoBytesMatch } from './metadata-phase.js';

export function cachedTorrentPath(cacheDir: string, magnet: Pick<Magnet, 'infoHash' | 'infoHashV2'>): string {
  const name = (magnet.infoHashV2 ?? magnet.infoHash)!.toString('hex');
  return join(cacheDir, 'torrents', `${name}.torrent`);
}

/**
 * The cached torrent for this magnet, or null (none, unreadable, or not this magnet's): what
 * torrentFromMetadata gives for its info dictionary and the layers kept, so the session uses it
 * as it stands, without parsing it again. Written for this very magnet (the usual case, a
 * download resumed), the file is that torrent to the byte and is parsed once; one written for
 * another magnet with the same info hash but other trackers or web seeds is built again around
 * this one's and parsed a second time (what fails then is this magnet's to report: it throws, as
 * torrentFromMetadata would).
 */
export async function loadCachedTorrent(
  cacheDir: string,
  magnet: Pick<Magnet, 'infoHash' | 'infoHashV2' | 'trackers' | 'urlList'>,
): Promise<{ bytes: Buffer; meta: Metainfo } | null> {
  const path = cachedTorrentPath(cacheDir, magnet);
  let bytes: Buffer;
  try {
    // A file larger than any torrent we accept is not ours: not read at all.
    if ((await stat(path)).size > MAX_TORRENT_BYTES) return null;
    bytes = await readFile(path);
  } catch {
    return null;
  }
  let meta: Metainfo;
  try {
    meta = parseTorrent(bytes);
  } catch {
    return null;
  }
  if (!infoBytesMatch(meta.infoBytes, { v1: magnet.infoHash, v2: magnet.infoHashV2 })) return null;
  const own = encodeTorrentFromMetadata(meta.infoBytes, magnet, meta.pieceLayers);
  return own.equals(bytes) ? { bytes, meta } : { bytes: own, meta: parseTorrent(own) };
}

/** Writes the torrent atomically; returns a warning instead of throwing. */
export async function saveCachedTorrent(cacheDir: string, magnet: Pick<Magnet, 'infoHash' | 'infoHashV2'>, torrent: Buffer): Promise<string | null> {
  const path = cachedTorrentPath(cacheDir, magnet);
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(tmp, torrent);
    await rename(tmp, path);
    return null;
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    return `cannot keep the fetched piece layers in ${path}: ${(e as Error).message}`;
  }
}
