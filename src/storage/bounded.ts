/**
 * Work over every file of a torrent with a fixed number of operations in flight. A torrent may
 * list 100,000 files or more: starting one stat/open per file at once costs a promise, a libuv
 * request and a path per file all at the same time (measured: ~650 MB for 100,000 files in
 * `verify`), and can exhaust descriptors. With a pool the cost is the pool's size.
 *
 * Invariant: at most `limit` calls of `fn` are pending at any moment; results keep input order;
 * the first failure is rethrown after the calls already started have settled (none is left
 * running behind the caller's back).
 */

/**
 * Operations in flight for per-file work (stat, create). The libuv thread pool runs 4 at a time
 * by default, so more than a few dozen queued buys nothing but memory.
 */
export const FILE_OP_CONCURRENCY = 16;

/** `fn(i)` for i in [0, count), at most `limit` at a time; results in order. */
export async function mapBounded<T>(count: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (failure === null && next < count) {
      const i = next++;
      try {
        out[i] = await fn(i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const workers: Promise<void>[] = [];
  for (let w = 0; w < Math.min(limit, count); w++) workers.push(worker());
  await Promise.all(workers);
  if (failure !== null) throw (failure as { error: unknown }).error;
  return out;
}
