import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import {
  decodeExtendedHandshake,
  encodeExtendedHandshake,
  EXTENDED_HANDSHAKE_ID,
  MAX_EXTENDED_HANDSHAKE_BYTES,
} from '../../src/wire/index.js';

/** Bencode written as text, with \xNN escapes for the bytes that are not ASCII. */
const b = (s: string): Buffer => Buffer.from(s.replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');

describe('BEP 10 examples', () => {
  // BEP 10's table: m = {LT_metadata: 1, ut_pex: 2}, p = 6881, v = "µTorrent 1.2" (13 UTF-8 bytes).
  const example = b('d1:md11:LT_metadatai1e6:ut_pexi2ee1:pi6881e1:v13:\\xc2\\xb5Torrent 1.2e');

  it('decodes the example handshake', () => {
    expect(EXTENDED_HANDSHAKE_ID).toBe(0);
    expect(decodeExtendedHandshake(example)).toEqual({
      m: new Map([
        ['LT_metadata', 1],
        ['ut_pex', 2],
      ]),
      v: 'µTorrent 1.2',
      p: 6881,
      reqq: null,
      metadataSize: null,
      yourip: null,
    });
  });

  it('encodes it byte for byte', () => {
    expect(encodeExtendedHandshake({ m: { ut_pex: 2, LT_metadata: 1 }, p: 6881, v: 'µTorrent 1.2' })).toEqual(example);
  });

  it('the encoded form as printed in BEP 10 (6:µT_PEX, 7 bytes) is not valid bencode', () => {
    const printed = b('d1:md11:LT_metadatai1e6:\\xc2\\xb5T_PEXi2ee1:pi6881e1:v13:\\xc2\\xb5Torrent 1.2e');
    expect(() => decodeExtendedHandshake(printed)).toThrow(ProtocolError);
  });

  it('an id of 0 disables an extension, so it is dropped', () => {
    expect(decodeExtendedHandshake(b('d1:md11:LT_metadatai0e6:ut_pexi2eee')).m).toEqual(new Map([['ut_pex', 2]]));
  });

  it("BEP 9's handshake example: metadata_size", () => {
    const hs = decodeExtendedHandshake(b('d1:md11:ut_metadatai3ee13:metadata_sizei31235ee'));
    expect(hs.m.get('ut_metadata')).toBe(3);
    expect(hs.metadataSize).toBe(31235);
  });
});

describe('encodeExtendedHandshake', () => {
  it('writes every field, keys sorted', () => {
    const out = encodeExtendedHandshake({
      m: { ut_metadata: 1, ut_pex: 2 },
      v: 'torrent 0.1.0',
      p: 6881,
      reqq: 250,
      metadataSize: 31235,
      yourip: Buffer.from([127, 0, 0, 1]),
    });
    expect(out).toEqual(
      b('d1:md11:ut_metadatai1e6:ut_pexi2ee13:metadata_sizei31235e1:pi6881e4:reqqi250e1:v13:torrent 0.1.06:yourip4:\\x7f\\x00\\x00\\x01e'),
    );
  });

  it('an empty m is still written (BEP 10 defines m as the one required item)', () => {
    expect(encodeExtendedHandshake({ m: {} }).toString('latin1')).toBe('d1:mdee');
  });

  it('can send 0 to disable an extension', () => {
    expect(encodeExtendedHandshake({ m: { ut_pex: 0 } }).toString('latin1')).toBe('d1:md6:ut_pexi0eee');
  });

  it.each([
    ['m id 256', { m: { x: 256 } }],
    ['m id -1', { m: { x: -1 } }],
    ['m id 1.5', { m: { x: 1.5 } }],
    ['p 0', { m: {}, p: 0 }],
    ['p 65536', { m: {}, p: 65536 }],
    ['reqq 0', { m: {}, reqq: 0 }],
    ['metadata_size -1', { m: {}, metadataSize: -1 }],
    ['yourip of 5 bytes', { m: {}, yourip: Buffer.alloc(5) }],
    ['too large', { m: {}, v: 'x'.repeat(MAX_EXTENDED_HANDSHAKE_BYTES) }],
  ])('RangeError for %s', (_, h) => {
    expect(() => encodeExtendedHandshake(h)).toThrow(RangeError);
  });
});

describe('decodeExtendedHandshake tolerates what it does not need', () => {
  it('unknown keys, including nested ones', () => {
    const hs = decodeExtendedHandshake(b('d1:ei1e12:complete_agoi-1e1:md6:ut_pexi1ee3:zzzd1:ald1:bleeeee'));
    expect(hs.m).toEqual(new Map([['ut_pex', 1]]));
  });

  it('an empty dictionary: every field absent', () => {
    expect(decodeExtendedHandshake(b('de'))).toEqual({ m: new Map(), v: null, p: null, reqq: null, metadataSize: null, yourip: null });
  });

  it('m entries that are not one-byte ids are ignored', () => {
    const hs = decodeExtendedHandshake(b('d1:md1:ai-1e1:bi256e1:c1:x1:dle1:ei9223372036854775807e1:fi255e1:gi1eee'));
    expect(hs.m).toEqual(
      new Map([
        ['f', 255],
        ['g', 1],
      ]),
    );
  });

  it('extension names are UTF-8; names that are not are dropped', () => {
    const hs = decodeExtendedHandshake(b('d1:md7:\\xc2\\xb5T_PEXi2e2:\\xff\\xfei3eee'));
    expect(hs.m).toEqual(new Map([['µT_PEX', 2]]));
  });

  it('m that is not a dictionary reads as empty', () => {
    expect(decodeExtendedHandshake(b('d1:mli1eee')).m).toEqual(new Map());
    expect(decodeExtendedHandshake(b('d1:mi1ee')).m).toEqual(new Map());
  });

  it.each([
    ['p 0', 'd1:pi0ee', { p: null }],
    ['p 65536', 'd1:pi65536ee', { p: null }],
    ['p as a string', 'd1:p4:6881e', { p: null }],
    ['p 65535', 'd1:pi65535ee', { p: 65535 }],
    ['reqq 0', 'd4:reqqi0ee', { reqq: null }],
    ['reqq negative', 'd4:reqqi-5ee', { reqq: null }],
    ['reqq 250', 'd4:reqqi250ee', { reqq: 250 }],
    ['metadata_size 0', 'd13:metadata_sizei0ee', { metadataSize: 0 }],
    ['metadata_size negative', 'd13:metadata_sizei-1ee', { metadataSize: null }],
    ['metadata_size past 2^53', 'd13:metadata_sizei9007199254740993ee', { metadataSize: null }],
    ['metadata_size 2^53 - 1', 'd13:metadata_sizei9007199254740991ee', { metadataSize: Number.MAX_SAFE_INTEGER }],
    ['v as an integer', 'd1:vi1ee', { v: null }],
    ['v not UTF-8', 'd1:v2:\\xff\\xfee', { v: '\ufffd\ufffd' }],
    ['yourip of 5 bytes', 'd6:yourip5:abcdee', { yourip: null }],
    ['yourip IPv4', 'd6:yourip4:\\x0a\\x00\\x00\\x01e', { yourip: Buffer.from([10, 0, 0, 1]) }],
    ['yourip IPv6', 'd6:yourip16:\\x20\\x01\\x0d\\xb8\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01e', { yourip: Buffer.from('20010db8000000000000000000000001', 'hex') }],
  ])('%s', (_, text, expected) => {
    expect(decodeExtendedHandshake(b(text))).toMatchObject(expected);
  });

  it('strings and buffers are copies, not views into the payload', () => {
    const payload = b('d1:md6:ut_pexi1ee1:v3:abc6:yourip4:\\x01\\x02\\x03\\x04e');
    const hs = decodeExtendedHandshake(payload);
    payload.fill(0);
    expect(hs.v).toBe('abc');
    expect(hs.yourip).toEqual(Buffer.from([1, 2, 3, 4]));
    expect(hs.m.get('ut_pex')).toBe(1);
  });
});

describe('decodeExtendedHandshake refuses what is not a handshake', () => {
  it.each([
    ['empty payload', ''],
    ['a list', 'le'],
    ['an integer', 'i1e'],
    ['a string', '3:abc'],
    ['truncated', 'd1:md6:ut_pexi1e'],
    ['trailing bytes', 'dexx'],
    ['not bencode', 'hello'],
    ['a non-string key', 'di1ei2ee'],
    ['nesting deeper than the bound', `d1:x${'l'.repeat(20)}${'e'.repeat(20)}e`],
  ])('%s', (_, text) => {
    expect(() => decodeExtendedHandshake(b(text))).toThrow(ProtocolError);
  });

  it('more items than the bound', () => {
    expect(() => decodeExtendedHandshake(b(`d1:xl${'i0e'.repeat(5000)}ee`))).toThrow(ProtocolError);
  });

  it(`a payload over MAX_EXTENDED_HANDSHAKE_BYTES (${MAX_EXTENDED_HANDSHAKE_BYTES})`, () => {
    const body = 'x'.repeat(MAX_EXTENDED_HANDSHAKE_BYTES);
    expect(() => decodeExtendedHandshake(b(`d1:v${body.length}:${body}e`))).toThrow(/more than 65536/);
  });

  it('errors carry the protocol code, not the bencode one', () => {
    try {
      decodeExtendedHandshake(b('d'));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as ProtocolError).code).toBe('ERR_PROTOCOL');
      expect((e as ProtocolError).message).toMatch(/^extended handshake: /);
    }
  });
});
