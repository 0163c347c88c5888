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
