import { describe, expect, it } from 'vitest';
import { BLOCK_SIZE, MAX_EXTENDED_BYTES, MAX_REQUEST_LENGTH, maxMessageBytes } from '../../src/wire/index.js';

describe('wire limits', () => {
  it('has the documented values', () => {
    expect(BLOCK_SIZE).toBe(16384);
    expect(MAX_REQUEST_LENGTH).toBe(131072);
    expect(MAX_EXTENDED_BYTES).toBe(1048576);
  });

  it('maxMessageBytes is the largest of bitfield, piece and extended bodies', () => {
    expect(maxMessageBytes(0)).toBe(MAX_EXTENDED_BYTES);
    expect(maxMessageBytes(1000)).toBe(MAX_EXTENDED_BYTES);
    // 2^23 + 8 pieces: a 1 MiB + 1 byte bitfield, plus its id byte.
    expect(maxMessageBytes(8 * 1024 * 1024 + 8)).toBe(1024 * 1024 + 1 + 1);
    expect(maxMessageBytes(8 * 1024 * 1024 + 1)).toBe(1024 * 1024 + 1 + 1);
    expect(maxMessageBytes(8 * 1024 * 1024)).toBe(1024 * 1024 + 1);
    expect(maxMessageBytes(8 * 1024 * 1024 - 8)).toBe(MAX_EXTENDED_BYTES);
    expect(maxMessageBytes(0)).toBeGreaterThanOrEqual(9 + MAX_REQUEST_LENGTH);
  });

  it('rejects a nonsensical piece count', () => {
    expect(() => maxMessageBytes(-1)).toThrow(RangeError);
    expect(() => maxMessageBytes(1.5)).toThrow(RangeError);
    expect(() => maxMessageBytes(Number.NaN)).toThrow(RangeError);
  });
});
