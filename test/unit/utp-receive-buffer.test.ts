/**
 * The uTP receive side (src/utp/receive-buffer.ts) alone: in-order delivery without copies, the
 * reorder buffer and its bounds, duplicates, the receive window, the peer's FIN, and the
 * selective ack it builds. No socket, no stream: `readableLength` stands for the stream's unread bytes.
 */
import { describe, expect, it } from 'vitest';
import { MAX_REORDER_PACKETS } from '../../src/utp/constants.js';
import { MAX_SACK_BYTES, PacketType, SEQ_MASK, type Packet } from '../../src/utp/packet.js';
import { FIN_MARK, ReceiveBuffer, Received } from '../../src/utp/receive-buffer.js';

const BUFFER = 10_000;

function setup(ackNr = 500) {
  const stats = { duplicatePackets: 0, droppedPackets: 0 };
  return { rx: new ReceiveBuffer(BUFFER, ackNr, stats), stats };
}

function data(seq: number, payload: Uint8Array | string = `#${seq}`): Packet {
  return {
    type: PacketType.data,
    connectionId: 1,
    timestampUs: 0,
    timestampDiffUs: 0,
    wndSize: 1 << 20,
    seqNr: seq & SEQ_MASK,
    ackNr: 0,
    sack: null,
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
  };
}

function fin(seq: number): Packet {
  return { ...data(seq, new Uint8Array(0)), type: PacketType.fin };
}

/** Everything now in order, as strings ('FIN' for the FIN). */
function take(rx: ReceiveBuffer): string[] {
  const out: string[] = [];
  for (let b = rx.takeNext(); b !== null; b = rx.takeNext()) out.push(b === FIN_MARK ? 'FIN' : b.toString());
  return out;
}

describe('ReceiveBuffer', () => {
  it('delivers the next packet at once, as a view of the datagram', () => {
    const { rx } = setup();
    const datagram = Buffer.from('xxhello');
    expect(rx.receive(data(501, datagram.subarray(2)), 0)).toBe(Received.deliver);
    expect(rx.ackNr).toBe(501);
    const b = rx.takeNext()!;
    expect(b.toString()).toBe('hello');
    expect(b.buffer).toBe(datagram.buffer);
    expect(rx.takeNext()).toBeNull();
  });

  it('holds packets out of order and delivers them in order when the hole fills', () => {
    const { rx } = setup();
    expect(rx.receive(data(503), 0)).toBe(Received.ack);
    expect(rx.receive(data(504), 0)).toBe(Received.ack);
    expect(rx.heldPackets).toBe(2);
    expect(rx.ackNr).toBe(500);
    expect(rx.receive(data(501), 0)).toBe(Received.deliver);
    // 502 is still missing: only 501 comes out.
    expect(take(rx)).toEqual(['#501']);
    expect(rx.receive(data(502), 0)).toBe(Received.deliver);
    expect(take(rx)).toEqual(['#502', '#503', '#504']);
    expect(rx.ackNr).toBe(504);
    expect(rx.heldPackets).toBe(0);
    expect(rx.window(0)).toBe(BUFFER);
  });

  it('counts duplicates, of what was delivered and of what is held, and asks for an ack', () => {
    const { rx, stats } = setup();
    rx.receive(data(501), 0);
    take(rx);
    expect(rx.receive(data(501), 0)).toBe(Received.ack);
    expect(rx.receive(data(480), 0)).toBe(Received.ack);
    rx.receive(data(505), 0);
    expect(rx.receive(data(505), 0)).toBe(Received.ack);
    expect(stats.duplicatePackets).toBe(3);
    expect(rx.heldPackets).toBe(1);
  });

  it(`drops a packet more than ${MAX_REORDER_PACKETS} ahead, without an ack`, () => {
    const { rx, stats } = setup();
    expect(rx.receive(data(500 + MAX_REORDER_PACKETS), 0)).toBe(Received.ack);
    expect(rx.receive(data(500 + MAX_REORDER_PACKETS + 1), 0)).toBe(Received.drop);
    expect(stats.droppedPackets).toBe(1);
    expect(rx.heldPackets).toBe(1);
  });

  it('holds packets out of order only within the buffer; the window is what is left', () => {
    const { rx, stats } = setup();
    const big = new Uint8Array(3000);
    expect(rx.receive(data(502, big), 0)).toBe(Received.ack);
    expect(rx.window(4000)).toBe(BUFFER - 4000 - 3000);
    // 4000 unread + 3000 held + 3001 > 10 000: dropped, and acked so the sender learns the window.
    expect(rx.receive(data(503, new Uint8Array(3001)), 4000)).toBe(Received.ack);
    expect(stats.droppedPackets).toBe(1);
    expect(rx.receive(data(503, new Uint8Array(3000)), 4000)).toBe(Received.ack);
    expect(rx.receive(data(501, new Uint8Array(1000)), 4000)).toBe(Received.deliver);
    expect(take(rx).map((s) => s.length)).toEqual([1000, 3000, 3000]);
    expect(rx.window(BUFFER + 1)).toBe(0);
  });

  it('takes the packet that fills the hole even when held packets fill the buffer', () => {
    const { rx, stats } = setup();
    const full = (seq: number): Packet => data(seq, new Uint8Array(1380));
    for (let seq = 502; seq <= 508; seq++) expect(rx.receive(full(seq), 0)).toBe(Received.ack);
    expect(rx.window(0)).toBe(BUFFER - 7 * 1380);
    // One more out of order does not fit.
    expect(rx.receive(full(509), 0)).toBe(Received.ack);
    expect(stats.droppedPackets).toBe(1);
    // Neither would 501 by the same sum; dropped, it would leave the hole open for good.
    expect(rx.receive(full(501), 0)).toBe(Received.deliver);
    expect(take(rx).length).toBe(8);
    // Unread, they are one packet over the buffer at most; the window stays shut until they are read.
    expect(rx.window(8 * 1380)).toBe(0);
    // The next in order is still refused when the unread bytes leave no room (the reader stopped).
    expect(rx.receive(full(509), BUFFER - 1000)).toBe(Received.ack);
    expect(stats.droppedPackets).toBe(2);
    expect(rx.receive(full(509), BUFFER - 1380)).toBe(Received.deliver);
  });

  it("ends at the peer's FIN, taken in order: later packets are duplicates", () => {
    const { rx, stats } = setup();
    expect(rx.receive(fin(503), 0)).toBe(Received.ack);
    expect(rx.receive(data(502), 0)).toBe(Received.ack);
    expect(rx.ended).toBe(false);
    expect(rx.receive(data(501), 0)).toBe(Received.deliver);
    expect(take(rx)).toEqual(['#501', '#502', 'FIN']);
    expect(rx.ended).toBe(true);
    expect(rx.heldPackets).toBe(0);
    expect(rx.receive(data(504), 0)).toBe(Received.ack);
    expect(stats.duplicatePackets).toBe(1);
  });

  it('drops packets past a known FIN, and a second FIN elsewhere', () => {
    const { rx, stats } = setup();
    rx.receive(fin(505), 0);
    expect(rx.receive(data(506), 0)).toBe(Received.drop);
    expect(stats.droppedPackets).toBe(1);
    expect(rx.receive(fin(504), 0)).toBe(Received.drop);
    expect(rx.receive(fin(505), 0)).toBe(Received.ack);
    expect(stats.duplicatePackets).toBe(1);
  });

  it('a FIN delivered in order drops what was held past it', () => {
    const { rx } = setup();
    rx.receive(data(510), 0);
    expect(rx.receive(fin(501), 0)).toBe(Received.deliver);
    expect(take(rx)).toEqual(['FIN']);
    expect(rx.heldPackets).toBe(0);
    expect(rx.window(0)).toBe(BUFFER);
  });

  it('a dialler takes its first sequence number from the STATE', () => {
    const { rx } = setup(0);
    rx.expectFirst(0);
    expect(rx.ackNr).toBe(SEQ_MASK);
    expect(rx.receive(data(0), 0)).toBe(Received.deliver);
  });
});

describe('ReceiveBuffer: selective ack', () => {
  it('is null with nothing held', () => {
    expect(setup().rx.buildSack()).toBeNull();
  });

  it('names each held packet: bit i for ackNr + 2 + i, in whole 32-bit words', () => {
    const { rx } = setup();
    for (const seq of [502, 504, 533, 534]) rx.receive(data(seq), 0);
    const sack = rx.buildSack()!;
    // Bit 32 (packet 534) needs a second word.
    expect(sack.length).toBe(8);
    expect([...sack]).toEqual([0b0101, 0, 0, 0x80, 0x01, 0, 0, 0]);
  });

  it('counts across the 16-bit wrap', () => {
    const { rx } = setup(0xfffe);
    rx.receive(data(0), 0);
    rx.receive(data(1), 0);
    // ackNr 0xfffe: 0xffff is missing; 0 is bit 0, 1 is bit 1.
    expect([...rx.buildSack()!]).toEqual([0b11, 0, 0, 0]);
  });

  it(`the furthest packet it may hold fits in ${MAX_SACK_BYTES} bytes`, () => {
    const { rx } = setup();
    rx.receive(data(500 + MAX_REORDER_PACKETS), 0);
    rx.receive(data(502), 0);
    const sack = rx.buildSack()!;
    expect(sack.length).toBe(MAX_SACK_BYTES);
    expect(sack[0]).toBe(1);
  });
});
