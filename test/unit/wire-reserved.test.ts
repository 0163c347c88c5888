/**
 * The named reserved bits, read back one by one: the session tests a peer's handshake only through
 * `hasReserved(reserved, Reserved.x)`, so each name must read its own bit (at the byte and mask
 * its BEP gives) and no other.
 */
import { describe, expect, it } from 'vitest';
import { hasReserved, Reserved, reservedBits } from '../../src/wire/index.js';

type Name = keyof typeof Reserved;
const NAMES = Object.keys(Reserved) as Name[];

/** Byte and mask as each BEP writes them, copied by hand (not from `Reserved`). */
const FROM_THE_BEPS: Record<Name, [byte: number, mask: number]> = {
  extensionProtocol: [5, 0x10], // BEP 10
  dht: [7, 0x01], // BEP 5
  fast: [7, 0x04], // BEP 6
  v2: [7, 0x10], // BEP 52
};

describe('reserved bits by name', () => {
  it('names every bit the BEPs define for us, at the BEP byte and mask', () => {
    expect([...NAMES].sort()).toEqual(Object.keys(FROM_THE_BEPS).sort());
    for (const name of NAMES) {
      const [byte, mask] = FROM_THE_BEPS[name];
      const r = Buffer.alloc(8);
      r[byte] = mask;
      expect(hasReserved(r, Reserved[name]), name).toBe(true);
    }
  });

  it('each name reads its own bit and no other', () => {
    for (const set of NAMES) {
      const r = reservedBits({ [set]: true });
      for (const read of NAMES) expect(hasReserved(r, Reserved[read]), `${set} set, ${read} read`).toBe(read === set);
    }
  });

  it('a bit stays readable whatever else a peer sets, and unset when only the others are', () => {
    for (const name of NAMES) {
      const all = Buffer.alloc(8, 0xff);
      expect(hasReserved(all, Reserved[name]), name).toBe(true);
      all[Reserved[name].byte]! &= ~Reserved[name].mask;
      expect(hasReserved(all, Reserved[name]), name).toBe(false);
    }
  });
});
