/**
 * `torrent info` data: the documented --json object (README "info --json"), built from a parsed
 * torrent or magnet. Keys are stable; scripts rely on them.
 */
import { formatHostPort, formatMagnet, type Magnet, type Metainfo } from '../metainfo/index.js';

export interface InfoFile {
  path: string;
  length: number;
  offset: number;
}

export interface InfoJson {
  infoHash: string | null;
  infoHashV2: string | null;
  name: string | null;
  length: number | null;
  pieceLength: number | null;
  pieceCount: number | null;
  files: InfoFile[] | null;
  announce: string[][];
  urlList: string[];
  private: boolean | null;
  comment: string | null;
  createdBy: string | null;
  creationDate: string | null;
  magnet: string;
  peers?: string[];
  select?: number[] | null;
}

export function torrentMagnet(meta: Metainfo): string {
  return formatMagnet({
    infoHash: meta.infoHash,
    infoHashV2: meta.infoHashV2,
    name: meta.name,
    trackers: meta.announce.flat(),
    urlList: meta.urlList,
  });
}

export function infoFromTorrent(meta: Metainfo): InfoJson {
  return torrentView(meta, listedFiles(meta.files, 0, meta.files.length));
}

/**
 * `info --json` text for a torrent: exactly `JSON.stringify(infoFromTorrent(meta))` (the test
 * holds them equal), but the file list is stringified JSON_FILES_PER_CHUNK entries at a time, so
 * its objects die young: kept all at once, 50,000 of them (with their joined paths) were a good
 * part of what the collector had to copy (issue 15).
 */
export function torrentInfoJson(meta: Metainfo): string {
  const { infoHash, infoHashV2, name, length, pieceLength, pieceCount, files: _, ...after } = torrentView(meta, null);
  const head = JSON.stringify({ infoHash, infoHashV2, name, length, pieceLength, pieceCount });
  const tail = JSON.stringify(after);
  return `${head.slice(0, -1)},"files":${filesJson(meta.files)},${tail.slice(1)}`;
}

/** Entries of meta.files per chunk in torrentInfoJson. */
const JSON_FILES_PER_CHUNK = 4096;

/** JSON.stringify(listedFiles(all)), a chunk at a time (last chunk first, as listedFiles goes). */
function filesJson(all: Metainfo['files']): string {
  const chunks: string[] = [];
  for (let end = all.length; end > 0; end -= JSON_FILES_PER_CHUNK) {
    const text = JSON.stringify(listedFiles(all, Math.max(0, end - JSON_FILES_PER_CHUNK), end));
    if (text !== '[]') chunks.push(text.slice(1, -1));
  }
  return `[${chunks.reverse().join(',')}]`;
}

function torrentView(meta: Metainfo, files: InfoFile[] | null): InfoJson {
  return {
    infoHash: meta.infoHash?.toString('hex') ?? null,
    infoHashV2: meta.infoHashV2?.toString('hex') ?? null,
    name: meta.name,
    length: meta.length,
    pieceLength: meta.pieceLength,
    pieceCount: meta.pieceCount,
    files,
    announce: meta.announce.map((t) => [...t]),
    urlList: [...meta.urlList],
    private: meta.private,
    comment: meta.comment,
    createdBy: meta.createdBy,
    creationDate: meta.creationDate === null ? null : isoDate(meta.creationDate),
    magnet: torrentMagnet(meta),
  };
}

/**
 * The files a user gets among all[start, end) (pad files left out). Made last to first, as
 * metainfo/parse.ts makes TorrentFiles: the largest offset comes first, so V8 never has to
 * reshape the objects already made when offsets outgrow small integers (torrents past 2 GiB).
 */
function listedFiles(all: Metainfo['files'], start: number, end: number): InfoFile[] {
  let n = 0;
  for (let i = start; i < end; i++) if (!all[i]!.pad) n++;
  const out = new Array<InfoFile>(n);
  for (let i = end - 1; i >= start; i--) {
    const f = all[i]!;
    if (f.pad) continue;
    const path = f.path.length === 1 ? f.path[0]! : f.path.join('/');
    out[--n] = { path, length: f.length, offset: f.offset };
  }
  return out;
}

export function infoFromMagnet(m: Magnet): InfoJson {
  return {
    infoHash: m.infoHash?.toString('hex') ?? null,
    infoHashV2: m.infoHashV2?.toString('hex') ?? null,
    name: m.name,
    length: m.length,
    pieceLength: null,
    pieceCount: null,
    files: null,
    announce: m.trackers.length > 0 ? [[...m.trackers]] : [],
    urlList: [...m.urlList],
    private: null,
    comment: null,
    createdBy: null,
    creationDate: null,
    magnet: formatMagnet(m),
    peers: m.peers.map((p) => formatHostPort(p.host, p.port)),
    select: m.select === null ? null : [...m.select],
  };
}

/** Unix seconds -> ISO 8601; dates JavaScript cannot represent print as null. */
function isoDate(seconds: number): string | null {
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}
