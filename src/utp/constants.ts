/**
 * uTP (BEP 29) limits and timings shared by the connection (its send window and receive buffer)
 * and the socket. Each says why.
 */

/**
 * UDP payload of one uTP packet, header included: 1400 bytes. Ethernet's 1500-byte MTU less 20
 * (IPv4) and 8 (UDP) leaves 1472; the rest is headroom for PPPoE, VPN and IPv6-in-IPv4 tunnels,
 * so a packet is not fragmented on a typical home path without path-MTU discovery (libtorrent
 * runs discovery between 576 and 1500 bytes; libutp uses a fixed size of the same order). On
 * loopback a larger value may be passed (`packetBytes`), but libtorrent reads into buffers of one
 * Ethernet MTU, so anything talking to other clients keeps the default.
 */
export const DEFAULT_PACKET_BYTES = 1400;
/** Smallest packet size accepted as an option: IPv4's minimum reassembly size (576) less headers. */
export const MIN_PACKET_BYTES = 512;
/** Largest: a UDP datagram's payload over IPv4 (65535 - 20 - 8). */
export const MAX_PACKET_BYTES = 65507;

/**
 * Receive buffer: bytes delivered to the stream but unread plus bytes held out of order. 1 MiB is
 * libtorrent's default (recv_socket_buffer_size is larger, but its uTP window is this order) and
 * fills a 10 MB/s link at 100 ms RTT; the advertised window is what is left of it.
 */
export const RECV_BUFFER_BYTES = 1024 * 1024;
/**
 * Send buffer beyond what is in flight: writes are accepted until this much is queued, then
 * `write()` returns false until it drains. 1 MiB keeps the window fed between event-loop turns.
 */
export const SEND_BUFFER_BYTES = 1024 * 1024;
/**
 * Packets held out of order ahead of the next expected one: 1024, about the receive buffer's worth
 * of full packets (RECV_BUFFER_BYTES / 1380 = 760) with room for small ones; also the most a
 * selective ack can describe (packet.ts MAX_SACK_BYTES). Packets further ahead are dropped and
 * come again.
 */
export const MAX_REORDER_PACKETS = 1024;
/**
 * Packets sent and not yet acknowledged: 1024 (1.4 MB of full packets, 14 MB/s at 100 ms RTT, and
 * more than the 1 MiB window libtorrent advertises). It bounds the retransmit map, keeps sequence
 * comparisons far from half the 16-bit space, and bounds the selective acks a peer can honestly
 * send us (packet.ts MAX_SACK_BYTES).
 */
export const MAX_OUTSTANDING_PACKETS = 1024;
/** A peer may advertise 2^32-1; we never keep more than this in flight for it. */
export const MAX_PEER_WINDOW_BYTES = 8 * 1024 * 1024;

/** BEP 29: the timeout is never below 500 ms, whatever the measured RTT. */
export const MIN_RTO_MS = 500;
/** Before any RTT sample (BEP 29, libutp): 1 s. */
export const INITIAL_RTO_MS = 1000;
/** Doubling stops here, so the bound on a dead connection stays finite and known. */
export const MAX_RTO_MS = 16_000;
/**
 * Consecutive retransmission timeouts after which the peer is gone (libutp gives up after 4).
 * With the 500 ms floor and doubling this ends a connection whose peer stopped acking within
 * 0.5+1+2+4+8 = 15.5 s of its last ack at the shortest RTO, and ≤ 5 × MAX_RTO_MS at worst.
 */
export const MAX_CONSECUTIVE_TIMEOUTS = 5;
/**
 * SYN retransmissions: the first after INITIAL_RTO_MS, then doubling; after this many timeouts the
 * connect fails (1 + 2 s = 3 s, libtorrent's utp_connect_timeout), so a dialler falls back to TCP fast.
 */
export const MAX_SYN_TIMEOUTS = 2;
/** Duplicate acks that trigger a fast retransmit (BEP 29, RFC 5681). */
export const DUPLICATE_ACK_THRESHOLD = 3;
/** Packets selectively acked after a hole before the hole counts as lost (libutp, libtorrent). */
export const SACK_LOSS_THRESHOLD = 3;
/**
 * A peer advertising a window smaller than one packet is probed with one packet this often, in
 * case the window update it sent was lost (libutp waits 15 s; one small packet a second is cheap).
 */
export const ZERO_WINDOW_PROBE_MS = 1000;
/**
 * A connection that sent nothing for this long sends an empty STATE, keeping NAT mappings open
 * (libutp's KEEPALIVE_INTERVAL, 29 s, under the common 30 s UDP NAT timeout).
 */
export const KEEPALIVE_MS = 29_000;
