import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encode, type Encodable } from '../../src/bencode/index.js';
import { ProtocolError } from '../../src/errors.js';
import {
  decodeExtendedHandshake,
  decodeMetadataMessage,
  decodePex,
  encodeExtendedHandshake,
  encodeMetadataMessage,
  encodePex,
  MAX_METADATA_PIECES,
  MAX_PEX_PEERS,
  METADATA_PIECE_BYTES,
  MetadataAssembler,
  metadataPieceCount,
  type MetadataMessage,
  type PexMessage,
  type PexPeer,
} from '../../src/wire/index.js';

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((u) => Buffer.from(u));
/** `length` bytes from a seed: cheap to generate at 16 KiB and more, unlike random arrays. */
const filled = (length: number) =>
  fc.nat(0xffff).map((seed) => {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = (seed + i * 131 + (i >> 8)) & 0xff;
    return out;
  });

describe('extended handshake (BEP 10)', () => {
  it('decode(encode(h)) keeps every field; ids of 0 (disable) read as absent', () => {
    const handshake = fc.record(
      {
        m: fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 16 }), fc.nat({ max: 255 }), { maxKeys: 12 }),
        v: fc.string({ unit: 'grapheme', maxLength: 40 }),
        p: fc.integer({ min: 1, max: 65535 }),
        reqq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        metadataSize: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        yourip: fc.oneof(bytes(4, 4), bytes(16, 16)),
      },
      { requiredKeys: ['m'] },
    );
    fc.assert(
      fc.property(handshake, (h) => {
        const d = decodeExtendedHandshake(encodeExtendedHandshake(h));
        expect(Object.fromEntries(d.m)).toEqual(Object.fromEntries(Object.entries(h.m).filter(([, id]) => id !== 0)));
        expect(d.v).toBe(h.v ?? null);
        expect(d.p).toBe(h.p ?? null);
        expect(d.reqq).toBe(h.reqq ?? null);
        expect(d.metadataSize).toBe(h.metadataSize ?? null);
        expect(d.yourip).toEqual(h.yourip ?? null);
      }),
      { numRuns: 500 },
    );
  });
});

describe('ut_metadata (BEP 9)', () => {
  const piece = fc.nat({ max: MAX_METADATA_PIECES - 1 });
  const data = fc
    .integer({ min: 1, max: 5 * METADATA_PIECE_BYTES + 100 })
    .chain((totalSize) => fc.record({ totalSize: fc.constant(totalSize), piece: fc.nat({ max: metadataPieceCount(totalSize) - 1 }) }))
    .chain(({ totalSize, piece }) => {
      const length = Math.min(METADATA_PIECE_BYTES, totalSize - piece * METADATA_PIECE_BYTES);
      return filled(length).map((d): MetadataMessage => ({ type: 'data', piece, totalSize, data: d }));
    });
  const message: fc.Arbitrary<MetadataMessage> = fc.oneof(
    piece.map((p): MetadataMessage => ({ type: 'request', piece: p })),
    piece.map((p): MetadataMessage => ({ type: 'reject', piece: p })),
    data,
  );

  it('decodeMetadataMessage(encodeMetadataMessage(m)) == m', () => {
    fc.assert(
      fc.property(message, (m) => {
        const d = decodeMetadataMessage(encodeMetadataMessage(m));
        // Buffer.equals: vitest's deep equality walks a 16 KiB buffer byte by byte, slowly.
        if (m.type === 'data' && d.type === 'data') {
          expect(d.data.equals(m.data)).toBe(true);
          expect({ ...d, data: null }).toEqual({ ...m, data: null });
        } else {
          expect(d).toEqual(m);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the assembler rebuilds the metadata from pieces in any order, with repeats', () => {
    const scenario = fc
      .integer({ min: 1, max: 6 * METADATA_PIECE_BYTES })
      .chain((size) =>
        fc.record({
          metadata: filled(size),
          order: fc.shuffledSubarray([...Array(metadataPieceCount(size)).keys()], { minLength: metadataPieceCount(size) }),
          repeats: fc.array(fc.nat({ max: metadataPieceCount(size) - 1 }), { maxLength: 5 }),
        }),
      );
    fc.assert(
      fc.property(scenario, ({ metadata, order, repeats }) => {
        const a = new MetadataAssembler(metadata.length);
        const pieceOf = (i: number) => metadata.subarray(i * METADATA_PIECE_BYTES, (i + 1) * METADATA_PIECE_BYTES);
        for (const [k, i] of [...order, ...repeats].entries()) {
          expect(a.complete).toBe(k >= order.length);
          a.add(i, k < order.length ? pieceOf(i) : Buffer.alloc(pieceOf(i).length, 0xab), k % 3);
        }
        expect(a.complete).toBe(true);
        expect(a.missing()).toEqual([]);
        expect(a.bytes().equals(metadata)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});

describe('ut_pex (BEP 11)', () => {
  const port = fc.integer({ min: 1, max: 65535 });
  const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).filter((q) => q.some((x) => x !== 0));
  const ipv6Groups = fc
    .array(fc.oneof(fc.constant(0), fc.nat(0xffff)), { minLength: 8, maxLength: 8 })
    .filter((g) => g.some((x) => x !== 0) && !(g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff));
  /** Each address as some valid spelling, and its RFC 5952 form from an independent oracle. */
  const address = fc.oneof(
    ipv4.map((q) => ({ spelled: q.join('.'), canonical: q.join('.') })),
    fc.tuple(ipv6Groups, fc.boolean()).map(([g, upper]) => {
      const full = g.map((x) => x.toString(16).padStart(4, '0')).join(':');
      // The WHATWG URL serializer compresses IPv6 exactly as RFC 5952 does (IPv4-mapped aside).
      const canonical = new URL(`http://[${full}]/`).hostname.slice(1, -1);
      return { spelled: upper ? full.toUpperCase() : full, canonical };
    }),
  );
  const contacts = fc.uniqueArray(fc.record({ address, port, flags: fc.nat(255) }), {
    maxLength: MAX_PEX_PEERS,
    selector: (c) => `${c.address.canonical}|${c.port}`,
  });
  const ipv4First = <T extends { host: string }>(list: T[]): T[] => [
    ...list.filter((c) => !c.host.includes(':')),
    ...list.filter((c) => c.host.includes(':')),
  ];

  it('decodePex(encodePex(m)) == m, hosts in RFC 5952 form, IPv4 before IPv6', () => {
    fc.assert(
      fc.property(contacts, contacts, (added, dropped) => {
        const m: PexMessage = {
          added: added.map((c) => ({ host: c.address.spelled, port: c.port, flags: c.flags })),
          dropped: dropped.map((c) => ({ host: c.address.spelled, port: c.port })),
        };
        expect(decodePex(encodePex(m))).toEqual({
          added: ipv4First(added.map((c): PexPeer => ({ host: c.address.canonical, port: c.port, flags: c.flags }))),
          dropped: ipv4First(dropped.map((c) => ({ host: c.address.canonical, port: c.port }))),
        });
      }),
      { numRuns: 300 },
    );
  });
});

describe('hostile payloads raise only ProtocolError', () => {
  /** Calls `f`; anything thrown other than a ProtocolError fails the property. */
  function onlyProtocolErrors<T>(f: () => T): T | undefined {
    try {
      return f();
    } catch (e) {
      if (e instanceof ProtocolError) return undefined;
      throw e;
    }
  }

  function checkAll(payload: Buffer): void {
    const hs = onlyProtocolErrors(() => decodeExtendedHandshake(payload));
    if (hs) {
      for (const id of hs.m.values()) expect(id >= 1 && id <= 255).toBe(true);
      if (hs.p !== null) expect(hs.p >= 1 && hs.p <= 65535).toBe(true);
      if (hs.metadataSize !== null) expect(Number.isSafeInteger(hs.metadataSize) && hs.metadataSize >= 0).toBe(true);
      if (hs.yourip !== null) expect([4, 16]).toContain(hs.yourip.length);
    }
    const md = onlyProtocolErrors(() => decodeMetadataMessage(payload));
    if (md) {
      expect(md.piece >= 0 && md.piece < MAX_METADATA_PIECES).toBe(true);
      if (md.type === 'data') expect(md.data.length <= METADATA_PIECE_BYTES).toBe(true);
    }
    const pex = onlyProtocolErrors(() => decodePex(payload));
    if (pex) {
      expect(pex.added.length <= MAX_PEX_PEERS && pex.dropped.length <= MAX_PEX_PEERS).toBe(true);
      for (const c of [...pex.added, ...pex.dropped]) expect(c.port).toBeGreaterThan(0);
    }
  }

  it('arbitrary bytes', () => {
    fc.assert(fc.property(bytes(0, 300), (payload) => checkAll(payload)), { numRuns: 2000 });
  });

  it('bencoded dictionaries with the keys these codecs read, any values, any trailing bytes', () => {
    const keys = fc.constantFrom(
      'm', 'p', 'v', 'reqq', 'metadata_size', 'yourip', 'ut_metadata', 'ut_pex',
      'msg_type', 'piece', 'total_size',
      'added', 'added.f', 'added6', 'added6.f', 'dropped', 'dropped6', 'x',
    );
    const int = fc.oneof(
      fc.integer({ min: -3, max: 300 }),
      fc.constantFrom(0, 1, 2, 255, 256, 65535, 65536, 1024, 16384, 34256, 16 * 1024 * 1024, Number.MAX_SAFE_INTEGER),
      fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
    );
    const { value } = fc.letrec<{ value: Encodable }>((tie) => ({
      value: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        int,
        bytes(0, 40),
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(keys, tie('value'), { maxKeys: 6 }).map((o) => new Map(Object.entries(o))),
      ),
    }));
    const payload = fc
      .tuple(fc.dictionary(keys, value, { maxKeys: 8 }), fc.oneof(fc.constant(Buffer.alloc(0)), bytes(0, 40), filled(16384), filled(16385)))
      .map(([dict, tail]) => Buffer.concat([encode(new Map(Object.entries(dict))), tail]));
    fc.assert(fc.property(payload, (p) => checkAll(p)), { numRuns: 2000 });
  });
});
