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
  return {
    infoHash: meta.infoHash?.toString('hex') ?? null,
    infoHashV2: meta.infoHashV2?.toString('hex') ?? null,
    name: meta.name,
    length: meta.length,
    pieceLength: meta.pieceLength,
    pieceCount: meta.pieceCount,
    files: listedFiles(meta.files),
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
 * The files a user gets (pad files left out). Made last to first, as metainfo/parse.ts makes
 * TorrentFiles: the largest offset comes first, so V8 never has to reshape the objects already
 * made when offsets outgrow small integers (torrents past 2 GiB).
 */
function listedFiles(all: Metainfo['files']): InfoFile[] {
  let n = 0;
  for (let i = 0; i < all.length; i++) if (!all[i]!.pad) n++;
  const out = new Array<InfoFile>(n);
  for (let i = all.length - 1; i >= 0; i--) {
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
