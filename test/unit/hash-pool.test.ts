/**
 * storage/hash-pool with the hashing paths that use it (hash-files, check): piece hashes from
 * worker threads equal hashing the bytes here; read failures come out as the same typed errors as
 * on the main thread; aborting stops; no thread outlives its pool.
 *
 * The worker script is the built one (dist/storage/hash-worker.js): run `npx tsc -p .` first.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { InternalError, TorrentError } from '../../src/errors.js';
import { parseTorrent } from '../../src/metainfo/index.js';
import { checkExisting } from '../../src/storage/check.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import { HashPool, workerScript, type FileSegment } from '../../src/storage/hash-pool.js';
import { hashAllPieces, hashFiles, type HashSource } from '../../src/storage/hash-files.js';
import { builtScript, threadCount, threadCountSettled } from '../helpers/built.js';
import { repoRoot } from '../helpers/corpus.js';
import { bytes, makeTorrent, pieceHashes } from '../helpers/make-torrent.js';

const script = builtScript('storage', 'hash-worker.js');

const dir = mkdtempSync(join(tmpdir(), 'torrent-hash-pool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function files(datas: Buffer[]): HashSource[] {
  return datas.map((d) => {
    const path = join(dir, `f${n++}`);
    writeFileSync(path, d);
    return { path, length: d.length };
  });
}

/** A `files` job of one whole file. */
function whole(f: HashSource): FileSegment[] {
  return [{ kind: 'path', path: f.path, position: 0, length: f.length, fileLength: f.length }];
}

describe('HashPool', () => {
  it('finds its worker script beside itself when built, and none when run from sources', async () => {
    const built = (await import(pathToFileURL(join(repoRoot, 'dist', 'storage', 'hash-pool.js')).href)) as typeof import('../../src/storage/hash-pool.js');
    expect(built.workerScript()?.href).toBe(script.href);
    expect(workerScript()).toBeNull();
  });

  it('hashes ranges of files into one digest per piece, the last piece short, a job starting mid-file', async () => {
    const pool = new HashPool(script, 2);
    try {
      const datas = [bytes(30_000, 3), bytes(70_000, 4)];
      const [a, b] = files(datas);
      const segments: FileSegment[] = [
        { kind: 'path', path: a!.path, position: 10_000, length: 20_000, fileLength: 30_000 },
        { kind: 'path', path: b!.path, position: 0, length: 70_000, fileLength: 70_000 },
      ];
      const want = pieceHashes(Buffer.concat([datas[0]!.subarray(10_000), datas[1]!]), 16_384);
      expect(await pool.hashFiles(segments, 16_384)).toEqual(want);
    } finally {
      await pool.close();
    }
  });

  it('answers many queued jobs on two threads, each with its own result', async () => {
    const pool = new HashPool(script, 2);
    try {
      const datas = Array.from({ length: 12 }, (_, i) => bytes(5_000 + i * 1_000, i + 10));
      const got = await Promise.all(files(datas).map((f) => pool.hashFiles(whole(f), 4_096)));
      got.forEach((g, i) => expect(g).toEqual(pieceHashes(datas[i]!, 4_096)));
    } finally {
      await pool.close();
    }
  });

  it('leaves no thread behind once closed, and rejects work after close', async () => {
    const [f] = files([Buffer.alloc(1_000)]);
    const before = threadCount();
    const pool = new HashPool(script, 2);
    await pool.hashFiles(whole(f!), 500);
    expect(threadCount()).toBe(before + 2);
    await pool.close();
    expect(await threadCountSettled(before)).toBe(before);
    await expect(pool.hashFiles(whole(f!), 10)).rejects.toBeInstanceOf(InternalError);
  });

  it('closed as soon as its first answer comes, a worker still loading its script, leaves no descriptor open', async () => {
    const fds = (): string[] => readdirSync('/proc/self/fd').sort();
    const [f] = files([Buffer.alloc(10)]);
    for (let i = 0; i < 20; i++) {
      const before = fds();
      const pool = new HashPool(script, 2);
      await pool.hashFiles(whole(f!), 10);
      await pool.close();
      expect(fds()).toEqual(before);
    }
  });

  it('a worker that dies fails its job and the queued ones with InternalError', async () => {
    const dying = join(dir, 'dying-worker.mjs');
    writeFileSync(dying, "import { parentPort } from 'node:worker_threads';\nparentPort.on('message', () => process.exit(3));\n");
    const pool = new HashPool(pathToFileURL(dying), 1);
    try {
      const [f] = files([Buffer.alloc(10)]);
      const jobs = [pool.hashFiles(whole(f!), 10), pool.hashFiles(whole(f!), 10)];
      for (const j of jobs) await expect(j).rejects.toThrow(/hash worker exited with code 3/);
    } finally {
      await pool.close();
    }
  });
});

describe('hashFiles on worker threads', () => {
  const layouts: [string, number[]][] = [
    ['one file, short last piece', [70_001]],
    ['files ending mid-piece', [10_000, 30_000, 5, 50_000]],
    ['empty files at the start, middle and end', [0, 20_000, 0, 0, 16_384, 0]],
    ['many tiny files in one piece', Array.from({ length: 50 }, (_, i) => i + 1)],
  ];
  for (const chunk of [999, 40_000]) {
    it.each(layouts)(`%s (jobs of about ${chunk} bytes)`, async (_, lengths) => {
      const datas = lengths.map((l, i) => bytes(l, i + 1));
      const got = await hashAllPieces(files(datas), 16_384, { chunkBytes: chunk, workers: 2, workerUrl: script });
      expect(got).toEqual(pieceHashes(Buffer.concat(datas), 16_384));
    });
  }

  it('equals hashing the concatenation for any layout (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 3_000 }),
        fc.integer({ min: 1, max: 9_000 }),
        async (lengths, pieceLength, chunkBytes) => {
          const datas = lengths.map((l, i) => bytes(l, i + 20));
          const got = await hashAllPieces(files(datas), pieceLength, { chunkBytes, workers: 2, workerUrl: script });
          expect(got).toEqual(pieceHashes(Buffer.concat(datas), pieceLength));
        },
      ),
      { numRuns: 15 },
    );
  });

  it('reports progress in order up to the total', async () => {
    const datas = [bytes(40_000, 5), bytes(9_000, 6)];
    const seen: number[] = [];
    await hashAllPieces(files(datas), 4_096, { chunkBytes: 10_000, workers: 2, workerUrl: script, onProgress: (b) => seen.push(b) });
    expect(seen.at(-1)).toBe(49_000);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
  });

  it('a missing file is the same typed error as on the main thread', async () => {
    const missing = [{ path: join(dir, 'nope'), length: 5 }];
    const here = await hashAllPieces(missing, 16_384, { workers: 0 }).catch((e: unknown) => e);
    const there = await hashAllPieces(missing, 16_384, { workers: 2, workerUrl: script }).catch((e: unknown) => e);
    expect(there).toBeInstanceOf(TorrentError);
    expect(there).toBeInstanceOf((here as object).constructor);
    expect((there as TorrentError).code).toBe((here as TorrentError).code);
    expect((there as TorrentError).message).toBe((here as TorrentError).message);
  });

  it('a file shorter than listed is an error, not zeros', async () => {
    const [f] = files([bytes(1_000, 8)]);
    const err = await hashAllPieces([{ path: f!.path, length: 2_000 }], 16_384, { workers: 2, workerUrl: script }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TorrentError);
    expect((err as TorrentError).code).toBe('ERR_DISK');
    expect((err as TorrentError).message).toBe(`${f!.path} is 1000 bytes, not 2000: it changed while being hashed`);
  });

  it('an aborted signal stops hashing with its reason, and the threads are gone', async () => {
    const before = threadCount();
    const ac = new AbortController();
    const reason = new Error('stop here');
    const it = hashFiles(files([bytes(300_000, 9)]), 4_096, { chunkBytes: 8_192, workers: 2, workerUrl: script, signal: ac.signal });
    expect((await it.next()).done).toBe(false);
    ac.abort(reason);
    const drained = (async () => {
      for (;;) if ((await it.next()).done) break;
    })();
    await expect(drained).rejects.toBe(reason);
    expect(await threadCountSettled(before)).toBe(before);
  });

  it('stopping early closes the pool', async () => {
    const before = threadCount();
    const it = hashFiles(files([bytes(200_000, 9)]), 16_384, { chunkBytes: 16_384, workers: 2, workerUrl: script });
    expect((await it.next()).done).toBe(false);
    await it.return(undefined);
    expect(await threadCountSettled(before)).toBe(before);
  });
});

describe('checkExisting on worker threads', () => {
  it('verifies the same pieces as on the main thread, a corrupt piece left out', async () => {
    const data = bytes(10 * 16_384 + 123, 4);
    const meta = parseTorrent(makeTorrent({ name: 'p.bin', data, pieceLength: 16_384 }));
    const root = mkdtempSync(join(dir, 'torrent-check-'));
    const bad = Buffer.from(data);
    bad[3 * 16_384 + 5]! ^= 0xff; // within the 11 pieces of data
    writeFileSync(join(root, 'p.bin'), bad);
    const run = async (workers: number): Promise<string> => {
      const storage = new FileStorage({ root, meta, selected: null });
      try {
        const r = await checkExisting({ storage, meta, wanted: () => true, resume: null, workers, workerUrl: script });
        expect(r.hashed).toBe(11);
        return r.verified.toString();
      } finally {
        await storage.close();
      }
    };
    const there = await run(2);
    expect(there).toBe('11101111111');
    expect(there).toBe(await run(0));
  });
});
