/**
 * storage/buffer-pool: a bounded set of reusable read buffers. Buffers own their whole
 * ArrayBuffer (so they can be transferred), are made lazily and reused, come back even as a new
 * ArrayBuffer object after a transfer round trip, and misuse is an InternalError, never a silent
 * extra buffer.
 */
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { InternalError } from '../../src/errors.js';
import { BufferPool } from '../../src/storage/buffer-pool.js';

describe('BufferPool', () => {
  it('hands out buffers that own their whole ArrayBuffer, made only when needed', () => {
    const pool = new BufferPool(1000, 3);
    expect(pool.allocated).toBe(0);
    const a = pool.take();
    expect(a.length).toBe(1000);
    expect(a.byteOffset).toBe(0);
    expect(a.buffer.byteLength).toBe(1000);
    expect(pool.allocated).toBe(1);
    expect(pool.available).toBe(2);
  });

  it('reuses a buffer given back instead of making another', () => {
    const pool = new BufferPool(64, 2);
    const a = pool.take();
    a[0] = 42;
    pool.give(a);
    const b = pool.take();
    expect(b.buffer).toBe(a.buffer);
    expect(b[0]).toBe(42);
    expect(pool.allocated).toBe(1);
  });

  it('never makes more than `count` buffers: one too many is an InternalError', () => {
    const pool = new BufferPool(16, 2);
    pool.take();
    pool.take();
    expect(pool.available).toBe(0);
    expect(() => pool.take()).toThrow(InternalError);
    expect(pool.allocated).toBe(2);
  });

  it('takes a buffer back after a transfer to another thread and back', async () => {
    const pool = new BufferPool(4096, 1);
    const buf = pool.take();
    buf.fill(7);
    const { port1, port2 } = new MessageChannel();
    try {
      const back = new Promise<ArrayBuffer>((resolve) => port2.once('message', (ab: ArrayBuffer) => resolve(ab)));
      port1.postMessage(buf.buffer, [buf.buffer as ArrayBuffer]);
      expect(buf.byteLength).toBe(0); // moved, not copied
      const ab = await back;
      pool.give(ab);
      const again = pool.take();
      expect(again.length).toBe(4096);
      expect(again[4095]).toBe(7);
    } finally {
      port1.close();
      port2.close();
    }
  });

  it('refuses a buffer of another size, a detached one, and more gives than takes', () => {
    const pool = new BufferPool(128, 2);
    const a = pool.take();
    expect(() => pool.give(Buffer.alloc(64))).toThrow(InternalError);
    const detached = new ArrayBuffer(128);
    structuredClone(detached, { transfer: [detached] });
    expect(() => pool.give(detached)).toThrow(InternalError);
    pool.give(a);
    expect(() => pool.give(new ArrayBuffer(128))).toThrow(/more buffers than were taken/);
    expect(pool.available).toBe(2);
  });

  it('rejects nonsense sizes', () => {
    expect(() => new BufferPool(0, 1)).toThrow(RangeError);
    expect(() => new BufferPool(10, 0)).toThrow(RangeError);
    expect(() => new BufferPool(1.5, 1)).toThrow(RangeError);
  });
});
