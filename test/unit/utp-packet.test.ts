/** uTP packet codec (src/utp/packet.ts): exact bytes, every rejection, sequence arithmetic. */
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import {
  decodePacket,
  encodePacket,
  HEADER_BYTES,
  looksLikeUtp,
  MAX_EXTENSIONS,
  MAX_SACK_BYTES,
  PacketType,
  seqDiff,
  seqLess,
  u32Less,
  type Packet,
} from '../../src/utp/packet.js';

const base: Packet = {
  type: PacketType.data,
  connectionId: 0x1234,
  timestampUs: 0xdeadbeef,
  timestampDiffUs: 0x01020304,
  wndSize: 0x00100000,
  seqNr: 0xfffe,
  ackNr: 0x0001,
  sack: null,
  payload: Buffer.from('hi'),
};

function rejected(bytes: Buffer, why: RegExp): void {
  const d = decodePacket(bytes);
  expect(d).toBeInstanceOf(ProtocolError);
  expect((d as ProtocolError).message).toMatch(why);
}

describe('utp packet codec', () => {
  it('encodes the BEP 29 header byte for byte', () => {
    const b = encodePacket(base);
    expect(b.toString('hex')).toBe('01' + '00' + '1234' + 'deadbeef' + '01020304' + '00100000' + 'fffe' + '0001' + Buffer.from('hi').toString('hex'));
    expect(encodePacket({ ...base, type: PacketType.syn, payload: Buffer.alloc(0) })[0]).toBe(0x41);
  });

  it('encodes and decodes a selective ack extension', () => {
    const sack = Uint8Array.from([0b101, 0, 0, 0x80]);
    const b = encodePacket({ ...base, type: PacketType.state, sack, payload: Buffer.alloc(0) });
    expect(b[1]).toBe(1);
    expect(b.subarray(HEADER_BYTES, HEADER_BYTES + 6).toString('hex')).toBe('000405000080');
    const d = decodePacket(b) as Packet;
    expect(Array.from(d.sack!)).toEqual([5, 0, 0, 0x80]);
    expect(d.payload.length).toBe(0);
  });

  it('reads a selective ack of a length that is not a multiple of 4, as libtorrent sends them', () => {
    const b = encodePacket({ ...base, payload: Buffer.alloc(0) });
    b[1] = 1;
    const d = decodePacket(Buffer.concat([b, Buffer.from([0, 13]), Buffer.alloc(13, 0x81)])) as Packet;
    expect(d.sack!.length).toBe(13);
  });

  it('skips unknown extensions (libutp sends extension 2 in its SYN) and finds the payload after them', () => {
    const hdr = encodePacket({ ...base, payload: Buffer.alloc(0) });
    hdr[1] = 2;
    const ext = Buffer.from([1, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4]);
    const d = decodePacket(Buffer.concat([hdr, ext, Buffer.from('data')])) as Packet;
    expect(Buffer.from(d.payload).toString()).toBe('data');
    expect(Array.from(d.sack!)).toEqual([1, 2, 3, 4]);
  });

  it('rejects a truncated header', () => {
    rejected(encodePacket(base).subarray(0, 19), /shorter than the 20-byte header/);
    rejected(Buffer.alloc(0), /shorter/);
  });

  it('rejects a wrong version and an unknown type', () => {
    const b = encodePacket(base);
    b[0] = 0x00; // libutp's version 0 header
    rejected(b, /version 0/);
    b[0] = 0x52;
    rejected(b, /version 2/);
    b[0] = 0x51;
    rejected(b, /unknown packet type 5/);
  });

  it('rejects an extension longer than the packet, or whose header is cut', () => {
    const b = encodePacket({ ...base, payload: Buffer.alloc(0) });
    b[1] = 1;
    rejected(Buffer.concat([b, Buffer.from([0, 8, 1, 2, 3, 4])]), /extension of 8 bytes runs past/);
    rejected(Buffer.concat([b, Buffer.from([0])]), /extension header runs past/);
  });

  it(`rejects a selective ack longer than ${MAX_SACK_BYTES} bytes, or empty`, () => {
    const b = encodePacket({ ...base, payload: Buffer.alloc(0) });
    b[1] = 1;
    rejected(Buffer.concat([b, Buffer.from([0, MAX_SACK_BYTES + 1]), Buffer.alloc(MAX_SACK_BYTES + 1)]), /exceeds/);
    rejected(Buffer.concat([b, Buffer.from([0, 0])]), /empty selective ack/);
    rejected(Buffer.concat([b, Buffer.from([1, 4, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0])]), /two selective-ack/);
  });

  it(`rejects a chain of more than ${MAX_EXTENSIONS} extensions`, () => {
    const b = encodePacket({ ...base, payload: Buffer.alloc(0) });
    b[1] = 3;
    const chain = Buffer.alloc(2 * (MAX_EXTENSIONS + 1));
    for (let i = 0; i < MAX_EXTENSIONS + 1; i++) chain[2 * i] = 3;
    rejected(Buffer.concat([b, chain]), /more than/);
  });

  it('keeps a window of 2^32-1 as the number it is (the connection clamps it)', () => {
    const d = decodePacket(encodePacket({ ...base, wndSize: 0xffffffff })) as Packet;
    expect(d.wndSize).toBe(0xffffffff);
  });

  it('tells uTP from DHT packets by the first byte', () => {
    expect(looksLikeUtp(encodePacket(base))).toBe(true);
    expect(looksLikeUtp(Buffer.from('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe'))).toBe(false);
    expect(looksLikeUtp(Buffer.alloc(19, 1))).toBe(false);
  });

  it('does sequence arithmetic modulo 2^16', () => {
    expect(seqDiff(2, 0xfffe)).toBe(4);
    expect(seqLess(0xfffe, 2)).toBe(true);
    expect(seqLess(2, 0xfffe)).toBe(false);
    expect(seqLess(5, 5)).toBe(false);
    expect(u32Less(0xfffffff0, 0x10)).toBe(true);
    expect(u32Less(0x10, 0xfffffff0)).toBe(false);
  });
});
