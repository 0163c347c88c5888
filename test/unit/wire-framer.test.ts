import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import {
  decodeHandshake,
  encodeHandshake,
  encodeMessage,
  encodePieceHeader,
  Framer,
  HANDSHAKE_BYTES,
  maxMessageBytes,
  reservedBits,
  type Message,
} from '../../src/wire/index.js';
import { seeded as prng } from '../helpers/prng.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const MAX = maxMessageBytes(100);

/** A copy in memory of its own, so `.buffer` identity checks are not fooled by Node's pool. */
function own(b: Buffer): Buffer {
  const out = Buffer.from(new ArrayBuffer(b.length));
  b.copy(out);
  return out;
}

/** Pushes each chunk and drains `next()` after each, as a peer's read loop does. */
function frameAll(chunks: Buffer[], f = new Framer({ maxMessageBytes: MAX })): Message[] {
  const out: Message[] = [];
  for (const c of chunks) {
    f.push(c);
    for (let m = f.next(); m; m = f.next()) out.push(m);
  }
  return out;
}

function splitRandomly(stream: Buffer, rand: () => number, maxPart: number): Buffer[] {
  const parts: Buffer[] = [];
  for (let i = 0; i < stream.length; ) {
    const n = Math.min(stream.length - i, Math.floor(rand() * maxPart));
    parts.push(own(stream.subarray(i, i + n))); // zero-length parts included on purpose
    i += n;
  }
  return parts;
}

const MESSAGES: Message[] = [
  { type: 'bitfield', bitfield: hex('fffffffffffffffffffffffff0') },
  { type: 'unchoke' },
  { type: 'keep-alive' },
  { type: 'interested' },
  { type: 'have', index: 7 },
  { type: 'request', index: 1, begin: 0, length: 16384 },
  { type: 'piece', index: 1, begin: 0, block: Buffer.alloc(16384, 0x5a) },
  { type: 'keep-alive' },
  { type: 'cancel', index: 1, begin: 16384, length: 16384 },
  { type: 'port', port: 51413 },
  { type: 'extended', id: 1, payload: Buffer.from('d8:msg_typei0e5:piecei0ee') },
  { type: 'unknown', id: 21, payload: hex('00000009') },
  { type: 'choke' },
  { type: 'not-interested' },
  { type: 'piece', index: 99, begin: 49152, block: Buffer.from('tail') },
];
const STREAM = Buffer.concat(MESSAGES.map(encodeMessage));

describe('Framer: chunk boundaries', () => {
  it('one chunk', () => {
    expect(frameAll([own(STREAM)])).toEqual(MESSAGES);
  });

  it('byte by byte', () => {
    const bytes = [...STREAM].map((b) => Buffer.from([b]));
    expect(frameAll(bytes)).toEqual(MESSAGES);
  });

  it('random splits, including length prefixes cut in every place', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rand = prng(seed);
      const maxPart = [3, 7, 64, 5000, 40000][seed % 5]!;
      expect(frameAll(splitRandomly(STREAM, rand, maxPart)), `seed ${seed}`).toEqual(MESSAGES);
    }
  });

  it('a length prefix split 1+3, 2+2 and 3+1', () => {
    const have = encodeMessage({ type: 'have', index: 0x01020304 });
    for (let cut = 1; cut < 4; cut++) {
      expect(frameAll([have.subarray(0, cut), have.subarray(cut)])).toEqual([{ type: 'have', index: 0x01020304 }]);
    }
  });

  it('returns null until a message is complete, and counts buffered bytes', () => {
    const f = new Framer({ maxMessageBytes: MAX });
    const frame = encodeMessage({ type: 'request', index: 1, begin: 2, length: 3 });
    expect(f.next()).toBeNull();
    f.push(frame.subarray(0, 10));
    expect(f.bufferedBytes).toBe(10);
    expect(f.next()).toBeNull();
    expect(f.bufferedBytes).toBe(6); // the prefix is consumed, the body is not yet returned
    f.push(frame.subarray(10));
    expect(f.next()).toEqual({ type: 'request', index: 1, begin: 2, length: 3 });
    expect(f.bufferedBytes).toBe(0);
    expect(f.next()).toBeNull();
  });
});

describe('Framer: zero copy', () => {
  it('a piece inside one chunk returns a view into that chunk', () => {
    const chunk = own(
      Buffer.concat([encodeMessage({ type: 'have', index: 1 }), encodeMessage({ type: 'piece', index: 2, begin: 0, block: Buffer.alloc(16384, 1) })]),
    );
    const f = new Framer({ maxMessageBytes: MAX });
    f.push(chunk);
    expect(f.next()).toEqual({ type: 'have', index: 1 });
    const m = f.next();
    if (m?.type !== 'piece') throw new Error(String(m?.type));
    expect(m.block.buffer).toBe(chunk.buffer);
    expect(m.block.byteOffset).toBe(chunk.byteOffset + 9 + 13);
    expect(m.block.length).toBe(16384);
  });

  it('a piece whose prefix is in the previous chunk is still a view into the body chunk', () => {
    const frame = encodeMessage({ type: 'piece', index: 2, begin: 0, block: Buffer.alloc(100, 1) });
    const a = own(frame.subarray(0, 4));
    const b = own(frame.subarray(4));
    const [m] = frameAll([a, b]);
    if (m?.type !== 'piece') throw new Error(String(m?.type));
    expect(m.block.buffer).toBe(b.buffer);
  });

  it('a piece spanning chunks is copied once into a buffer of its own', () => {
    const frame = encodeMessage({ type: 'piece', index: 2, begin: 0, block: Buffer.alloc(16384, 1) });
    const a = own(frame.subarray(0, 5000));
    const b = own(frame.subarray(5000));
    const [m] = frameAll([a, b]);
    if (m?.type !== 'piece') throw new Error(String(m?.type));
    expect(m.block.buffer).not.toBe(a.buffer);
    expect(m.block.buffer).not.toBe(b.buffer);
    expect(m.block.buffer.byteLength).toBeGreaterThanOrEqual(16384 + 9);
    expect(m.block).toEqual(Buffer.alloc(16384, 1));
  });
});

describe('Framer: hostile length prefixes', () => {
  it('a length prefix of 2^31 throws at once without buffering the message', () => {
    const f = new Framer({ maxMessageBytes: MAX });
    expect(f.next()).toBeNull(); // framing has started
    expect(() => f.push(hex('80000000'))).toThrow(ProtocolError);
    expect(f.bufferedBytes).toBe(0);
    // The framer is dead: every later call reports the same error.
    expect(() => f.next()).toThrow(/2147483648 bytes exceeds the limit/);
    expect(() => f.push(hex('00'))).toThrow(ProtocolError);
  });

  it('the prefix is checked as soon as its last byte arrives, even split over chunks', () => {
    const f = new Framer({ maxMessageBytes: MAX });
    f.next();
    f.push(hex('80'));
    f.push(hex('00'));
    f.push(hex('00'));
    expect(f.bufferedBytes).toBe(3);
    expect(() => f.push(hex('00'))).toThrow(ProtocolError);
    expect(f.bufferedBytes).toBe(0);
  });

  it('a bad prefix behind good messages in the same chunk throws from push', () => {
    const f = new Framer({ maxMessageBytes: MAX });
    f.next();
    const chunk = Buffer.concat([encodeMessage({ type: 'choke' }), encodeMessage({ type: 'have', index: 1 }), hex('7fffffff 00')]);
    expect(() => f.push(chunk)).toThrow(ProtocolError);
  });

  it('a prefix of exactly maxMessageBytes is allowed, one more is not', () => {
    const ok = new Framer({ maxMessageBytes: 16 });
    ok.next();
    ok.push(Buffer.concat([hex('00000010 15'), Buffer.alloc(15)]));
    expect(ok.next()).toEqual({ type: 'unknown', id: 21, payload: Buffer.alloc(15) });
    const bad = new Framer({ maxMessageBytes: 16 });
    bad.next();
    expect(() => bad.push(hex('00000011'))).toThrow(ProtocolError);
  });

  it('before framing starts, an oversized prefix is caught by the first next()', () => {
    const f = new Framer({ maxMessageBytes: MAX });
    f.push(hex('80000000'));
    expect(() => f.next()).toThrow(ProtocolError);
    expect(f.bufferedBytes).toBe(0);
  });

  it('a malformed body throws ProtocolError and kills the framer', () => {
    const f = new Framer({ maxMessageBytes: MAX });
    f.next();
    f.push(hex('00000004 04 000001')); // have with a 3-byte payload
    expect(() => f.next()).toThrow(/have message: payload of 3 bytes/);
    expect(f.bufferedBytes).toBe(0);
    expect(() => f.next()).toThrow(ProtocolError);
  });

  it('rejects a nonsensical limit', () => {
    expect(() => new Framer({ maxMessageBytes: 0 })).toThrow(RangeError);
    expect(() => new Framer({ maxMessageBytes: Number.POSITIVE_INFINITY })).toThrow(RangeError);
  });
});

describe('Framer: handshake phase', () => {
  const reserved = reservedBits({ extensionProtocol: true });
  const infoHash = Buffer.alloc(20, 0x11);
  const peerId = Buffer.alloc(20, 0x22);
  const handshake = encodeHandshake({ reserved, infoHash, peerId });
  const after: Message[] = [{ type: 'bitfield', bitfield: hex('f0') }, { type: 'unchoke' }, { type: 'have', index: 3 }];

  it('takeRaw reads the handshake, then messages follow from the same chunk', () => {
    const f = new Framer({ maxMessageBytes: MAX });
    f.push(own(Buffer.concat([handshake, ...after.map(encodeMessage)])));
    const raw = f.takeRaw(HANDSHAKE_BYTES);
    expect(raw).not.toBeNull();
    expect(decodeHandshake(raw!)).toEqual({ reserved, infoHash, peerId });
    const got: Message[] = [];
    for (let m = f.next(); m; m = f.next()) got.push(m);
    expect(got).toEqual(after);
    expect(f.bufferedBytes).toBe(0);
  });

  it('takeRaw waits for all n bytes and copies across chunks', () => {
    const f = new Framer({ maxMessageBytes: MAX });
    f.push(handshake.subarray(0, 20));
    expect(f.takeRaw(HANDSHAKE_BYTES)).toBeNull();
    expect(f.bufferedBytes).toBe(20);
    f.push(Buffer.concat([handshake.subarray(20), encodeMessage({ type: 'interested' })]));
    expect(f.takeRaw(HANDSHAKE_BYTES)).toEqual(handshake);
    expect(f.next()).toEqual({ type: 'interested' });
  });

  it('takeRaw may be called in steps (pstr + info hash first, peer id later)', () => {
    const f = new Framer({ maxMessageBytes: MAX });
    f.push(handshake.subarray(0, 50));
    expect(f.takeRaw(48)).toEqual(handshake.subarray(0, 48));
    expect(f.takeRaw(20)).toBeNull();
    f.push(handshake.subarray(50));
    expect(f.takeRaw(20)).toEqual(peerId);
    expect(f.takeRaw(0)).toEqual(Buffer.alloc(0));
  });

  it('takeRaw after framing started is a programming error', () => {
    const f = new Framer({ maxMessageBytes: MAX });
    f.next();
    expect(() => f.takeRaw(68)).toThrow(/after framing started/);
  });
});

describe('Framer: volume', () => {
  it('frames 64 MiB of piece messages pushed in 64 KiB chunks', () => {
    const BLOCK = 16384;
    const blocks = 4096; // 64 MiB
    const frameBytes = 13 + BLOCK;
    const stream = Buffer.allocUnsafe(blocks * frameBytes);
    for (let i = 0; i < blocks; i++) {
      const at = i * frameBytes;
      encodePieceHeader(i >> 4, (i & 15) * BLOCK, BLOCK).copy(stream, at);
      stream.fill(i & 0xff, at + 13, at + frameBytes);
    }
    const f = new Framer({ maxMessageBytes: maxMessageBytes(256) });
    const CHUNK = 64 * 1024;
    let count = 0;
    let bytes = 0;
    let views = 0;
    let maxBuffered = 0;
    for (let off = 0; off < stream.length; off += CHUNK) {
      f.push(stream.subarray(off, off + CHUNK));
      maxBuffered = Math.max(maxBuffered, f.bufferedBytes);
      for (let m = f.next(); m; m = f.next()) {
        if (m.type !== 'piece') throw new Error(m.type);
        expect(m.index).toBe(count >> 4);
        expect(m.begin).toBe((count & 15) * BLOCK);
        if (m.block[0] !== (count & 0xff) || m.block[BLOCK - 1] !== (count & 0xff)) throw new Error(`block ${count} corrupted`);
        if (m.block.buffer === stream.buffer) views++;
        bytes += m.block.length;
        count++;
      }
    }
    expect(count).toBe(blocks);
    expect(bytes).toBe(64 * 1024 * 1024);
    expect(f.bufferedBytes).toBe(0);
    expect(maxBuffered).toBeLessThan(CHUNK + frameBytes);
    // Most blocks lie inside one 64 KiB chunk and are views; the rest straddle a chunk boundary.
    expect(views).toBeGreaterThan(blocks / 2);
  });
});

/**
 * A transport that reads into one buffer it reuses: each part is copied into `shared`, pushed as
 * a view of it, drained, then the framer detaches and the buffer is scribbled over, as the next
 * read would. Each message is deep-copied when it is delivered (the session copies a block into
 * its piece at once); what was delivered is returned.
 */
function frameThroughSharedBuffer(parts: Buffer[], f = new Framer({ maxMessageBytes: MAX })): { delivered: Message[]; views: Message[] } {
  const shared = Buffer.alloc(64 * 1024);
  const delivered: Message[] = [];
  const views: Message[] = [];
  for (const p of parts) {
    p.copy(shared);
    f.push(shared.subarray(0, p.length));
    for (let m = f.next(); m; m = f.next()) {
      views.push(m);
      delivered.push(Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Buffer.isBuffer(v) ? Buffer.from(v) : v])) as Message);
    }
    f.detach();
    shared.fill(0xee);
  }
  return { delivered, views };
}


describe('Framer: a transport that reuses its read buffer (detach)', () => {
  it('every message arrives intact whatever the read sizes, down to one byte', () => {
    for (const [seed, maxPart] of [[1, 2], [2, 7], [3, 700], [4, 5000], [5, 20000]] as const) {
      const parts = splitRandomly(STREAM, prng(seed), maxPart);
      const { delivered } = frameThroughSharedBuffer(parts);
      expect(delivered, `seed ${seed}`).toEqual(MESSAGES);
    }
  });

  it('a block trickling in over many reads is gathered in one buffer the framer keeps for the next block', () => {
    const a: Message = { type: 'piece', index: 3, begin: 0, block: Buffer.alloc(16384, 0x11) };
    const b: Message = { type: 'piece', index: 3, begin: 16384, block: Buffer.alloc(16384, 0x22) };
    const stream = Buffer.concat([encodeMessage(a), encodeMessage(b)]);
    const parts: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 1000) parts.push(stream.subarray(i, i + 1000));
    const { delivered, views } = frameThroughSharedBuffer(parts);
    expect(delivered).toEqual([a, b]);
    const [va, vb] = views as Extract<Message, { type: 'piece' }>[];
    expect(va!.block.buffer).toBe(vb!.block.buffer); // the same reused buffer, not one per block
  });

  it('a spanning message that is not a block gets a buffer of its own and stays valid after later reads', () => {
    const ext: Message = { type: 'extended', id: 3, payload: Buffer.alloc(3000, 0x33) };
    const block: Message = { type: 'piece', index: 0, begin: 0, block: Buffer.alloc(16384, 0x44) };
    const stream = Buffer.concat([encodeMessage(ext), encodeMessage(block), encodeMessage(block)]);
    const parts: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 999) parts.push(stream.subarray(i, i + 999));
    const { views } = frameThroughSharedBuffer(parts);
    expect((views[0] as Extract<Message, { type: 'extended' }>).payload.equals(Buffer.alloc(3000, 0x33))).toBe(true);
  });

  it('an oversized prefix behind a frame being gathered is still refused at once', () => {
    const f = new Framer({ maxMessageBytes: MAX });
    const block = encodeMessage({ type: 'piece', index: 0, begin: 0, block: Buffer.alloc(16384, 1) });
    f.push(block.subarray(0, 100));
    expect(f.next()).toBeNull();
    f.detach();
    const bad = Buffer.alloc(4);
    bad.writeUInt32BE(2 ** 31);
    expect(() => f.push(Buffer.concat([block.subarray(100), bad]))).toThrow(ProtocolError);
  });
});
