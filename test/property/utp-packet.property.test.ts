/** uTP packet codec (src/utp/packet.ts): round trips, and arbitrary bytes only ever yield typed results. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { decodePacket, encodePacket, MAX_SACK_BYTES, PacketType, type Packet } from '../../src/utp/packet.js';

const u16 = fc.nat({ max: 0xffff });
const u32 = fc.nat({ max: 0xffffffff });

const packet: fc.Arbitrary<Packet> = fc.record({
  type: fc.constantFrom<PacketType>(PacketType.data, PacketType.fin, PacketType.state, PacketType.reset, PacketType.syn),
  connectionId: u16,
  timestampUs: u32,
  timestampDiffUs: u32,
  wndSize: u32,
  seqNr: u16,
  ackNr: u16,
  sack: fc.option(
    fc.integer({ min: 1, max: MAX_SACK_BYTES / 4 }).chain((words) => fc.uint8Array({ minLength: words * 4, maxLength: words * 4 })),
    { nil: null },
  ),
  payload: fc.uint8Array({ maxLength: 1500 }),
});

function plain(p: Packet): unknown {
  return { ...p, sack: p.sack ? Array.from(p.sack) : null, payload: Array.from(p.payload) };
}

describe('utp packet codec (property)', () => {
  it('decode(encode(p)) = p', () => {
    fc.assert(
      fc.property(packet, (p) => {
        const d = decodePacket(encodePacket(p));
        expect(d).not.toBeInstanceOf(Error);
        expect(plain(d as Packet)).toEqual(plain(p));
      }),
      { numRuns: 2000 },
    );
  });

  it('random bytes yield a packet or a ProtocolError, never an exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const d = decodePacket(bytes);
        if (d instanceof Error) expect(d).toBeInstanceOf(ProtocolError);
        else expect(d.payload.length).toBeLessThanOrEqual(bytes.length - 20);
      }),
      { numRuns: 5000 },
    );
  });

  it('valid headers followed by a random extension chain yield typed results', () => {
    const header = fc.tuple(fc.constantFrom(0x01, 0x11, 0x21, 0x31, 0x41), fc.nat({ max: 3 }), fc.uint8Array({ minLength: 18, maxLength: 18 }));
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 80 }), ([b0, ext, rest], tail) => {
        const bytes = Buffer.concat([Buffer.from([b0, ext]), rest, tail]);
        const d = decodePacket(bytes);
        if (d instanceof Error) {
          expect(d).toBeInstanceOf(ProtocolError);
          return;
        }
        if (d.sack) {
          expect(d.sack.length).toBeGreaterThan(0);
          expect(d.sack.length).toBeLessThanOrEqual(MAX_SACK_BYTES);
        }
      }),
      { numRuns: 5000 },
    );
  });
});
