/**
 * HTTP tracker protocol without I/O (BEP 3 announce, BEP 23 compact peers, BEP 7 peers6, BEP 48
 * scrape): builds request URLs and turns response bodies into typed results or TrackerErrors.
 *
 * Invariants: info_hash, peer_id and trackerid are percent-encoded byte by byte (every byte
 * outside RFC 3986 unreserved characters becomes %XX), never as UTF-8 text; bodies are decoded
 * only by the strict bencode decoder under HTTP_DECODE_LIMITS; tracker-supplied text is
 * sanitised (tracker-text.ts) before it is stored.
 */
import { BencodeError } from '../errors.js';
import { decode, isBytes, isDict, isList, type BDict, type BValue, type DecodeLimits } from '../bencode/index.js';
import { addCompactV4, addCompactV6, addDictPeers, MAX_PEERS_PER_RESPONSE, PeerCollector } from './peers.js';
import { TrackerError } from './tracker-error.js';
import { trackerText } from './tracker-text.js';
import { numwantOf, validateAnnounceRequest, type AnnounceRequest, type AnnounceResponse, type ScrapeResponse, type ScrapeStats } from './types.js';

/**
 * Replies nest three deep (reply -> peers list -> peer dict; reply -> files -> stats) and a 2000
 * peer dictionary list is ~15,000 items; extension keys get some headroom. A body of millions of
 * tiny items is refused rather than turned into millions of objects.
 */
export const HTTP_DECODE_LIMITS: DecodeLimits = { maxDepth: 8, maxItems: 200_000 };

/** When `interval` is missing: the 30 minutes most trackers use. */
export const DEFAULT_INTERVAL_S = 1800;

/** Scrape replies are cut to the hashes we asked for; we never ask for more than this at once. */
export const MAX_SCRAPE_HASHES = 100;

/** Percent-encodes every byte that is not an RFC 3986 unreserved character. */
export function percentEncodeBytes(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    const unreserved =
      (b >= 0x30 && b <= 0x39) || // 0-9
      (b >= 0x41 && b <= 0x5a) || // A-Z
      (b >= 0x61 && b <= 0x7a) || // a-z
      b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e; // - . _ ~
    out += unreserved ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function appendQuery(url: string, query: string): string {
  const hash = url.indexOf('#');
  const base = hash >= 0 ? url.slice(0, hash) : url;
  if (!base.includes('?')) return `${base}?${query}`;
  return base.endsWith('?') || base.endsWith('&') ? `${base}${query}` : `${base}&${query}`;
}

/**
 * The GET URL for an announce. Query parameters already in the announce URL (passkeys) are kept.
 */
export function buildAnnounceUrl(announceUrl: string, req: AnnounceRequest, trackerId?: Buffer): string {
  validateAnnounceRequest(req);
  const params = [
    `info_hash=${percentEncodeBytes(req.infoHash)}`,
    `peer_id=${percentEncodeBytes(req.peerId)}`,
    `port=${req.port}`,
    `uploaded=${req.uploaded}`,
    `downloaded=${req.downloaded}`,
    `left=${req.left}`,
    'compact=1',
    `numwant=${numwantOf(req)}`,
    `key=${req.key.toString(16).padStart(8, '0')}`,
  ];
  if (req.event !== undefined) params.push(`event=${req.event}`);
  if (trackerId !== undefined && trackerId.length > 0) params.push(`trackerid=${percentEncodeBytes(trackerId)}`);
  if (req.ip !== undefined) params.push(`ip=${percentEncodeBytes(Buffer.from(req.ip, 'utf8'))}`);
  return appendQuery(announceUrl, params.join('&'));
}

/**
 * The scrape URL for an announce URL (BEP 48 convention): the last path segment must start with
 * 'announce', which becomes 'scrape'. Undefined when the tracker cannot be scraped.
 */
export function scrapeUrlFromAnnounce(announceUrl: string): string | undefined {
  const hash = announceUrl.indexOf('#');
  const noHash = hash >= 0 ? announceUrl.slice(0, hash) : announceUrl;
  const q = noHash.indexOf('?');
  const path = q >= 0 ? noHash.slice(0, q) : noHash;
  const query = q >= 0 ? noHash.slice(q) : '';
  const slash = path.lastIndexOf('/');
  // The slash must be part of the path, not of 'http://'.
  if (slash < 0 || path.slice(0, slash).endsWith('/')) return undefined;
  const last = path.slice(slash + 1);
  if (!last.startsWith('announce')) return undefined;
  return `${path.slice(0, slash + 1)}scrape${last.slice('announce'.length)}${query}`;
}

export function buildScrapeUrl(scrapeUrl: string, infoHashes: readonly Buffer[]): string {
  if (infoHashes.length === 0 || infoHashes.length > MAX_SCRAPE_HASHES) {
    throw new TrackerError('invalid-request', `scrape needs 1 to ${MAX_SCRAPE_HASHES} info hashes`);
  }
  for (const h of infoHashes) {
    if (h.length !== 20) throw new TrackerError('invalid-request', 'info hash must be 20 bytes');
  }
  return appendQuery(scrapeUrl, infoHashes.map((h) => `info_hash=${percentEncodeBytes(h)}`).join('&'));
}

/** Decodes a body to its top-level dictionary, naming the usual ways a body is not one. */
function decodeDict(body: Buffer): BDict {
  let value: BValue;
  try {
    value = decode(body, HTTP_DECODE_LIMITS);
  } catch (e) {
    if (!(e instanceof BencodeError)) throw e;
    const head = body.subarray(0, 64).toString('latin1').trimStart().toLowerCase();
    if (head.startsWith('<')) {
      throw new TrackerError('protocol', 'tracker sent an HTML page, not a bencoded reply', { cause: e });
    }
    if (body.length === 0) throw new TrackerError('protocol', 'tracker sent an empty reply');
    throw new TrackerError('protocol', `tracker reply is not valid bencode (${e.message})`, { cause: e });
  }
  if (!isDict(value)) throw new TrackerError('protocol', 'tracker reply is not a dictionary');
  const failure = value.get('failure reason');
  if (failure !== undefined) {
    const reason = isBytes(failure) ? trackerText(failure) : '';
    throw new TrackerError('failure', `tracker refused: ${reason || '(no reason given)'}`);
  }
  return value;
}

/** A non-negative integer field that fits a JS number, or undefined when absent or nonsense. */
function count(d: BDict, key: string): number | undefined {
  const v = d.get(key);
  return typeof v === 'number' && v >= 0 ? v : undefined;
}

export function parseAnnounceBody(body: Buffer, maxPeers: number = MAX_PEERS_PER_RESPONSE): AnnounceResponse {
  const d = decodeDict(body);
  const collector = new PeerCollector(maxPeers);
  const peers = d.get('peers');
  if (isBytes(peers)) addCompactV4(peers, collector);
  else if (isList(peers)) addDictPeers(peers, collector);
  else if (peers !== undefined) throw new TrackerError('protocol', "'peers' is neither a string nor a list");
  const peers6 = d.get('peers6');
  if (isBytes(peers6)) addCompactV6(peers6, collector);

  const res: AnnounceResponse = { peers: collector.peers, interval: count(d, 'interval') ?? DEFAULT_INTERVAL_S };
  const minInterval = count(d, 'min interval');
  if (minInterval !== undefined) res.minInterval = minInterval;
  const trackerId = d.get('tracker id');
  // Copied so the response does not pin the whole body buffer in memory.
  if (isBytes(trackerId) && trackerId.length > 0 && trackerId.length <= 256) res.trackerId = Buffer.from(trackerId);
  const complete = count(d, 'complete');
  if (complete !== undefined) res.complete = complete;
  const incomplete = count(d, 'incomplete');
  if (incomplete !== undefined) res.incomplete = incomplete;
  const warning = d.get('warning message');
  if (isBytes(warning)) res.warning = trackerText(warning);
  return res;
}

/** Scrape reply `files` dict, keyed by raw 20-byte info hash, restricted to `asked`. */
export function parseScrapeBody(body: Buffer, asked: readonly Buffer[]): ScrapeResponse {
  const d = decodeDict(body);
  const files = d.get('files');
  if (!isDict(files)) throw new TrackerError('protocol', "scrape reply has no 'files' dictionary");
  const out = new Map<string, ScrapeStats>();
  for (const h of asked) {
    // bittorrent-tracker (webtorrent) keys `files` by the hash as a binary JS string that its
    // bencoder writes as UTF-8, so bytes >= 0x80 arrive as two bytes each: accept that key too.
    const entry = files.get(h.toString('latin1')) ?? files.get(Buffer.from(h.toString('latin1'), 'utf8').toString('latin1'));
    if (!isDict(entry)) continue;
    out.set(h.toString('hex'), {
      complete: count(entry, 'complete') ?? 0,
      incomplete: count(entry, 'incomplete') ?? 0,
      downloaded: count(entry, 'downloaded') ?? 0,
    });
  }
  return { files: out };
}
