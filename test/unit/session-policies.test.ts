/**
 * The session's policies on their own, with a real picker and fake connections that record what
 * would go on the wire: the request scheduler (interest, queue depth, top-up batches, timeouts
 * and snubbing, the download budget, BEP 6 allowed-fast), the uploader (what is served, dropped
 * or rejected, choking), the choker, and discovery (self-filter, BEP 27, per-source bounds).
 */
import { describe, expect, it } from 'vitest';
import { Discovery, MAX_PER_SOURCE_PER_MINUTE } from '../../src/discovery/index.js';
import { PiecePicker } from '../../src/picker/index.js';
import { chooseUnchoked, pickOptimistic } from '../../src/session/choker.js';
import { LivePeer } from '../../src/session/live-peer.js';
import type { PeerEntry } from '../../src/session/peer-set.js';
import { ENDGAME_QUEUE_SECONDS, MAX_FRESH_QUEUE, MIN_ENDGAME_QUEUE, MIN_QUEUE, MIN_QUEUE_SECONDS, MIN_REQUEST_TIMEOUT_MS, REQUEST_QUEUE_SECONDS, REQUEST_TIMEOUT_MS, RequestScheduler, SLOW_START_DELAY_FACTOR, SLOW_START_DELAY_SLACK_MS } from '../../src/session/request-scheduler.js';
import { MAX_UPLOAD_QUEUE, READ_AHEAD_PIECES, UPLOAD_BATCH_BYTES, UPLOAD_HIGH_WATER_BYTES, Uploader } from '../../src/session/uploader.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { ReadCache } from '../../src/storage/read-cache.js';
import type { AnnounceRequest, Tracker } from '../../src/tracker/index.js';
import { Bitfield } from '../../src/util/bitfield.js';
import { RateMeter } from '../../src/util/rate.js';
import { TokenBucket } from '../../src/util/token-bucket.js';
import type { Message } from '../../src/wire/index.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { seeded } from '../helpers/prng.js';

const PIECE = 64 * 1024;
const PIECES = 8;

/** A connection that records what it sends and keeps only the flags the policies read. */
function fakeConn(id: number, clock: FakeClock) {
  const sent: Message[] = [];
  const outstanding = new Map<number, { piece: number; block: number; begin: number; length: number; sentAt: number }>();
  const conn = {
    id,
    isOpen: true,
    amInterested: false,
    amChoking: true,
    peerChoking: true,
    peerInterested: false,
    writeQueueBytes: 0,
    outstanding,
    download: new RateMeter(),
    upload: new RateMeter(),
    address: { host: '10.0.0.1', port: 1 },
    sent,
    send(m: Message) {
      sent.push(m);
      if (m.type === 'interested') conn.amInterested = true;
      if (m.type === 'not-interested') conn.amInterested = false;
      if (m.type === 'unchoke') conn.amChoking = false;
      if (m.type === 'choke') conn.amChoking = true;
    },
    request(piece: number, block: number, length: number) {
      outstanding.set(piece * 32768 + block, { piece, block, begin: block * 16384, length, sentAt: clock.now() });
      sent.push({ type: 'request', index: piece, begin: block * 16384, length });
    },
    cancel(piece: number, block: number) {
      if (outstanding.delete(piece * 32768 + block)) sent.push({ type: 'cancel', index: piece, begin: block * 16384, length: 16384 });
    },
    clearOutstanding() {
      const all = [...outstanding.values()];
      outstanding.clear();
      return all;
    },
    expireCancelled() {},
    sendPiece(index: number, begin: number, block: Buffer) {
      sent.push({ type: 'piece', index, begin, block });
    },
    batches: 0,
    batch(fn: () => void) {
      conn.batches++;
      fn();
    },
    close(reason: string) {
      conn.isOpen = false;
      sent.push({ type: 'unknown', id: -1, payload: Buffer.from(reason) });
    },
  };
  return conn;
}

function livePeer(id: number, clock: FakeClock, has: Bitfield | null): { p: LivePeer; conn: ReturnType<typeof fakeConn> } {
  const conn = fakeConn(id, clock);
  const p = new LivePeer(conn as never, {} as PeerEntry, clock.now());
  p.bitfield = has;
  return { p, conn };
}

function scheduler(clock: FakeClock, over: Partial<ConstructorParameters<typeof RequestScheduler>[0]> = {}) {
  const picker = new PiecePicker({ pieceCount: PIECES, pieceLength: PIECE, totalLength: PIECES * PIECE, random: seeded(1) });
  for (let p = 0; p < PIECES; p++) picker.setWanted(p, true);
  const s = new RequestScheduler({ picker, downloading: () => true, diskBusy: () => false, roomForNewPiece: () => true, now: () => clock.now(), ...over });
  return { picker, s };
}

/** Seeds with every piece that unchoke us, known to the picker and the scheduler (and to `byId`). */
type Seed = ReturnType<typeof livePeer>;

function unchokedSeeds(n: number, clock: FakeClock, picker: PiecePicker, s: RequestScheduler, byId?: Map<number, LivePeer>): Seed[] {
  return Array.from({ length: n }, (_, i) => {
    const x = livePeer(i + 1, clock, Bitfield.full(PIECES));
    byId?.set(x.p.id, x.p);
    picker.addBitfield(x.p.bitfield!);
    s.countInteresting(x.p);
    x.conn.peerChoking = false;
    return x;
  });
}

describe('request scheduler', () => {
  it('is interested exactly while the peer has a wanted piece we lack, and asks only once unchoked', () => {
    const clock = new FakeClock();
    const { picker, s } = scheduler(clock);
    const { p, conn } = livePeer(1, clock, Bitfield.fromString('00000001'));
    picker.addBitfield(p.bitfield!);
    s.countInteresting(p);
    s.update(p);
    expect(conn.sent.map((m) => m.type)).toEqual(['interested']);
    conn.peerChoking = false;
    s.update(p);
    // Piece 7 has 4 blocks: all of them asked for, no more.
    expect(conn.sent.filter((m) => m.type === 'request').length).toBe(4);
    s.onVerified([p], 7);
    expect(conn.sent.at(-1)!.type).toBe('not-interested');
  });

  it('fills the queue to its depth in one batch and tops it up only by batches', () => {
    const clock = new FakeClock();
    // More blocks than a fresh queue asks for.
    const pieces = MAX_FRESH_QUEUE / 4 + PIECES;
    const picker = new PiecePicker({ pieceCount: pieces, pieceLength: PIECE, totalLength: pieces * PIECE, random: seeded(1) });
    for (let p = 0; p < pieces; p++) picker.setWanted(p, true);
    const s = new RequestScheduler({ picker, downloading: () => true, diskBusy: () => false, roomForNewPiece: () => true, now: () => clock.now() });
    const { p, conn } = livePeer(1, clock, Bitfield.full(pieces));
    picker.addBitfield(p.bitfield!);
    s.countInteresting(p);
    conn.peerChoking = false;
    s.update(p);
    expect(conn.outstanding.size).toBe(MAX_FRESH_QUEUE);
    // One block answered: 1 missing is below the batch, nothing more is asked.
    const [k] = conn.outstanding.keys();
    conn.outstanding.delete(k!);
    const before = conn.sent.length;
    s.update(p);
    expect(conn.sent.length).toBe(before);
  });

  it("a fresh peer's queue is its share of the unverified bytes, between MIN_QUEUE and MAX_FRESH_QUEUE blocks", () => {
    const clock = new FakeClock();
    let share = 256 * 1024; // 200 peers, 256 KiB pieces: one piece each
    const { s } = scheduler(clock, { unverifiedShare: () => share });
    const { p } = livePeer(1, clock, Bitfield.full(PIECES));
    expect(s.desiredQueue(p)).toBe(MIN_QUEUE);
    share = 40 * 16384;
    expect(s.desiredQueue(p)).toBe(40);
    share = 32 * 1024 * 1024; // one peer: the whole 32 MiB floor
    expect(s.desiredQueue(p)).toBe(MAX_FRESH_QUEUE);
    share = 1000;
    expect(s.desiredQueue(p)).toBe(MIN_QUEUE);
  });

  it('a young peer on a long round trip gets a deep queue from its first bytes, not after the meter window fills', async () => {
    const clock = new FakeClock();
    await clock.advance(10_300); // mid-second: the meter's buckets are aligned to whole seconds
    const { s } = scheduler(clock);
    const { p, conn } = livePeer(1, clock, Bitfield.full(PIECES));
    // 300 ms after it went live, 32 blocks have come: about 1.7 MB/s on a 300 ms link.
    await clock.advance(300);
    conn.download.add(32 * 16384, clock.now());
    // 1.75 MB/s x REQUEST_QUEUE_SECONDS = 213 blocks; the 5 s window's average would say 13.
    expect(s.desiredQueue(p)).toBe(Math.ceil(((32 * 16384) / 0.3) * REQUEST_QUEUE_SECONDS / 16384));
    expect(Math.ceil((conn.download.rate(clock.now()) * REQUEST_QUEUE_SECONDS) / 16384)).toBeLessThan(MIN_QUEUE);
  });

  it('sizes the queue to a few measured round trips once one is known, within its bounds', () => {
    const clock = new FakeClock();
    const { s } = scheduler(clock);
    const { p } = livePeer(1, clock, Bitfield.full(PIECES));
    expect(s.queueSeconds(p)).toBe(REQUEST_QUEUE_SECONDS);
    s.onBlock(p, 400);
    expect(s.queueSeconds(p)).toBeCloseTo(0.8);
    s.onBlock(p, 900); // a block that waited behind others says nothing new about the round trip
    expect(s.queueSeconds(p)).toBeCloseTo(0.8);
    s.onBlock(p, 20);
    expect(s.queueSeconds(p)).toBe(MIN_QUEUE_SECONDS);
  });

  it('slow start: the queue grows by a request per block until a second brings no more than the last', async () => {
    const clock = new FakeClock();
    const { s } = scheduler(clock);
    const { p, conn } = livePeer(1, clock, Bitfield.full(PIECES));
    // A link filling up: each second twice the blocks of the one before.
    let perSecond = 16;
    for (let second = 0; second < 3; second++) {
      for (let i = 0; i < perSecond; i++) {
        await clock.advance(Math.floor(1000 / perSecond));
        conn.download.add(16384, clock.now());
        s.onBlock(p, 300);
      }
      perSecond *= 2;
    }
    expect(p.slowStart).toBe(true);
    expect(s.desiredQueue(p)).toBeGreaterThanOrEqual(16 + 32 + 64);
    // Now flat: slow start ends, and the rate over a few round trips sizes the queue.
    for (let second = 0; second < 3; second++) {
      for (let i = 0; i < 64; i++) {
        await clock.advance(Math.floor(1000 / 64));
        conn.download.add(16384, clock.now());
        s.onBlock(p, 300);
      }
    }
    expect(p.slowStart).toBe(false);
    expect(s.desiredQueue(p)).toBe(Math.ceil((conn.download.rateSince(clock.now(), p.since, 2) * 0.6) / 16384));
  });

  it('slow start: a block that waited more than two round trips does not grow the queue (it is past what the link needs)', () => {
    const clock = new FakeClock();
    const { s } = scheduler(clock);
    const { p } = livePeer(1, clock, Bitfield.full(PIECES));
    s.onBlock(p, 100); // the shortest round trip: 100 ms
    const grown = p.slowStartQueue;
    s.onBlock(p, SLOW_START_DELAY_FACTOR * 100 + SLOW_START_DELAY_SLACK_MS); // at the limit: grows
    expect(p.slowStartQueue).toBe(grown + 1);
    s.onBlock(p, SLOW_START_DELAY_FACTOR * 100 + SLOW_START_DELAY_SLACK_MS + 1); // behind a queue past the link's
    expect(p.slowStartQueue).toBe(grown + 1);
    expect(p.slowStart).toBe(true);
  });

  it('in the endgame a peer takes only the duplicates it can bring in soon', async () => {
    const clock = new FakeClock();
    const { picker, s } = scheduler(clock);
    const [fast, idle] = unchokedSeeds(2, clock, picker, s) as [Seed, Seed];
    await clock.advance(1000);
    fast.conn.download.add(8 * 1024 * 1024, clock.now()); // 8 MB/s: a queue deeper than the torrent
    s.update(fast.p);
    expect(fast.conn.outstanding.size).toBe(PIECES * 4);
    s.update(idle.p);
    expect(idle.conn.outstanding.size).toBe(MIN_ENDGAME_QUEUE);
    // Half a second of its rate (256 blocks), within its queue's cap.
    expect(s.endgameQueue(fast.p)).toBe(Math.min(s.desiredQueue(fast.p), Math.ceil((8 * 1024 * 1024 * ENDGAME_QUEUE_SECONDS) / 16384)));
    expect(s.endgameQueue(fast.p)).toBeGreaterThan(MIN_ENDGAME_QUEUE);
  });

  it('in the endgame a peer duplicates only blocks held by peers it is twice as fast as', async () => {
    const clock = new FakeClock();
    const byId = new Map<number, LivePeer>();
    const { picker, s } = scheduler(clock, { peer: (id) => byId.get(id) });
    const [holder, same, fast] = unchokedSeeds(3, clock, picker, s, byId) as [Seed, Seed, Seed];
    await clock.advance(1000);
    holder.conn.download.add(8 * 1024 * 1024, clock.now());
    same.conn.download.add(8 * 1024 * 1024, clock.now());
    fast.conn.download.add(16 * 1024 * 1024, clock.now());
    s.update(holder.p);
    expect(holder.conn.outstanding.size).toBe(PIECES * 4);
    s.update(same.p);
    expect(same.conn.outstanding.size).toBe(0);
    s.update(fast.p);
    expect(fast.conn.outstanding.size).toBeGreaterThan(0);
  });

  it('in the endgame a peer as fast as the holder duplicates the back of its queue when its own round trip is short enough', async () => {
    const clock = new FakeClock();
    const byId = new Map<number, LivePeer>();
    const { picker, s } = scheduler(clock, { peer: (id) => byId.get(id) });
    const [holder, near, far] = unchokedSeeds(3, clock, picker, s, byId) as [Seed, Seed, Seed];
    await clock.advance(1000);
    for (const x of [holder, near, far]) x.conn.download.add(8 * 1024 * 1024, clock.now());
    s.update(holder.p);
    // The holder's queue drains in 32 blocks / 8 MiB/s = 62.5 ms.
    expect(holder.conn.outstanding.size).toBe(PIECES * 4);
    s.onBlock(near.p, 20); // 2 x (20 ms + one block's 2 ms) = 44 ms: sooner
    s.onBlock(far.p, 50); // 2 x (50 ms + 2 ms) = 104 ms: not worth a copy
    s.update(far.p);
    expect(far.conn.outstanding.size).toBe(0);
    s.update(near.p);
    expect(near.conn.outstanding.size).toBeGreaterThan(0);
  });

  it('a peer that delivered and then stalls times out after what its queue and round trip explain, not 15 s', async () => {
    const clock = new FakeClock();
    const { picker, s } = scheduler(clock);
    const [{ p, conn }] = unchokedSeeds(1, clock, picker, s) as [Seed];
    expect(s.requestTimeout(p)).toBe(REQUEST_TIMEOUT_MS); // nothing measured yet
    await clock.advance(1000);
    conn.download.add(1_000_000, clock.now());
    s.onBlock(p, 100);
    s.update(p);
    const outstanding = conn.outstanding.size;
    const rate = p.deliveryRate;
    const expected = Math.max(MIN_REQUEST_TIMEOUT_MS, 3 * ((outstanding * 16384 * 1000) / rate + 100));
    expect(s.requestTimeout(p)).toBeCloseTo(Math.min(REQUEST_TIMEOUT_MS, expected));
    expect(s.requestTimeout(p)).toBeLessThan(REQUEST_TIMEOUT_MS);
    await clock.advance(s.requestTimeout(p) + 1);
    expect(s.expire(p, clock.now())).toBe(true);
    expect(p.snubbed).toBe(true);
    expect(conn.outstanding.size).toBe(0);
  });

  it('a fast peer that ran out of work still outruns a slow holder in the endgame (its last delivery rate counts)', async () => {
    const clock = new FakeClock();
    const byId = new Map<number, LivePeer>();
    const { picker, s } = scheduler(clock, { peer: (id) => byId.get(id) });
    const [holder, idle] = unchokedSeeds(2, clock, picker, s, byId) as [Seed, Seed];
    await clock.advance(1000);
    idle.conn.download.add(8 * 1024 * 1024, clock.now());
    s.onBlock(idle.p, 50); // it delivered at 8 MB/s ...
    await clock.advance(3000); // ... and has had nothing to do since: no current rate
    holder.conn.download.add(4 * 1024 * 1024, clock.now());
    s.update(holder.p);
    expect(holder.conn.outstanding.size).toBe(PIECES * 4);
    s.update(idle.p);
    expect(idle.conn.outstanding.size).toBeGreaterThan(0);
  });

  it('requests unanswered past the timeout go back to the picker; the peer is snubbed to one request', async () => {
    const clock = new FakeClock();
    const { picker, s } = scheduler(clock);
    const { p, conn } = livePeer(1, clock, Bitfield.full(PIECES));
    picker.addBitfield(p.bitfield!);
    s.countInteresting(p);
    conn.peerChoking = false;
    s.update(p);
    await clock.advance(REQUEST_TIMEOUT_MS + 1);
    expect(s.expire(p, clock.now())).toBe(true);
    expect(p.snubbed).toBe(true);
    expect(conn.outstanding.size).toBe(0);
    expect(s.desiredQueue(p)).toBe(1);
    s.update(p);
    expect(conn.outstanding.size).toBe(1);
  });

  it('holds requests back when the download budget is spent, and asks to be woken', () => {
    const clock = new FakeClock();
    const waits: number[] = [];
    let tokens = 2 * 16384;
    const { picker, s } = scheduler(clock, {
      budget: (n) => (tokens >= n ? ((tokens -= n), 0) : 250),
      retryIn: (ms) => waits.push(ms),
    });
    const { p, conn } = livePeer(1, clock, Bitfield.full(PIECES));
    picker.addBitfield(p.bitfield!);
    s.countInteresting(p);
    conn.peerChoking = false;
    s.update(p);
    expect(conn.outstanding.size).toBe(2);
    expect(waits).toEqual([250]);
  });

  it('choked by a BEP 6 peer, asks only for its allowed-fast pieces', () => {
    const clock = new FakeClock();
    const { picker, s } = scheduler(clock);
    const { p, conn } = livePeer(1, clock, Bitfield.full(PIECES));
    p.fast = true;
    p.allowedFastIn.add(3);
    picker.addBitfield(p.bitfield!);
    s.countInteresting(p);
    s.update(p);
    const asked = new Set(conn.sent.filter((m) => m.type === 'request').map((m) => (m as { index: number }).index));
    expect(asked).toEqual(new Set([3]));
  });
});

describe('uploader', () => {
  function uploader(clock: FakeClock, have = Bitfield.full(PIECES), over: Partial<ConstructorParameters<typeof Uploader>[0]> = {}) {
    const reads: number[] = [];
    const store = new MemoryStorage(() => PIECE);
    for (let p = 0; p < PIECES; p++) void store.writePiece(p, [Buffer.alloc(PIECE, p)]);
    const readPiece = store.readPiece.bind(store);
    store.readPiece = (piece) => (reads.push(piece), readPiece(piece));
    const u = new Uploader({
      cache: new ReadCache(store, 2 * PIECES * PIECE),
      bucket: null,
      clock,
      random: seeded(2),
      canServe: (p) => have.has(p),
      pieceSize: () => PIECE,
      onUploaded: () => undefined,
      onReadError: () => undefined,
      ...over,
    });
    return { u, reads, store };
  }

  const pieces = (sent: readonly Message[]) => sent.filter((m) => m.type === 'piece').map((m) => `${(m as { index: number }).index}:${(m as { begin: number }).begin / 16384}`);

  it('sends the blocks of a piece in memory in request order, in one batch, after one read of the piece', async () => {
    const clock = new FakeClock();
    const { u, reads } = uploader(clock);
    const { p, conn } = livePeer(1, clock, null);
    conn.amChoking = false;
    for (let b = 0; b < 4; b++) u.onRequest(p, 0, b * 16384, 16384);
    await settle();
    expect(pieces(conn.sent)).toEqual(['0:0', '0:1', '0:2', '0:3']);
    expect(reads.filter((r) => r === 0)).toEqual([0]);
    // The piece is in memory now: a burst of requests goes out in the serve that follows, one batch.
    conn.sent.length = 0;
    conn.batches = 0;
    conn.writeQueueBytes = 10 ** 9;
    for (let b = 3; b >= 0; b--) u.onRequest(p, 0, b * 16384, 16384);
    expect(conn.sent).toEqual([]);
    conn.writeQueueBytes = 0;
    u.serve(p); // the stream drained
    expect(pieces(conn.sent)).toEqual(['0:3', '0:2', '0:1', '0:0']);
    expect(conn.batches).toBe(1);
    expect(conn.sent.every((m) => m.type !== 'piece' || (m as { block: Buffer }).block.every((x) => x === 0))).toBe(true);
  });

  it('sends what is in memory in writes of UPLOAD_BATCH_BYTES, in request order', async () => {
    const clock = new FakeClock();
    const { u } = uploader(clock);
    const { p, conn } = livePeer(1, clock, null);
    conn.amChoking = false;
    conn.writeQueueBytes = 10 ** 9;
    // The blocks of the pieces read ahead, each asked for twice: twice a batch's worth in memory.
    const ahead = [...Array(READ_AHEAD_PIECES).keys()].flatMap((piece) => [0, 1, 2, 3].map((b) => `${piece}:${b}`));
    const all = [...ahead, ...ahead];
    for (const k of all) u.onRequest(p, Number(k.split(':')[0]), Number(k.split(':')[1]) * 16384, 16384);
    u.serve(p);
    await settle();
    u.serve(p);
    await settle();
    conn.writeQueueBytes = 0;
    conn.batches = 0;
    u.serve(p);
    expect(pieces(conn.sent)).toEqual(all);
    expect(all.length * 16384).toBeGreaterThan(UPLOAD_BATCH_BYTES);
    expect(conn.batches).toBe(Math.ceil((all.length * 16384) / UPLOAD_BATCH_BYTES));
  });

  it(`reads the next ${READ_AHEAD_PIECES} requested pieces ahead, and no further`, async () => {
    const clock = new FakeClock();
    const { u, reads } = uploader(clock);
    const { p, conn } = livePeer(1, clock, null);
    conn.amChoking = false;
    conn.writeQueueBytes = 10 ** 9; // nothing is sent: only reads happen
    for (let piece = 0; piece < PIECES; piece++) for (let b = 0; b < 2; b++) u.onRequest(p, piece, b * 16384, 16384);
    await settle();
    expect(reads).toEqual([0]); // one read in flight until a piece tells the cache their size
    u.serve(p);
    await settle();
    expect(new Set(reads)).toEqual(new Set([0, 1, 2, 3].slice(0, READ_AHEAD_PIECES)));
    expect(reads.length).toBe(new Set(reads).size); // one read a piece
    expect(conn.sent).toEqual([]);
    conn.writeQueueBytes = 0;
    u.serve(p);
    await settle();
    expect(pieces(conn.sent)).toEqual([...Array(PIECES).keys()].flatMap((piece) => [`${piece}:0`, `${piece}:1`]));
  });

  it('stops at the high-water mark of the stream and carries on where it stopped', async () => {
    const clock = new FakeClock();
    const { u } = uploader(clock);
    const { p, conn } = livePeer(1, clock, null);
    conn.amChoking = false;
    const send = conn.sendPiece;
    const counted = UPLOAD_HIGH_WATER_BYTES / 5; // bytes each block adds to the stream
    conn.sendPiece = (index, begin, block) => {
      send(index, begin, block);
      conn.writeQueueBytes += counted;
    };
    for (let piece = 0; piece < PIECES; piece++) for (let b = 0; b < 4; b++) u.onRequest(p, piece, b * 16384, 16384);
    await settle();
    const first = pieces(conn.sent).length;
    expect(first).toBe(5);
    expect(p.uploadQueue.length).toBe(PIECES * 4 - first);
    conn.writeQueueBytes = 0;
    u.serve(p);
    await settle();
    expect(pieces(conn.sent)).toEqual([...Array(PIECES).keys()].flatMap((piece) => [0, 1, 2, 3].map((b) => `${piece}:${b}`)).slice(0, 2 * first));
  });

  it('a piece it cannot read is reported once, its requests rejected to a fast peer, the rest served', async () => {
    const clock = new FakeClock();
    const failed: number[] = [];
    const { u, store } = uploader(clock, Bitfield.full(PIECES), { onReadError: (piece) => failed.push(piece) });
    store.release(1); // gone from storage: readPiece gives null
    const { p, conn } = livePeer(1, clock, null);
    p.fast = true;
    conn.amChoking = false;
    for (const piece of [1, 2]) for (let b = 0; b < 2; b++) u.onRequest(p, piece, b * 16384, 16384);
    await settle();
    expect(failed).toEqual([1]);
    expect(conn.sent.map((m) => `${m.type}${'index' in m ? m.index : ''}`)).toEqual(['reject-request1', 'reject-request1', 'piece2', 'piece2']);
    expect(p.reading).toBe(0);
  });

  it('within --upload-limit: what the bucket holds goes now, the rest when the timer fires', async () => {
    const clock = new FakeClock();
    const uploaded: number[] = [];
    const bucket = new TokenBucket(2 * 16384, 2 * 16384, clock.now()); // two blocks a second
    const { u } = uploader(clock, Bitfield.full(PIECES), { bucket, onUploaded: (n) => uploaded.push(n) });
    const { p, conn } = livePeer(1, clock, null);
    conn.amChoking = false;
    for (let b = 0; b < 4; b++) u.onRequest(p, 0, b * 16384, 16384);
    await settle();
    expect(pieces(conn.sent)).toEqual(['0:0', '0:1']);
    await clock.advance(499);
    expect(pieces(conn.sent)).toEqual(['0:0', '0:1']);
    await clock.advance(1);
    expect(pieces(conn.sent)).toEqual(['0:0', '0:1', '0:2']);
    await clock.advance(500);
    expect(pieces(conn.sent)).toEqual(['0:0', '0:1', '0:2', '0:3']);
    expect(uploaded.reduce((a, b) => a + b, 0)).toBe(4 * 16384);
  });

  it('a closed peer is sent nothing when its read lands', async () => {
    const clock = new FakeClock();
    const { u } = uploader(clock);
    const { p, conn } = livePeer(1, clock, null);
    conn.amChoking = false;
    u.onRequest(p, 3, 0, 16384);
    conn.isOpen = false;
    u.drop(p);
    await settle();
    expect(pieces(conn.sent)).toEqual([]);
  });

  it('serves only what it has, to an unchoked peer; rejects the rest to a fast peer', async () => {
    const clock = new FakeClock();
    const { u } = uploader(clock, Bitfield.fromString('11110000'));
    const { p, conn } = livePeer(1, clock, null);
    p.fast = true;
    u.onRequest(p, 0, 0, 16384); // choked: rejected
    conn.amChoking = false;
    u.onRequest(p, 1, 0, 16384); // served
    u.onRequest(p, 6, 0, 16384); // not ours: rejected
    u.onRequest(p, 1, 0, 32768); // too long: rejected
    await settle();
    expect(conn.sent.map((m) => `${m.type}${'index' in m ? m.index : ''}`)).toEqual(['reject-request0', 'reject-request6', 'reject-request1', 'piece1']);
  });

  it('queues at most MAX_UPLOAD_QUEUE requests; choking a fast peer rejects its queue but allowed-fast ones', () => {
    const clock = new FakeClock();
    const { u } = uploader(clock);
    const { p, conn } = livePeer(1, clock, null);
    p.fast = true;
    p.allowedFastOut = new Set([2]);
    conn.amChoking = false;
    conn.writeQueueBytes = 10 ** 9; // the peer reads nothing: requests stay queued
    for (let i = 0; i < MAX_UPLOAD_QUEUE + 10; i++) u.onRequest(p, i % PIECES, 0, 16384);
    expect(p.uploadQueue.length).toBe(MAX_UPLOAD_QUEUE);
    expect(conn.sent.filter((m) => m.type === 'reject-request').length).toBe(10);
    u.onNotInterested(p);
    expect(p.uploadQueue.every((r) => r.index === 2)).toBe(true);
  });
});

describe('choker', () => {
  it('gives the regular slots to the interested peers that send the most, plus one optimistic', () => {
    const peers = [1, 2, 3, 4, 5, 6].map((id) => ({ id, interested: id !== 6, downloadRate: id * 100, uploadRate: 0 }));
    const regular = chooseUnchoked(peers, { seeding: false, optimistic: null });
    expect([...regular].sort()).toEqual([2, 3, 4, 5]);
    const opt = pickOptimistic(peers, regular, seeded(3));
    expect(opt).toBe(1); // the only interested peer outside the regular set
    expect([...chooseUnchoked(peers, { seeding: false, optimistic: opt })].sort()).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('discovery', () => {
  function discovery(o: { private?: boolean; v2?: Buffer; tracker?: (req: AnnounceRequest) => { ip: string; port: number }[] } = {}) {
    const clock = new FakeClock();
    const found: string[] = [];
    const announces: AnnounceRequest[] = [];
    const d = new Discovery({
      infoHash: Buffer.alloc(20, 1),
      infoHashV2: o.v2 ?? null,
      peerId: Buffer.alloc(20, 2),
      port: 6881,
      trackers: o.tracker ? [['http://tracker.invalid/announce']] : [],
      private: o.private ?? false,
      dht: null,
      clock,
      stats: () => ({ uploaded: 0, downloaded: 0, left: 1 }),
      onPeers: (peers) => found.push(...peers.map((p) => `${p.source}${p.swarm ? ` ${p.swarm}` : ''} ${p.addr.host}:${p.addr.port}`)),
      onWarning: () => undefined,
      createTracker: (url): Tracker => ({
        url,
        announce: (req) => (announces.push(req), Promise.resolve({ peers: o.tracker!(req), interval: 1800 })),
        scrape: () => Promise.reject(new Error('no')),
        close: () => undefined,
      }),
    });
    return { d, found, announces, clock };
  }

  it('spells addresses one way and never hands us ourselves', async () => {
    const { d, found, clock } = discovery({ tracker: () => [{ ip: '::ffff:10.1.1.1', port: 51413 }, { ip: '127.0.0.1', port: 6881 }, { ip: '10.1.1.2', port: 0 }] });
    d.start();
    await clock.advance(10);
    expect(found).toEqual(['tracker 10.1.1.1:51413']);
    await d.stop();
  });

  it('announces a hybrid under both its info hashes and says which swarm named each peer', async () => {
    const v2 = Buffer.alloc(20, 9);
    const { d, found, announces, clock } = discovery({
      v2,
      tracker: (req) => [{ ip: req.infoHash.equals(v2) ? '10.9.9.9' : '10.1.1.1', port: 51413 }],
    });
    d.start();
    await clock.advance(10);
    expect(announces.map((a) => a.infoHash.toString('hex')).sort()).toEqual([Buffer.alloc(20, 1).toString('hex'), v2.toString('hex')].sort());
    expect(announces.every((a) => a.event === 'started')).toBe(true);
    expect(found.sort()).toEqual(['tracker 10.1.1.1:51413', 'tracker v2 10.9.9.9:51413']);
    await d.stop();
    expect(announces.filter((a) => a.event === 'stopped')).toHaveLength(2);
  });

  it('takes no PEX for a private torrent (BEP 27), and bounds each limited source per minute', async () => {
    const priv = discovery({ private: true });
    priv.d.addPex([{ host: '10.0.0.1', port: 1 }]);
    expect(priv.found).toEqual([]);
    const pub = discovery();
    const flood = Array.from({ length: 300 }, (_, i) => ({ host: `10.2.${i >> 8}.${i & 255}`, port: 7000 }));
    for (let i = 0; i < 10; i++) pub.d.addPex(flood);
    expect(pub.found.length).toBe(MAX_PER_SOURCE_PER_MINUTE);
    // --peer is never limited.
    pub.d.addManual([{ host: '10.9.9.9', port: 1 }], 'manual');
    expect(pub.found.at(-1)).toBe('manual 10.9.9.9:1');
    await pub.clock.advance(60_000);
    pub.d.addPex(flood.slice(0, 5));
    expect(pub.found.length).toBe(MAX_PER_SOURCE_PER_MINUTE + 1 + 5);
  });
});
