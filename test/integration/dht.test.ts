/**
 * Our Dht (BEP 5) on a loopback network of our own nodes: announce and lookup, lookups that run
 * again, the routing table file, hostile datagrams, and the socket released on close. Every node
 * binds 127.0.0.1:0 and bootstraps from the others only (never DEFAULT_BOOTSTRAP).
 */
import dgram from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decode, encode, isBytes, isDict, type BDict } from '../../src/bencode/index.js';
import { Dht, MAX_STATE_NODES, type DhtOptions } from '../../src/dht/index.js';
import { pollUntil } from '../helpers/poll.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Node {
  dht: Dht;
  warnings: string[];
  addr: { host: string; port: number };
}

async function node(bootstrap: Node[], extra: Partial<DhtOptions> = {}): Promise<Node> {
  const warnings: string[] = [];
  const dht = await Dht.start({
    port: 0,
    host: '127.0.0.1',
    bootstrap: bootstrap.map((n) => n.addr),
    stateFile: null,
    onWarning: (m) => warnings.push(m),
    ...extra,
  });
  cleanups.push(() => dht.close());
  return { dht, warnings, addr: { host: '127.0.0.1', port: dht.port } };
}

/** A small network: one seed node, then each new node bootstraps from the one before. */
async function network(n: number): Promise<Node[]> {
  const nodes = [await node([])];
  for (let i = 1; i < n; i++) nodes.push(await node([nodes[i - 1]!]));
  return nodes;
}

const waitFor = (cond: () => boolean, timeoutMs: number, what: string): Promise<true> =>
  pollUntil(cond, { timeoutMs, what, intervalMs: 25 });

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'torrent-dht-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function udpSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  return s;
}

const infoHash = Buffer.from('0123456789abcdef0123456789abcdef01234567', 'hex');

describe('Dht on a loopback network', () => {
  it('a lookup finds the peer another node announced', async () => {
    const nodes = await network(5);
    const [first, , , , last] = nodes as [Node, Node, Node, Node, Node];
    await last.dht.announce(infoHash, 51413);
    const found: { host: string; port: number }[] = [];
    first.dht.lookup(infoHash, (p) => found.push(p));
    await waitFor(() => found.length > 0, 10_000, 'a peer');
    expect(found).toContainEqual({ host: '127.0.0.1', port: 51413 });
    // deduplicated within a run, even though several nodes stored the same peer
    expect(found.filter((p) => p.port === 51413)).toHaveLength(1);
    for (const n of nodes) expect(n.warnings).toEqual([]);
    expect(first.dht.nodeCount).toBeGreaterThan(0);
  });

  it('an active lookup runs again and finds a peer announced after it started; stopLookup ends it', async () => {
    const [a, b, c] = (await network(3)) as [Node, Node, Node];
    // A second torrent whose lookup keeps running: its repeats are the clock for the negative below.
    const otherHash = Buffer.from('89abcdef0123456789abcdef0123456789abcdef', 'hex');
    await b.dht.announce(otherHash, 6100);
    const found: number[] = [];
    const d = await node([c], { lookupIntervalMs: 200 });
    d.dht.lookup(infoHash, (p) => found.push(p.port));
    // The lookup has reached the network (answers came back) before the peer exists.
    await waitFor(() => d.dht.stats.received > 0, 10_000, 'answers to the first lookup');
    expect(found).toEqual([]);
    await a.dht.announce(infoHash, 6000);
    await waitFor(() => found.includes(6000), 10_000, 'the later peer');
    // each run reports the peer again (the session dedupes against its own pool)
    await waitFor(() => found.filter((p) => p === 6000).length >= 2, 10_000, 'a second run');
    d.dht.stopLookup(infoHash);
    const count = found.length;
    // Two runs of the other lookup, started after stopLookup, prove the interval passed twice.
    const other: number[] = [];
    d.dht.lookup(otherHash, (p) => other.push(p.port));
    await waitFor(() => other.filter((p) => p === 6100).length >= 3, 10_000, 'three runs of the other lookup');
    expect(found.length).toBe(count);
    for (const n of [a, b, c, d]) expect(n.warnings).toEqual([]);
  });

  it('with no bootstrap nodes and no state file it sends nothing at all', async () => {
    const lone = await node([]);
    lone.dht.lookup(infoHash, () => {});
    // announce looks up first and returns once that lookup is over: nothing can be in flight.
    await lone.dht.announce(infoHash, 6881);
    expect(lone.dht.stats.sent).toBe(0);
    expect(lone.dht.nodeCount).toBe(0);
    // announcing with nobody to tell is a warning, not an exception
    expect(lone.warnings.join('\n')).toMatch(/announce/);
  });

  it('saves the routing table and a later start knows the nodes without bootstrap', async () => {
    const dir = await tempDir();
    const stateFile = join(dir, 'sub', 'dht.json');
    const nodes = await network(4);
    const first = await node([nodes[3]!], { stateFile });
    await waitFor(() => first.dht.nodeCount >= 3, 10_000, 'a bootstrapped table');
    await nodes[0]!.dht.announce(infoHash, 7000);
    await first.dht.close();
    await first.dht.close(); // idempotent

    const saved = JSON.parse(await readFile(stateFile, 'utf8')) as { version: number; id: string; nodes: { host: string; port: number; id: string }[] };
    expect(saved.version).toBe(1);
    expect(saved.id).toMatch(/^[0-9a-f]{40}$/);
    expect(saved.nodes.length).toBeGreaterThanOrEqual(3);
    expect(saved.nodes.length).toBeLessThanOrEqual(MAX_STATE_NODES);
    expect(saved.nodes.map((n) => n.port)).toEqual(expect.arrayContaining(nodes.slice(1).map((n) => n.addr.port)));

    const again = await node([], { stateFile });
    expect(again.dht.nodeCount).toBeGreaterThanOrEqual(3);
    const found: number[] = [];
    again.dht.lookup(infoHash, (p) => found.push(p.port));
    await waitFor(() => found.includes(7000), 10_000, 'a peer through the saved nodes');
    expect(again.warnings).toEqual([]);
  });

  it('ignores a corrupt, oversized or hostile state file with a warning', async () => {
    const dir = await tempDir();
    const cases: [string, string | Buffer][] = [
      ['garbage', 'not json{'],
      ['huge', Buffer.alloc(2 * 1024 * 1024, 0x20)],
      ['wrong shape', JSON.stringify({ version: 1, id: 'zz', nodes: 'x' })],
    ];
    for (const [name, body] of cases) {
      const stateFile = join(dir, `${name}.json`);
      await writeFile(stateFile, body);
      const n = await node([], { stateFile });
      expect(n.dht.nodeCount, name).toBe(0);
      expect(n.warnings.join('\n'), name).toMatch(/ignoring/);
      await n.dht.close();
      // an empty table does not overwrite what was there
      expect((await readFile(stateFile)).length, name).toBe(typeof body === 'string' ? Buffer.byteLength(body) : body.length);
    }
    // bad entries are skipped one by one; good ones kept
    const stateFile = join(dir, 'mixed.json');
    const good = await node([]);
    await writeFile(
      stateFile,
      JSON.stringify({
        version: 1,
        id: 'ab'.repeat(20),
        nodes: [
          { host: '127.0.0.1', port: good.addr.port, id: 'cd'.repeat(20) },
          { host: '127.0.0.1', port: 0, id: 'ce'.repeat(20) },
          { host: '0.0.0.0', port: 6881, id: 'cf'.repeat(20) },
          { host: '224.0.0.1', port: 6881, id: 'd0'.repeat(20) },
          { host: 'example.com', port: 6881, id: 'd1'.repeat(20) },
          { host: '127.0.0.1', port: 6881, id: 'short' },
          'nonsense',
        ],
      }),
    );
    const n = await node([], { stateFile });
    expect(n.dht.nodeCount).toBe(1);
  });

  it('survives hostile datagrams and keeps answering', async () => {
    const nodes = await network(3);
    const target = await node([nodes[2]!]);
    await waitFor(() => target.dht.nodeCount >= 2, 10_000, 'a bootstrapped table');
    const attacker = await udpSocket();
    // One at a time, yielding between datagrams: a burst would overflow the loopback receive
    // buffer and the kernel, not our code, would drop it.
    const send = (b: Buffer): Promise<void> =>
      new Promise((resolve, reject) =>
        attacker.send(b, target.addr.port, '127.0.0.1', (e) => (e ? reject(e) : setTimeout(resolve, 1))),
      );
    const id = Buffer.alloc(20, 0xaa);

    // A node that answers queries validly until it is in the table, then with wrong types.
    let lying = false;
    let lies = 0;
    let dupAnswered = false;
    attacker.on('message', (buf) => {
      let m;
      try {
        m = decode(buf);
      } catch {
        return;
      }
      if (isDict(m) && m.get('y')?.toString() === 'r' && m.get('t')?.toString() === 'dk') dupAnswered = true;
      if (!isDict(m) || m.get('y')?.toString() !== 'q') return;
      const t = m.get('t') as Buffer;
      const reply = (msg: Record<string, unknown>): void => attacker.send(encode({ t, ...msg } as never), target.addr.port, '127.0.0.1');
      if (!lying) {
        reply({ y: 'r', r: { id, nodes: Buffer.alloc(0), token: Buffer.from('tok') } });
        return;
      }
      lies++;
      reply({ y: 'r', r: { id: 5 } }); // unguarded, bittorrent-dht throws: Buffer.equals(5)
      reply({ y: 'r', r: { id, nodes: 7, values: [1, 2], token: 3 } });
      reply({ y: 'e', e: { a: 1 } });
    });
    target.dht.addNode({ host: '127.0.0.1', port: attacker.address().port });
    await waitFor(() => target.dht.nodeCount >= 3, 10_000, 'the attacker in the table');
    lying = true;
    target.dht.lookup(infoHash, () => {});
    await waitFor(() => lies > 0, 10_000, 'a query to the lying node');

    const dropped0 = target.dht.stats.dropped;
    const junk: Buffer[] = [];
    for (let i = 0; i < 200; i++) junk.push(Buffer.from(Array.from({ length: 1 + ((i * 37) % 1400) }, () => (Math.random() * 256) | 0)));
    junk.push(Buffer.concat([Buffer.from('d1:ad2:id20:'), id, Buffer.from('1:x60000:'), Buffer.alloc(60_000, 0x41), Buffer.from('e1:q4:ping1:t2:aa1:y1:qe')]));
    junk.push(Buffer.from('l'.repeat(2000) + 'e'.repeat(2000)));
    const q = (method: string, a: Record<string, unknown>): Buffer => encode({ t: 'xx', y: 'q', q: method, a: { id, ...a } as never });
    junk.push(q('get_peers', { info_hash: 5 })); // unguarded: infoHash.toString('hex') on a number throws
    junk.push(q('get_peers', { info_hash: [1, 2] }));
    junk.push(q('find_node', { target: 5 })); // unguarded: k-bucket's ensureInt8 throws
    junk.push(q('announce_peer', { info_hash: infoHash, port: 6881, token: 5 })); // unguarded: token.equals throws
    junk.push(q('announce_peer', { info_hash: infoHash, port: 'x', token: 'abc' }));
    junk.push(q('put', { v: 'x'.repeat(900), token: 'abc' }));
    junk.push(q('get', { target: 5 }));
    junk.push(encode({ t: 'xx', y: 'q', q: 'ping', a: 5 }));
    junk.push(encode({ t: 5, y: 'r', r: { id } }));
    junk.push(encode({ t: 'xx', y: { a: 1 } }));
    for (const b of junk) await send(b);
    await waitFor(() => target.dht.stats.dropped - dropped0 >= junk.length, 5_000, 'the junk to be dropped');
    // Duplicate keys: our decoder keeps the first value, the package's lenient one would keep the
    // last (a number, which throws). The package gets the canonical re-encoding, so this is answered.
    await send(Buffer.concat([Buffer.from('d1:ad2:id20:'), id, Buffer.from('9:info_hash20:'), infoHash, Buffer.from('9:info_hashi5ee1:q9:get_peers1:t2:dk1:y1:qe')]));
    await waitFor(() => dupAnswered, 5_000, 'an answer to the duplicate-key query');

    // still answering: a well-formed ping gets a pong
    const probe = await udpSocket();
    const pong = new Promise<BDict>((resolve) =>
      probe.on('message', (b) => {
        const m = decode(b);
        if (isDict(m) && m.get('t')?.toString() === 'pp') resolve(m);
      }),
    );
    probe.send(encode({ t: 'pp', y: 'q', q: 'ping', a: { id: Buffer.alloc(20, 0xbb) } }), target.addr.port, '127.0.0.1');
    expect((await pong).get('y')?.toString()).toBe('r');
    // and still finds peers
    await nodes[0]!.dht.announce(infoHash, 9000);
    const found: number[] = [];
    target.dht.lookup(infoHash, (p) => found.push(p.port));
    await waitFor(() => found.includes(9000), 10_000, 'a peer after the attack');
    expect(target.warnings.filter((w) => /throw/.test(w))).toEqual([]);
  });

  it('answers find_node with at most 8 nodes whatever the table size (BEP 5 K)', async () => {
    const nodes = await network(12);
    const hub = await node([]);
    for (const n of nodes) hub.dht.addNode(n.addr);
    await waitFor(() => hub.dht.nodeCount >= 12, 10_000, 'a table of 12');
    const probe = await udpSocket();
    const reply = new Promise<BDict>((resolve) =>
      probe.on('message', (b) => {
        const m = decode(b);
        if (isDict(m)) resolve(m);
      }),
    );
    probe.send(encode({ t: 'fn', y: 'q', q: 'find_node', a: { id: Buffer.alloc(20, 1), target: Buffer.alloc(20, 2) } }), hub.addr.port, '127.0.0.1');
    const r = (await reply).get('r');
    expect(isDict(r)).toBe(true);
    const compact = (r as BDict).get('nodes');
    expect(isBytes(compact) && compact.length).toBe(8 * 26);
  });

  it('close() releases the UDP port; a busy port is a typed error', async () => {
    const n = await node([]);
    const port = n.dht.port;
    expect(port).toBeGreaterThan(0);
    const busy = await Dht.start({ port, host: '127.0.0.1', bootstrap: [], stateFile: null }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(busy).toMatchObject({ code: 'ERR_USAGE', message: expect.stringMatching(/in use/) });
    await n.dht.close();
    expect(n.dht.port).toBe(port);
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((r) => s.close(() => r()));
    // after close: no throws, no sends
    n.dht.lookup(infoHash, () => {});
    n.dht.addNode({ host: '127.0.0.1', port: 1 });
    await n.dht.announce(infoHash, 1);
  });
});
