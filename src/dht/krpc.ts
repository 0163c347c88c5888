/**
 * KRPC (BEP 5) datagrams checked before bittorrent-dht sees them, and our replies cut before they
 * leave. Pure: bytes in, bytes (or null) out; the socket that calls these lives in dht.ts.
 *
 * - Incoming: every datagram is decoded by our strict bencode decoder, checked against the KRPC
 *   shape the package reads (BEP 5: ids, targets and info hashes are 20-byte strings, tokens
 *   strings, ports integers, values 6-byte strings...) and re-encoded canonically, so the
 *   package's lenient parser and its unchecked field accesses (`token.equals`,
 *   `infoHash.toString('hex')`, `ensureInt8`) only ever meet well-typed input. Anything else is
 *   refused (null), and the caller drops it.
 * - Outgoing: replies are trimmed to BEP 5 sizes. k-bucket's `closest(id)` defaults to every
 *   contact, so the package would answer find_node/get_peers with its whole routing table, and
 *   get_peers with every stored peer.
 *
 * Invariants: sanitizeKrpc never throws, and what it returns is canonical bencode (decoding and
 * re-encoding it gives the same bytes), never longer than the datagram it came from; trimReply
 * never throws.
 */
import { decode, encode, isBytes, isDict, isInt, isList, type BDict, type BValue } from '../bencode/index.js';

/**
 * Largest datagram accepted. BEP 5 traffic fits one unfragmented datagram (libtorrent's largest
 * reply, 100 values plus 8 nodes, is about 1.1 KB); four times that leaves room for extensions.
 */
export const MAX_PACKET_BYTES = 4096;
/** KRPC nests three levels (message, arguments, values list); a little slack for extension keys. */
const KRPC_MAX_DEPTH = 6;
/** Values in one datagram: bounds the decoder's work on a hostile packet (each item is >= 2 bytes). */
const KRPC_MAX_ITEMS = 600;
/** Transaction ids are short (2 bytes from us and libtorrent); BEP 5 does not bound them, we do. */
const MAX_TRANSACTION_ID_BYTES = 32;
/** Write tokens are opaque but short (libtorrent 4 bytes, bittorrent-dht 20). */
const MAX_TOKEN_BYTES = 64;
/** Node ids, info hashes and targets: SHA-1 size (BEP 5). */
export const ID_BYTES = 20;
/** Compact node info: 20-byte id, 4-byte IPv4, 2-byte port (BEP 5). */
const COMPACT_NODE_BYTES = 26;
/** Compact peer info: 4-byte IPv4, 2-byte port (BEP 5). */
const COMPACT_PEER_BYTES = 6;
/** Nodes in a find_node/get_peers reply: K = 8 in BEP 5. */
const REPLY_NODES = 8;
/** Values in a get_peers reply: libtorrent's dht_max_peers_reply default, and it fits one datagram. */
const REPLY_VALUES = 100;
/** Queries we answer (BEP 5). get/put (BEP 44) and sample_infohashes (BEP 51) are dropped: we store no items. */
const SUPPORTED_QUERIES = new Set(['ping', 'find_node', 'get_peers', 'announce_peer']);

/**
 * The datagram re-encoded canonically when it is a KRPC message (BEP 5) of the shape
 * bittorrent-dht reads and at most MAX_PACKET_BYTES long, else null. The length is checked
 * before decoding, so an oversized datagram costs no work. Canonical re-encoding removes parser
 * differentials: duplicate keys (our decoder keeps the first, the package's the last), unsorted
 * keys, non-canonical forms.
 */
export function sanitizeKrpc(buf: Buffer): Buffer | null {
  if (buf.length > MAX_PACKET_BYTES) return null;
  let msg: BValue;
  try {
    msg = decode(buf, { maxDepth: KRPC_MAX_DEPTH, maxItems: KRPC_MAX_ITEMS });
  } catch {
    return null;
  }
  if (!isDict(msg)) return null;
  const t = msg.get('t');
  const y = msg.get('y');
  if (!isBytes(t) || t.length === 0 || t.length > MAX_TRANSACTION_ID_BYTES || !isBytes(y)) return null;
  const ok = ((): boolean => {
    switch (y.toString('latin1')) {
      case 'q':
        return validQuery(msg);
      case 'r':
        return validResponse(msg.get('r'));
      case 'e': {
        const e = msg.get('e');
        return isList(e) && e.length <= 2 && e.every((x) => isInt(x) || (isBytes(x) && x.length <= 256));
      }
      default:
        return false;
    }
  })();
  return ok ? encode(msg) : null;
}

function isId(v: BValue | undefined): v is Buffer {
  return isBytes(v) && v.length === ID_BYTES;
}

function optionalSafeInt(v: BValue | undefined): boolean {
  return v === undefined || (typeof v === 'number' && Number.isSafeInteger(v));
}

function validQuery(msg: BDict): boolean {
  const q = msg.get('q');
  const a = msg.get('a');
  if (!isBytes(q) || !isDict(a) || !isId(a.get('id'))) return false;
  const method = q.toString('latin1');
  if (!SUPPORTED_QUERIES.has(method)) return false;
  switch (method) {
    case 'find_node':
      return isId(a.get('target'));
    case 'get_peers':
      return isId(a.get('info_hash'));
    case 'announce_peer': {
      const token = a.get('token');
      return (
        isId(a.get('info_hash')) &&
        isBytes(token) &&
        token.length > 0 &&
        token.length <= MAX_TOKEN_BYTES &&
        optionalSafeInt(a.get('port')) &&
        optionalSafeInt(a.get('implied_port'))
      );
    }
    default:
      return true;
  }
}

function validResponse(r: BValue | undefined): boolean {
  if (!isDict(r) || !isId(r.get('id'))) return false;
  const nodes = r.get('nodes');
  if (nodes !== undefined && !(isBytes(nodes) && nodes.length % COMPACT_NODE_BYTES === 0)) return false;
  const token = r.get('token');
  if (token !== undefined && !(isBytes(token) && token.length <= MAX_TOKEN_BYTES)) return false;
  const values = r.get('values');
  if (values !== undefined && !(isList(values) && values.every((v) => isBytes(v) && v.length === COMPACT_PEER_BYTES))) return false;
  return true;
}

/** Our own reply, cut to BEP 5 sizes (see the top of this file); anything else goes out unchanged. */
export function trimReply(out: Buffer): Buffer {
  if (out.length <= REPLY_NODES * COMPACT_NODE_BYTES) return out;
  let msg: BValue;
  try {
    msg = decode(out, { maxDepth: KRPC_MAX_DEPTH, maxItems: Number.MAX_SAFE_INTEGER });
  } catch {
    return out;
  }
  if (!isDict(msg)) return out;
  const r = msg.get('r');
  if (!isDict(r)) return out;
  let changed = false;
  const nodes = r.get('nodes');
  // k-bucket's closest() sorts by distance, so the first eight are the eight closest.
  if (isBytes(nodes) && nodes.length > REPLY_NODES * COMPACT_NODE_BYTES) {
    r.entries.set('nodes', nodes.subarray(0, REPLY_NODES * COMPACT_NODE_BYTES));
    changed = true;
  }
  const values = r.get('values');
  // record-cache returns stored peers in random order, so any prefix is a fair sample.
  if (isList(values) && values.length > REPLY_VALUES) {
    r.entries.set('values', values.slice(0, REPLY_VALUES));
    changed = true;
  }
  return changed ? encode(msg) : out;
}
