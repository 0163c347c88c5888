/**
 * storage/disk-writer: bytes in shared memory are written by the writer's thread, other bytes
 * through libuv's pool, both landing exactly where asked; a failed write rejects with the
 * system's code and the writer goes on; close() lets posted writes finish and leaves no thread;
 * an idle writer does not keep the process alive.
 *
 * The thread's script is the built one (dist/storage/disk-writer-worker.js): run `npx tsc -p .` first.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DiskWriter, diskWriterScript, WRITE_CHUNK_BYTES } from '../../src/storage/disk-writer.js';
import { builtScript, threadCount, threadCountSettled } from '../helpers/built.js';
import { repoRoot } from '../helpers/corpus.js';
import { bytes } from '../helpers/make-torrent.js';

const script = builtScript('storage', 'disk-writer-worker.js');

const dir = mkdtempSync(join(tmpdir(), 'torrent-disk-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function shared(data: Buffer): Buffer {
  const b = Buffer.from(new SharedArrayBuffer(data.length));
  data.copy(b);
  return b;
}

let n = 0;
function withFile<T>(fn: (fd: number, path: string) => Promise<T>): Promise<T> {
  const path = join(dir, `f${n++}`);
  const fd = openSync(path, 'w+');
  return fn(fd, path).finally(() => closeSync(fd));
}

describe('DiskWriter', () => {
  it('finds its thread script beside itself when built, and none when run from sources', async () => {
    const built = (await import(pathToFileURL(join(repoRoot, 'dist', 'storage', 'disk-writer.js')).href)) as typeof import('../../src/storage/disk-writer.js');
    expect(built.diskWriterScript()?.href).toBe(script.href);
    expect(diskWriterScript()).toBeNull();
  });

  it('writes shared bytes on its thread and other bytes through the pool, each at its position', async () => {
    const before = threadCount();
    const writer = new DiskWriter(script);
    const a = bytes(5 * WRITE_CHUNK_BYTES + 1234, 1); // several chunks and a short tail
    const b = bytes(70_000, 2);
    await withFile(async (fd, path) => {
      // A view at an offset into its shared buffer, as a short last piece is.
      const big = shared(Buffer.concat([Buffer.alloc(99), a]));
      await Promise.all([writer.write(fd, big.subarray(99), 1000), writer.write(fd, b, 1000 + a.length)]);
      expect(threadCount()).toBe(before + 1);
      const got = readFileSync(path);
      expect(got.subarray(0, 1000).every((x) => x === 0)).toBe(true);
      expect(got.subarray(1000, 1000 + a.length).equals(a)).toBe(true);
      expect(got.subarray(1000 + a.length).equals(b)).toBe(true);
    });
    await writer.close();
    expect(await threadCountSettled(before)).toBe(before);
  });

  it('writes through the pool when it has no script', async () => {
    const before = threadCount();
    const writer = new DiskWriter(null);
    const a = bytes(3 * WRITE_CHUNK_BYTES + 5, 3);
    await withFile(async (fd, path) => {
      await writer.write(fd, shared(a), 0);
      expect(readFileSync(path).equals(a)).toBe(true);
    });
    expect(await threadCountSettled(before)).toBe(before);
    await writer.close();
  });

  it('rejects a failed write with the system code, on its thread and through the pool, and goes on', async () => {
    const writer = new DiskWriter(script);
    try {
      const path = join(dir, `ro${n++}`);
      closeSync(openSync(path, 'w'));
      const ro = openSync(path, 'r');
      try {
        await expect(writer.write(ro, shared(bytes(10, 4)), 0)).rejects.toMatchObject({ code: 'EBADF' });
        await expect(writer.write(ro, bytes(10, 4), 0)).rejects.toMatchObject({ code: 'EBADF' });
      } finally {
        closeSync(ro);
      }
      await withFile(async (fd, p) => {
        await writer.write(fd, shared(bytes(10, 5)), 0);
        expect(readFileSync(p).equals(bytes(10, 5))).toBe(true);
      });
    } finally {
      await writer.close();
    }
  });

  it('lets the writes posted finish when closed, and refuses writes after', async () => {
    const before = threadCount();
    const writer = new DiskWriter(script);
    const pieces = Array.from({ length: 8 }, (_, i) => bytes(256 * 1024, 10 + i));
    await withFile(async (fd, path) => {
      const writes = pieces.map((p, i) => writer.write(fd, shared(p), i * p.length));
      await writer.close();
      await Promise.all(writes);
      expect(readFileSync(path).equals(Buffer.concat(pieces))).toBe(true);
      await expect(writer.write(fd, shared(pieces[0]!), 0)).rejects.toThrow(/closed/);
    });
    expect(await threadCountSettled(before)).toBe(before);
  });

  it('does not keep the process alive once its writes are done', () => {
    const path = join(dir, `alive${n++}`);
    const code = `
      import { openSync } from 'node:fs';
      const { DiskWriter, diskWriterScript } = await import(${JSON.stringify(pathToFileURL(join(repoRoot, 'dist', 'storage', 'disk-writer.js')).href)});
      const w = new DiskWriter(diskWriterScript());
      const b = Buffer.from(new SharedArrayBuffer(100000)).fill(7);
      await w.write(openSync(${JSON.stringify(path)}, 'w'), b, 0);
      console.log('written');`;
    const main = join(dir, `alive${n++}.mjs`);
    writeFileSync(main, code);
    const r = spawnSync(process.execPath, [main], { encoding: 'utf8', timeout: 10_000 });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('written');
    expect(readFileSync(path).equals(Buffer.alloc(100000, 7))).toBe(true);
  });
});
