/**
 * Random sequences of picker operations, checked against a plain model after every step, and
 * random swarms (slow, disconnecting, lying peers, bad pieces) that must always finish.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PiecePicker, type BlockRef } from '../../src/picker/index.js';
import { Bitfield } from '../../src/util/bitfield.js';
import { seeded } from '../helpers/prng.js';

const BLOCK = 16384;

const peerId = fc.integer({ min: 0, max: 5 });
const op = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('connect' as const), peer: peerId, mask: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('seed' as const), peer: peerId }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('have' as const), peer: peerId, piece: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('disconnect' as const), peer: peerId }) },
  { weight: 8, arbitrary: fc.record({ t: fc.constant('pick' as const), peer: peerId, max: fc.integer({ min: 1, max: 12 }), take: fc.nat({ max: 12 }) }) },
  { weight: 8, arbitrary: fc.record({ t: fc.constant('receive' as const), peer: peerId, i: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('lie' as const), peer: peerId, piece: fc.integer({ min: -1, max: 12 }), block: fc.integer({ min: -1, max: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('abort' as const), peer: peerId, i: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('check' as const), i: fc.nat(), ok: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('want' as const), piece: fc.nat(), priority: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('setHave' as const), piece: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('sequential' as const), on: fc.boolean() }) },
);

const scenario = fc.record({
  pieceCount: fc.integer({ min: 1, max: 10 }),
  blocks: fc.integer({ min: 1, max: 4 }),
  lastPieceBytes: fc.option(fc.integer({ min: 1, max: 4 * BLOCK }), { nil: undefined }),
  randomFirst: fc.integer({ min: 0, max: 3 }),
  seed: fc.nat(),
  ops: fc.array(op, { minLength: 10, maxLength: 150, size: 'max' }),
});

type Key = string;
const keyOf = (b: BlockRef): Key => `${b.piece}/${b.block}`;

describe('piece picker properties', () => {
  it('keeps its invariants and agrees with a model under random operations', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const n = s.pieceCount;
        const pieceLength = s.blocks * BLOCK;
        const last = Math.min(s.lastPieceBytes ?? pieceLength, pieceLength);
        const picker = new PiecePicker({
          pieceCount: n,
          pieceLength,
          totalLength: (n - 1) * pieceLength + last,
          random: seeded(s.seed),
          randomFirstPieces: s.randomFirst,
        });
        const blocksOf = (p: number): number => (p === n - 1 ? Math.ceil(last / BLOCK) : s.blocks);
        const sizeOf = (p: number): number => (p === n - 1 ? last : pieceLength);

        // The model.
        const peers = new Map<number, { bits: Bitfield; seed: boolean }>();
        const out = new Map<number, Set<Key>>();
        const received = new Map<Key, number>();
        const verified = new Set<number>();
        const priority = new Array<number>(n).fill(1);
        const count = new Array<number>(n).fill(0);
        let seeds = 0;

        const outOf = (peer: number): Set<Key> => out.get(peer) ?? new Set();
        const holders = (k: Key): number[] => [...out].filter(([, set]) => set.has(k)).map(([p]) => p);
        const blocksOfPiece = (p: number): BlockRef[] => Array.from({ length: blocksOf(p) }, (_, block) => ({ piece: p, block }));
        const inProgress = (p: number): boolean => blocksOfPiece(p).some((b) => received.has(keyOf(b)) || holders(keyOf(b)).length > 0);
        const awaiting = (p: number): boolean => !verified.has(p) && blocksOfPiece(p).every((b) => received.has(keyOf(b)));
        const expectedString = (): string =>
          Array.from({ length: n }, (_, p) => {
            if (verified.has(p)) return 'V';
            if (inProgress(p)) {
              if (awaiting(p)) return 'u';
              const free = blocksOfPiece(p).some((b) => !received.has(keyOf(b)) && holders(keyOf(b)).length === 0);
              return free ? 'r' : 'R';
            }
            return priority[p] === 0 ? '-' : '.';
          }).join('');

        const check = (): void => {
          picker.assertInvariants();
          expect(picker.toString()).toBe(expectedString());
          for (let p = 0; p < n; p++) {
            expect(picker.availability(p)).toBe(count[p]! + seeds);
            expect(picker.availability(p)).toBeGreaterThanOrEqual(0);
          }
          const wantedLeft = Array.from({ length: n }, (_, p) => p).filter((p) => priority[p]! > 0 && !verified.has(p));
          expect(picker.done).toBe(wantedLeft.length === 0);
          expect(picker.verifiedCount).toBe(verified.size);
          expect(picker.wantedBytesLeft()).toBe(wantedLeft.reduce((sum, p) => sum + sizeOf(p), 0));
          for (const k of received.keys()) expect(holders(k)).toEqual([]); // never both received and requested
        };

        const receive = (peer: number, b: BlockRef): void => {
          const k = keyOf(b);
          const others = holders(k).filter((x) => x !== peer).sort((x, y) => x - y);
          const r = picker.markReceived(peer, b);
          for (const set of out.values()) set.delete(k);
          received.set(k, peer);
          expect(r.duplicate).toBe(false);
          expect([...r.otherPeers].sort((x, y) => x - y)).toEqual(others);
          expect(r.pieceComplete).toBe(awaiting(b.piece));
        };

        for (const raw of s.ops) {
          // Operations other than connecting go to a connected peer (the id picks which).
          const ids = [...peers.keys()].sort((x, y) => x - y);
          const o = 'peer' in raw && raw.t !== 'connect' && raw.t !== 'seed' && ids.length > 0 ? { ...raw, peer: ids[raw.peer % ids.length]! } : raw;
          switch (o.t) {
            case 'connect': {
              if (peers.has(o.peer)) break;
              const bits = new Bitfield(n);
              for (let p = 0; p < n; p++) if ((o.mask >> p) & 1) bits.set(p);
              picker.addBitfield(bits);
              for (const p of bits.ones()) count[p]!++;
              peers.set(o.peer, { bits, seed: false });
              break;
            }
            case 'seed': {
              if (peers.has(o.peer)) break;
              picker.addSeed();
              seeds++;
              peers.set(o.peer, { bits: Bitfield.full(n), seed: true });
              break;
            }
            case 'have': {
              const peer = peers.get(o.peer);
              const p = o.piece % n;
              if (!peer || peer.bits.has(p)) break;
              peer.bits.set(p);
              picker.addHave(p);
              count[p]!++;
              break;
            }
            case 'disconnect': {
              const peer = peers.get(o.peer);
              if (!peer) break;
              const aborted = picker.abortPeer(o.peer).map(keyOf).sort();
              expect(aborted).toEqual([...outOf(o.peer)].sort());
              out.delete(o.peer);
              if (peer.seed) {
                picker.removeSeed();
                seeds--;
              } else {
                picker.removeBitfield(peer.bits);
                for (const p of peer.bits.ones()) count[p]!--;
              }
              peers.delete(o.peer);
              break;
            }
            case 'pick': {
              const peer = peers.get(o.peer);
              if (!peer) break;
              const has = peer.bits;
              const mine = outOf(o.peer);
              const usable = (b: BlockRef): boolean =>
                has.has(b.piece) && priority[b.piece]! > 0 && !verified.has(b.piece) && !received.has(keyOf(b)) && !mine.has(keyOf(b));
              let free = 0;
              let busy = 0;
              for (let p = 0; p < n; p++) {
                for (const b of blocksOfPiece(p)) {
                  if (!usable(b)) continue;
                  if (holders(keyOf(b)).length === 0) free++;
                  else busy++;
                }
              }
              const r = picker.pick(o.peer, has, o.max);
              expect(new Set(r.blocks.map(keyOf)).size).toBe(r.blocks.length);
              for (const b of r.blocks) {
                expect(usable(b), `picked ${keyOf(b)}`).toBe(true);
                expect(holders(keyOf(b)).length > 0).toBe(r.endgame);
              }
              // Endgame only once every wanted piece some peer has is started.
              const unstarted = Array.from({ length: n }, (_, p) => p).some((p) => priority[p]! > 0 && !verified.has(p) && !inProgress(p) && count[p]! + seeds > 0);
              if (free > 0) {
                expect(r.endgame).toBe(false);
                expect(r.blocks).toHaveLength(Math.min(o.max, free));
              } else if (unstarted) {
                expect(r).toEqual({ blocks: [], endgame: false });
              } else {
                expect(r.blocks).toHaveLength(Math.min(o.max, busy));
                expect(r.endgame).toBe(r.blocks.length > 0);
              }
              for (const b of r.blocks.slice(0, o.take)) {
                picker.markRequested(o.peer, b);
                if (!out.has(o.peer)) out.set(o.peer, new Set());
                out.get(o.peer)!.add(keyOf(b));
              }
              break;
            }
            case 'receive': {
              const mine = [...outOf(o.peer)].sort();
              if (mine.length === 0) break;
              const [piece, block] = mine[o.i % mine.length]!.split('/').map(Number) as [number, number];
              receive(o.peer, { piece, block });
              break;
            }
            case 'lie': {
              const b = { piece: o.piece, block: o.block };
              if (outOf(o.peer).has(keyOf(b))) {
                receive(o.peer, b);
                break;
              }
              const before = picker.toString();
              expect(picker.markReceived(o.peer, b)).toEqual({ duplicate: true, otherPeers: [], pieceComplete: false });
              expect(picker.toString()).toBe(before);
              break;
            }
            case 'abort': {
              const mine = [...outOf(o.peer)].sort();
              if (mine.length === 0) {
                picker.abortRequest(o.peer, { piece: o.i % n, block: 0 }); // nothing outstanding: no-op
                break;
              }
              const k = mine[o.i % mine.length]!;
              const [piece, block] = k.split('/').map(Number) as [number, number];
              picker.abortRequest(o.peer, { piece, block });
              out.get(o.peer)!.delete(k);
              break;
            }
            case 'check': {
              const ready = Array.from({ length: n }, (_, p) => p).filter(awaiting);
              if (ready.length === 0) {
                const p = o.i % n;
                expect(() => (o.ok ? picker.pieceVerified(p) : picker.pieceFailed(p))).toThrow();
                break;
              }
              const p = ready[o.i % ready.length]!;
              const senders = [...new Set(blocksOfPiece(p).map((b) => received.get(keyOf(b))!))].sort((x, y) => x - y);
              expect(picker.contributors(p)).toEqual(senders);
              if (o.ok) {
                picker.pieceVerified(p);
                verified.add(p);
              } else {
                picker.pieceFailed(p);
                expect(picker.contributors(p)).toEqual(senders);
              }
              for (const b of blocksOfPiece(p)) received.delete(keyOf(b));
              break;
            }
            case 'want': {
              const p = o.piece % n;
              picker.setPriority(p, o.priority);
              priority[p] = o.priority;
              expect(picker.isWanted(p)).toBe(o.priority > 0);
              break;
            }
            case 'setHave': {
              const p = o.piece % n;
              if (verified.has(p)) {
                picker.setHave(p);
              } else if (inProgress(p)) {
                expect(() => picker.setHave(p)).toThrow();
              } else {
                picker.setHave(p);
                verified.add(p);
              }
              break;
            }
            case 'sequential':
              picker.setSequential(o.on);
              break;
          }
          check();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a simulated swarm with slow, leaving, lying peers and bad pieces always finishes', () => {
    const swarm = fc.record({
      pieceCount: fc.integer({ min: 1, max: 40 }),
      blocks: fc.integer({ min: 1, max: 4 }),
      lastPieceBytes: fc.integer({ min: 1, max: 4 * BLOCK }),
      peers: fc.integer({ min: 1, max: 6 }),
      haveSeed: fc.boolean(),
      sequential: fc.boolean(),
      unwanted: fc.nat(),
      seed: fc.nat(),
    });
    fc.assert(
      fc.property(swarm, (s) => {
        const rnd = seeded(s.seed ^ 0x5eed);
        const n = s.pieceCount;
        const pieceLength = s.blocks * BLOCK;
        const last = Math.min(s.lastPieceBytes, pieceLength);
        const picker = new PiecePicker({
          pieceCount: n,
          pieceLength,
          totalLength: (n - 1) * pieceLength + last,
          random: seeded(s.seed),
        });
        picker.setSequential(s.sequential);
        for (let p = 0; p < n; p++) if ((s.unwanted >> p) & 1 && rnd() < 0.5) picker.setWanted(p, false);

        // Random bitfields; uncovered pieces go to a random peer unless a seed covers them.
        const bits = Array.from({ length: s.peers }, () => {
          const b = new Bitfield(n);
          for (let p = 0; p < n; p++) if (rnd() < 0.5) b.set(p);
          return b;
        });
        if (!s.haveSeed) {
          for (let p = 0; p < n; p++) if (!bits.some((b) => b.has(p))) bits[Math.floor(rnd() * s.peers)]!.set(p);
        }
        const ids = bits.map((_, i) => i);
        const seedId = s.peers;
        const slow = new Set(ids.filter(() => rnd() < 0.3));
        const liar = new Set(ids.filter(() => rnd() < 0.2));
        const connected = new Set<number>();
        const connect = (id: number): void => {
          if (id === seedId) picker.addSeed();
          else picker.addBitfield(bits[id]!);
          connected.add(id);
        };
        const disconnect = (id: number): void => {
          picker.abortPeer(id);
          if (id === seedId) picker.removeSeed();
          else picker.removeBitfield(bits[id]!);
          connected.delete(id);
        };
        const hasOf = (id: number): Bitfield => (id === seedId ? Bitfield.full(n) : bits[id]!);
        const outstanding = new Map<number, BlockRef[]>();
        const failures = new Map<number, number>();
        for (const id of ids) connect(id);
        if (s.haveSeed) connect(seedId);
        const all = s.haveSeed ? [...ids, seedId] : ids;

        let steps = 0;
        while (!picker.done) {
          if (++steps > 50_000) throw new Error(`swarm stuck: ${picker.toString()}`);
          const id = all[Math.floor(rnd() * all.length)]!;
          const roll = rnd();
          if (!connected.has(id)) {
            if (roll < 0.2) connect(id);
            continue;
          }
          const mine = outstanding.get(id) ?? [];
          outstanding.set(id, mine);
          if (roll < 0.02) {
            disconnect(id);
            mine.length = 0;
          } else if (roll < 0.05 && mine.length > 0) {
            picker.abortRequest(id, mine.shift()!); // timed out
          } else if (roll < 0.1 && liar.has(id)) {
            const piece = Math.floor(rnd() * n);
            const b = { piece, block: Math.floor(rnd() * picker.blocksInPiece(piece)) };
            if (!mine.some((m) => m.piece === b.piece && m.block === b.block)) {
              expect(picker.markReceived(id, b).duplicate).toBe(true);
            }
          } else if (roll < 0.5) {
            const { blocks } = picker.pick(id, hasOf(id), 1 + Math.floor(rnd() * 6));
            for (const b of blocks) {
              expect(hasOf(id).has(b.piece)).toBe(true);
              picker.markRequested(id, b);
              mine.push(b);
            }
          } else if (mine.length > 0 && (!slow.has(id) || rnd() < 0.1)) {
            const b = mine.splice(Math.floor(rnd() * mine.length), 1)[0]!;
            const r = picker.markReceived(id, b);
            for (const other of r.otherPeers) {
              const list = outstanding.get(other) ?? [];
              const i = list.findIndex((m) => m.piece === b.piece && m.block === b.block);
              if (i >= 0) list.splice(i, 1); // the cancel was sent; peer drops it
            }
            if (r.pieceComplete) {
              const failed = failures.get(b.piece) ?? 0;
              if (failed < 2 && rnd() < 0.15) {
                failures.set(b.piece, failed + 1);
                picker.pieceFailed(b.piece);
              } else {
                picker.pieceVerified(b.piece);
              }
            }
          }
          if (steps % 97 === 0) picker.assertInvariants();
        }
        picker.assertInvariants();
        for (let p = 0; p < n; p++) if (picker.isWanted(p)) expect(picker.has(p)).toBe(true);
        expect(picker.wantedBytesLeft()).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});
