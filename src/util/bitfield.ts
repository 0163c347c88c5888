/**
 * A fixed-size bit set in BitTorrent order (BEP 3): bit 0 is the high bit of byte 0. Spare bits
 * at the end of the last byte are always zero.
 */
export class Bitfield {
  readonly buffer: Buffer;
  private setCount = 0;

  constructor(
    readonly length: number,
    buffer?: Buffer,
  ) {
    const bytes = Math.ceil(length / 8);
    if (buffer) {
      if (buffer.length !== bytes) throw new RangeError(`bitfield of ${buffer.length} bytes for ${length} bits`);
      this.buffer = Buffer.from(buffer);
      for (let i = 0; i < length; i++) if (this.has(i)) this.setCount++;
    } else {
      this.buffer = Buffer.alloc(bytes);
    }
  }

  /** Bytes a bitfield of `bits` bits occupies on the wire. */
  static byteLength(bits: number): number {
    return Math.ceil(bits / 8);
  }

  /** True when `buffer` has a bit set past `bits` (peers must send zeros there, BEP 3). */
  static hasSpareBits(buffer: Uint8Array, bits: number): boolean {
    const rem = bits % 8;
    if (rem === 0 || buffer.length === 0) return false;
    return (buffer[buffer.length - 1]! & (0xff >> rem)) !== 0;
  }

  static full(length: number): Bitfield {
    const b = new Bitfield(length);
    for (let i = 0; i < length; i++) b.set(i);
    return b;
  }

  has(i: number): boolean {
    return i >= 0 && i < this.length && (this.buffer[i >> 3]! & (0x80 >> (i & 7))) !== 0;
  }

  set(i: number): void {
    if (i < 0 || i >= this.length) throw new RangeError(`bit ${i} outside 0..${this.length - 1}`);
    const mask = 0x80 >> (i & 7);
    if ((this.buffer[i >> 3]! & mask) === 0) {
      this.buffer[i >> 3]! |= mask;
      this.setCount++;
    }
  }

  clear(i: number): void {
    if (i < 0 || i >= this.length) throw new RangeError(`bit ${i} outside 0..${this.length - 1}`);
    const mask = 0x80 >> (i & 7);
    if ((this.buffer[i >> 3]! & mask) !== 0) {
      this.buffer[i >> 3]! &= ~mask;
      this.setCount--;
    }
  }

  /** Number of set bits. */
  get count(): number {
    return this.setCount;
  }

  get complete(): boolean {
    return this.setCount === this.length;
  }

  /** Indexes of set bits, ascending. */
  *ones(): IterableIterator<number> {
    for (let i = 0; i < this.length; i++) if (this.has(i)) yield i;
  }

  /** Readable form for tests and logs: "10110". */
  toString(): string {
    let s = '';
    for (let i = 0; i < this.length; i++) s += this.has(i) ? '1' : '0';
    return s;
  }

  static fromString(s: string): Bitfield {
    const b = new Bitfield(s.length);
    for (let i = 0; i < s.length; i++) if (s[i] === '1') b.set(i);
    return b;
  }
}
