/** Builds real .torrent bytes in memory for tests (v1), from file contents. */
import { createHash } from 'node:crypto';
import { encode, type Encodable } from '../../src/bencode/index.js';

export interface FileSpec {
  path: string[];
  data: Buffer;
  attr?: string;
}

export interface TorrentSpec {
  name: string;
  pieceLength?: number;
  files?: FileSpec[];
  /** single-file torrent content */
  data?: Buffer;
  announce?: string;
  announceList?: string[][];
  urlList?: string | string[];
  private?: boolean;
  comment?: string;
  /** extra keys merged into the info dict (may override) */
  info?: Record<string, Encodable>;
  /** extra keys merged into the top-level dict */
  top?: Record<string, Encodable>;
}

export function pieceHashes(data: Buffer, pieceLength: number): Buffer {
  const hashes: Buffer[] = [];
  for (let o = 0; o < data.length; o += pieceLength) {
    hashes.push(createHash('sha1').update(data.subarray(o, o + pieceLength)).digest());
  }
  return Buffer.concat(hashes);
}

export function makeTorrent(spec: TorrentSpec): Buffer {
  const pieceLength = spec.pieceLength ?? 16384;
  const all = spec.files ? Buffer.concat(spec.files.map((f) => f.data)) : (spec.data ?? Buffer.alloc(0));
  const info: Record<string, Encodable> = {
    name: spec.name,
    'piece length': pieceLength,
    pieces: pieceHashes(all, pieceLength),
  };
  if (spec.files) {
    info.files = spec.files.map((f) => ({ length: f.data.length, path: f.path, ...(f.attr ? { attr: f.attr } : {}) }));
  } else {
    info.length = all.length;
  }
  if (spec.private) info.private = 1;
  Object.assign(info, spec.info ?? {});
  const top: Record<string, Encodable> = { info, 'creation date': 1700000000, 'created by': 'torrent-tests' };
  if (spec.announce) top.announce = spec.announce;
  if (spec.announceList) top['announce-list'] = spec.announceList;
  if (spec.urlList) top['url-list'] = spec.urlList;
  if (spec.comment) top.comment = spec.comment;
  Object.assign(top, spec.top ?? {});
  return encode(top);
}

/** Deterministic pseudo-random bytes (xorshift), so tests need no fixtures. */
export function bytes(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
