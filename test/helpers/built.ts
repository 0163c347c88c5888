/**
 * For tests of code that starts worker threads: the built script of a worker (the thread runs
 * dist/, never the TypeScript sources), checked to exist before the file's tests run, and the
 * number of OS threads of this process (to show no thread outlives its owner).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll } from 'vitest';
import { repoRoot } from './corpus.js';

/** `dist/<path…>` as a URL; the calling test file fails at once when it is not built. */
export function builtScript(...path: string[]): URL {
  const url = pathToFileURL(join(repoRoot, 'dist', ...path));
  beforeAll(() => {
    if (!existsSync(url)) throw new Error(`${url.pathname} is missing: run npx tsc -p . first`);
  });
  return url;
}

/** OS threads of this process (the main thread, V8's and libuv's, and any worker). */
export const threadCount = (): number => readdirSync('/proc/self/task').length;

/**
 * Resolves once this process has `n` OS threads again, or after `ms` with the count as it is then
 * (the caller asserts it). A worker's thread is joined as its owner closes it, but a test that
 * reads the count a moment later on a loaded machine (the whole suite, interop peers beside it)
 * has seen one more thread once; a thread that really outlives its owner is still there after
 * `ms` and fails the test.
 */
export async function threadCountSettled(n: number, ms = 2_000): Promise<number> {
  const until = Date.now() + ms;
  while (threadCount() !== n && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  return threadCount();
}
