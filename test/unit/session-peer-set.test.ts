/**
 * The peer set from readable states: one character per entry in insertion order (q queued,
 * c connecting, l live, b backoff, x banned, n not-needed), as the picker's tests read pieces.
 */
import { describe, expect, it } from 'vitest';
import { CUT_REDIAL_LIFE_MS, MAX_ENTRIES, PeerSet, RETRY_BASE_MS, RETRY_CUT_MS } from '../../src/session/peer-set.js';
import { peerAddr } from '../../src/util/address.js';

const a = (i: number, host = '10.0.0') => peerAddr(`${host}.${(i % 250) + 1}`, 1000 + Math.floor(i / 250))!;

describe('peer set', () => {
  it('moves entries through their states by its verbs only', () => {
    const s = new PeerSet(10);
    for (let i = 0; i < 4; i++) s.add(a(i), 'tracker', 0);
    expect(s.toString()).toBe('qqqq');
    const [e0, e1, e2] = s.toDial(0);
    s.dialing(e0!, 1);
    s.dialing(e1!, 2);
    s.dialing(e2!, 3);
    expect(s.toString()).toBe('cccq');
    s.connected(e0!, 0);
    s.closed(e1!, 0, { useful: false });
    s.closed(e2!, 0, { useful: false, ban: true });
    expect(s.toString()).toBe('lbxq');
    expect(s.liveCount).toBe(1);
    expect(s.connectingCount).toBe(0);
    // Backoff ends after RETRY_BASE_MS: the entry is queued again.
    expect(s.toDial(RETRY_BASE_MS - 1).map((e) => e.key)).toEqual([a(3).host + ':1000']);
    expect(s.toDial(RETRY_BASE_MS).length).toBe(2);
    expect(() => s.connected(e1!, 0)).toThrow(/is queued, expected connecting/);
  });

  it('redials a peer cut while delivering after RETRY_CUT_MS, and one that gave nothing after RETRY_BASE_MS, doubling', () => {
    const s = new PeerSet(10);
    s.add(a(1), 'tracker', 0);
    s.add(a(2), 'tracker', 0);
    const [cut, idle] = s.toDial(0);
    s.dialing(cut!, 1);
    s.dialing(idle!, 2);
    s.connected(cut!, 0);
    s.connected(idle!, 0);
    s.closed(cut!, 0, { useful: true, cut: true });
    s.closed(idle!, 0, { useful: false });
    expect(s.toDial(RETRY_CUT_MS - 1)).toEqual([]);
    expect(s.toDial(RETRY_CUT_MS).map((e) => e.key)).toEqual([cut!.key]);
    s.dialing(cut!, 3);
    s.closed(cut!, RETRY_CUT_MS, { useful: false });
    expect(s.toDial(RETRY_BASE_MS).map((e) => e.key)).toEqual([idle!.key]);
    s.dialing(idle!, 4);
    s.closed(idle!, RETRY_BASE_MS, { useful: false });
    // Second failure in a row: twice the base.
    expect(s.toDial(RETRY_BASE_MS * 3 - 1).map((e) => e.key)).toEqual([cut!.key]);
    expect(s.toDial(RETRY_BASE_MS * 3).map((e) => e.key)).toEqual([cut!.key, idle!.key]);
  });

  it('redials at once a peer cut while delivering after CUT_REDIAL_LIFE_MS of life, and says when the next backoff ends', () => {
    const s = new PeerSet(10);
    s.add(a(1), 'tracker', 0);
    s.add(a(2), 'tracker', 0);
    const [long, idle] = s.toDial(0);
    s.dialing(long!, 1);
    s.dialing(idle!, 2);
    s.connected(long!, 100);
    s.connected(idle!, 100);
    expect(s.nextWakeAt).toBe(Infinity);
    s.closed(idle!, 200, { useful: false });
    s.closed(long!, 100 + CUT_REDIAL_LIFE_MS, { useful: true, cut: true });
    expect(s.toDial(100 + CUT_REDIAL_LIFE_MS).map((e) => e.key)).toEqual([long!.key]);
    expect(s.nextWakeAt).toBe(200 + RETRY_BASE_MS);
    // Cut again one millisecond short of the life that earns an immediate redial.
    const t = 100 + CUT_REDIAL_LIFE_MS;
    s.dialing(long!, 3);
    s.connected(long!, t);
    s.closed(long!, t + CUT_REDIAL_LIFE_MS - 1, { useful: true, cut: true });
    expect(s.toDial(t + CUT_REDIAL_LIFE_MS - 1)).toEqual([]);
    expect(s.nextWakeAt).toBe(t + CUT_REDIAL_LIFE_MS - 1 + RETRY_CUT_MS);
    // A full set dials nobody: no wake is needed (a closing connection dials again).
    const full = new PeerSet(1);
    full.add(a(1), 'tracker', 0);
    full.add(a(2), 'tracker', 0);
    const [only] = full.toDial(0);
    full.dialing(only!, 1);
    expect(full.toDial(0)).toEqual([]);
    expect(full.nextWakeAt).toBe(Infinity);
  });

  it('dials the more trusted source first: --peer, then trackers, then the DHT and PEX', () => {
    const s = new PeerSet(50);
    s.add(a(1), 'pex', 0);
    s.add(a(2), 'dht', 0);
    s.add(a(3), 'tracker', 0);
    s.add(a(4), 'manual', 0);
    expect(s.toDial(0).map((e) => e.source)).toEqual(['manual', 'tracker', 'dht', 'pex']);
  });

  it('caps connections and half-open dials', () => {
    const s = new PeerSet(3, 2);
    for (let i = 0; i < 6; i++) s.add(a(i), 'tracker', 0);
    const first = s.toDial(0);
    expect(first.length).toBe(2); // half-open cap
    first.forEach((e, i) => s.dialing(e, i + 1));
    expect(s.toDial(0).length).toBe(0);
    s.connected(first[0]!, 0);
    s.connected(first[1]!, 0);
    expect(s.toDial(0).length).toBe(1); // 3 peers at most
    expect(s.hasRoom).toBe(true);
  });

  it('a dial whose transport is up stops counting as half-open; the connection cap still holds', () => {
    const s = new PeerSet(3, 2);
    for (let i = 0; i < 6; i++) s.add(a(i), 'tracker', 0);
    const first = s.toDial(0);
    first.forEach((e, i) => s.dialing(e, i + 1));
    expect(s.toDial(0).length).toBe(0);
    s.transportUp(first[0]!);
    s.transportUp(first[0]!); // idempotent
    const next = s.toDial(0);
    expect(next.length).toBe(1);
    s.dialing(next[0]!, 3);
    s.transportUp(next[0]!);
    expect(s.toDial(0).length).toBe(0); // 3 connecting: the connection cap
    s.closed(next[0]!, 0, { useful: false });
    s.closed(first[1]!, 0, { useful: false }); // closed while still half-open
    expect(s.toDial(0).length).toBe(2);
    expect(s.connectingCount).toBe(1);
  });

  it('a flood from one source evicts its own idle entries, never a tracker answer', () => {
    const s = new PeerSet(50);
    s.add(a(0, '10.9.9'), 'tracker', 0);
    for (let i = 0; i < MAX_ENTRIES + 500; i++) s.add(a(i, '10.1.1'), 'pex', i);
    expect(s.size).toBe(MAX_ENTRIES);
    expect(s.get(a(0, '10.9.9'))?.source).toBe('tracker');
    // A tracker's newcomer still gets in, evicting a PEX entry.
    expect(s.add(a(1, '10.9.9'), 'tracker', 0)).toBe('added');
    expect(s.toDial(0)[0]!.source).toBe('tracker');
  });

  it('a banned host is refused everywhere (loopback banned by address only)', () => {
    const s = new PeerSet(10);
    s.add(peerAddr('10.2.2.2', 1)!, 'tracker', 0);
    const [e] = s.toDial(0);
    s.dialing(e!, 1);
    s.closed(e!, 0, { useful: false, ban: true });
    expect(s.add(peerAddr('10.2.2.2', 2)!, 'pex', 0)).toBe('banned');
    expect(s.incoming(peerAddr('10.2.2.2', 5555)!, 9, 0)).toBeNull();
    s.add(peerAddr('127.0.0.1', 1)!, 'manual', 0);
    const [l] = s.toDial(0);
    s.dialing(l!, 2);
    s.closed(l!, 0, { useful: false, ban: true });
    expect(s.add(peerAddr('127.0.0.1', 2)!, 'manual', 0)).toBe('added');
  });

  it('incoming connections get an entry of their own, forgotten when they close', () => {
    const s = new PeerSet(2);
    const e = s.incoming(peerAddr('10.3.3.3', 40000)!, 1, 0)!;
    expect(s.toString()).toBe('l');
    s.closed(e, 0, { useful: true });
    expect(s.size).toBe(0);
  });

  it('not-needed entries wait for wakeNotNeeded', () => {
    const s = new PeerSet(5);
    s.add(a(1), 'tracker', 0);
    const [e] = s.toDial(0);
    s.dialing(e!, 1);
    s.connected(e!, 0);
    s.closed(e!, 0, { useful: false, notNeeded: true });
    expect(s.toString()).toBe('n');
    expect(s.toDial(10 ** 9)).toEqual([]);
    s.wakeNotNeeded(5);
    expect(s.toDial(5).length).toBe(1);
  });
});
