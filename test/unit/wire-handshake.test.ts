import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import {
  decodeHandshake,
  encodeHandshake,
  HANDSHAKE_BYTES,
  hasReserved,
  makePeerId,
  PROTOCOL,
  Reserved,
  reservedBits,
} from '../../src/wire/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const infoHash = hex('0123456789abcdef0123456789abcdef01234567');
const peerId = Buffer.from('-TS0001-abcdefghijkl', 'latin1');

/** Written out by hand from BEP 3: pstrlen, pstr, reserved, info hash, peer id. */
const HANDSHAKE_HEX = `
  13
  426974546f7272656e742070726f746f636f6c
  0000000000100005
  0123456789abcdef0123456789abcdef01234567
  2d5453303030312d6162636465666768696a6b6c`;

describe('handshake', () => {
  it('encodes to the exact BEP 3 layout', () => {
    const reserved = reservedBits({ extensionProtocol: true, dht: true });
    reserved[7]! |= Reserved.fast.mask; // set by hand: reservedBits never offers fast
    const out = encodeHandshake({ reserved, infoHash, peerId });
    expect(out.length).toBe(HANDSHAKE_BYTES);
    expect(out.toString('hex')).toBe(hex(HANDSHAKE_HEX).toString('hex'));
  });

  it('round trips and returns copies, not views', () => {
    const wire = Buffer.concat([encodeHandshake({ reserved: reservedBits({}), infoHash, peerId }), hex('0000000102')]);
    const h = decodeHandshake(wire)!;
    expect(h.reserved).toEqual(Buffer.alloc(8));
    expect(h.infoHash).toEqual(infoHash);
    expect(h.peerId).toEqual(peerId);
    wire.fill(0); // copies: clearing the received bytes leaves the decoded fields intact
    expect(h.infoHash).toEqual(infoHash);
  });

  it('returns null until 68 bytes are there', () => {
    const wire = encodeHandshake({ reserved: reservedBits({}), infoHash, peerId });
    for (let n = 0; n < HANDSHAKE_BYTES; n++) expect(decodeHandshake(wire.subarray(0, n))).toBeNull();
    expect(decodeHandshake(wire)).not.toBeNull();
  });

  it('rejects a wrong pstrlen or pstr with ProtocolError', () => {
    const good = encodeHandshake({ reserved: reservedBits({}), infoHash, peerId });
    const badLen = Buffer.from(good);
    badLen[0] = 18;
    expect(() => decodeHandshake(badLen)).toThrow(ProtocolError);
    expect(() => decodeHandshake(badLen)).toThrow(/length is 18, expected 19/);
    const badStr = Buffer.from(good);
    badStr[1] = 'b'.charCodeAt(0);
    expect(() => decodeHandshake(badStr)).toThrow(ProtocolError);
    expect(() => decodeHandshake(badStr)).toThrow(/not "BitTorrent protocol"/);
    // An HTTP request sent to a peer port.
    expect(() => decodeHandshake(Buffer.from('GET / HTTP/1.1\r\n'.padEnd(68, 'x')))).toThrow(ProtocolError);
  });

  it('refuses to encode fields of the wrong size', () => {
    expect(() => encodeHandshake({ reserved: Buffer.alloc(7), infoHash, peerId })).toThrow(RangeError);
    expect(() => encodeHandshake({ reserved: Buffer.alloc(8), infoHash: Buffer.alloc(32), peerId })).toThrow(RangeError);
    expect(() => encodeHandshake({ reserved: Buffer.alloc(8), infoHash, peerId: Buffer.alloc(19) })).toThrow(RangeError);
  });

  it('exposes the protocol string', () => {
    expect(PROTOCOL).toBe('BitTorrent protocol');
    expect(PROTOCOL.length).toBe(19);
  });
});

describe('reserved bits', () => {
  it('sets BEP 10 extension protocol and BEP 5 DHT bits only', () => {
    expect(reservedBits({}).toString('hex')).toBe('0000000000000000');
    expect(reservedBits({ extensionProtocol: true }).toString('hex')).toBe('0000000000100000');
    expect(reservedBits({ dht: true }).toString('hex')).toBe('0000000000000001');
    expect(reservedBits({ extensionProtocol: true, dht: true }).toString('hex')).toBe('0000000000100001');
  });

  it('sets the BEP 52 v2 bit, 0x10 of byte 7, beside the others', () => {
    expect(reservedBits({ v2: true }).toString('hex')).toBe('0000000000000010');
    expect(reservedBits({ v2: false }).toString('hex')).toBe('0000000000000000');
    expect(reservedBits({ extensionProtocol: true, dht: true, fast: true, v2: true }).toString('hex')).toBe('0000000000100015');
    expect(hasReserved(reservedBits({ v2: true }), Reserved.v2)).toBe(true);
    expect(hasReserved(reservedBits({ extensionProtocol: true }), Reserved.v2)).toBe(false);
  });

  it('reads bits', () => {
    const r = hex('0000000000100004');
    expect(hasReserved(r, Reserved.extensionProtocol)).toBe(true);
    expect(hasReserved(r, Reserved.fast)).toBe(true);
    expect(hasReserved(r, Reserved.dht)).toBe(false);
    expect(hasReserved(Buffer.alloc(0), Reserved.dht)).toBe(false);
  });
});

describe('makePeerId', () => {
  it('is -TS0001- followed by 12 bytes from the injected source', () => {
    const asked: number[] = [];
    const id = makePeerId((n) => {
      asked.push(n);
      return Buffer.alloc(n, 0xab);
    });
    expect(asked).toEqual([12]);
    expect(id.length).toBe(20);
    expect(id.subarray(0, 8).toString('latin1')).toBe('-TS0001-');
    expect(id.subarray(8)).toEqual(Buffer.alloc(12, 0xab));
  });

  it('rejects a random source that returns the wrong size', () => {
    expect(() => makePeerId(() => Buffer.alloc(11))).toThrow(RangeError);
  });
});
