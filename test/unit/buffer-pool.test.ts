/**
 * storage/buffer-pool: a bounded set of reusable read buffers. A buffer given back is the one
 * handed out next (no new allocation), and misuse (one take too many, a give without a take) is
 * an InternalError, never a silent extra buffer.
 */
import { describe, expect, it } from 'vitest';
import { InternalError } from '../../src/errors.js';
import { BufferPool } from '../../src/storage/buffer-pool.js';

describe('BufferPool', () => {
  it('hands out buffers of its size', () => {
    const pool = new BufferPool(1000, 3);
    expect(pool.take().length).toBe(1000);
    expect(pool.take().length).toBe(1000);
  });

  it('reuses a buffer given back instead of making another', () => {
    const pool = new BufferPool(64, 2);
    const a = pool.take();
    a[0] = 42;
    pool.give(a);
    const b = pool.take();
    expect(b).toBe(a);
    expect(b[0]).toBe(42);
    expect(pool.take()).not.toBe(a);
  });

  it('never has more than `count` buffers out: one too many is an InternalError, until one comes back', () => {
    const pool = new BufferPool(16, 2);
    const a = pool.take();
    pool.take();
    expect(() => pool.take()).toThrow(InternalError);
    pool.give(a);
    expect(pool.take()).toBe(a);
  });

  it('refuses more gives than takes', () => {
    const pool = new BufferPool(128, 2);
    const a = pool.take();
    pool.give(a);
    expect(() => pool.give(a)).toThrow(/more buffers than were taken/);
  });
});
