import { describe, expect, it } from 'vitest';
import { encode } from '../../src/bencode/index.js';
import { ProtocolError } from '../../src/errors.js';
import { decodePex, encodePex, MAX_PEX_PEERS, PEX_INTERVAL_MS, PexFlags, type PexPeer } from '../../src/wire/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const text = (s: string): Buffer => Buffer.from(s, 'latin1');
const v4 = (a: number, b: number, c: number, d: number, port: number): Buffer => {
  const out = Buffer.from([a, b, c, d, 0, 0]);
  out.writeUInt16BE(port, 4);
  return out;
};

describe('BEP 11 layout', () => {
  const message = {
    added: [
      { host: '1.2.3.4', port: 6881, flags: PexFlags.seed | PexFlags.reachable },
      { host: '2001:db8::1', port: 51413, flags: PexFlags.utp },
    ],
    dropped: [
      { host: '10.0.0.1', port: 80 },
      { host: '::1', port: 443 },
    ],
  };
  const bytes = Buffer.concat([
    text('d5:added6:'),
    hex('01020304 1ae1'),
    text('7:added.f1:'),
    hex('12'),
    text('6:added618:'),
    hex('20010db8000000000000000000000001 c8d5'),
    text('8:added6.f1:'),
    hex('04'),
    text('7:dropped6:'),
    hex('0a000001 0050'),
    text('8:dropped618:'),
    hex('00000000000000000000000000000001 01bb'),
    text('e'),
  ]);

  it('encodes all six keys, compact entries and one flags byte per added contact', () => {
    expect(encodePex(message)).toEqual(bytes);
  });

  it('decodes them back', () => {
    expect(decodePex(bytes)).toEqual(message);
  });

  it('an empty message still has every key (BEP 11 wants at least one list)', () => {
    expect(encodePex({ added: [], dropped: [] }).toString('latin1')).toBe('d5:added0:7:added.f0:6:added60:8:added6.f0:7:dropped0:8:dropped60:e');
  });

  it('flags are the BEP 11 bits; the interval is one minute', () => {
    expect(PexFlags).toEqual({ encryption: 1, seed: 2, utp: 4, holepunch: 8, reachable: 16 });
    expect(PEX_INTERVAL_MS).toBe(60_000);
  });
});

describe('decodePex tolerates', () => {
  it('missing keys', () => {
    expect(decodePex(text('de'))).toEqual({ added: [], dropped: [] });
    expect(decodePex(encode({ dropped: v4(9, 9, 9, 9, 99) }))).toEqual({ added: [], dropped: [{ host: '9.9.9.9', port: 99 }] });
  });

  it('missing added.f: flags 0', () => {
    expect(decodePex(encode({ added: v4(1, 1, 1, 1, 1) })).added).toEqual([{ host: '1.1.1.1', port: 1, flags: 0 }]);
  });

  it('an added.f whose length does not match: flags 0, contacts kept', () => {
    const m = decodePex(encode({ added: Buffer.concat([v4(1, 1, 1, 1, 1), v4(2, 2, 2, 2, 2)]), 'added.f': hex('ff') }));
    expect(m.added).toEqual([
      { host: '1.1.1.1', port: 1, flags: 0 },
      { host: '2.2.2.2', port: 2, flags: 0 },
    ]);
  });

  it('keys of the wrong type: read as absent', () => {
    expect(decodePex(text('d5:addedi5e7:droppedlee'))).toEqual({ added: [], dropped: [] });
  });

  it('unknown keys', () => {
    expect(decodePex(text('d1:xd1:yli1eee5:added6:\x01\x02\x03\x04\x00\x01e')).added).toEqual([{ host: '1.2.3.4', port: 1, flags: 0 }]);
  });

  it('a compact list whose length is not a whole number of entries is ignored whole, others still read', () => {
    const m = decodePex(
      encode({
        added: Buffer.concat([v4(1, 1, 1, 1, 1), hex('ff')]),
        added6: Buffer.alloc(19, 1),
        dropped: v4(3, 3, 3, 3, 3),
        dropped6: Buffer.alloc(17, 1),
      }),
    );
    expect(m).toEqual({ added: [], dropped: [{ host: '3.3.3.3', port: 3 }] });
  });
});

describe('decodePex drops', () => {
  it('port 0, unspecified addresses and repeats', () => {
    const added = Buffer.concat([v4(1, 1, 1, 1, 0), v4(0, 0, 0, 0, 80), v4(5, 5, 5, 5, 80), v4(5, 5, 5, 5, 80), v4(5, 5, 5, 5, 81)]);
    const added6 = Buffer.concat([
      hex('00000000000000000000000000000000 0050'), // ::
      hex('00000000000000000000ffff00000000 0050'), // ::ffff:0.0.0.0
      hex('20010db8000000000000000000000001 0000'), // port 0
      hex('20010db8000000000000000000000001 0050'),
    ]);
    const m = decodePex(encode({ added, 'added.f': hex('0102030405'), added6, 'added6.f': hex('00000009') }));
    expect(m.added).toEqual([
      { host: '5.5.5.5', port: 80, flags: 3 },
      { host: '5.5.5.5', port: 81, flags: 5 },
      { host: '2001:db8::1', port: 80, flags: 9 },
    ]);
  });

  it(`contacts beyond MAX_PEX_PEERS (${MAX_PEX_PEERS}) per list, IPv4 first`, () => {
    const many = (n: number, size: 6 | 18): Buffer => {
      const out = Buffer.alloc(n * size);
      for (let i = 0; i < n; i++) {
        out.writeUInt32BE(0x0a000000 + i, i * size + size - 6);
        out.writeUInt16BE(1000 + i, i * size + size - 2);
        if (size === 18) out.writeUInt16BE(0x2001, i * size);
      }
      return out;
    };
    expect(decodePex(encode({ added: many(300, 6) })).added).toHaveLength(MAX_PEX_PEERS);
    const mixed = decodePex(encode({ added: many(150, 6), added6: many(100, 18), dropped: many(150, 6), dropped6: many(100, 18) }));
    expect(mixed.added).toHaveLength(MAX_PEX_PEERS);
    expect(mixed.added.filter((p) => p.host.includes(':'))).toHaveLength(50);
    expect(mixed.added[149]!.host).toBe('10.0.0.149');
    expect(mixed.added[150]!.host).toBe('2001::a00:0');
    expect(mixed.dropped).toHaveLength(MAX_PEX_PEERS);
  });
});

describe('IPv6 text is RFC 5952', () => {
  it.each([
    ['20010db8000000000000000000000001', '2001:db8::1'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'], // first of two equal runs
    ['20010db8000000010000000000000001', '2001:db8:0:1::1'], // the longer run wins
    ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'], // one zero group stays
    ['fe800000000000000000000000000001', 'fe80::1'],
    ['00000000000000000000000000000001', '::1'],
    ['20010db8000000000000000000000000', '2001:db8::'],
    ['00000000000000000000ffff01020304', '::ffff:1.2.3.4'], // IPv4-mapped, dotted (section 5)
    ['abcd00ef0000000000000000000000ff', 'abcd:ef::ff'],
  ])('%s -> %s', (bytes, host) => {
    const m = decodePex(encode({ added6: Buffer.concat([hex(bytes), hex('0050')]) }));
    expect(m.added).toEqual([{ host, port: 80, flags: 0 }]);
  });
});

describe('encodePex', () => {
  it('accepts any IPv6 spelling and writes canonical bytes', () => {
    const out = encodePex({ added: [{ host: '2001:0DB8:0000:0000:0000:0000:0000:0001', port: 1, flags: 0 }], dropped: [] });
    expect(decodePex(out).added).toEqual([{ host: '2001:db8::1', port: 1, flags: 0 }]);
    expect(decodePex(encodePex({ added: [{ host: '1:2:3:4:5:6:7.8.9.10', port: 1, flags: 0 }], dropped: [] })).added[0]!.host).toBe(
      '1:2:3:4:5:6:708:90a',
    );
  });

  it('sends an IPv4-mapped IPv6 host (a dual-stack socket address) as IPv4', () => {
    const out = encodePex({ added: [{ host: '::ffff:1.2.3.4', port: 6881, flags: 2 }], dropped: [{ host: '::FFFF:5.6.7.8', port: 1 }] });
    expect(decodePex(out)).toEqual({ added: [{ host: '1.2.3.4', port: 6881, flags: 2 }], dropped: [{ host: '5.6.7.8', port: 1 }] });
  });

  it('leaves out what decodePex would drop: host names, zone ids, port 0, unspecified, repeats', () => {
    const added: PexPeer[] = [
      { host: 'example.com', port: 1, flags: 0 },
      { host: 'fe80::1%eth0', port: 1, flags: 0 },
      { host: '[::1]', port: 1, flags: 0 },
      { host: '1.2.3.4', port: 0, flags: 0 },
      { host: '0.0.0.0', port: 1, flags: 0 },
      { host: '::', port: 1, flags: 0 },
      { host: '1.2.3.4', port: 5, flags: 1 },
      { host: '::ffff:1.2.3.4', port: 5, flags: 2 },
      { host: '2001:db8::1', port: 5, flags: 0 },
      { host: '2001:db8:0::1', port: 5, flags: 0 },
    ];
    expect(decodePex(encodePex({ added, dropped: [] })).added).toEqual([
      { host: '1.2.3.4', port: 5, flags: 1 },
      { host: '2001:db8::1', port: 5, flags: 0 },
    ]);
  });

  it('the same contact may be both added and dropped lists: the codec does not apply policy', () => {
    const m = { added: [{ host: '1.2.3.4', port: 5, flags: 0 }], dropped: [{ host: '1.2.3.4', port: 5 }] };
    expect(decodePex(encodePex(m))).toEqual(m);
  });

  it('RangeError for a list over MAX_PEX_PEERS, a bad port or bad flags', () => {
    const many = Array.from({ length: MAX_PEX_PEERS + 1 }, (_, i) => ({ host: `10.0.${i >> 8}.${i & 255}`, port: 1, flags: 0 }));
    expect(() => encodePex({ added: many, dropped: [] })).toThrow(RangeError);
    expect(() => encodePex({ added: [], dropped: many })).toThrow(RangeError);
    expect(() => encodePex({ added: [{ host: '1.2.3.4', port: 65536, flags: 0 }], dropped: [] })).toThrow(RangeError);
    expect(() => encodePex({ added: [], dropped: [{ host: '1.2.3.4', port: -1 }] })).toThrow(RangeError);
    expect(() => encodePex({ added: [{ host: '1.2.3.4', port: 1, flags: 256 }], dropped: [] })).toThrow(RangeError);
    expect(() => encodePex({ added: [{ host: '1.2.3.4', port: 1, flags: 0.5 }], dropped: [] })).toThrow(RangeError);
  });
});

describe('decodePex refuses what is not a PEX message', () => {
  it.each([
    ['empty payload', ''],
    ['a list', 'le'],
    ['a string', '5:added'],
    ['truncated', 'd5:added6:abc'],
    ['trailing bytes', 'dede'],
    ['nesting deeper than the bound', `d1:x${'l'.repeat(10)}${'e'.repeat(10)}e`],
    ['more items than the bound', `d1:xl${'i0e'.repeat(300)}ee`],
  ])('%s', (_, payload) => {
    expect(() => decodePex(text(payload))).toThrow(ProtocolError);
    expect(() => decodePex(text(payload))).toThrow(/^ut_pex message: /);
  });
});
