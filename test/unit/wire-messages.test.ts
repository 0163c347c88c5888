import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import {
  decodeMessage,
  encodeHaves,
  encodeMessage,
  encodePieceHeader,
  MessageId,
  PIECE_HEADER_BYTES,
  validateBitfield,
  validateHave,
  type Message,
} from '../../src/wire/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Frame body (id + payload) from a whole frame, checking the length prefix on the way. */
function body(frame: Buffer): Buffer {
  expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
  return frame.subarray(4);
}

const EVERY_MESSAGE: Message[] = [
  { type: 'keep-alive' },
  { type: 'choke' },
  { type: 'unchoke' },
  { type: 'interested' },
  { type: 'not-interested' },
  { type: 'have', index: 0 },
  { type: 'have', index: 0xffffffff },
  { type: 'bitfield', bitfield: hex('ff80') },
  { type: 'bitfield', bitfield: Buffer.alloc(0) },
  { type: 'request', index: 1, begin: 16384, length: 16384 },
  { type: 'request', index: 0xffffffff, begin: 0xffffffff, length: 0 },
  { type: 'piece', index: 3, begin: 32768, block: Buffer.from('hello') },
  { type: 'piece', index: 3, begin: 0, block: Buffer.alloc(0) },
  { type: 'cancel', index: 1, begin: 16384, length: 16384 },
  { type: 'port', port: 6881 },
  { type: 'port', port: 0 },
  { type: 'extended', id: 0, payload: Buffer.from('d1:md11:ut_metadatai1eee') },
  { type: 'extended', id: 255, payload: Buffer.alloc(0) },
  { type: 'suggest-piece', index: 2 },
  { type: 'have-all' },
  { type: 'have-none' },
  { type: 'reject-request', index: 1, begin: 16384, length: 16384 },
  { type: 'allowed-fast', index: 0xffffffff },
  { type: 'unknown', id: 21, payload: hex('00000001') },
  { type: 'unknown', id: 255, payload: Buffer.alloc(0) },
];

describe('message round trip', () => {
  for (const m of EVERY_MESSAGE) {
    it(`${m.type} ${JSON.stringify(m).slice(0, 60)}`, () => {
      expect(decodeMessage(body(encodeMessage(m)))).toEqual(m);
    });
  }
});

describe('exact byte layouts (BEP 3)', () => {
  it('keep-alive is four zero bytes', () => {
    expect(encodeMessage({ type: 'keep-alive' }).toString('hex')).toBe('00000000');
    expect(decodeMessage(Buffer.alloc(0))).toEqual({ type: 'keep-alive' });
  });

  it('payload-less messages', () => {
    expect(encodeMessage({ type: 'choke' }).toString('hex')).toBe('0000000100');
    expect(encodeMessage({ type: 'unchoke' }).toString('hex')).toBe('0000000101');
    expect(encodeMessage({ type: 'interested' }).toString('hex')).toBe('0000000102');
    expect(encodeMessage({ type: 'not-interested' }).toString('hex')).toBe('0000000103');
  });

  it('have', () => {
    expect(encodeMessage({ type: 'have', index: 0x01020304 })).toEqual(hex('00000005 04 01020304'));
    expect(decodeMessage(hex('04 01020304'))).toEqual({ type: 'have', index: 0x01020304 });
  });

  it('a run of haves is the have frames back to back, cut at count or where the pieces end', () => {
    const frames = (indexes: number[]): Buffer => Buffer.concat(indexes.map((index) => encodeMessage({ type: 'have', index })));
    expect(encodeHaves([0, 3, 0x01020304], 3)).toEqual(hex('00000005 04 00000000 00000005 04 00000003 00000005 04 01020304'));
    expect(encodeHaves(new Set([7, 1, 9]), 3)).toEqual(frames([7, 1, 9]));
    expect(encodeHaves([5, 6, 7, 8], 2)).toEqual(frames([5, 6]));
    expect(encodeHaves([5], 3)).toEqual(frames([5]));
    expect(encodeHaves([5, 6], 0)).toEqual(Buffer.alloc(0));
  });

  it('bitfield', () => {
    expect(encodeMessage({ type: 'bitfield', bitfield: hex('a5c0') })).toEqual(hex('00000003 05 a5c0'));
  });

  it('request and cancel', () => {
    const req = hex('0000000d 06 00000001 00004000 00004000');
    expect(encodeMessage({ type: 'request', index: 1, begin: 0x4000, length: 0x4000 })).toEqual(req);
    expect(decodeMessage(req.subarray(4))).toEqual({ type: 'request', index: 1, begin: 0x4000, length: 0x4000 });
    expect(encodeMessage({ type: 'cancel', index: 1, begin: 0x4000, length: 0x4000 })).toEqual(
      hex('0000000d 08 00000001 00004000 00004000'),
    );
  });

  it('piece', () => {
    const piece = hex('0000000c 07 00000002 00008000 616263');
    expect(encodeMessage({ type: 'piece', index: 2, begin: 0x8000, block: Buffer.from('abc') })).toEqual(piece);
    expect(decodeMessage(piece.subarray(4))).toEqual({ type: 'piece', index: 2, begin: 0x8000, block: Buffer.from('abc') });
  });

  it('piece header alone is the first 13 bytes of the piece frame', () => {
    const block = Buffer.alloc(16384, 7);
    const header = encodePieceHeader(5, 16384, block.length);
    expect(header.length).toBe(PIECE_HEADER_BYTES);
    expect(header).toEqual(hex('00004009 07 00000005 00004000'));
    expect(Buffer.concat([header, block])).toEqual(encodeMessage({ type: 'piece', index: 5, begin: 16384, block }));
  });

  it('port (BEP 5) and extended (BEP 10)', () => {
    expect(encodeMessage({ type: 'port', port: 6881 })).toEqual(hex('00000003 09 1ae1'));
    expect(encodeMessage({ type: 'extended', id: 3, payload: Buffer.from('de') })).toEqual(hex('00000004 14 03 6465'));
    expect(MessageId.extended).toBe(20);
  });
});

describe('decoded buffers are views', () => {
  it('piece block, bitfield and payloads alias the input', () => {
    const piece = body(encodeMessage({ type: 'piece', index: 0, begin: 0, block: Buffer.from('xyz') }));
    const m = decodeMessage(piece);
    if (m.type !== 'piece') throw new Error(m.type);
    expect(m.block.buffer).toBe(piece.buffer);
    expect(m.block.byteOffset).toBe(piece.byteOffset + 9);
  });
});

describe('malformed bodies', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['choke with a payload', '00 00', /choke message: payload of 1 bytes, expected 0/],
    ['unchoke with a payload', '01 00', /unchoke/],
    ['interested with a payload', '02 0000', /interested/],
    ['not interested with a payload', '03 00', /not interested/],
    ['have of 3 bytes', '04 000001', /have message: payload of 3 bytes, expected 4/],
    ['have of 5 bytes', '04 0000000100', /have message: payload of 5 bytes, expected 4/],
    ['have of 0 bytes', '04', /have/],
    ['request of 11 bytes', '06 0000000100000000000040', /request message: payload of 11 bytes, expected 12/],
    ['request of 13 bytes', '06 00000001000000000000400000', /request/],
    ['cancel of 11 bytes', '08 0000000100000000000040', /cancel message: payload of 11 bytes, expected 12/],
    ['piece without begin', '07 00000001', /piece message: payload of 4 bytes, expected at least 8/],
    ['piece of 7 bytes', '07 00000001000000', /piece/],
    ['port of 1 byte', '09 1a', /port message: payload of 1 bytes, expected 2/],
    ['port of 3 bytes', '09 1ae100', /port/],
    ['extended without its id', '14', /extended message: empty payload/],
  ];
  for (const [name, body, pattern] of cases) {
    it(name, () => {
      expect(() => decodeMessage(hex(body))).toThrow(ProtocolError);
      expect(() => decodeMessage(hex(body))).toThrow(pattern);
    });
  }

  it('does not apply policy: zero-length and huge requests decode', () => {
    expect(decodeMessage(hex('06 00000000 00000000 00000000'))).toEqual({ type: 'request', index: 0, begin: 0, length: 0 });
    expect(decodeMessage(hex('06 00000000 00000000 ffffffff'))).toEqual({ type: 'request', index: 0, begin: 0, length: 0xffffffff });
  });

  it('unknown ids are returned, not rejected (BEP 3)', () => {
    expect(decodeMessage(hex('15 00000001'))).toEqual({ type: 'unknown', id: 21, payload: hex('00000001') });
    expect(decodeMessage(hex('0c'))).toEqual({ type: 'unknown', id: 12, payload: Buffer.alloc(0) });
  });
});

describe('encode refuses values that cannot go on the wire', () => {
  it('out-of-range integers and ids', () => {
    expect(() => encodeMessage({ type: 'have', index: -1 })).toThrow(RangeError);
    expect(() => encodeMessage({ type: 'have', index: 2 ** 32 })).toThrow(RangeError);
    expect(() => encodeMessage({ type: 'port', port: 65536 })).toThrow(RangeError);
    expect(() => encodeMessage({ type: 'extended', id: 256, payload: Buffer.alloc(0) })).toThrow(RangeError);
    expect(() => encodeMessage({ type: 'unknown', id: 4, payload: Buffer.alloc(4) })).toThrow(/known/);
    // BEP 6 ids are known too: they encode as their own types.
    expect(() => encodeMessage({ type: 'unknown', id: 0x0e, payload: Buffer.alloc(0) })).toThrow(/known/);
    expect(() => encodeMessage({ type: 'allowed-fast', index: 2 ** 32 })).toThrow(RangeError);
    expect(() => encodeMessage({ type: 'reject-request', index: 0, begin: -1, length: 0 })).toThrow(RangeError);
  });
});

describe('validateBitfield', () => {
  it('accepts the exact size with clear spare bits', () => {
    expect(() => validateBitfield(hex('ff80'), 9)).not.toThrow();
    expect(() => validateBitfield(hex('ffff'), 16)).not.toThrow();
    expect(() => validateBitfield(hex('00'), 1)).not.toThrow();
  });

  it('rejects a wrong size', () => {
    expect(() => validateBitfield(hex('ff'), 9)).toThrow(ProtocolError);
    expect(() => validateBitfield(hex('ff8000'), 9)).toThrow(/3 bytes for 9 pieces, expected 2/);
    expect(() => validateBitfield(Buffer.alloc(0), 1)).toThrow(ProtocolError);
  });

  it('rejects spare bits', () => {
    expect(() => validateBitfield(hex('ffc0'), 9)).toThrow(ProtocolError);
    expect(() => validateBitfield(hex('ff40'), 9)).toThrow(/spare bits/);
    expect(() => validateBitfield(hex('01'), 7)).toThrow(ProtocolError);
  });
});

describe('validateHave', () => {
  it('accepts indexes of existing pieces only', () => {
    expect(() => validateHave(0, 1)).not.toThrow();
    expect(() => validateHave(9, 10)).not.toThrow();
    expect(() => validateHave(10, 10)).toThrow(ProtocolError);
    expect(() => validateHave(0xffffffff, 10)).toThrow(/piece 4294967295, but the torrent has 10 pieces/);
    expect(() => validateHave(0, 0)).toThrow(ProtocolError);
    expect(() => validateHave(-1, 10)).toThrow(ProtocolError);
  });
});
