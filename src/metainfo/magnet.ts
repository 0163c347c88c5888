/**
 * Magnet URIs (BEP 9, BEP 53 `so`, BEP 52 `urn:btmh:`), both ways.
 *
 * Parsing accepts what libtorrent accepts (corpus: magnets.json) with one deliberate difference:
 * an `xt` that is not valid hex or base32 is an error, never an all-zero hash. Every parameter is
 * bounded: an absurd `so` range or a URI megabytes long is refused before anything is expanded.
 */
import { MagnetError } from '../errors.js';
import { base32Decode } from '../util/base32.js';
import { hexDecode } from '../util/hex.js';

export interface Magnet {
  /** v1 info hash (20 bytes) or null for a v2-only magnet. */
  readonly infoHash: Buffer | null;
  /** v2 info hash (32 bytes, SHA-256) or null. */
  readonly infoHashV2: Buffer | null;
  /** `dn`, the display name; not trusted for paths until the metadata arrives. */
  readonly name: string | null;
  /** `xl`, the exact length the magnet claims. */
  readonly length: number | null;
  /** `tr`, in order (duplicates kept, as libtorrent does; the announcer de-duplicates). */
  readonly trackers: readonly string[];
  /** `ws`, web seeds (BEP 19). */
  readonly urlList: readonly string[];
  /** `x.pe`, peers as `host:port` / `[v6]:port`. */
  readonly peers: readonly { host: string; port: number }[];
  /** `so`, selected file indexes, sorted and unique, or null. */
  readonly select: readonly number[] | null;
}

/** Longer than any real magnet (hundreds of trackers fit easily); bounds all work below. */
export const MAX_MAGNET_URI_LENGTH = 64 * 1024;
/** `so` may name at most this many files: the most files a torrent we accept can have. */
export const MAX_SELECTED_FILES = 1_000_000;

const BTIH = 'urn:btih:';
const BTMH = 'urn:btmh:';
/** Multihash prefix for a 32-byte SHA-256 digest (BEP 52: 0x12 = sha2-256, 0x20 = 32). */
const SHA256_MULTIHASH = '1220';

export function isMagnetUri(text: string): boolean {
  return /^magnet:/i.test(text.trim());
}

export function parseMagnet(uri: string): Magnet {
  const text = uri.trim();
  if (text.length > MAX_MAGNET_URI_LENGTH) {
    throw new MagnetError(`magnet URI is ${text.length} characters, more than ${MAX_MAGNET_URI_LENGTH}`);
  }
  if (!/^magnet:\?/i.test(text)) throw new MagnetError('not a magnet URI (it must start with "magnet:?")');

  let infoHash: Buffer | null = null;
  let infoHashV2: Buffer | null = null;
  let name: string | null = null;
  let length: number | null = null;
  let select: number[] | null = null;
  const trackers: string[] = [];
  const urlList: string[] = [];
  const peers: { host: string; port: number }[] = [];

  for (const part of text.slice('magnet:?'.length).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq);
    const value = decodeComponent(part.slice(eq + 1));
    switch (key) {
      case 'xt':
        if (value.toLowerCase().startsWith(BTIH)) {
          infoHash ??= parseBtih(value.slice(BTIH.length));
        } else if (value.toLowerCase().startsWith(BTMH)) {
          infoHashV2 ??= parseBtmh(value.slice(BTMH.length));
        }
        // other URNs (ed2k, sha1, ...) are not BitTorrent: ignored, as libtorrent does
        break;
      case 'dn':
        name = value;
        break;
      case 'tr':
        if (value !== '') trackers.push(value);
        break;
      case 'ws':
        if (value !== '') urlList.push(value);
        break;
      case 'x.pe': {
        const peer = parsePeerAddress(value);
        if (peer) peers.push(peer);
        break;
      }
      case 'so':
        select = parseSelect(value);
        break;
      case 'xl': {
        const n = /^\d{1,16}$/.test(value) ? Number(value) : NaN;
        if (Number.isSafeInteger(n)) length = n;
        break;
      }
      default:
        break; // unknown parameters are ignored (BEP 9 allows extensions)
    }
  }
  if (infoHash === null && infoHashV2 === null) {
    throw new MagnetError('magnet URI has no info hash (xt=urn:btih:… or xt=urn:btmh:…)');
  }
  return { infoHash, infoHashV2, name, length, trackers, urlList, peers, select };
}

/** Percent-decoding with `+` as space; a malformed escape is kept literally. */
function decodeComponent(text: string): string {
  const plus = text.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus.replace(/%([0-9a-fA-F]{2})/g, (m, h: string) => {
      const c = parseInt(h, 16);
      return c < 0x80 ? String.fromCharCode(c) : m;
    });
  }
}

function parseBtih(text: string): Buffer {
  let hash: Buffer | null = null;
  if (text.length === 40) hash = hexDecode(text);
  else if (text.length === 32) hash = base32Decode(text);
  if (!hash || hash.length !== 20) {
    throw new MagnetError(`invalid info hash "${text.slice(0, 80)}": expected 40 hex or 32 base32 characters`);
  }
  return hash;
}

function parseBtmh(text: string): Buffer {
  const bytes = text.length === 68 && text.toLowerCase().startsWith(SHA256_MULTIHASH) ? hexDecode(text.slice(4)) : null;
  if (!bytes || bytes.length !== 32) {
    throw new MagnetError(
      `invalid v2 info hash "${text.slice(0, 80)}": expected a sha2-256 multihash (1220 + 64 hex characters)`,
    );
  }
  return bytes;
}

/** `1.2.3.4:6881` or `[2001:db8::1]:6881`; anything else is ignored. */
export function parsePeerAddress(text: string): { host: string; port: number } | null {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([0-9.]+|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1]!.toLowerCase(), port };
}

/** BEP 53 `so`: comma-separated indexes and inclusive ranges, e.g. `0,2,4-6`. */
export function parseSelect(text: string): number[] {
  const picked = new Set<number>();
  for (const item of text.split(',')) {
    const m = /^(\d{1,7})(?:-(\d{1,7}))?$/.exec(item.trim());
    if (!m) throw new MagnetError(`invalid file selection "${item}" (expected indexes like 0,2,4-6)`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw new MagnetError(`invalid file selection range "${item}"`);
    if (picked.size + (to - from + 1) > MAX_SELECTED_FILES) {
      throw new MagnetError(`file selection "${text.slice(0, 40)}" names more than ${MAX_SELECTED_FILES} files`);
    }
    for (let i = from; i <= to; i++) picked.add(i);
  }
  return [...picked].sort((a, b) => a - b);
}

export interface MagnetSource {
  infoHash: Buffer | null;
  infoHashV2: Buffer | null;
  name: string | null;
  trackers: readonly string[];
  urlList?: readonly string[];
  peers?: readonly { host: string; port: number }[];
  select?: readonly number[] | null;
  length?: number | null;
}

/** Builds a magnet URI; `xt` values are kept readable, everything else percent-encoded. */
export function formatMagnet(m: MagnetSource): string {
  const parts: string[] = [];
  if (m.infoHash) parts.push(`xt=urn:btih:${m.infoHash.toString('hex')}`);
  if (m.infoHashV2) parts.push(`xt=urn:btmh:${SHA256_MULTIHASH}${m.infoHashV2.toString('hex')}`);
  if (m.name) parts.push(`dn=${encodeURIComponent(m.name)}`);
  if (m.length !== undefined && m.length !== null) parts.push(`xl=${m.length}`);
  for (const t of new Set(m.trackers)) parts.push(`tr=${encodeURIComponent(t)}`);
  for (const w of new Set(m.urlList ?? [])) parts.push(`ws=${encodeURIComponent(w)}`);
  for (const p of m.peers ?? []) parts.push(`x.pe=${encodeURIComponent(formatHostPort(p.host, p.port))}`);
  if (m.select && m.select.length > 0) parts.push(`so=${formatSelect(m.select)}`);
  return `magnet:?${parts.join('&')}`;
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** [0,2,4,5,6] -> "0,2,4-6" */
export function formatSelect(indexes: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < indexes.length; ) {
    let j = i;
    while (j + 1 < indexes.length && indexes[j + 1] === indexes[j]! + 1) j++;
    out.push(j > i ? `${indexes[i]}-${indexes[j]}` : `${indexes[i]}`);
    i = j + 1;
  }
  return out.join(',');
}
