/** One peer connection over any byte stream (see peer-connection.ts). */
export {
  PeerConnection,
  WRITE_LIMIT_BYTES,
  WRITE_PAUSE_BYTES,
  WRITE_STALL_MS,
  type CloseReason,
  type Outstanding,
  type PeerHandler,
  type PeerOptions,
  type PeerStreamInit,
} from './peer-connection.js';
