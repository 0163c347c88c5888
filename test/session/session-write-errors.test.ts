/**
 * What a failed piece write makes of the session. The disk's own failures (an errno error) end it
 * with ERR_DISK; a bug on the write path (the disk-writer thread dead or answering wrongly: an
 * InternalError) ends it with that InternalError, so the CLI reports a bug with its stack and not
 * "cannot write piece N"; an error storage already classified passes as it is.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, ScriptedMemoryPeer, startHarness, type Harness } from './harness.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { InternalError, RuntimeError, TorrentError } from '../../src/errors.js';
import { FileStorage } from '../../src/storage/file-storage.js';

const fx = fixture(1024 * 1024, 64 * 1024);
const HONEST = '10.0.0.1:6881';

let h: Harness | null = null;
let dir: string | null = null;
afterEach(async () => {
  await h?.session.stop();
  h = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

/** Starts a session with one honest peer whose every piece write rejects with `e`; returns its end. */
async function failWrites(e: unknown): Promise<TorrentError> {
  const clock = new FakeClock();
  const x = await startHarness(fx, { [HONEST]: new ScriptedMemoryPeer(fx, 'honest', clock) }, {}, clock);
  h = x;
  x.store!.writePiece = () => Promise.reject(e);
  expect(await x.runUntil(() => x.session.lifecycle.kind === 'failed', 5_000)).toBe(true);
  const end = x.session.lifecycle;
  if (end.kind !== 'failed') throw new Error(`session ended ${end.kind}`);
  expect(x.session.stats().verifiedBytes).toBe(0);
  return end.error;
}

describe('session write errors', () => {
  it('a write rejected with an InternalError fails the session with that InternalError, not ERR_DISK', async () => {
    const bug = new InternalError('disk writer answered write 7, which it was not given');
    const error = await failWrites(bug);
    expect(error).toBe(bug);
    expect(error.code).toBe('ERR_INTERNAL');
  });

  it('an errno error is the disk’s: ERR_DISK naming the piece, the system error kept as its cause', async () => {
    const eio = Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO', errno: -5, syscall: 'write' });
    const error = await failWrites(eio);
    expect(error).toBeInstanceOf(RuntimeError);
    expect(error.code).toBe('ERR_DISK');
    expect(error.message).toMatch(/^cannot write piece \d+: EIO: i\/o error, write$/);
    expect(error.cause).toBe(eio);
  });

  it('a RuntimeError storage already raised (its file named) passes unchanged', async () => {
    const full = new RuntimeError('ERR_DISK', 'cannot write /out/a.bin: no space left on device');
    expect(await failWrites(full)).toBe(full);
  });

  it('a plain exception with no system code is a bug in storage, not a disk error', async () => {
    const error = await failWrites(new TypeError("Cannot read properties of undefined (reading 'fd')"));
    expect(error).toBeInstanceOf(InternalError);
    expect(error.message).toMatch(/reading 'fd'/);
  });

  it("an error with Node's own ERR_* code (a bad argument, a value out of range) is a bug, not a disk error", async () => {
    const bad = Object.assign(new TypeError('The "buffer" argument must be an instance of Buffer'), { code: 'ERR_INVALID_ARG_TYPE' });
    const error = await failWrites(bad);
    expect(error).toBeInstanceOf(InternalError);
    expect(error.cause).toBe(bad);
  });

  it('a file storage whose writer thread dies fails the session with the writer’s InternalError', async () => {
    dir = mkdtempSync(join(tmpdir(), 'torrent-write-errors-'));
    // A writer thread that dies at once, as one killed by a bug in its script would.
    const script = join(dir, 'dying-writer.mjs');
    writeFileSync(script, 'process.exit(3);\n');
    const root = join(dir, 'out');
    const clock = new FakeClock();
    const x = await startHarness(fx, { [HONEST]: new ScriptedMemoryPeer(fx, 'honest', clock) }, {
      openStorage: (meta) => {
        const files = new FileStorage({ root, meta, selected: null, writerScript: pathToFileURL(script) });
        return { store: files, disk: files };
      },
    }, clock);
    h = x;
    // The thread's death comes in real time: step the fake clock and let real time pass too.
    const deadline = Date.now() + 10_000;
    while (x.session.lifecycle.kind !== 'failed' && Date.now() < deadline) {
      await clock.advance(100);
      await new Promise((r) => setTimeout(r, 10));
    }
    const end = x.session.lifecycle;
    if (end.kind !== 'failed') throw new Error(`session is ${end.kind}, expected failed`);
    expect(end.error).toBeInstanceOf(InternalError);
    expect(end.error.message).toBe('disk writer exited with code 3');
    expect(x.session.stats().verifiedBytes).toBe(0);
  });
});
