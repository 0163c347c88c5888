/**
 * uTP (BEP 29): a byte-stream transport over UDP with LEDBAT congestion control. The session
 * dials and accepts through a UtpSocket; each UtpConnection is a Duplex the peer connection uses
 * as it would a TCP socket. Imports only errors and util (test/unit/architecture.test.ts).
 */
export { UtpSocket, type UtpBindOptions, type UtpSocketOptions, type DatagramTransport, type RemoteInfo } from './socket.js';
export { UtpConnection, UtpError, type UtpErrno, type UtpState, type UtpStats } from './connection.js';
export { DEFAULT_PACKET_BYTES } from './constants.js';
export { looksLikeUtp } from './packet.js';
