/**
 * PeerConnection.batch: the blocks sent inside it reach the stream as one writev (header and
 * block of each, no copy), which the framer reads back as the same pieces in order; outside a
 * batch each block is its own write. The write-queue bound still closes a peer mid-batch.
 */
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PeerConnection, WRITE_LIMIT_BYTES } from '../../src/peer/index.js';
import { Framer, maxMessageBytes } from '../../src/wire/index.js';
import { FakeClock } from '../helpers/fake-clock.js';

function connection(opts: { writable?: boolean } = {}) {
  const writes: Buffer[][] = []; // one entry per call into the stream: its chunks
  const stream = new Duplex({
    read() {},
    highWaterMark: 16384,
    writev(chunks, cb) {
      writes.push(chunks.map((c) => c.chunk as Buffer));
      if (opts.writable !== false) cb();
    },
    write(chunk: Buffer, _e, cb) {
      writes.push([chunk]);
      if (opts.writable !== false) cb();
    },
  });
  const closed: string[] = [];
  const handler = { onOpen() {}, onMessage() {}, onClose: (_c: unknown, reason: string) => closed.push(reason), onDrain() {}, onBug() {} };
  const conn = new PeerConnection(
    { id: 1, stream, address: { host: '10.0.0.1', port: 1 }, outgoing: false },
    { infoHash: Buffer.alloc(20), peerId: Buffer.alloc(20, 1), reserved: Buffer.alloc(8), maxMessageBytes: maxMessageBytes(100), handshakeTimeoutMs: 1000, clock: new FakeClock() },
    handler,
  );
  return { conn, writes, closed };
}

const decode = (bufs: readonly Buffer[]) => {
  const f = new Framer({ maxMessageBytes: 1 << 20 });
  for (const b of bufs) f.push(b);
  const got = [];
  for (let m = f.next(); m !== null; m = f.next()) got.push(m);
  return got;
};

describe('batch', () => {
  it('sends the blocks inside it as one writev of header and block each, the blocks not copied', () => {
    const { conn, writes } = connection();
    const piece = Buffer.alloc(4 * 16384);
    for (let i = 0; i < piece.length; i++) piece[i] = i & 255;
    const blocks = [0, 1, 2, 3].map((b) => piece.subarray(b * 16384, (b + 1) * 16384));
    conn.batch(() => {
      for (let b = 0; b < 4; b++) conn.sendPiece(7, b * 16384, blocks[b]!);
    });
    expect(writes).toHaveLength(1);
    expect(writes[0]).toHaveLength(8);
    for (let b = 0; b < 4; b++) expect(writes[0]![2 * b + 1]!.buffer).toBe(piece.buffer);
    expect(decode(writes[0]!)).toEqual([0, 1, 2, 3].map((b) => ({ type: 'piece', index: 7, begin: b * 16384, block: blocks[b] })));
    expect(conn.upload.total).toBe(4 * 16384);
    conn.close('shutdown');
  });

  it('outside a batch, each block is its own write', () => {
    const { conn, writes } = connection();
    conn.sendPiece(1, 0, Buffer.alloc(16384, 1));
    conn.sendPiece(1, 16384, Buffer.alloc(16384, 2));
    expect(writes).toHaveLength(2);
    conn.close('shutdown');
  });

  it('closes a peer whose queue passes the write limit inside a batch, and sends nothing after', () => {
    const { conn, writes, closed } = connection({ writable: false });
    const block = Buffer.alloc(16384);
    let sent = 0;
    conn.batch(() => {
      for (let i = 0; i < WRITE_LIMIT_BYTES / block.length + 8 && !conn.isClosed; i++) {
        conn.sendPiece(0, 0, block);
        sent++;
      }
    });
    expect(closed).toEqual(['slow-reader']);
    expect(sent).toBeLessThanOrEqual(WRITE_LIMIT_BYTES / block.length + 1);
    conn.batch(() => conn.sendPiece(0, 0, block));
    expect(writes.flat().length).toBe(0); // destroyed while corked: nothing reached the stream
  });
});
