/**
 * What a live peer's messages mean for the torrent (BEP 3, BEP 6, BEP 9/10/11, BEP 52), in arrival order:
 * its pieces (bitfield, have, BEP 6 have-all/have-none), choke and interest, requests to the
 * uploader, blocks to the assembler, rejects and allowed-fast, the extension protocol (the
 * metadata phase, metadata served to others, PEX into discovery), BEP 52 hash messages to the
 * hash exchange (hash-exchange.ts: piece layers fetched and served). A message that is invalid for
 * this torrent throws a ProtocolError: that peer's connection closes, nothing else.
 *
 * Bounds: MAX_CONTROL_PER_SECOND state changes per peer per second (a flood is that peer's protocol
 * error); at most METADATA_ANSWERS_PER_SECOND ut_metadata answers per peer per second; hash
 * requests have their own flood limit (hash-exchange.ts).
 */
import { InternalError, ProtocolError } from '../errors.js';
import type { PeerConnection } from '../peer/index.js';
import { addrKey } from '../util/address.js';
import { Bitfield } from '../util/bitfield.js';
import {
  BLOCK_SIZE,
  decodeExtendedHandshake,
  decodePex,
  EXTENDED_HANDSHAKE_ID,
  MAX_ALLOWED_FAST,
  validateBitfield,
  isHashMessageId,
  validateHave,
  type Message,
} from '../wire/index.js';
import type { HashExchange } from './hash-exchange.js';
import { answerMetadataRequest, decodeMetadataMessageOrSkip, UT_METADATA_ID, UT_PEX_ID } from './extensions.js';
import type { LivePeer } from './live-peer.js';
import type { Core } from './types.js';

/**
 * State changes and requests that make us answer (choke, unchoke, interested, not-interested,
 * ut_metadata requests) a peer may send per second. An honest peer sends a handful a minute; a
 * peer past this floods to make us write (each answer queues a small buffer that costs far more
 * memory than its bytes) and is dropped as a protocol error.
 */
export const MAX_CONTROL_PER_SECOND = 50;
/** ut_metadata requests answered per peer per second; more are ignored (a request flood). */
export const METADATA_ANSWERS_PER_SECOND = 8;

/** Messages that change a connection's state: rate-limited per peer. */
const CONTROL: ReadonlySet<Message['type']> = new Set(['choke', 'unchoke', 'interested', 'not-interested']);

export class PeerMessages {
  constructor(
    private readonly core: Core,
    private readonly hashes: HashExchange,
  ) {}

  /** A live peer's connection ended: a metadata copy it was sending frees its slot for another. */
  onGone(conn: PeerConnection): void {
    const gone = this.core.metadata?.peerGone(conn.id, this.core.clock.now());
    if (gone) this.sendMetadataRequests(gone.peerId, gone.payloads);
    this.hashes.onGone(conn.id);
  }

  onMessage(conn: PeerConnection, msg: Message): void {
    const p = this.core.conns.get(conn.id)?.live;
    if (!p) throw new InternalError(`message from connection ${conn.id} that is not live`);
    const t = this.core.torrent();
    if (CONTROL.has(msg.type) && !p.control.allow(this.core.clock.now(), MAX_CONTROL_PER_SECOND)) {
      throw new ProtocolError(`flooding: more than ${MAX_CONTROL_PER_SECOND} ${msg.type} and other state changes in a second`);
    }
    switch (msg.type) {
      case 'bitfield':
        this.summary(p, 'bitfield');
        if (!t) {
          p.setBitfield(msg.bitfield, null);
          break;
        }
        validateBitfield(msg.bitfield, t.meta.pieceCount);
        this.setPeerPieces(p, new Bitfield(t.meta.pieceCount, msg.bitfield));
        break;
      case 'have-all':
      case 'have-none':
        this.summary(p, msg.type);
        if (!t) {
          if (msg.type === 'have-all') p.holdHaveAll();
          break;
        }
        this.setPeerPieces(p, msg.type === 'have-all' ? Bitfield.full(t.meta.pieceCount) : new Bitfield(t.meta.pieceCount));
        break;
      case 'have':
        if (!t) {
          p.holdHave(msg.index);
          break;
        }
        validateHave(msg.index, t.meta.pieceCount);
        p.bitfield ??= new Bitfield(t.meta.pieceCount);
        if (!p.bitfield.has(msg.index)) {
          p.bitfield.set(msg.index);
          t.picker.addHave(msg.index);
          t.scheduler.onHave(p, msg.index);
          if (!conn.amInterested) t.scheduler.update(p);
        }
        break;
      case 'choke':
        conn.peerChoking = true;
        // BEP 6: with the fast extension a choke no longer drops our requests; the peer rejects
        // them one by one (or still serves those it allowed fast).
        if (t && !p.fast) {
          t.scheduler.abortAll(p);
          t.scheduler.updateAll(this.core.livePeers(), p);
        }
        break;
      case 'reject-request': {
        this.needFast(p, msg.type);
        const req = t ? conn.takeRequest(msg.index, msg.begin, msg.length) : null;
        if (!t || req === null) throw new ProtocolError(`rejected piece ${msg.index} offset ${msg.begin}, which we never asked for`);
        if (req !== 'late') t.picker.abortRequest(p.id, { piece: req.piece, block: req.block });
        t.scheduler.updateAll(this.core.livePeers(), p);
        break;
      }
      case 'allowed-fast':
        this.needFast(p, msg.type);
        if (t) validateHave(msg.index, t.meta.pieceCount);
        if (!p.allowedFastIn.has(msg.index) && p.allowedFastIn.size >= MAX_ALLOWED_FAST) {
          throw new ProtocolError(`more than ${MAX_ALLOWED_FAST} allowed-fast pieces`);
        }
        p.allowedFastIn.add(msg.index);
        if (t && conn.peerChoking) t.scheduler.update(p);
        break;
      case 'suggest-piece':
        // A hint (BEP 6): rarest-first already decides; only its validity is checked.
        this.needFast(p, msg.type);
        if (t) validateHave(msg.index, t.meta.pieceCount);
        break;
      case 'unchoke':
        conn.peerChoking = false;
        t?.scheduler.update(p);
        break;
      case 'interested':
        conn.peerInterested = true;
        t?.uploader.onInterested(p, this.core.livePeers());
        break;
      case 'not-interested':
        conn.peerInterested = false;
        t?.uploader.onNotInterested(p);
        break;
      case 'request':
        t?.uploader.onRequest(p, msg.index, msg.begin, msg.length);
        break;
      case 'cancel':
        t?.uploader.onCancel(p, msg.index, msg.begin, msg.length);
        break;
      case 'piece':
        this.onBlock(p, msg.index, msg.begin, msg.block);
        break;
      case 'extended':
        this.onExtended(p, msg.id, msg.payload);
        break;
      case 'port':
        this.core.discovery()?.addDhtNode(conn.address.host, msg.port);
        break;
      case 'unknown':
        // BEP 52 hash request / hashes / hash reject: the wire codec leaves them undecoded.
        if (isHashMessageId(msg.id)) this.hashes.onMessage(p, msg.id, msg.payload);
        break;
      default:
        break; // unknown message ids: ignored, as BEP 3 asks
    }
  }

  /**
   * A peer's piece summary. have-all/none need the fast extension. A later summary replaces the
   * earlier one (aria2 sends have-none, haves, then a bitfield), except after have-all: a peer
   * that said it has everything cannot take it back.
   */
  private summary(p: LivePeer, kind: 'bitfield' | 'have-all' | 'have-none'): void {
    if (kind !== 'bitfield') this.needFast(p, kind);
    if (p.saidHaveAll) throw new ProtocolError(`${kind} after have-all`);
    if (kind === 'have-all') p.saidHaveAll = true;
  }

  private needFast(p: LivePeer, what: string): void {
    if (!p.fast) throw new ProtocolError(`${what} without the fast extension (BEP 6)`);
  }

  /** The peer's pieces are now `bits` (a bitfield or have-all/none): picker and interest follow. */
  private setPeerPieces(p: LivePeer, bits: Bitfield): void {
    const t = this.core.torrent()!;
    if (p.bitfield) t.picker.removeBitfield(p.bitfield);
    p.bitfield = bits;
    t.picker.addBitfield(bits);
    t.scheduler.countInteresting(p);
    t.scheduler.update(p);
  }

  private onBlock(p: LivePeer, piece: number, begin: number, block: Buffer): void {
    const t = this.core.torrent();
    const req = t ? p.conn.takeRequest(piece, begin, block.length) : null;
    if (!t || req === null) {
      p.conn.close('protocol-error', `sent piece ${piece} offset ${begin} that was never requested`);
      return;
    }
    const ref = { piece, block: begin / BLOCK_SIZE };
    if (req !== 'late') t.scheduler.onBlock(p, this.core.clock.now() - req.sentAt);
    if (req === 'late' && t.picker.blockLength(piece, ref.block) !== block.length) return;
    const r = t.picker.markReceived(p.id, ref);
    p.snubbed = false;
    if (!r.duplicate) {
      this.core.counters.downloaded += block.length;
      this.core.counters.lastProgressAt = this.core.clock.now();
      for (const otherId of r.otherPeers) this.core.conns.get(otherId)?.conn.cancel(piece, ref.block);
      t.assembler.addBlock(p.id, piece, begin, block, r.pieceComplete);
    }
    t.scheduler.update(p);
  }

  /** BEP 10 messages: the handshake, ut_metadata (BEP 9), ut_pex (BEP 11). */
  private onExtended(p: LivePeer, id: number, payload: Buffer): void {
    const now = this.core.clock.now();
    if (id === EXTENDED_HANDSHAKE_ID) {
      const hs = decodeExtendedHandshake(payload);
      if (hs.reqq !== null && hs.reqq > 0) p.reqq = hs.reqq;
      p.ext = {
        metadata: hs.m.get('ut_metadata'),
        pex: this.core.isPrivate ? undefined : hs.m.get('ut_pex'),
        listenPort: hs.p ?? undefined,
        metadataSize: hs.metadataSize ?? undefined,
      };
      const metadata = this.core.metadata;
      if (this.core.life().kind === 'fetching-metadata' && metadata && p.ext.metadata !== undefined && p.ext.metadataSize) {
        this.sendMetadataRequests(p.id, metadata.peerServes(p.id, p.ext.metadataSize, now));
      }
      this.hashes.fill(); // a v2 peer may take piece-layer requests now
      return;
    }
    if (id === UT_METADATA_ID) {
      const m = decodeMetadataMessageOrSkip(payload);
      if (m === null) return;
      if (m.type === 'request') {
        if (!p.control.allow(now, MAX_CONTROL_PER_SECOND)) throw new ProtocolError(`flooding: more than ${MAX_CONTROL_PER_SECOND} metadata requests in a second`);
        if (p.ext.metadata === undefined || !p.answers.allow(now, METADATA_ANSWERS_PER_SECOND)) return;
        p.conn.send({ type: 'extended', id: p.ext.metadata, payload: answerMetadataRequest(this.core.torrent()?.meta.infoBytes ?? null, m.piece) });
        return;
      }
      const metadata = this.core.metadata;
      if (this.core.life().kind !== 'fetching-metadata' || !metadata) return;
      this.core.counters.lastProgressAt = now;
      const out = metadata.onMessage(p.id, m, now);
      if (out.kind === 'send') this.sendMetadataRequests(p.id, out.payloads);
      else if (out.kind === 'liar') {
        this.core.warn(`peer ${addrKey(p.conn.address)} sent metadata that does not match the info hash; banned`);
        p.conn.close('bad-data', 'wrong metadata');
      } else if (out.kind === 'done') this.core.onMetadata(out.infoBytes);
    } else if (id === UT_PEX_ID && !this.core.isPrivate) {
      this.core.discovery()?.addPex(decodePex(payload).added);
    }
  }

  sendMetadataRequests(peerId: number, payloads: Buffer[]): void {
    const p = this.core.conns.get(peerId)?.live;
    if (!p || p.ext.metadata === undefined) return;
    for (const payload of payloads) p.conn.send({ type: 'extended', id: p.ext.metadata, payload });
  }
}
