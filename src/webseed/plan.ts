/**
 * Web-seed request planner (BEP 19 `url-list`, BEP 17 `httpseeds`). Pure: from the torrent's
 * file layout, a seed URL and a run of pieces [first, last] it says which HTTP requests fetch
 * those bytes. No sockets, no clock.
 *
 * BEP 19 URL rules, as libtorrent applies them (web_peer_connection.cpp):
 * - single-file torrent: the URL is the file's URL, unless it ends in `/`, in which case the
 *   torrent name is appended;
 * - multi-file torrent: the URL is a folder (a `/` is added when missing) and
 *   `<name>/<path...>` is appended;
 * - every appended component is percent-encoded on its own, so a `/`, `?`, `#` or `%` inside a
 *   file name stays part of that name.
 * BEP 17: `<url>?info_hash=<20 bytes, percent-encoded>&piece=<n>[&ranges=<a>-<b>]`, ranges
 * inclusive and relative to the piece; `&` instead of `?` when the URL already has a query.
 *
 * Invariants of a plan: one Range request per file span of the run (never one per 16 KiB block;
 * a run crossing a file boundary is split at it); requests appear in torrent order, their
 * `runOffset`s tile [0, runLength) together with the pad spans, with no gap or overlap; pad files
 * (BEP 47) are never requested: they are zeros by definition.
 */
import type { Metainfo } from '../metainfo/index.js';
import { PieceMap } from '../storage/piece-map.js';
import { MAX_RUN_BYTES } from './limits.js';

/** What the planner needs of a torrent: its name, whether it has a root folder, and its file map. */
export interface WebSeedLayout {
  readonly name: string;
  readonly multiFile: boolean;
  readonly map: PieceMap;
}

export function webSeedLayout(meta: Pick<Metainfo, 'name' | 'multiFile' | 'files' | 'pieceLength' | 'totalLength'>): WebSeedLayout {
  return { name: meta.name, multiFile: meta.multiFile, map: new PieceMap(meta.files, meta.pieceLength, meta.totalLength) };
}

/** One HTTP GET with `Range: bytes=<start>-<start+length-1>` of one file. */
export interface FileRangeRequest {
  readonly url: string;
  readonly fileIndex: number;
  /** First byte wanted, inside the file. */
  readonly start: number;
  readonly length: number;
  /** The whole file's length: a 200 answer is acceptable only when [start, start+length) is all of it. */
  readonly fileLength: number;
  /** Where these bytes go inside the run (0 = first byte of piece `first`). */
  readonly runOffset: number;
}

export interface RunPlan {
  readonly first: number;
  readonly last: number;
  /** Torrent offset of the run's first byte. */
  readonly torrentOffset: number;
  readonly runLength: number;
  readonly requests: readonly FileRangeRequest[];
  /** Pad-file bytes inside the run: zeros, never fetched. */
  readonly padSpans: readonly { readonly runOffset: number; readonly length: number }[];
}

/**
 * A url-list / httpseeds entry we can fetch from: http or https, parsed. Anything else (ftp://,
 * a relative path, garbage) is null: the seed is skipped, never an error for the download.
 */
export function parseSeedUrl(text: string): URL | null {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  if (u.username !== '' || u.password !== '') return null;
  return u;
}

/** BEP 19: the URL of file `fileIndex` on the seed at `baseUrl`. */
export function webSeedFileUrl(layout: WebSeedLayout, baseUrl: string, fileIndex: number): string {
  const file = layout.map.files[fileIndex];
  if (file === undefined) throw new RangeError(`file ${fileIndex} outside the torrent's ${layout.map.files.length} files`);
  if (!layout.multiFile) return baseUrl.endsWith('/') ? baseUrl + encodeComponent(layout.name) : baseUrl;
  const folder = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return folder + [layout.name, ...file.path].map(encodeComponent).join('/');
}

/**
 * Percent-encodes one path component: everything but RFC 3986 unreserved characters and the
 * sub-delimiters servers leave alone in paths. encodeURIComponent already leaves `!'()*` bare;
 * those are legal in a path segment and nginx/Apache map them to the same file either way.
 */
function encodeComponent(s: string): string {
  return encodeURIComponent(s);
}

/** BEP 19: the requests that fetch pieces [first, last] from the seed at `baseUrl`. */
export function planRun(layout: WebSeedLayout, baseUrl: string, first: number, last: number): RunPlan {
  const { map } = layout;
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first < 0 || last < first || last >= map.pieceCount) {
    throw new RangeError(`piece run [${first}, ${last}] outside the torrent's ${map.pieceCount} pieces`);
  }
  const torrentOffset = first * map.pieceLength;
  const runLength = last * map.pieceLength + map.pieceSize(last) - torrentOffset;
  if (runLength > MAX_RUN_BYTES) {
    throw new RangeError(`piece run [${first}, ${last}] is ${runLength} bytes, more than MAX_RUN_BYTES (${MAX_RUN_BYTES})`);
  }
  const requests: FileRangeRequest[] = [];
  const padSpans: { runOffset: number; length: number }[] = [];
  for (const span of map.spans(torrentOffset, runLength)) {
    if (span.pad) {
      padSpans.push({ runOffset: span.rangeOffset, length: span.length });
      continue;
    }
    requests.push({
      url: webSeedFileUrl(layout, baseUrl, span.fileIndex),
      fileIndex: span.fileIndex,
      start: span.fileOffset,
      length: span.length,
      fileLength: map.files[span.fileIndex]!.length,
      runOffset: span.rangeOffset,
    });
  }
  return { first, last, torrentOffset, runLength, requests, padSpans };
}

/**
 * BEP 17: the URL asking the seed at `baseUrl` for piece `piece` of the torrent `infoHash`
 * (20-byte v1 info hash). `range`, when given, is [begin, end) inside the piece; BEP 17's
 * `ranges` are inclusive, so it is sent as `begin-(end-1)`.
 */
export function httpSeedUrl(baseUrl: string, infoHash: Buffer, piece: number, range?: readonly [number, number]): string {
  if (infoHash.length !== 20) throw new RangeError(`a BEP 17 info hash is 20 bytes, not ${infoHash.length}`);
  if (!Number.isSafeInteger(piece) || piece < 0) throw new RangeError(`bad piece index ${piece}`);
  let q = `info_hash=${percentEncodeBytes(infoHash)}&piece=${piece}`;
  if (range !== undefined) {
    const [begin, end] = range;
    if (!(Number.isSafeInteger(begin) && Number.isSafeInteger(end) && begin >= 0 && end > begin)) {
      throw new RangeError(`bad range [${begin}, ${end}) in piece ${piece}`);
    }
    q += `&ranges=${begin}-${end - 1}`;
  }
  const hashAt = baseUrl.indexOf('#');
  const base = hashAt >= 0 ? baseUrl.slice(0, hashAt) : baseUrl;
  return base + (base.includes('?') ? '&' : '?') + q;
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** Every byte that is not an RFC 3986 unreserved character becomes %XX (as trackers expect info_hash). */
export function percentEncodeBytes(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += b < 0x80 && UNRESERVED.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
