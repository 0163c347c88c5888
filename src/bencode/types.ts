/**
 * Values the strict decoder produces.
 *
 * - byte strings are `Buffer` views into the input (never copies);
 * - integers are `number` when they are safe integers, `bigint` otherwise (within int64);
 * - lists are arrays;
 * - dictionaries are `BDict`: keys are the raw key bytes as latin1 strings (one char per byte, so
 *   binary keys such as info hashes in scrape replies survive), with the byte span of the whole
 *   dictionary in the input, so a caller can hash the original bytes (the info hash).
 */

export type BValue = number | bigint | Buffer | BValue[] | BDict;

export class BDict {
  /**
   * @param entries keys in input order; for duplicate keys the first occurrence wins (as
   *   libtorrent's dict_find does)
   * @param start offset of the leading 'd' in the input
   * @param end offset just past the closing 'e'
   * @param softError true when this dictionary or anything inside it had unsorted or duplicate
   *   keys: tolerated in v1 torrents, fatal where bytes must round-trip (v2 info dicts)
   */
  constructor(
    readonly entries: Map<string, BValue>,
    readonly start: number,
    readonly end: number,
    readonly softError: boolean,
  ) {}

  get(key: string): BValue | undefined {
    return this.entries.get(key);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  get size(): number {
    return this.entries.size;
  }
}

export function isDict(v: BValue | undefined): v is BDict {
  return v instanceof BDict;
}

export function isBytes(v: BValue | undefined): v is Buffer {
  return Buffer.isBuffer(v);
}

export function isList(v: BValue | undefined): v is BValue[] {
  return Array.isArray(v);
}

export function isInt(v: BValue | undefined): v is number | bigint {
  return typeof v === 'number' || typeof v === 'bigint';
}
