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
   * Small dictionaries (the decoder's, up to SMALL_DICT_ENTRIES keys) keep their entries as one
   * flat array [key0, value0, key1, value1, ...] and make a Map only when `entries` is asked for:
   * a 50,000-file torrent has 50,000 two-key dictionaries, and a Map each doubles the memory the
   * decode leaves for the garbage collector to copy. Lookups in the flat form are a scan of at
   * most SMALL_DICT_ENTRIES keys. Once the Map exists it is the only store (callers may change it).
   */
  private pairs: (string | BValue)[] | null;
  private map: Map<string, BValue> | null;

  /**
   * @param entries keys in input order; for duplicate keys the first occurrence wins (as
   *   libtorrent's dict_find does). A flat [key, value, ...] array is the decoder's form (at most
   *   SMALL_DICT_ENTRIES keys, no key twice).
   * @param start offset of the leading 'd' in the input
   * @param end offset just past the closing 'e'
   * @param softError true when this dictionary or anything inside it had unsorted or duplicate
   *   keys: tolerated in v1 torrents, fatal where bytes must round-trip (v2 info dicts)
   */
  constructor(
    entries: Map<string, BValue> | (string | BValue)[],
    readonly start: number,
    readonly end: number,
    readonly softError: boolean,
  ) {
    if (entries instanceof Map) {
      this.map = entries;
      this.pairs = null;
    } else {
      this.map = null;
      this.pairs = entries;
    }
  }

  /** Keys in input order, first occurrence of a duplicate only. */
  get entries(): Map<string, BValue> {
    if (this.map === null) {
      const pairs = this.pairs!;
      const map = new Map<string, BValue>();
      for (let i = 0; i < pairs.length; i += 2) map.set(pairs[i] as string, pairs[i + 1] as BValue);
      this.map = map;
      this.pairs = null;
    }
    return this.map;
  }

  get(key: string): BValue | undefined {
    const pairs = this.pairs;
    if (pairs === null) return this.map!.get(key);
    for (let i = 0; i < pairs.length; i += 2) if (pairs[i] === key) return pairs[i + 1] as BValue;
    return undefined;
  }

  has(key: string): boolean {
    const pairs = this.pairs;
    if (pairs === null) return this.map!.has(key);
    for (let i = 0; i < pairs.length; i += 2) if (pairs[i] === key) return true;
    return false;
  }

  get size(): number {
    return this.pairs === null ? this.map!.size : this.pairs.length / 2;
  }
}

/** Largest dictionary kept in BDict's flat form: a scan of this many keys costs less than a Map. */
export const SMALL_DICT_ENTRIES = 8;

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
