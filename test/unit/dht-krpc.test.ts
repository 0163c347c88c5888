/**
 * KRPC datagrams checked without sockets (src/dht/krpc.ts): the junk and hostile datagrams of the
 * integration test's "survives hostile datagrams" case and more are refused, valid BEP 5 queries
 * and responses come back canonically, our replies are cut to BEP 5 sizes, and nothing throws
 * whatever the bytes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, encode, isBytes, isDict, isList, type BDict, type Encodable } from '../../src/bencode/index.js';
import { ID_BYTES, MAX_PACKET_BYTES, sanitizeKrpc, trimReply } from '../../src/dht/krpc.js';

const id = Buffer.alloc(ID_BYTES, 0xaa);
const infoHash = Buffer.from('0123456789abcdef0123456789abcdef01234567', 'hex');
const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const q = (method: string, a: Record<string, Encodable>, t: Encodable = 'xx'): Buffer => encode({ t, y: 'q', q: method, a: { id, ...a } });
const r = (fields: Record<string, Encodable>, t: Encodable = 'xx'): Buffer => encode({ t, y: 'r', r: { id, ...fields } });
/** Compact node info (BEP 5): 20-byte id, IPv4, port; node i is 10.0.0.i:6881 with id bytes i. */
const compactNode = (i: number): Buffer => Buffer.concat([Buffer.alloc(ID_BYTES, i), Buffer.from([10, 0, 0, i & 0xff, 0x1a, 0xe1])]);
const compactPeer = (i: number): Buffer => Buffer.from([10, 1, (i >> 8) & 0xff, i & 0xff, 0x1a, 0xe1]);

/** Reproducible noise, as the integration test sends it (there with Math.random). */
function noise(count: number): Buffer[] {
  let s = 0x2545f491;
  const next = (): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s >>> 24;
  };
  return Array.from({ length: count }, (_, i) => Buffer.from(Array.from({ length: 1 + ((i * 37) % 1400) }, next)));
}

/** A ping whose extension key `x` pads it to exactly `total` bytes. */
function pingOfLength(total: number): Buffer {
  const head = (n: number): Buffer => Buffer.concat([b('d1:ad2:id20:'), id, b(`1:x${n}:`)]);
  const tail = b('e1:q4:ping1:t2:aa1:y1:qe');
  let n = total - head(0).length - tail.length;
  while (head(n).length + n + tail.length > total) n--;
  return Buffer.concat([head(n), Buffer.alloc(n, 0x41), tail]);
}

/** get_peers with `info_hash` twice, in the given order: our decoder keeps the first. */
const dupInfoHash = (first: Buffer, second: Buffer): Buffer =>
  Buffer.concat([b('d1:ad2:id20:'), id, b('9:info_hash'), first, b('9:info_hash'), second, b('e1:q9:get_peers1:t2:dk1:y1:qe')]);
const hashValue = Buffer.concat([b('20:'), infoHash]);

const refused: [string, Buffer][] = [
  // from test/integration/dht.test.ts, "survives hostile datagrams"
  ...noise(200).map((buf, i): [string, Buffer] => [`noise ${i} (${buf.length} bytes)`, buf]),
  ['a 60 kB ping', Buffer.concat([b('d1:ad2:id20:'), id, b('1:x60000:'), Buffer.alloc(60_000, 0x41), b('e1:q4:ping1:t2:aa1:y1:qe')])],
  ['2000 nested lists', b('l'.repeat(2000) + 'e'.repeat(2000))],
  ['get_peers, info_hash an integer', q('get_peers', { info_hash: 5 })],
  ['get_peers, info_hash a list', q('get_peers', { info_hash: [1, 2] })],
  ['find_node, target an integer', q('find_node', { target: 5 })],
  ['announce_peer, token an integer', q('announce_peer', { info_hash: infoHash, port: 6881, token: 5 })],
  ['announce_peer, port a string', q('announce_peer', { info_hash: infoHash, port: 'x', token: 'abc' })],
  ['put (BEP 44)', q('put', { v: 'x'.repeat(900), token: 'abc' })],
  ['get (BEP 44)', q('get', { target: 5 })],
  ['ping, arguments an integer', encode({ t: 'xx', y: 'q', q: 'ping', a: 5 })],
  ['transaction id an integer', encode({ t: 5, y: 'r', r: { id } })],
  ['y a dictionary', encode({ t: 'xx', y: { a: 1 } })],
  ['response, id an integer', encode({ t: 'xx', y: 'r', r: { id: 5 } })],
  ['response, nodes/values/token of the wrong types', r({ nodes: 7, values: [1, 2], token: 3 })],
  ['error, e a dictionary', encode({ t: 'xx', y: 'e', e: { a: 1 } })],
  // duplicate keys: the first value counts, and here it is the bad one
  ['duplicate info_hash, the first an integer', dupInfoHash(b('i5e'), hashValue)],
  // size, depth and item bounds
  ['a ping one byte over MAX_PACKET_BYTES', pingOfLength(MAX_PACKET_BYTES + 1)],
  ['a ping with 10 nested lists', encode({ t: 'xx', y: 'q', q: 'ping', a: { id, x: [[[[[[[[[[]]]]]]]]]] } })],
  ['a ping with 700 integers', encode({ t: 'xx', y: 'q', q: 'ping', a: { id, x: Array.from({ length: 700 }, () => 0) } })],
  // not a KRPC message
  ['a list', encode(['t', 'xx'])],
  ['an integer', b('i5e')],
  ['a string', b('4:spam')],
  ['empty', Buffer.alloc(0)],
  ['truncated', q('ping', {}).subarray(0, 20)],
  ['trailing bytes', Buffer.concat([q('ping', {}), b('x')])],
  ['non-canonical integer', Buffer.concat([b('d1:ad2:id20:'), id, b('4:porti06ee1:q4:ping1:t2:aa1:y1:qe')])],
  ['no y', encode({ t: 'xx', q: 'ping', a: { id } })],
  ['y unknown', encode({ t: 'xx', y: 'x', a: { id } })],
  ['no transaction id', encode({ y: 'q', q: 'ping', a: { id } })],
  ['empty transaction id', q('ping', {}, '')],
  ['33-byte transaction id', q('ping', {}, 'x'.repeat(33))],
  // wrong id lengths
  ['query id of 19 bytes', encode({ t: 'xx', y: 'q', q: 'ping', a: { id: id.subarray(1) } })],
  ['query id of 21 bytes', encode({ t: 'xx', y: 'q', q: 'ping', a: { id: Buffer.concat([id, b('x')]) } })],
  ['query without id', encode({ t: 'xx', y: 'q', q: 'ping', a: {} })],
  ['find_node target of 19 bytes', q('find_node', { target: infoHash.subarray(1) })],
  ['find_node without target', q('find_node', {})],
  ['get_peers info_hash of 21 bytes', q('get_peers', { info_hash: Buffer.concat([infoHash, b('x')]) })],
  ['announce_peer info_hash of 19 bytes', q('announce_peer', { info_hash: infoHash.subarray(1), port: 6881, token: 'abc' })],
  ['response id of 19 bytes', encode({ t: 'xx', y: 'r', r: { id: id.subarray(1) } })],
  ['response without r', encode({ t: 'xx', y: 'r' })],
  ['nodes not a multiple of 26 bytes', r({ nodes: Buffer.concat([compactNode(1), b('x')]) })],
  ['a 5-byte value', r({ values: [compactPeer(1), compactPeer(2).subarray(1)] })],
  ['values a string', r({ values: compactPeer(1) })],
  // wrong token lengths
  ['announce_peer with an empty token', q('announce_peer', { info_hash: infoHash, port: 6881, token: '' })],
  ['announce_peer with a 65-byte token', q('announce_peer', { info_hash: infoHash, port: 6881, token: 'x'.repeat(65) })],
  ['announce_peer without a token', q('announce_peer', { info_hash: infoHash, port: 6881 })],
  ['announce_peer, port beyond 2^53', Buffer.concat([b('d1:ad2:id20:'), id, b('9:info_hash20:'), infoHash, b('4:porti9007199254740993e5:token3:abce1:q13:announce_peer1:t2:xx1:y1:qe')])],
  ['announce_peer, implied_port a string', q('announce_peer', { info_hash: infoHash, port: 6881, implied_port: '1', token: 'abc' })],
  ['response with a 65-byte token', r({ token: 'x'.repeat(65) })],
  // unsupported queries
  ['sample_infohashes (BEP 51)', q('sample_infohashes', { target: infoHash })],
  ['vote', q('vote', { target: infoHash })],
  ['PING in capitals', q('PING', {})],
  ['q an integer', encode({ t: 'xx', y: 'q', q: 1, a: { id } })],
  // errors
  ['error with three items', encode({ t: 'xx', y: 'e', e: [201, 'a', 'b'] })],
  ['error with a 257-byte message', encode({ t: 'xx', y: 'e', e: [201, 'x'.repeat(257)] })],
  ['error with a list inside', encode({ t: 'xx', y: 'e', e: [201, ['x']] })],
];

const accepted: [string, Buffer][] = [
  ['ping', q('ping', {})],
  ['ping with a 1-byte transaction id', q('ping', {}, 'x')],
  ['ping with a 32-byte transaction id', q('ping', {}, 'x'.repeat(32))],
  ['ping with extension keys (v, ro)', encode({ t: 'xx', y: 'q', q: 'ping', v: 'LT01', ro: 1, a: { id } })],
  ['find_node', q('find_node', { target: infoHash })],
  ['get_peers', q('get_peers', { info_hash: infoHash })],
  ['announce_peer', q('announce_peer', { info_hash: infoHash, port: 6881, token: 'abcd' })],
  ['announce_peer, implied_port and a 64-byte token', q('announce_peer', { info_hash: infoHash, implied_port: 1, token: 'x'.repeat(64) })],
  ['response to ping', r({})],
  ['response with nodes and a token', r({ nodes: Buffer.concat([compactNode(1), compactNode(2)]), token: 'x'.repeat(64) })],
  ['response with empty nodes', r({ nodes: Buffer.alloc(0), token: 'tok' })],
  ['response with 100 values', r({ token: 'abcd', values: Array.from({ length: 100 }, (_, i) => compactPeer(i)) })],
  ['error', encode({ t: 'xx', y: 'e', e: [201, 'A Generic Error Ocurred'] })],
  ['error with a 256-byte message', encode({ t: 'xx', y: 'e', e: [203, 'x'.repeat(256)] })],
  ['empty error list', encode({ t: 'xx', y: 'e', e: [] })],
  ['a ping of exactly MAX_PACKET_BYTES', pingOfLength(MAX_PACKET_BYTES)],
];

describe('sanitizeKrpc', () => {
  it.each(refused)('refuses %s', (_, buf) => {
    expect(sanitizeKrpc(buf)).toBeNull();
  });

  it.each(accepted)('passes %s through unchanged', (_, buf) => {
    expect(sanitizeKrpc(buf)).toEqual(buf);
  });

  it('the size bound sits exactly at MAX_PACKET_BYTES', () => {
    expect(pingOfLength(MAX_PACKET_BYTES).length).toBe(MAX_PACKET_BYTES);
    expect(pingOfLength(MAX_PACKET_BYTES + 1).length).toBe(MAX_PACKET_BYTES + 1);
  });

  it('re-encodes canonically: keys sorted, the first of duplicate keys kept', () => {
    // The integration test's duplicate-key query: the package's lenient parser would keep the
    // last info_hash (an integer, which throws); it gets only the first.
    const dup = sanitizeKrpc(dupInfoHash(hashValue, b('i5e')));
    expect(dup).toEqual(encode({ t: 'dk', y: 'q', q: 'get_peers', a: { id, info_hash: infoHash } }));
    const unsorted = Buffer.concat([b('d1:y1:q1:t2:aa1:q4:ping1:ad2:id20:'), id, b('ee')]);
    expect(sanitizeKrpc(unsorted)).toEqual(encode({ t: 'aa', y: 'q', q: 'ping', a: { id } }));
  });
});

describe('trimReply', () => {
  const reply = (nodes: number, values: number): Buffer =>
    r({
      nodes: Buffer.concat(Array.from({ length: nodes }, (_, i) => compactNode(i))),
      token: 'abcd',
      ...(values > 0 ? { values: Array.from({ length: values }, (_, i) => compactPeer(i)) } : {}),
    });
  const fields = (buf: Buffer): BDict => {
    const m = decode(buf);
    if (!isDict(m)) throw new Error('not a dictionary');
    const rr = m.get('r');
    if (!isDict(rr)) throw new Error('no r');
    return rr;
  };

  it('cuts nodes to the first 8 (BEP 5 K) and values to the first 100', () => {
    const cut = trimReply(reply(30, 250));
    const rr = fields(cut);
    expect(rr.get('nodes')).toEqual(Buffer.concat(Array.from({ length: 8 }, (_, i) => compactNode(i))));
    const values = rr.get('values');
    expect(isList(values) && values).toEqual(Array.from({ length: 100 }, (_, i) => compactPeer(i)));
    // everything else as it was
    expect(rr.get('id')).toEqual(id);
    expect(rr.get('token')).toEqual(b('abcd'));
    expect(cut).toEqual(reply(8, 100));
  });

  it('cuts each field alone', () => {
    expect(trimReply(reply(9, 0))).toEqual(reply(8, 0));
    expect(trimReply(reply(2, 101))).toEqual(reply(2, 100));
  });

  it('returns a reply within the bounds as the same buffer', () => {
    for (const out of [reply(8, 100), reply(8, 0), reply(0, 0), r({})]) expect(trimReply(out)).toBe(out);
  });

  it('leaves queries, errors and undecodable bytes alone, however long', () => {
    const big = Buffer.concat(Array.from({ length: 30 }, (_, i) => compactNode(i)));
    for (const out of [
      q('find_node', { target: infoHash, x: big }),
      encode({ t: 'xx', y: 'e', e: [201, big.toString('latin1')] }),
      encode({ t: 'xx', y: 'r', r: big }),
      Buffer.concat([b('d1:rd5:nodes'), b(`${big.length + 10}:`), big]),
      Buffer.alloc(2000, 0x64),
    ]) {
      expect(trimReply(out)).toBe(out);
    }
  });
});

describe('KRPC checks (property)', () => {
  const bytesOfLength = fc.oneof(
    fc.constantFrom(0, 1, 2, 5, 6, 19, 20, 20, 20, 21, 26, 52, 64, 65).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
    fc.constantFrom('ping', 'find_node', 'get_peers', 'announce_peer', 'put', 'q', 'r', 'e', 'xx').map((s) => Buffer.from(s)),
  );
  const key = fc.constantFrom('t', 'y', 'q', 'a', 'r', 'e', 'id', 'target', 'info_hash', 'token', 'port', 'implied_port', 'nodes', 'values', 'v');
  const { value } = fc.letrec<{ value: Encodable }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      bytesOfLength,
      fc.integer(),
      fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
      fc.array(tie('value'), { maxLength: 5 }),
      fc.dictionary(key, tie('value'), { maxKeys: 6 }),
    ),
  }));
  const krpc = fc.record(
    {
      t: bytesOfLength,
      y: fc.constantFrom('q', 'r', 'e', 'x'),
      q: fc.constantFrom('ping', 'find_node', 'get_peers', 'announce_peer', 'get', 'vote'),
      a: fc.dictionary(key, value, { maxKeys: 6 }),
      r: fc.dictionary(key, value, { maxKeys: 6 }),
      e: fc.array(value, { maxLength: 3 }),
      v: value,
    },
    { requiredKeys: [] },
  );
  /** Near-KRPC messages: a top-level dictionary of KRPC keys, sometimes with a byte flipped or cut. */
  const message = fc.tuple(fc.oneof(krpc, fc.dictionary(key, value, { maxKeys: 6 })), fc.nat(), fc.integer({ min: 0, max: 2 })).map(([m, at, how]) => {
    const buf = encode(m);
    if (how === 0 || buf.length === 0) return buf;
    const i = at % buf.length;
    if (how === 1) return buf.subarray(0, i);
    const flipped = Buffer.from(buf);
    flipped[i] = flipped[i]! ^ (1 << at % 8);
    return flipped;
  });
  const valid = fc.constantFrom(...accepted.map(([, buf]) => buf));
  const datagram = fc.oneof(message, fc.uint8Array({ maxLength: 1500 }).map((u) => Buffer.from(u)), valid);

  it('never throws; whatever it returns is canonical, no longer than the input, and accepted again', () => {
    fc.assert(
      fc.property(datagram, (buf) => {
        const out = sanitizeKrpc(buf);
        if (out === null) return;
        expect(encode(decode(out))).toEqual(out);
        expect(out.length).toBeLessThanOrEqual(buf.length);
        expect(sanitizeKrpc(out)).toEqual(out);
      }),
      { numRuns: 5000 },
    );
  });

  it('finds accepted messages among the generated ones (the property above is not vacuous)', () => {
    const samples = fc.sample(message, { numRuns: 5000, seed: 1 });
    expect(samples.filter((buf) => sanitizeKrpc(buf) !== null).length).toBeGreaterThan(0);
  });

  it('trimReply never throws, never lengthens a decodable reply, and keeps it decodable', () => {
    const longReply = fc
      .tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 200 }), fc.dictionary(key, value, { maxKeys: 3 }))
      .map(([nodes, values, extra]) =>
        encode({
          t: 'xx',
          y: 'r',
          r: { ...extra, id, nodes: Buffer.concat(Array.from({ length: nodes }, (_, i) => compactNode(i))), values: Array.from({ length: values }, (_, i) => compactPeer(i)) },
        }),
      );
    fc.assert(
      fc.property(fc.oneof(longReply, datagram), (buf) => {
        const out = trimReply(buf);
        if (out === buf) return;
        expect(out.length).toBeLessThan(buf.length);
        const rr = decode(out);
        expect(isDict(rr)).toBe(true);
        const fieldsOut = (rr as BDict).get('r') as BDict;
        const nodes = fieldsOut.get('nodes');
        const values = fieldsOut.get('values');
        expect(!isBytes(nodes) || nodes.length <= 8 * 26).toBe(true);
        expect(!isList(values) || values.length <= 100).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
