import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import {
  allowedFastSet,
  decodeMessage,
  encodeMessage,
  Framer,
  hasReserved,
  MAX_ALLOWED_FAST,
  MessageId,
  Reserved,
  reservedBits,
  type Message,
} from '../../src/wire/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('BEP 6 allowed-fast set', () => {
  const IH = Buffer.alloc(20, 0xaa);

  it("the BEP's vectors: 80.4.4.200, info hash 0xAA x 20, 1313 pieces, k = 7 and k = 9", () => {
    expect(allowedFastSet('80.4.4.200', IH, 1313, 7)).toEqual([1059, 431, 808, 1217, 287, 376, 1188]);
    expect(allowedFastSet('80.4.4.200', IH, 1313, 9)).toEqual([1059, 431, 808, 1217, 287, 376, 1188, 353, 508]);
  });

  it('depends on the /24 only, and IPv4-mapped IPv6 is the IPv4 address', () => {
    const set = allowedFastSet('80.4.4.200', IH, 1313, 9);
    expect(allowedFastSet('80.4.4.1', IH, 1313, 9)).toEqual(set);
    expect(allowedFastSet('::ffff:80.4.4.7', IH, 1313, 9)).toEqual(set);
    expect(allowedFastSet('80.4.5.200', IH, 1313, 9)).not.toEqual(set);
  });

  it('IPv6 gets an empty set (BEP 6 defines none)', () => {
    expect(allowedFastSet('2001:db8::1', IH, 1313, 9)).toEqual([]);
    expect(allowedFastSet('::1', IH, 1313, 9)).toEqual([]);
  });

  it('fewer pieces than k: every piece, once, and the loop ends', () => {
    expect(allowedFastSet('10.0.0.1', IH, 3, 10).sort()).toEqual([0, 1, 2]);
    expect(allowedFastSet('10.0.0.1', IH, 0, 10)).toEqual([]);
    expect(allowedFastSet('10.0.0.1', IH, 1313, 0)).toEqual([]);
  });

  it('refuses nonsense input', () => {
    expect(() => allowedFastSet('not an ip', IH, 10, 2)).toThrow(RangeError);
    expect(() => allowedFastSet('10.0.0.1', Buffer.alloc(19), 10, 2)).toThrow(RangeError);
    expect(() => allowedFastSet('10.0.0.1', IH, 10, MAX_ALLOWED_FAST + 1)).toThrow(RangeError);
    expect(() => allowedFastSet('10.0.0.1', IH, -1, 2)).toThrow(RangeError);
  });

  it('always min(k, pieceCount) distinct indexes below pieceCount', () => {
    fc.assert(
      fc.property(
        fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)),
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        fc.nat({ max: 5000 }),
        fc.nat({ max: MAX_ALLOWED_FAST }),
        (octets, ih, pieces, k) => {
          const set = allowedFastSet(octets.join('.'), Buffer.from(ih), pieces, k);
          expect(set.length).toBe(Math.min(k, pieces));
          expect(new Set(set).size).toBe(set.length);
          for (const i of set) expect(i).toBeLessThan(pieces);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('BEP 6 messages', () => {
  const cases: Array<[Message, string]> = [
    [{ type: 'suggest-piece', index: 0x01020304 }, '00000005 0d 01020304'],
    [{ type: 'have-all' }, '00000001 0e'],
    [{ type: 'have-none' }, '00000001 0f'],
    [{ type: 'reject-request', index: 1, begin: 0x4000, length: 0x4000 }, '0000000d 10 00000001 00004000 00004000'],
    [{ type: 'allowed-fast', index: 7 }, '00000005 11 00000007'],
  ];
  for (const [m, bytes] of cases) {
    it(`${m.type}: exact bytes both ways`, () => {
      expect(encodeMessage(m)).toEqual(hex(bytes));
      expect(decodeMessage(hex(bytes).subarray(4))).toEqual(m);
    });
  }

  it('ids are the BEP 6 ones', () => {
    expect([MessageId.suggestPiece, MessageId.haveAll, MessageId.haveNone, MessageId.rejectRequest, MessageId.allowedFast]).toEqual([
      0x0d, 0x0e, 0x0f, 0x10, 0x11,
    ]);
  });

  const malformed: Array<[string, string, RegExp]> = [
    ['suggest piece of 3 bytes', '0d 000001', /suggest piece message: payload of 3 bytes, expected 4/],
    ['have all with a payload', '0e 00', /have all message: payload of 1 bytes, expected 0/],
    ['have none with a payload', '0f 0000', /have none/],
    ['reject request of 11 bytes', '10 0000000100000000000040', /reject request message: payload of 11 bytes, expected 12/],
    ['reject request of 13 bytes', '10 00000001000000000000400000', /reject request/],
    ['allowed fast of 5 bytes', '11 0000000100', /allowed fast message: payload of 5 bytes, expected 4/],
  ];
  for (const [name, body, pattern] of malformed) {
    it(name, () => {
      expect(() => decodeMessage(hex(body))).toThrow(ProtocolError);
      expect(() => decodeMessage(hex(body))).toThrow(pattern);
    });
  }

  it('through the framer, after a bitfield-less start (have-all), in one stream', () => {
    const msgs: Message[] = [
      { type: 'have-all' },
      { type: 'allowed-fast', index: 3 },
      { type: 'suggest-piece', index: 9 },
      { type: 'reject-request', index: 3, begin: 0, length: 16384 },
      { type: 'have-none' },
    ];
    const f = new Framer({ maxMessageBytes: 64 });
    f.next();
    const stream = Buffer.concat(msgs.map(encodeMessage));
    const got: Message[] = [];
    for (let k = 0; k < stream.length; k++) {
      f.push(stream.subarray(k, k + 1));
      for (let m = f.next(); m; m = f.next()) got.push(m);
    }
    expect(got).toEqual(msgs);
  });

  it('have-all and have-none decode to shared objects (framing them allocates nothing)', () => {
    expect(decodeMessage(hex('0e'))).toBe(decodeMessage(hex('0e')));
    expect(decodeMessage(hex('0f'))).toBe(decodeMessage(hex('0f')));
  });
});

describe('BEP 6 reserved bit', () => {
  it('byte 7, 0x04, set only when asked, beside the others', () => {
    expect(reservedBits({ fast: true })).toEqual(hex('00000000 00000004'));
    expect(reservedBits({ fast: true, dht: true, extensionProtocol: true })).toEqual(hex('00000000 00100005'));
    expect(reservedBits({ dht: true })).toEqual(hex('00000000 00000001'));
    expect(hasReserved(reservedBits({ fast: true }), Reserved.fast)).toBe(true);
    expect(hasReserved(reservedBits({}), Reserved.fast)).toBe(false);
  });
});
