/** PeerConnection.sendHaves: many haves as one write that the framer reads back as haves. */
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PeerConnection } from '../../src/peer/index.js';
import { Bitfield } from '../../src/util/bitfield.js';
import { Framer, maxMessageBytes } from '../../src/wire/index.js';
import { FakeClock } from '../helpers/fake-clock.js';

describe('sendHaves', () => {
  it('writes one buffer that decodes to a have per piece, in order', () => {
    const writes: Buffer[] = [];
    const stream = new Duplex({ read() {}, write(chunk: Buffer, _e, cb) { writes.push(Buffer.from(chunk)); cb(); } });
    const handler = { onOpen() {}, onMessage() {}, onClose() {}, onDrain() {}, onBug() {} };
    const conn = new PeerConnection(
      { id: 1, stream, address: { host: '10.0.0.1', port: 1 }, outgoing: false },
      { infoHash: Buffer.alloc(20), peerId: Buffer.alloc(20, 1), reserved: Buffer.alloc(8), maxMessageBytes: maxMessageBytes(100), handshakeTimeoutMs: 1000, clock: new FakeClock() },
      handler,
    );
    const have = Bitfield.fromString('1001000000001');
    conn.sendHaves(have.ones(), have.count);
    expect(writes).toHaveLength(1);
    const f = new Framer({ maxMessageBytes: 1000 });
    f.push(writes[0]!);
    const got = [];
    for (let m = f.next(); m !== null; m = f.next()) got.push(m);
    expect(got).toEqual([0, 3, 12].map((index) => ({ type: 'have', index })));
    conn.close('shutdown');
  });
});
