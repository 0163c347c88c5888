/**
 * MSE/PE (Message Stream Encryption / Protocol Encryption): the encrypted transport under a peer
 * connection, as libtorrent, Transmission, aria2 and qBittorrent speak it. Imports only errors,
 * util and node builtins (test/unit/architecture.test.ts).
 *
 * API (the transport seam; the session plugs these between the socket and the peer connection):
 *
 *   mseConnect(socket, { infoHash, allowPlaintext, initialPayload?, clock, randomBytes, timeoutMs })
 *     -> Promise<{ stream: MseStream, method: 'rc4' | 'plaintext' }>
 *   We dialled: runs the initiator's handshake. Put our 68-byte BitTorrent handshake in
 *   `initialPayload` (IA) and do not send it again on `stream`. `allowPlaintext` offers plaintext
 *   as well as RC4 (`--encryption prefer`); the peer chooses. A peer that does not speak MSE
 *   rejects this with reason 'no-vc', 'closed' or 'timeout': falling back to a plaintext
 *   connection (a new socket) is the caller's policy.
 *
 *   acceptIncoming(socket, { allowPlaintext, allowEncrypted, infoHashes, clock, randomBytes, timeoutMs })
 *     -> Promise<{ stream: MseStream, encrypted: boolean, infoHash: Buffer | null }>
 *   The peer dialled: a plaintext handshake (`\x13BitTorrent protocol`, replayed at the start of
 *   `stream`) or an MSE handshake, refused as the flags say. For MSE, `infoHash` is the torrent
 *   the peer asked for and the stream begins with its IA (its BitTorrent handshake); for
 *   plaintext `infoHash` is null and the BitTorrent handshake on the stream tells.
 *
 *   `stream` is a Duplex of plaintext BitTorrent bytes with back-pressure both ways;
 *   `stream.destroy()` closes the socket, and the socket's 'error'/'close' reach the stream.
 *   `stream.detach()` trades it for its parts (socket, keystreams, bytes already received) before
 *   anything is written: a transport reads a plaintext payload from the socket itself, and an
 *   RC4 payload through `Rc4Socket`, which decrypts in place in the buffer the socket reads
 *   into (no Readable/Writable layer per chunk) and encrypts a corked batch with one RC4 call.
 *   Both functions own the socket: on failure they destroy it and reject with `MseError`
 *   (a ProtocolError) whose `reason` (`MseFailure`) is stable for counting and `--json`.
 *
 * The pure parts, for tests and other drivers: `MseInitiator`/`MseReceiver` (handshake state
 * machines, bytes in, bytes out) and `Rc4`.
 */
export { MseError, type MseFailure } from './errors.js';
export {
  CryptoMethod,
  MAX_INITIAL_PAYLOAD_BYTES,
  MAX_PAD_BYTES,
  MseInitiator,
  MseReceiver,
  REQ1_SEARCH_BYTES,
  VC_SEARCH_BYTES,
  type InitiatorOptions,
  type MseMethod,
  type MseOutcome,
  type ReceiverOptions,
  type ReceiverOutcome,
  type Step,
} from './handshake.js';
export { MSE_RC4_DISCARD_BYTES, mseRc4, Rc4 } from './rc4.js';
export { Rc4Socket, type ChunkSink } from './rc4-socket.js';
export {
  acceptIncoming,
  mseConnect,
  MseStream,
  type AcceptOptions,
  type AcceptResult,
  type MseConnectOptions,
  type MseConnectResult,
} from './transport.js';
