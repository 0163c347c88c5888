import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import {
  decodeMetadataMessage,
  encodeMetadataMessage,
  MAX_METADATA_BYTES,
  MAX_METADATA_PIECES,
  METADATA_PIECE_BYTES,
  MetadataAssembler,
  metadataPieceCount,
  UnknownMetadataMessageError,
  type MetadataMessage,
} from '../../src/wire/index.js';

const text = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('BEP 9 examples', () => {
  it('request: d8:msg_typei0e5:piecei0ee', () => {
    const bytes = text('d8:msg_typei0e5:piecei0ee');
    expect(decodeMetadataMessage(bytes)).toEqual({ type: 'request', piece: 0 });
    expect(encodeMetadataMessage({ type: 'request', piece: 0 })).toEqual(bytes);
  });

  // BEP 9 prints the dictionary with total_size 3425 and the bytes with 34256; the bytes are used.
  it('data: d8:msg_typei1e5:piecei0e10:total_sizei34256ee followed by the piece', () => {
    const data = Buffer.alloc(METADATA_PIECE_BYTES, 'x');
    const bytes = Buffer.concat([text('d8:msg_typei1e5:piecei0e10:total_sizei34256ee'), data]);
    expect(decodeMetadataMessage(bytes)).toEqual({ type: 'data', piece: 0, totalSize: 34256, data });
    expect(encodeMetadataMessage({ type: 'data', piece: 0, totalSize: 34256, data })).toEqual(bytes);
  });

  // BEP 9's reject example prints msg_type 1 (a typo for 2).
  it('reject: d8:msg_typei2e5:piecei0ee', () => {
    const bytes = text('d8:msg_typei2e5:piecei0ee');
    expect(decodeMetadataMessage(bytes)).toEqual({ type: 'reject', piece: 0 });
    expect(encodeMetadataMessage({ type: 'reject', piece: 0 })).toEqual(bytes);
  });

  it('the last piece holds the remainder', () => {
    const data = Buffer.alloc(34256 - 2 * METADATA_PIECE_BYTES, 'y');
    expect(data.length).toBe(1488);
    const bytes = Buffer.concat([text('d8:msg_typei1e5:piecei2e10:total_sizei34256ee'), data]);
    expect(decodeMetadataMessage(bytes)).toEqual({ type: 'data', piece: 2, totalSize: 34256, data });
  });
});

describe('decodeMetadataMessage', () => {
  it('data is a copy, not a view into the payload', () => {
    const payload = Buffer.concat([text('d8:msg_typei1e5:piecei0e10:total_sizei3ee'), text('abc')]);
    const m = decodeMetadataMessage(payload);
    if (m.type !== 'data') throw new Error(m.type);
    payload.fill(0);
    expect(m.data).toEqual(text('abc'));
  });

  it('ignores unknown keys, and total_size on a request or reject (libtorrent sends it on every message)', () => {
    expect(decodeMetadataMessage(text('d8:msg_typei2e5:piecei1e10:total_sizei34256e1:zli1eee'))).toEqual({ type: 'reject', piece: 1 });
    expect(decodeMetadataMessage(text('d8:msg_typei0e5:piecei1e10:total_sizei-5ee'))).toEqual({ type: 'request', piece: 1 });
  });

  it('an unknown msg_type is an UnknownMetadataMessageError, which BEP 9 callers may ignore', () => {
    for (const t of ['i3e', 'i-1e', 'i9223372036854775807e']) {
      const payload = text(`d8:msg_type${t}5:piecei0ee`);
      expect(() => decodeMetadataMessage(payload)).toThrow(UnknownMetadataMessageError);
      expect(() => decodeMetadataMessage(payload)).toThrow(ProtocolError);
    }
    try {
      decodeMetadataMessage(text('d8:msg_typei7ee'));
      expect.unreachable();
    } catch (e) {
      expect((e as UnknownMetadataMessageError).msgType).toBe(7);
    }
  });

  const full = Buffer.alloc(METADATA_PIECE_BYTES, 1);
  const cases: Array<[string, Buffer, RegExp]> = [
    ['empty payload', text(''), /ut_metadata message: /],
    ['not a dictionary', text('li0ee'), /not a bencoded dictionary/],
    ['truncated dictionary', text('d8:msg_typei0e5:piecei0e'), /unterminated dictionary/],
    ['missing msg_type', text('d5:piecei0ee'), /msg_type missing/],
    ['msg_type as a string', text('d8:msg_type1:05:piecei0ee'), /msg_type missing or not an integer/],
    ['missing piece', text('d8:msg_typei0ee'), /piece missing/],
    ['negative piece', text('d8:msg_typei0e5:piecei-1ee'), /piece -1/],
    ['piece as a string', text('d8:msg_typei2e5:piece1:0e'), /piece not an integer/],
    ['piece past any metadata', text(`d8:msg_typei0e5:piecei${MAX_METADATA_PIECES}ee`), /piece 1024, expected an integer 0\.\.1023/],
    ['request with trailing bytes', text('d8:msg_typei0e5:piecei0eex'), /request: 1 bytes after the dictionary/],
    ['reject with trailing bytes', text('d8:msg_typei2e5:piecei0eexyz'), /reject: 3 bytes after/],
    ['data without total_size', Buffer.concat([text('d8:msg_typei1e5:piecei0ee'), full]), /total_size missing/],
    ['data with total_size 0', text('d8:msg_typei1e5:piecei0e10:total_sizei0ee'), /total_size 0/],
    [
      'data with total_size over MAX_METADATA_BYTES',
      Buffer.concat([text(`d8:msg_typei1e5:piecei0e10:total_sizei${MAX_METADATA_BYTES + 1}ee`), full]),
      /total_size 16777217/,
    ],
    [
      'data longer than 16 KiB',
      Buffer.concat([text('d8:msg_typei1e5:piecei0e10:total_sizei100000ee'), full, text('x')]),
      /16385 bytes of data, more than 16384/,
    ],
    [
      'a short piece that is not the last',
      Buffer.concat([text('d8:msg_typei1e5:piecei0e10:total_sizei100000ee'), full.subarray(1)]),
      /piece 0 of 100000 bytes must be 16384 bytes, got 16383/,
    ],
    ['a last piece longer than the remainder', text('d8:msg_typei1e5:piecei0e10:total_sizei3eeabcd'), /must be 3 bytes, got 4/],
    ['a last piece shorter than the remainder', text('d8:msg_typei1e5:piecei0e10:total_sizei3eeab'), /must be 3 bytes, got 2/],
    ['a piece past total_size', text('d8:msg_typei1e5:piecei1e10:total_sizei3eeabc'), /piece 1, but 3 bytes make 1 pieces/],
  ];
  for (const [name, payload, pattern] of cases) {
    it(`ProtocolError: ${name}`, () => {
      expect(() => decodeMetadataMessage(payload)).toThrow(ProtocolError);
      expect(() => decodeMetadataMessage(payload)).toThrow(pattern);
    });
  }
});

describe('encodeMetadataMessage', () => {
  const bad: Array<[string, MetadataMessage]> = [
    ['negative piece', { type: 'request', piece: -1 }],
    ['piece past any metadata', { type: 'reject', piece: MAX_METADATA_PIECES }],
    ['fractional piece', { type: 'request', piece: 0.5 }],
    ['total size 0', { type: 'data', piece: 0, totalSize: 0, data: Buffer.alloc(0) }],
    ['total size over the limit', { type: 'data', piece: 0, totalSize: MAX_METADATA_BYTES + 1, data: Buffer.alloc(METADATA_PIECE_BYTES) }],
    ['piece past the total size', { type: 'data', piece: 1, totalSize: 10, data: Buffer.alloc(10) }],
    ['data of the wrong length', { type: 'data', piece: 0, totalSize: 10, data: Buffer.alloc(9) }],
  ];
  it.each(bad)('RangeError for %s', (_, m) => {
    expect(() => encodeMetadataMessage(m)).toThrow(RangeError);
  });
});

describe('metadataPieceCount', () => {
  it.each([
    [0, 0],
    [1, 1],
    [16384, 1],
    [16385, 2],
    [34256, 3],
    [MAX_METADATA_BYTES, MAX_METADATA_PIECES],
  ])('%i bytes -> %i pieces', (size, count) => {
    expect(metadataPieceCount(size)).toBe(count);
  });

  it('RangeError for a size that is not a non-negative integer', () => {
    expect(() => metadataPieceCount(-1)).toThrow(RangeError);
    expect(() => metadataPieceCount(1.5)).toThrow(RangeError);
  });

  it('the limits are what the comments say', () => {
    expect(METADATA_PIECE_BYTES).toBe(16384);
    expect(MAX_METADATA_BYTES).toBe(16 * 1024 * 1024);
    expect(MAX_METADATA_PIECES).toBe(1024);
  });
});

describe('MetadataAssembler', () => {
  const total = 34256;
  const original = Buffer.alloc(total);
  for (let i = 0; i < total; i++) original[i] = (i * 31) & 0xff;
  const piece = (i: number): Buffer => original.subarray(i * METADATA_PIECE_BYTES, Math.min(total, (i + 1) * METADATA_PIECE_BYTES));

  it('assembles pieces in any order and remembers who sent them', () => {
    const a = new MetadataAssembler(total);
    expect(a.pieceCount).toBe(3);
    expect(a.missing()).toEqual([0, 1, 2]);
    expect(a.complete).toBe(false);
    a.add(2, piece(2), 7);
    a.add(0, piece(0), 9);
    expect(a.missing()).toEqual([1]);
    a.add(1, piece(1), 7);
    expect(a.complete).toBe(true);
    expect(a.missing()).toEqual([]);
    expect(a.bytes()).toEqual(original);
    expect(a.contributors()).toEqual([7, 9]);
  });

  it('copies the data it is given', () => {
    const a = new MetadataAssembler(3);
    const data = text('abc');
    a.add(0, data, 1);
    data.fill(0);
    expect(a.bytes()).toEqual(text('abc'));
  });

  it('keeps the first copy of a piece and ignores later ones', () => {
    const a = new MetadataAssembler(total);
    a.add(1, piece(1), 1);
    a.add(1, Buffer.alloc(METADATA_PIECE_BYTES, 0xee), 2);
    a.add(0, piece(0), 1);
    a.add(2, piece(2), 1);
    expect(a.bytes()).toEqual(original);
    expect(a.contributors()).toEqual([1]);
  });

  it('ProtocolError for a piece of the wrong size or out of range', () => {
    const a = new MetadataAssembler(total);
    expect(() => a.add(0, piece(0).subarray(1), 1)).toThrow(/must be 16384 bytes, got 16383/);
    expect(() => a.add(2, Buffer.alloc(METADATA_PIECE_BYTES), 1)).toThrow(/must be 1488 bytes, got 16384/);
    expect(() => a.add(2, piece(2).subarray(1), 1)).toThrow(ProtocolError);
    expect(() => a.add(3, Buffer.alloc(0), 1)).toThrow(/piece 3, but 34256 bytes make 3 pieces/);
    expect(() => a.add(-1, piece(0), 1)).toThrow(ProtocolError);
    expect(() => a.add(0.5, piece(0), 1)).toThrow(ProtocolError);
    // A duplicate of the wrong size is still a violation.
    a.add(0, piece(0), 1);
    expect(() => a.add(0, piece(0).subarray(1), 2)).toThrow(ProtocolError);
    expect(a.missing()).toEqual([1, 2]);
  });

  it('a size that is a multiple of 16 KiB has no short last piece', () => {
    const a = new MetadataAssembler(2 * METADATA_PIECE_BYTES);
    expect(() => a.add(1, Buffer.alloc(1), 1)).toThrow(ProtocolError);
    a.add(1, Buffer.alloc(METADATA_PIECE_BYTES), 1);
    expect(a.missing()).toEqual([0]);
  });

  it('bytes() before completion is a caller bug, not a protocol error', () => {
    const a = new MetadataAssembler(total);
    expect(() => a.bytes()).toThrow(/3 of 3 pieces missing/);
    expect(() => a.bytes()).not.toThrow(ProtocolError);
  });

  it('ProtocolError for a size a peer could not legally announce', () => {
    for (const size of [0, -1, 1.5, MAX_METADATA_BYTES + 1, Number.NaN]) {
      expect(() => new MetadataAssembler(size)).toThrow(ProtocolError);
    }
    expect(new MetadataAssembler(MAX_METADATA_BYTES).missing()).toHaveLength(MAX_METADATA_PIECES);
  });
});
