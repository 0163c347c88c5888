/** Option values shared by several commands. */
import { UsageError } from '../errors.js';

/** A whole number within [min, max], or a UsageError naming the flag. */
export function intOption(name: string, value: string, min: number, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${name} ${value}: expected a whole number from ${min} to ${max}`);
  return n;
}

/** commander helper for repeatable flags. */
export const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** A rate in bytes a second: "500000", "500K", "10M", "1G" (binary multiples). */
export function rateOption(name: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)(?:i?B?)?$/i.exec(value.trim());
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(m?.[2] ?? '').toUpperCase() as '' | 'K' | 'M' | 'G'];
  const n = m ? Math.floor(Number(m[1]) * mult) : NaN;
  if (!Number.isSafeInteger(n) || n < 1024) throw new UsageError(`${name} ${value}: expected a rate of at least 1K, such as 500K or 10M`);
  return n;
}
