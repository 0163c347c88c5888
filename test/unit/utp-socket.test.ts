/**
 * UtpSocket (src/utp/socket.ts) against a scripted peer sending exact datagrams, on a fake
 * clock: demultiplexing, the DHT hand-off, and hostile packets (wrong version, unknown connection
 * ids, oversized selective acks, a 2^32 window, SYN floods, acks for data never sent).
 */
import { describe, expect, it } from 'vitest';
import { MAX_PEER_WINDOW_BYTES } from '../../src/utp/constants.js';
import { UtpError, type UtpConnection } from '../../src/utp/connection.js';
import { encodePacket, MAX_SACK_BYTES, PacketType, type Packet } from '../../src/utp/packet.js';
import { DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, RESET_BURST, RESET_RATE_PER_S, type RemoteInfo, type UtpSocketOptions } from '../../src/utp/socket.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { scriptedUtpSocket } from '../helpers/utp-wire.js';

function harness(opts: Partial<UtpSocketOptions> = {}) {
  const clock = new FakeClock();
  let counter = 0;
  const random = (n: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (counter++ * 37 + 11) & 0xff;
    return b;
  };
  const { sock, sent } = scriptedUtpSocket(clock, random, opts);
  const accepted: UtpConnection[] = [];
  sock.on('connection', (c) => accepted.push(c));
  return { clock, sent, sock, accepted };
}

const PEER: RemoteInfo = { address: '10.0.0.1', port: 5000 };

function pkt(fields: Partial<Packet>): Buffer {
  return encodePacket({
    type: PacketType.data,
    connectionId: 0,
    timestampUs: 1000,
    timestampDiffUs: 0,
    wndSize: 1 << 20,
    seqNr: 0,
    ackNr: 0,
    sack: null,
    payload: new Uint8Array(0),
    ...fields,
  });
}

/** A scripted dialler: SYN with id 100, seq 500; returns the accepted connection and its first seq. */
async function dialIn(h: ReturnType<typeof harness>) {
  h.sock.handleDatagram(pkt({ type: PacketType.syn, connectionId: 100, seqNr: 500 }), PEER);
  await h.clock.advance(1);
  expect(h.accepted.length).toBe(1);
  const state = h.sent.at(-1)!.packet;
  expect(state.type).toBe(PacketType.state);
  expect(state.connectionId).toBe(100);
  expect(state.ackNr).toBe(500);
  const conn = h.accepted[0]!;
  conn.on('error', () => {});
  // Our first DATA completes the handshake for the acceptor.
  h.sock.handleDatagram(pkt({ type: PacketType.data, connectionId: 101, seqNr: 501, ackNr: (state.seqNr - 1) & 0xffff, payload: Buffer.from('hello') }), PEER);
  await h.clock.advance(1);
  expect(conn.state).toBe('connected');
  return { conn, serverSeq: state.seqNr };
}

describe('UtpSocket: demultiplexing and hostile packets', () => {
  it('accepts a SYN, answers with a STATE, and delivers the first DATA in order', async () => {
    const h = harness();
    const { conn } = await dialIn(h);
    const got: Buffer[] = [];
    conn.on('data', (c: Buffer) => got.push(c));
    await h.clock.advance(1);
    expect(Buffer.concat(got).toString()).toBe('hello');
    // And acks it.
    expect(h.sent.at(-1)!.packet).toMatchObject({ type: PacketType.state, ackNr: 501, connectionId: 100 });
    await h.sock.close();
  });

  it('answers a repeated SYN with the same STATE, without a second connection', async () => {
    const h = harness();
    h.sock.handleDatagram(pkt({ type: PacketType.syn, connectionId: 100, seqNr: 500 }), PEER);
    h.sock.handleDatagram(pkt({ type: PacketType.syn, connectionId: 100, seqNr: 500 }), PEER);
    await h.clock.advance(1);
    expect(h.accepted.length).toBe(1);
    expect(h.sent.map((s) => s.packet.type)).toEqual([PacketType.state, PacketType.state]);
    expect(h.sent[0]!.packet.seqNr).toBe(h.sent[1]!.packet.seqNr);
    await h.sock.close();
  });

  it('drops a wrong version and a truncated header silently', async () => {
    const h = harness();
    const v0 = pkt({ type: PacketType.syn });
    v0[0] = 0x40;
    h.sock.handleDatagram(v0, PEER);
    const v2 = pkt({ type: PacketType.syn });
    v2[0] = 0x42;
    h.sock.handleDatagram(v2, PEER);
    h.sock.handleDatagram(pkt({ type: PacketType.syn }).subarray(0, 19), PEER);
    await h.clock.advance(1);
    expect(h.sent).toEqual([]);
    expect(h.accepted).toEqual([]);
    // v0/v2 headers are not uTP-looking: handed on as other packets; the valid-looking one is malformed.
    expect(h.sock.stats.otherPackets + h.sock.stats.malformed).toBe(3);
    await h.sock.close();
  });

  it('drops a SYN whose selective ack is longer than allowed', async () => {
    const h = harness();
    const b = pkt({ type: PacketType.syn, connectionId: 7 });
    b[1] = 1;
    h.sock.handleDatagram(Buffer.concat([b, Buffer.from([0, MAX_SACK_BYTES + 4]), Buffer.alloc(MAX_SACK_BYTES + 4)]), PEER);
    await h.clock.advance(1);
    expect(h.sock.stats.malformed).toBe(1);
    expect(h.accepted).toEqual([]);
    expect(h.sent).toEqual([]);
    await h.sock.close();
  });

  it('hands non-uTP datagrams (a DHT query) to onOtherPacket untouched', async () => {
    const others: [Buffer, RemoteInfo][] = [];
    const h = harness({ onOtherPacket: (m, r) => others.push([m, r]) });
    const dht = Buffer.from('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe');
    h.sock.handleDatagram(dht, PEER);
    expect(others).toEqual([[dht, PEER]]);
    expect(h.sent).toEqual([]);
    await h.sock.close();
  });

  it('answers a packet for an unknown connection with a RESET, rate-limited', async () => {
    const h = harness();
    h.sock.handleDatagram(pkt({ connectionId: 4242, seqNr: 9 }), PEER);
    expect(h.sent.length).toBe(1);
    expect(h.sent[0]!.packet).toMatchObject({ type: PacketType.reset, connectionId: 4242, ackNr: 9 });
    expect(h.sent[0]!.to).toEqual(PEER);
    for (let i = 0; i < 1000; i++) h.sock.handleDatagram(pkt({ connectionId: i }), PEER);
    expect(h.sent.length).toBe(RESET_BURST);
    expect(h.sock.stats.unknownConnection).toBe(1001);
    await h.clock.advance(1000);
    for (let i = 0; i < 1000; i++) h.sock.handleDatagram(pkt({ connectionId: i }), PEER);
    expect(h.sent.length).toBe(RESET_BURST + RESET_RATE_PER_S);
    // A RESET for an unknown connection is never answered.
    const before = h.sent.length;
    await h.clock.advance(5000);
    h.sock.handleDatagram(pkt({ type: PacketType.reset, connectionId: 1 }), PEER);
    expect(h.sent.length).toBe(before);
    await h.sock.close();
  });

  it(`refuses a SYN flood from one address beyond ${DEFAULT_MAX_CONNECTIONS_PER_ADDRESS} connections`, async () => {
    const h = harness();
    for (let i = 0; i < 1000; i++) h.sock.handleDatagram(pkt({ type: PacketType.syn, connectionId: i * 2, seqNr: i }), PEER);
    expect(h.sock.connectionCount).toBe(DEFAULT_MAX_CONNECTIONS_PER_ADDRESS);
    expect(h.accepted.length).toBe(DEFAULT_MAX_CONNECTIONS_PER_ADDRESS);
    expect(h.sock.stats.refusedSyns).toBe(1000 - DEFAULT_MAX_CONNECTIONS_PER_ADDRESS);
    // Another address still gets in.
    h.sock.handleDatagram(pkt({ type: PacketType.syn, connectionId: 1, seqNr: 1 }), { address: '10.0.0.2', port: 1 });
    expect(h.sock.connectionCount).toBe(DEFAULT_MAX_CONNECTIONS_PER_ADDRESS + 1);
    await h.sock.close();
  });

  it('refuses SYNs beyond the total connection limit, from many addresses', async () => {
    const h = harness({ maxConnections: 50 });
    for (let i = 0; i < 500; i++) h.sock.handleDatagram(pkt({ type: PacketType.syn, connectionId: 10, seqNr: i }), { address: `10.1.${i >> 8}.${i & 255}`, port: 6881 });
    expect(h.sock.connectionCount).toBe(50);
    expect(h.sock.stats.refusedSyns).toBe(450);
    await h.sock.close();
  });

  it('clamps an advertised window of 2^32-1', async () => {
    const h = harness();
    const { conn, serverSeq } = await dialIn(h);
    h.sock.handleDatagram(pkt({ type: PacketType.state, connectionId: 101, seqNr: 502, ackNr: (serverSeq - 1) & 0xffff, wndSize: 0xffffffff }), PEER);
    expect(conn.peerWindow).toBe(MAX_PEER_WINDOW_BYTES);
    await h.sock.close();
  });

  it('ignores an ack for data never sent, then takes the honest one', async () => {
    const h = harness();
    const { conn, serverSeq } = await dialIn(h);
    conn.write(Buffer.from('abc'));
    await h.clock.advance(1);
    const data = h.sent.filter((s) => s.packet.type === PacketType.data);
    expect(data.length).toBe(1);
    expect(data[0]!.packet.seqNr).toBe(serverSeq);
    expect(conn.outstandingPackets).toBe(1);
    const dropped = conn.stats.droppedPackets;
    h.sock.handleDatagram(pkt({ type: PacketType.state, connectionId: 101, seqNr: 502, ackNr: (serverSeq + 100) & 0xffff }), PEER);
    expect(conn.outstandingPackets).toBe(1);
    expect(conn.stats.droppedPackets).toBe(dropped + 1);
    h.sock.handleDatagram(pkt({ type: PacketType.state, connectionId: 101, seqNr: 502, ackNr: serverSeq }), PEER);
    expect(conn.outstandingPackets).toBe(0);
    await h.sock.close();
  });

  it('resends the first unacked packet after three duplicate acks (no selective ack involved)', async () => {
    const h = harness();
    const { conn, serverSeq } = await dialIn(h);
    conn.write(Buffer.alloc(5 * 1380, 7));
    await h.clock.advance(1);
    const firstSends = h.sent.filter((s) => s.packet.type === PacketType.data);
    expect(firstSends.length).toBeGreaterThanOrEqual(2);
    const dup = pkt({ type: PacketType.state, connectionId: 101, seqNr: 502, ackNr: (serverSeq - 1) & 0xffff });
    h.sock.handleDatagram(dup, PEER);
    h.sock.handleDatagram(dup, PEER);
    const before = h.sent.length;
    expect(conn.stats.retransmits).toBe(0);
    h.sock.handleDatagram(dup, PEER);
    const resent = h.sent.slice(before).filter((s) => s.packet.type === PacketType.data);
    expect(resent[0]!.packet.seqNr).toBe(serverSeq);
    expect(conn.stats.retransmits).toBe(1);
    expect(conn.stats.timeouts).toBe(0);
    await h.sock.close();
  });

  it('ignores a selective ack naming packets never sent', async () => {
    const h = harness();
    const { conn, serverSeq } = await dialIn(h);
    conn.write(Buffer.from('abc'));
    await h.clock.advance(1);
    h.sock.handleDatagram(
      pkt({ type: PacketType.state, connectionId: 101, seqNr: 502, ackNr: (serverSeq - 1) & 0xffff, sack: new Uint8Array([0xff, 0xff, 0xff, 0xff]) }),
      PEER,
    );
    expect(conn.outstandingPackets).toBe(1);
    expect(conn.stats.fastRetransmits).toBe(0);
    await h.sock.close();
  });

  it('a RESET from the peer ends the connection with ECONNRESET and frees its slot', async () => {
    const h = harness();
    const { conn } = await dialIn(h);
    let err: Error | null = null;
    conn.on('error', (e: Error) => {
      err = e;
    });
    h.sock.handleDatagram(pkt({ type: PacketType.reset, connectionId: 101 }), PEER);
    await h.clock.advance(1);
    expect(err).toMatchObject({ code: 'ECONNRESET', errno: 'ECONNRESET' });
    expect(h.sock.connectionCount).toBe(0);
    await h.sock.close();
  });

  it('a SYN answered by a RESET fails with code ECONNREFUSED, as a refused TCP connect does', async () => {
    const h = harness();
    const conn = h.sock.connect(PEER.address, PEER.port);
    let err: Error | null = null;
    conn.on('error', (e: Error) => {
      err = e;
    });
    const syn = h.sent.at(-1)!.packet;
    expect(syn.type).toBe(PacketType.syn);
    // As our own socket refuses a SYN (sendReset): with the SYN's connection id.
    h.sock.handleDatagram(pkt({ type: PacketType.reset, connectionId: syn.connectionId, ackNr: syn.seqNr }), PEER);
    await h.clock.advance(1);
    expect(err).toBeInstanceOf(UtpError);
    expect(err).toMatchObject({ code: 'ECONNREFUSED', errno: 'ECONNREFUSED', message: `utp: connection refused by ${PEER.address}:${PEER.port}` });
    expect(conn.destroyed).toBe(true);
    expect(h.sock.connectionCount).toBe(0);
    await h.sock.close();
  });
});
