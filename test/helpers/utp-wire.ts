/**
 * A UtpSocket (src/utp/socket.ts) over a scripted datagram transport, on a fake clock: every
 * datagram it sends is decoded and recorded with where it went, and a test plays the peer by
 * handing it datagrams (`sock.handleDatagram`). `answerSyn` is the peer's reply to a dial.
 */
import { decodePacket, encodePacket, PacketType, type Packet } from '../../src/utp/packet.js';
import { UtpSocket, type RemoteInfo, type UtpSocketOptions } from '../../src/utp/socket.js';
import type { FakeClock } from './fake-clock.js';

export interface SentDatagram {
  packet: Packet;
  to: RemoteInfo;
}

/** The socket, and what it has sent so far (a datagram that does not decode fails the test). */
export function scriptedUtpSocket(
  clock: FakeClock,
  random: (n: number) => Buffer,
  opts: Partial<UtpSocketOptions> = {},
): { sock: UtpSocket; sent: SentDatagram[] } {
  const sent: SentDatagram[] = [];
  const sock = new UtpSocket(
    {
      send: (msg, port, address) => {
        const p = decodePacket(msg);
        if (p instanceof Error) throw p;
        sent.push({ packet: p, to: { address, port } });
      },
      close: async () => {},
      address: () => ({ address: '127.0.0.1', port: 6881 }),
    },
    { clock, random, ...opts },
  );
  return { sock, sent };
}

/**
 * The peer at `from` answers the latest SYN in `sent`: a STATE acking it (the dial connects) or
 * a RESET (the dial is refused).
 */
export function answerSyn(
  sock: UtpSocket,
  sent: readonly SentDatagram[],
  type: typeof PacketType.state | typeof PacketType.reset,
  from: { host: string; port: number },
): void {
  const syn = sent.filter((s) => s.packet.type === PacketType.syn).at(-1)!.packet;
  sock.handleDatagram(
    encodePacket({ type, connectionId: syn.connectionId, timestampUs: 1000, timestampDiffUs: 0, wndSize: 1 << 20, seqNr: 77, ackNr: syn.seqNr, sack: null, payload: new Uint8Array(0) }),
    { address: from.host, port: from.port },
  );
}
