/**
 * The one failure type of the MSE/PE transport. Every way a handshake can fail (a hostile or
 * confused peer, a policy refusal, a deadline, a socket that closed) is an `MseError` with a
 * stable `reason` the session can count and `--json` can show; its message says the same in words.
 * A ProtocolError subclass, so callers that drop a peer on ProtocolError need nothing new.
 */
import { ProtocolError } from '../errors.js';

export type MseFailure =
  /** The overall handshake deadline passed. */
  | 'timeout'
  /** The peer's Diffie-Hellman public value is outside 2..P-2 (garbage, or a small-subgroup trick). */
  | 'bad-dh-key'
  /** Receiver: HASH('req1', S) did not appear within PadA's bound after Ya. */
  | 'no-req1'
  /** Receiver: HASH('req2', SKEY) xor HASH('req3', S) names no torrent we serve. */
  | 'unknown-torrent'
  /** The verification constant decrypted to something other than 8 zero bytes. */
  | 'bad-vc'
  /** Initiator: ENCRYPT(VC) did not appear within PadB's bound after Yb. */
  | 'no-vc'
  /** len(PadC) or len(PadD) above the spec's 512. */
  | 'padding-too-long'
  /** len(IA) above our limit. */
  | 'initial-payload-too-long'
  /** Receiver: nothing in crypto_provide that we allow. */
  | 'no-common-method'
  /** Initiator: crypto_select is not exactly one of the methods we offered. */
  | 'bad-crypto-select'
  /** acceptIncoming: a plaintext handshake while plaintext is not allowed. */
  | 'plaintext-refused'
  /** acceptIncoming: an encrypted handshake while encryption is not allowed. */
  | 'encrypted-refused'
  /** The socket ended or failed before the handshake finished. */
  | 'closed';

export class MseError extends ProtocolError {
  readonly reason: MseFailure;
  constructor(reason: MseFailure, message: string, options?: { cause?: unknown }) {
    super(`encrypted handshake (MSE): ${message}`, options);
    this.reason = reason;
  }
}
