/**
 * The peer wire protocol (BEP 3, with BEP 6's Fast extension messages and BEP 52's hash
 * messages) as pure codecs: handshake, messages, the allowed-fast set, size limits and the framer
 * that cuts a byte stream into messages. No sockets, timers or emitters live in this folder; the
 * peer connection owns the socket and drives these.
 */
export {
  decodeHandshake,
  encodeHandshake,
  HANDSHAKE_BYTES,
  hasReserved,
  makePeerId,
  PROTOCOL,
  Reserved,
  reservedBits,
  type Handshake,
} from './handshake.js';
export {
  decodeMessage,
  encodeHaves,
  encodeMessage,
  encodePieceHeader,
  LENGTH_PREFIX_BYTES,
  MessageId,
  PIECE_HEADER_BYTES,
  validateBitfield,
  validateHave,
  type Message,
} from './messages.js';
export { Framer } from './framer.js';
export { allowedFastSet, MAX_ALLOWED_FAST } from './fast.js';
export { BLOCK_SIZE, MAX_EXTENDED_BYTES, MAX_REQUEST_LENGTH, maxMessageBytes } from './limits.js';
export {
  decodeExtendedHandshake,
  encodeExtendedHandshake,
  EXTENDED_HANDSHAKE_ID,
  MAX_EXTENDED_HANDSHAKE_BYTES,
  type ExtendedHandshake,
  type ExtendedHandshakeInput,
} from './extended.js';
export {
  decodeMetadataMessage,
  encodeMetadataMessage,
  MAX_METADATA_BYTES,
  MAX_METADATA_PIECES,
  METADATA_PIECE_BYTES,
  MetadataAssembler,
  metadataPieceCount,
  UnknownMetadataMessageError,
  type MetadataMessage,
} from './ut-metadata.js';
export { decodePex, encodePex, MAX_PEX_PEERS, PEX_INTERVAL_MS, PexFlags, type PexMessage, type PexPeer } from './ut-pex.js';
export {
  decodeHashMessage,
  encodeHashMessage,
  HashMessageId,
  fullProofLayers,
  hashRequestFits,
  hashRequestProblem,
  isHashMessageId,
  MAX_HASH_REQUEST_LENGTH,
  MAX_HASHES_MESSAGE_BYTES,
  MAX_MERKLE_HEIGHT,
  MERKLE_NODE_BYTES,
  uncleCount,
  type HashMessage,
  type HashRequestFields,
} from './hash-messages.js';
