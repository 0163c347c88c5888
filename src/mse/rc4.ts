/**
 * RC4, the stream cipher of MSE/PE (the Message Stream Encryption spec, "ENCRYPT() is RC4, that
 * uses one of the following keys ... Discard the first 1024 bytes of the RC4 output"). Our own
 * code because Node 20's OpenSSL 3 refuses `createCipheriv('rc4')` without the legacy provider.
 *
 * Owns one keystream: the 256-entry permutation and the two indices. `process(buf)` XORs the next
 * `buf.length` keystream bytes into `buf` in place, so the hot path allocates nothing; encrypting
 * and decrypting are the same operation.
 *
 * Invariants: the permutation always holds each of 0..255 exactly once; `i` and `j` stay in
 * 0..255; bytes are processed strictly in stream order across calls (splitting a buffer into
 * any number of `process` calls gives the same output as one call).
 *
 * Speed (bench/rc4.mjs, one core, 64 KiB buffers): the permutation lives in an Int32Array (no
 * byte narrowing on every load and store) and the 4-byte-aligned middle of the buffer is XORed a
 * 32-bit word at a time through an Int32Array view, which halves the stores into the caller's
 * buffer. That beat a byte-at-a-time loop over Uint8Array or Int32Array state (about 1.5x) and
 * two hand-assembled WebAssembly versions (byte and word state, copying through linear memory);
 * numbers in bench/rc4.mjs. Tried since and slower, by CPU time on one core in one process each
 * (64 KiB buffers, best of 5 x 128 MiB, three rounds): two words (8 bytes) per iteration 538-543
 * MB/s, `i` unmasked within a word when it cannot wrap 583-593, runs of words between wraps
 * 566-579, against 598-609 for this loop. The word trick assumes a little-endian host (x86, ARM
 * as Node runs them); `LITTLE_ENDIAN` guards it and big-endian hosts take the byte loop.
 */

/** MSE: "Discard the first 1024 bytes of the RC4 output" (RC4-drop1024) for both keys. */
export const MSE_RC4_DISCARD_BYTES = 1024;

/** Whether a Uint32 view reads bytes low-first: the word loop below depends on it. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Scratch for discarding keystream: RC4 needs somewhere to XOR the dropped bytes into. */
const DISCARD_CHUNK_BYTES = 256;

export class Rc4 {
  private readonly s = new Int32Array(256);
  private i = 0;
  private j = 0;

  /** Key schedule (KSA) over `key` (1..256 bytes); MSE keys are 20-byte SHA-1 digests. */
  constructor(key: Uint8Array) {
    if (key.length < 1 || key.length > 256) throw new RangeError(`RC4 key must be 1..256 bytes, got ${key.length}`);
    const s = this.s;
    for (let k = 0; k < 256; k++) s[k] = k;
    let j = 0;
    for (let k = 0; k < 256; k++) {
      const t = s[k]!;
      j = (j + t + key[k % key.length]!) & 255;
      s[k] = s[j]!;
      s[j] = t;
    }
  }

  /** Advances the keystream by `n` bytes without output (the MSE drop of 1024 bytes). */
  discard(n: number): void {
    const scratch = new Uint8Array(Math.min(n, DISCARD_CHUNK_BYTES));
    for (let left = n; left > 0; left -= scratch.length) this.process(left >= scratch.length ? scratch : scratch.subarray(0, left));
  }

  /** XORs the next `buf.length` keystream bytes into `buf`, in place. */
  process(buf: Uint8Array): void {
    const s = this.s;
    let i = this.i;
    let j = this.j;
    const n = buf.length;
    let k = 0;
    if (LITTLE_ENDIAN && n >= 16) {
      // Bytes up to the first 4-byte boundary of the underlying memory, then whole words.
      const off = buf.byteOffset;
      const head = (4 - (off & 3)) & 3;
      for (; k < head; k++) {
        i = (i + 1) & 255;
        const si = s[i]!;
        j = (j + si) & 255;
        const sj = s[j]!;
        s[i] = sj;
        s[j] = si;
        buf[k]! ^= s[(si + sj) & 255]!;
      }
      const words = (n - k) >> 2;
      const w = new Int32Array(buf.buffer, off + k, words);
      for (let q = 0; q < words; q++) {
        i = (i + 1) & 255;
        let si = s[i]!;
        j = (j + si) & 255;
        let sj = s[j]!;
        s[i] = sj;
        s[j] = si;
        let x = s[(si + sj) & 255]!;
        i = (i + 1) & 255;
        si = s[i]!;
        j = (j + si) & 255;
        sj = s[j]!;
        s[i] = sj;
        s[j] = si;
        x |= s[(si + sj) & 255]! << 8;
        i = (i + 1) & 255;
        si = s[i]!;
        j = (j + si) & 255;
        sj = s[j]!;
        s[i] = sj;
        s[j] = si;
        x |= s[(si + sj) & 255]! << 16;
        i = (i + 1) & 255;
        si = s[i]!;
        j = (j + si) & 255;
        sj = s[j]!;
        s[i] = sj;
        s[j] = si;
        x |= s[(si + sj) & 255]! << 24;
        w[q]! ^= x;
      }
      k += words << 2;
    }
    for (; k < n; k++) {
      i = (i + 1) & 255;
      const si = s[i]!;
      j = (j + si) & 255;
      const sj = s[j]!;
      s[i] = sj;
      s[j] = si;
      buf[k]! ^= s[(si + sj) & 255]!;
    }
    this.i = i;
    this.j = j;
  }
}

/** An RC4 keystream keyed for MSE: `key` scheduled, then the first 1024 bytes dropped. */
export function mseRc4(key: Uint8Array): Rc4 {
  const rc4 = new Rc4(key);
  rc4.discard(MSE_RC4_DISCARD_BYTES);
  return rc4;
}
