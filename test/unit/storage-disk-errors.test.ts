/**
 * What a failed write of the file backend means. An error carrying the system's `code` (ENOSPC,
 * EIO, EACCES...) is the disk's: ERR_DISK naming the file. An exception with no such code (a
 * TypeError inside the disk-writer thread comes back as `{ code: undefined }`) is a bug of ours:
 * an InternalError keeping the original as its cause, which the CLI reports with its stack, not
 * "cannot write <file>", which would send the user to check a disk that is fine.
 *
 * The writer threads here are small scripts answering every write the way the real thread
 * (storage/disk-writer-worker.ts) answers one whose call threw.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { InternalError, RuntimeError, TorrentError } from '../../src/errors.js';
import { parseTorrent } from '../../src/metainfo/index.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import { threadCount, threadCountSettled } from '../helpers/built.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';

const dir = mkdtempSync(join(tmpdir(), 'torrent-disk-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const data = bytes(20_000, 9);
const meta = parseTorrent(makeTorrent({ name: 'a.bin', pieceLength: 16384, data }));

/**
 * A writer thread script whose every write fails inside `attempt` (JavaScript run on the thread),
 * answered as the real thread answers: the thrown error's `code` and `message`.
 */
function failingWriter(name: string, attempt: string): URL {
  const script = join(dir, `${name}.mjs`);
  writeFileSync(
    script,
    `import { parentPort } from 'node:worker_threads';
parentPort.on('message', (job) => {
  try {
    ${attempt}
  } catch (err) {
    parentPort.postMessage({ id: job.id, error: { code: err.code, message: err.message } });
  }
});
parentPort.postMessage({ ready: true });
`,
  );
  return pathToFileURL(script);
}

/** Piece 0 as blocks in shared memory: only those are written by the writer's thread. */
function sharedBlocks(): Buffer[] {
  const piece = Buffer.from(new SharedArrayBuffer(16384));
  data.copy(piece, 0, 0, 16384);
  return [piece.subarray(0, 8192), piece.subarray(8192)];
}

/** What writePiece(0) rejected with, on a fresh storage using `writerScript`; no thread is left. */
async function writeError(writerScript: URL): Promise<unknown> {
  const before = threadCount();
  const root = mkdtempSync(join(dir, 'out-'));
  const st = new FileStorage({ root, meta, selected: null, writerScript });
  try {
    await st.writePiece(0, sharedBlocks());
  } catch (e) {
    return e;
  } finally {
    await st.close();
    expect(await threadCountSettled(before)).toBe(before);
  }
  throw new Error('writePiece resolved; the writer was meant to fail it');
}

describe('FileStorage write failures', () => {
  it('an exception with no system code (a bug in the writer thread) is an InternalError, the original as its cause', async () => {
    const e = await writeError(failingWriter('type-error', 'job.missing.fd;'));
    expect(e).toBeInstanceOf(InternalError);
    const bug = e as InternalError;
    expect(bug.code).toBe('ERR_INTERNAL');
    expect(bug.message).toMatch(/^writing .*a\.bin: Cannot read properties of undefined \(reading 'fd'\)$/);
    expect(bug.cause).toBeInstanceOf(Error);
    expect((bug.cause as NodeJS.ErrnoException).code).toBeUndefined();
    expect((bug.cause as Error).message).toBe("Cannot read properties of undefined (reading 'fd')");
  });

  it('an error with a system code is the disk’s: ERR_DISK naming the file, the system error as its cause', async () => {
    const e = await writeError(failingWriter('enospc', "throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });"));
    expect(e).toBeInstanceOf(RuntimeError);
    const disk = e as TorrentError;
    expect(disk.code).toBe('ERR_DISK');
    expect(disk.message).toMatch(/^cannot write .*a\.bin: no space left on device$/);
    expect((disk.cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
  });

  it('any other system code keeps the system message', async () => {
    const e = await writeError(failingWriter('eio', "throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });"));
    expect((e as TorrentError).code).toBe('ERR_DISK');
    expect((e as TorrentError).message).toMatch(/^cannot write .*a\.bin: EIO: i\/o error, write$/);
  });
});
