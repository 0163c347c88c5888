import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { decodeMessage, encodeMessage, Framer, MessageId, type Message } from '../../src/wire/index.js';

const u32 = fc.nat({ max: 0xffffffff });
const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((u) => Buffer.from(u));
const KNOWN = new Set<number>(Object.values(MessageId));

const message: fc.Arbitrary<Message> = fc.oneof(
  fc.constantFrom<Message>(
    { type: 'keep-alive' },
    { type: 'choke' },
    { type: 'unchoke' },
    { type: 'interested' },
    { type: 'not-interested' },
  ),
  u32.map((index): Message => ({ type: 'have', index })),
  bytes(40).map((bitfield): Message => ({ type: 'bitfield', bitfield })),
  fc.record({ index: u32, begin: u32, length: u32 }).map((r): Message => ({ type: 'request', ...r })),
  fc.record({ index: u32, begin: u32, length: u32 }).map((r): Message => ({ type: 'cancel', ...r })),
  fc.record({ index: u32, begin: u32, block: bytes(300) }).map((r): Message => ({ type: 'piece', ...r })),
  fc.nat({ max: 0xffff }).map((port): Message => ({ type: 'port', port })),
  // BEP 6 (Fast extension)
  fc.constantFrom<Message>({ type: 'have-all' }, { type: 'have-none' }),
  u32.map((index): Message => ({ type: 'suggest-piece', index })),
  u32.map((index): Message => ({ type: 'allowed-fast', index })),
  fc.record({ index: u32, begin: u32, length: u32 }).map((r): Message => ({ type: 'reject-request', ...r })),
  fc.record({ id: fc.nat({ max: 255 }), payload: bytes(60) }).map((r): Message => ({ type: 'extended', ...r })),
  fc
    .record({ id: fc.nat({ max: 255 }).filter((id) => !KNOWN.has(id)), payload: bytes(30) })
    .map((r): Message => ({ type: 'unknown', ...r })),
);

/** Cut points as fractions, turned into chunk boundaries for a stream of a given length. */
const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 30 });

function chunked(stream: Buffer, fractions: number[]): Buffer[] {
  const points = [...new Set(fractions.map((x) => Math.floor(x * stream.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, stream.length]) {
    out.push(stream.subarray(prev, p));
    prev = p;
  }
  return out;
}

describe('wire properties', () => {
  it('decodeMessage(encodeMessage(m)) == m', () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(decodeMessage(encodeMessage(m).subarray(4))).toEqual(m);
      }),
      { numRuns: 1000 },
    );
  });

  it('encoded messages framed in random chunkings come back unchanged and in order', () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 25 }), cuts, (messages, fractions) => {
        const stream = Buffer.concat(messages.map(encodeMessage));
        const f = new Framer({ maxMessageBytes: 1024 });
        const got: Message[] = [];
        for (const c of chunked(stream, fractions)) {
          f.push(c);
          for (let m = f.next(); m; m = f.next()) got.push(m);
        }
        expect(got).toEqual(messages);
        expect(f.bufferedBytes).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  /** Streams that are partly valid, partly plausible frames with random ids, partly noise. */
  const hostileStream = fc
    .array(
      fc.oneof(
        message.map(encodeMessage),
        fc.record({ id: fc.nat({ max: 255 }), payload: bytes(20) }).map(({ id, payload }) => {
          const head = Buffer.alloc(5);
          head.writeUInt32BE(payload.length + 1);
          head[4] = id;
          return Buffer.concat([head, payload]);
        }),
        fc.nat({ max: 200 }).map((n) => {
          const prefix = Buffer.alloc(4);
          prefix.writeUInt32BE(n); // a length that may exceed the 64-byte limit below
          return prefix;
        }),
        bytes(12),
      ),
      { maxLength: 20 },
    )
    .map((parts) => Buffer.concat(parts));

  it('arbitrary byte streams raise only ProtocolError, and the buffer stays bounded', () => {
    const MAX = 64;
    fc.assert(
      fc.property(fc.oneof(hostileStream, bytes(400)), cuts, fc.boolean(), (stream, fractions, handshakeFirst) => {
        const f = new Framer({ maxMessageBytes: MAX });
        try {
          if (handshakeFirst) f.takeRaw(Math.min(stream.length, 5)); // some raw bytes before framing
          f.next();
          for (const c of chunked(stream, fractions)) {
            f.push(c);
            expect(f.bufferedBytes).toBeLessThanOrEqual(MAX + 4 + c.length);
            for (let m = f.next(); m; m = f.next()) expect(m.type).toBeTypeOf('string');
            expect(f.bufferedBytes).toBeLessThan(MAX + 4);
          }
        } catch (e) {
          if (!(e instanceof ProtocolError)) throw e;
          expect(f.bufferedBytes).toBe(0);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('decodeMessage of arbitrary bodies returns a message or throws ProtocolError', () => {
    fc.assert(
      fc.property(bytes(30), (body) => {
        try {
          expect(decodeMessage(body).type).toBeTypeOf('string');
        } catch (e) {
          if (!(e instanceof ProtocolError)) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });
});
