/**
 * BEP 10 extensions as the session speaks them, as pure functions: our extended handshake, the
 * answer to a BEP 9 metadata request, and the BEP 11 PEX message for one peer. No sockets, no
 * state beyond what the caller passes in.
 */
import { addrKey, parseAddrKey, type PeerAddr } from '../util/address.js';
import {
  decodeMetadataMessage,
  encodeExtendedHandshake,
  encodeMetadataMessage,
  encodePex,
  MAX_METADATA_BYTES,
  METADATA_PIECE_BYTES,
  UnknownMetadataMessageError,
  type MetadataMessage,
  type PexPeer,
} from '../wire/index.js';

/** Our ids for the extensions we speak, sent in our BEP 10 handshake's `m`. */
export const UT_METADATA_ID = 1;
export const UT_PEX_ID = 2;
export const CLIENT_VERSION = 'torrent 0.1.0';
/** BEP 11: at most 50 added and 50 dropped peers per message. */
export const PEX_MAX_PEERS = 50;

/** BEP 9: a message type we do not know "MUST be ignored" (null); other garbage still throws. */
export function decodeMetadataMessageOrSkip(payload: Buffer): MetadataMessage | null {
  try {
    return decodeMetadataMessage(payload);
  } catch (e) {
    if (e instanceof UnknownMetadataMessageError) return null;
    throw e;
  }
}

/**
 * Our BEP 10 handshake. `infoBytes` null = we do not have the metadata (yet): no metadata_size,
 * but we still ask for it with ut_metadata. BEP 27: no PEX for private torrents.
 */
export function ourExtendedHandshake(o: { infoBytes: Buffer | null; private: boolean; listenPort: number; reqq: number }): Buffer {
  const servable = o.infoBytes === null || o.infoBytes.length <= MAX_METADATA_BYTES;
  const m: Record<string, number> = servable ? { ut_metadata: UT_METADATA_ID } : {};
  if (!o.private) m.ut_pex = UT_PEX_ID;
  return encodeExtendedHandshake({
    m,
    v: CLIENT_VERSION,
    p: o.listenPort || undefined,
    reqq: o.reqq,
    metadataSize: o.infoBytes && servable ? o.infoBytes.length : undefined,
  });
}

/** The answer to a ut_metadata request: the piece, or a reject when we cannot serve it. */
export function answerMetadataRequest(infoBytes: Buffer | null, piece: number): Buffer {
  const start = piece * METADATA_PIECE_BYTES;
  if (infoBytes === null || start >= infoBytes.length || infoBytes.length > MAX_METADATA_BYTES) {
    return encodeMetadataMessage({ type: 'reject', piece });
  }
  return encodeMetadataMessage({ type: 'data', piece, totalSize: infoBytes.length, data: infoBytes.subarray(start, start + METADATA_PIECE_BYTES) });
}

/**
 * BEP 11 for one peer: which of our current peers (`current`, by key) it has not heard of, and
 * which it heard of that are gone. Updates `sent` to what the returned message tells. Null when
 * there is nothing new.
 */
export function pexUpdate(current: ReadonlyMap<string, PeerAddr>, sent: Set<string>, selfKey: string | null): Buffer | null {
  const added: PexPeer[] = [];
  for (const [k, a] of current) {
    if (k !== selfKey && !sent.has(k) && added.length < PEX_MAX_PEERS) added.push({ host: a.host, port: a.port, flags: 0 });
  }
  const dropped: PeerAddr[] = [];
  for (const k of sent) {
    if (!current.has(k) && dropped.length < PEX_MAX_PEERS) dropped.push(parseAddrKey(k));
  }
  if (added.length === 0 && dropped.length === 0) return null;
  for (const a of added) sent.add(addrKey(a));
  for (const d of dropped) sent.delete(addrKey(d));
  return encodePex({ added, dropped });
}
