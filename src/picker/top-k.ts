/**
 * The k entries with the smallest keys among those offered, in O(log k) per offer: a max-heap of
 * at most k keys whose root is the worst kept. The picker ranks candidates as one number each
 * (priority, kind, size, index packed into a double) and keeps only as many as a pick can use,
 * instead of collecting and sorting all of them.
 *
 * Pure and bounded: holds at most k keys and values. Ties between equal keys keep the earlier
 * offer only while there is room; callers make their keys unique.
 */
export class TopK {
  private readonly keys: number[] = [];
  private readonly values: number[] = [];

  constructor(private readonly k: number) {}

  offer(key: number, value: number): void {
    const keys = this.keys;
    if (keys.length < this.k) {
      keys.push(key);
      this.values.push(value);
      this.up(keys.length - 1);
    } else if (this.k > 0 && key < keys[0]!) {
      keys[0] = key;
      this.values[0] = value;
      this.down(0);
    }
  }

  /**
   * Values by ascending key, emptying the set: the root (the worst kept) is taken off k times and
   * written from the back, so nothing is allocated but the result.
   */
  drain(): number[] {
    const keys = this.keys;
    const values = this.values;
    const out = new Array<number>(keys.length);
    for (let i = keys.length - 1; i >= 0; i--) {
      out[i] = values[0]!;
      const lastKey = keys.pop()!;
      const lastValue = values.pop()!;
      if (i > 0) {
        keys[0] = lastKey;
        values[0] = lastValue;
        this.down(0);
      }
    }
    return out;
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.keys[parent]! >= this.keys[i]!) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.keys.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let big = i;
      if (l < n && this.keys[l]! > this.keys[big]!) big = l;
      if (r < n && this.keys[r]! > this.keys[big]!) big = r;
      if (big === i) return;
      this.swap(i, big);
      i = big;
    }
  }

  private swap(i: number, j: number): void {
    const k = this.keys[i]!;
    this.keys[i] = this.keys[j]!;
    this.keys[j] = k;
    const v = this.values[i]!;
    this.values[i] = this.values[j]!;
    this.values[j] = v;
  }
}
