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
