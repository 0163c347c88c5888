/**
 * The DHT routing table file (src/dht/state-file.ts): what is accepted, skipped or refused when
 * read back, and what is written (which contacts, in which order, how many), without a socket or
 * a file.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeStateFile,
  MAX_STATE_BYTES,
  MAX_STATE_NODES,
  parseStateFile,
  type ParsedState,
  type RoutingState,
  type StateContact,
} from '../../src/dht/state-file.js';

const ourId = 'ab'.repeat(20);
const hexId = (i: number): string => i.toString(16).padStart(40, '0');

function json(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v), 'utf8');
}

function accepted(r: ParsedState): RoutingState {
  if (!r.ok) throw new Error(`refused: ${r.reason}`);
  return r.state;
}

function reason(r: ParsedState): string {
  if (r.ok) throw new Error('accepted');
  return r.reason;
}

/** The nodes of a file holding ourId and these entries, as host:port/id strings. */
function kept(nodes: unknown[]): string[] {
  return accepted(parseStateFile(json({ version: 1, id: ourId, nodes }))).nodes.map((n) => `${n.host}:${n.port}/${n.id.toString('hex')}`);
}

function contact(i: number, seen?: number): StateContact {
  return { id: Buffer.from(hexId(i), 'hex'), host: `10.0.${(i >> 8) & 0xff}.${i & 0xff}`, port: 1000 + i, ...(seen === undefined ? {} : { seen }) };
}

describe('state file: reading', () => {
  it('a file as we write it round-trips: same id, same nodes, same order', () => {
    const contacts = [contact(1, 300), contact(2, 200), contact(3, 100)];
    const bytes = encodeStateFile(Buffer.from(ourId, 'hex'), contacts)!;
    const state = accepted(parseStateFile(bytes));
    expect(state.id.toString('hex')).toBe(ourId);
    expect(state.nodes).toEqual(contacts.map((c) => ({ host: c.host, port: c.port, id: c.id })));
    // and written again from what was read, the file is the same bytes
    expect(encodeStateFile(state.id, state.nodes)!.equals(bytes)).toBe(true);
  });

  it('refuses a file that is not JSON', () => {
    for (const body of ['not json{', '', '{"version":1,', '\u0000', '{"version":1,"id":"' + ourId + '","nodes":[]}x']) {
      expect(reason(parseStateFile(Buffer.from(body, 'utf8'))), body).toBe('not JSON');
    }
    expect(reason(parseStateFile(Buffer.from([0xff, 0xfe, 0x00])))).toBe('not JSON');
  });

  it('refuses JSON of the wrong shape', () => {
    const shapes: unknown[] = [
      null,
      1,
      'text',
      true,
      [],
      [{ version: 1, id: ourId, nodes: [] }],
      {},
      { version: 2, id: ourId, nodes: [] },
      { version: '1', id: ourId, nodes: [] },
      { id: ourId, nodes: [] },
      { version: 1, nodes: [] },
      { version: 1, id: 'zz', nodes: 'x' },
      { version: 1, id: ourId.toUpperCase(), nodes: [] },
      { version: 1, id: ourId.slice(2), nodes: [] },
      { version: 1, id: ourId + 'ab', nodes: [] },
      { version: 1, id: 42, nodes: [] },
      { version: 1, id: ourId },
      { version: 1, id: ourId, nodes: {} },
      { version: 1, id: ourId, nodes: 'x' },
      { version: 1, id: ourId, nodes: null },
    ];
    for (const s of shapes) expect(reason(parseStateFile(json(s))), JSON.stringify(s)).toBe('not a routing table');
  });

  it('refuses a file larger than MAX_STATE_BYTES before parsing it, and takes one at the limit', () => {
    expect(reason(parseStateFile(Buffer.alloc(MAX_STATE_BYTES + 1, 0x20)))).toBe(`larger than ${MAX_STATE_BYTES} bytes`);
    const head = json({ version: 1, id: ourId, nodes: [] });
    const atLimit = Buffer.concat([head, Buffer.alloc(MAX_STATE_BYTES - head.length, 0x20)]);
    expect(atLimit.length).toBe(MAX_STATE_BYTES);
    expect(accepted(parseStateFile(atLimit)).nodes).toEqual([]);
  });

  it('accepts an empty node list and extra keys', () => {
    const state = accepted(parseStateFile(json({ version: 1, id: ourId, nodes: [], extra: { x: 1 } })));
    expect(state).toEqual({ id: Buffer.from(ourId, 'hex'), nodes: [] });
    expect(kept([{ host: '1.2.3.4', port: 6881, id: hexId(5), seen: 9, other: 'x' }])).toEqual([`1.2.3.4:6881/${hexId(5)}`]);
  });

  it('skips entries with a bad address, one by one, and keeps the good ones', () => {
    const good = { host: '127.0.0.1', port: 6881, id: 'cd'.repeat(20) };
    expect(
      kept([
        good,
        { ...good, host: '0.0.0.0', id: 'cf'.repeat(20) }, // 0/8
        { ...good, host: '0.1.2.3', id: 'cf'.repeat(20) },
        { ...good, host: '224.0.0.1', id: 'd0'.repeat(20) }, // multicast
        { ...good, host: '239.255.255.250', id: 'd0'.repeat(20) },
        { ...good, host: '255.255.255.255', id: 'd0'.repeat(20) }, // broadcast
        { ...good, host: 'example.com', id: 'd1'.repeat(20) },
        { ...good, host: '::1', id: 'd2'.repeat(20) }, // IPv4 only
        { ...good, host: '1.2.3', id: 'd3'.repeat(20) },
        { ...good, host: '1.2.3.256', id: 'd3'.repeat(20) },
        { ...good, host: ' 1.2.3.4', id: 'd3'.repeat(20) },
        { ...good, host: '', id: 'd3'.repeat(20) },
        { ...good, host: 16909060, id: 'd3'.repeat(20) },
        { port: 6881, id: 'd4'.repeat(20) },
        { ...good, host: '223.255.255.254', id: 'd5'.repeat(20) }, // the last unicast /8
        { ...good, host: '1.0.0.0', id: 'd6'.repeat(20) },
      ]),
    ).toEqual([`127.0.0.1:6881/${'cd'.repeat(20)}`, `223.255.255.254:6881/${'d5'.repeat(20)}`, `1.0.0.0:6881/${'d6'.repeat(20)}`]);
  });

  it('skips entries with a port out of range or not an integer', () => {
    const entry = (port: unknown, i: number): unknown => ({ host: '10.0.0.1', port, id: hexId(i) });
    const bad: unknown[] = [0, -1, 65536, 70000, 1.5, '6881', null, NaN, Infinity, true];
    expect(kept([entry(1, 1), ...bad.map((p, i) => entry(p, 10 + i)), entry(65535, 2), { host: '10.0.0.1', id: hexId(3) }])).toEqual([
      `10.0.0.1:1/${hexId(1)}`,
      `10.0.0.1:65535/${hexId(2)}`,
    ]);
  });

  it('skips entries with a bad id, our own id, and anything that is not an object', () => {
    const at = (id: unknown): unknown => ({ host: '10.0.0.1', port: 6881, id });
    expect(
      kept([
        at('short'),
        at(hexId(1).toUpperCase().replace(/0/g, 'A')),
        at(hexId(1) + '00'),
        at(42),
        at(null),
        { host: '10.0.0.1', port: 6881 },
        at(ourId), // ourselves: never a contact
        'nonsense',
        7,
        null,
        [],
        [{ host: '10.0.0.1', port: 6881, id: hexId(2) }],
        at(hexId(3)),
      ]),
    ).toEqual([`10.0.0.1:6881/${hexId(3)}`]);
  });

  it('looks at the first MAX_STATE_NODES entries only, skipped ones included', () => {
    const entries: unknown[] = ['nonsense'];
    for (let i = 1; i <= MAX_STATE_NODES + 5; i++) entries.push({ host: '10.0.0.1', port: 6881, id: hexId(i) });
    const nodes = kept(entries);
    // the bad first entry takes a place: MAX_STATE_NODES - 1 good ones, in file order
    expect(nodes.length).toBe(MAX_STATE_NODES - 1);
    expect(nodes[0]).toBe(`10.0.0.1:6881/${hexId(1)}`);
    expect(nodes.at(-1)).toBe(`10.0.0.1:6881/${hexId(MAX_STATE_NODES - 1)}`);
  });
});

describe('state file: writing', () => {
  const nodeId = Buffer.from(ourId, 'hex');

  it('writes the exact JSON we have always written: version, id, nodes as host/port/hex id', () => {
    const bytes = encodeStateFile(nodeId, [{ id: Buffer.from(hexId(1), 'hex'), host: '1.2.3.4', port: 6881, seen: 5 }])!;
    expect(bytes.toString('utf8')).toBe(`{"version":1,"id":"${ourId}","nodes":[{"host":"1.2.3.4","port":6881,"id":"${hexId(1)}"}]}`);
  });

  it('writes nothing for an empty table, or one with no contact worth keeping', () => {
    expect(encodeStateFile(nodeId, [])).toBeNull();
    expect(encodeStateFile(nodeId, [{ id: Buffer.alloc(19), host: '1.2.3.4', port: 6881 }])).toBeNull();
  });

  it('leaves out contacts with a bad id, a non-IPv4 host or a bad port', () => {
    const ok = contact(1);
    const contacts: StateContact[] = [
      { ...ok, id: Buffer.alloc(19) },
      { ...ok, id: Buffer.alloc(21) },
      { ...ok, id: hexId(2) as unknown as Buffer },
      { ...ok, host: 'example.com' },
      { ...ok, host: '::1' },
      { ...ok, port: 0 },
      { ...ok, port: 65536 },
      { ...ok, port: 1.5 },
      ok,
    ];
    const written = JSON.parse(encodeStateFile(nodeId, contacts)!.toString('utf8')) as { nodes: { host: string; port: number; id: string }[] };
    expect(written.nodes).toEqual([{ host: ok.host, port: ok.port, id: hexId(1) }]);
  });

  it('writes the same address checks it has always written: unroutable and our own id are left to the reader', () => {
    // The writer never tested these; the reader skips them. Pinned so the file stays byte for byte.
    const contacts: StateContact[] = [
      { id: Buffer.from(hexId(1), 'hex'), host: '0.0.0.0', port: 6881 },
      { id: nodeId, host: '10.0.0.1', port: 6881 },
    ];
    const bytes = encodeStateFile(nodeId, contacts)!;
    expect((JSON.parse(bytes.toString('utf8')) as { nodes: unknown[] }).nodes).toHaveLength(2);
    expect(accepted(parseStateFile(bytes)).nodes).toEqual([]);
  });

  it('writes the most recently seen first; unseen count as 0 and ties keep table order', () => {
    const contacts = [contact(1, 10), contact(2), contact(3, 30), contact(4, 10), contact(5, 20), contact(6, 0)];
    const before = contacts.map((c) => c.port);
    const written = JSON.parse(encodeStateFile(nodeId, contacts)!.toString('utf8')) as { nodes: { port: number }[] };
    expect(written.nodes.map((n) => n.port - 1000)).toEqual([3, 5, 1, 4, 2, 6]);
    // the caller's array is not reordered
    expect(contacts.map((c) => c.port)).toEqual(before);
  });

  it(`keeps the ${MAX_STATE_NODES} most recently seen of a larger table`, () => {
    const n = MAX_STATE_NODES + 234;
    // seen = i, shuffled by a fixed stride so the input is not already sorted
    const contacts = Array.from({ length: n }, (_, k) => {
      const i = (k * 577) % n;
      return contact(i, i);
    });
    // Read as plain JSON: parseStateFile cuts at MAX_STATE_NODES too and would hide a writer that did not.
    const written = JSON.parse(encodeStateFile(nodeId, contacts)!.toString('utf8')) as { nodes: { port: number }[] };
    expect(written.nodes.length).toBe(MAX_STATE_NODES);
    expect(written.nodes.map((c) => c.port - 1000)).toEqual(Array.from({ length: MAX_STATE_NODES }, (_, k) => n - 1 - k));
  });

  it('a full file stays far below MAX_STATE_BYTES, so what we write we read back', () => {
    const contacts = Array.from({ length: MAX_STATE_NODES }, (_, i) => ({ ...contact(i), host: '223.255.255.255', port: 65535 }));
    const bytes = encodeStateFile(nodeId, contacts)!;
    expect(bytes.length).toBeLessThan(MAX_STATE_BYTES / 4);
    expect(accepted(parseStateFile(bytes)).nodes.length).toBe(MAX_STATE_NODES);
  });
});

describe('state file (property)', () => {
  /** What every accepted file must give: bounded, and each node usable. */
  function checkAccepted(r: ParsedState): void {
    if (!r.ok) {
      expect(['not JSON', 'not a routing table', `larger than ${MAX_STATE_BYTES} bytes`]).toContain(r.reason);
      return;
    }
    expect(r.state.id.length).toBe(20);
    expect(r.state.nodes.length).toBeLessThanOrEqual(MAX_STATE_NODES);
    for (const n of r.state.nodes) {
      expect(n.id.length).toBe(20);
      expect(n.id.equals(r.state.id)).toBe(false);
      expect(Number.isInteger(n.port) && n.port >= 1 && n.port <= 65535).toBe(true);
      expect(n.host).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      const first = Number(n.host.split('.')[0]);
      expect(first > 0 && first < 224).toBe(true);
    }
  }

  it('random bytes never throw out of the parser', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        checkAccepted(parseStateFile(Buffer.from(bytes)));
      }),
      { numRuns: 3000 },
    );
  });

  it('random JSON, and files close to ours, never throw and give only valid nodes', () => {
    const host = fc.oneof(fc.ipV4(), fc.constantFrom('0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', 'x', ''), fc.string());
    const port = fc.oneof(fc.integer({ min: -2, max: 65537 }), fc.double(), fc.constantFrom('6881', null));
    const id = fc.oneof(fc.stringMatching(/^[0-9a-f]{40}$/), fc.constant(ourId), fc.string(), fc.integer());
    const entry = fc.oneof(fc.record({ host, port, id }, { requiredKeys: [] }), fc.jsonValue());
    const file = fc.oneof(
      fc.jsonValue(),
      fc.record({ version: fc.oneof(fc.constant(1), fc.jsonValue()), id: fc.oneof(fc.constant(ourId), id), nodes: fc.array(entry, { maxLength: 30 }) }),
    );
    fc.assert(
      fc.property(file, fc.integer({ min: 0, max: 8 }), (v, cut) => {
        const text = JSON.stringify(v) ?? '';
        checkAccepted(parseStateFile(Buffer.from(text, 'utf8')));
        // and the same file truncated, as a crash mid-write would leave it (we rename, but a copy might not)
        checkAccepted(parseStateFile(Buffer.from(text.slice(0, Math.max(0, text.length - cut)), 'utf8')));
      }),
      { numRuns: 1500 },
    );
  });

  it('what we write from routable contacts reads back as the same nodes, most recently seen first', () => {
    const routableHost = fc
      .tuple(fc.integer({ min: 1, max: 223 }), fc.nat(255), fc.nat(255), fc.nat(255))
      .map((p) => p.join('.'));
    const c = fc.record({
      id: fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => Buffer.from(b)),
      host: routableHost,
      port: fc.integer({ min: 1, max: 65535 }),
      seen: fc.option(fc.nat(), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(c, { minLength: 1, maxLength: 40 }), (contacts) => {
        const nodeId = Buffer.alloc(20, 0xab);
        const mine = contacts.filter((x) => !x.id.equals(nodeId)) as StateContact[];
        fc.pre(mine.length > 0);
        const state = accepted(parseStateFile(encodeStateFile(nodeId, mine)!));
        expect(state.id.equals(nodeId)).toBe(true);
        const expected = [...mine].sort((a, b) => (b.seen ?? 0) - (a.seen ?? 0)).map((x) => ({ host: x.host, port: x.port, id: x.id }));
        expect(state.nodes).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });
});
