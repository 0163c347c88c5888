/**
 * Issue 17, cause 8: a seeder whose file is truncated under it stops offering the pieces it lost.
 * `torrent seed` starts over complete data; then the file is cut to 40 %. A leecher that asks
 * for every advertised block (test/helpers/flood-peer.ts `probeSeeder`, speaking BEP 6) must
 * never be left waiting: each request is answered with the right bytes, or rejected (BEP 6), or
 * the seeder hangs up (a `have` cannot be taken back without a reconnect); it must never receive
 * wrong bytes. The seeder warns, and soon (within two of its periodic file checks) a new
 * connection is not offered any piece that lies past the cut, while every piece it is offered
 * and asks for arrives whole and right.
 * The audit saw every piece still advertised and requests answered with nothing.
 *
 * Real sockets on loopback: the built CLI (dist/, `npx tsc -p .` first) and the probe. Every
 * wait is for an event (every request answered, the seeder's warning), bounded by a deadline.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { pollUntil } from '../helpers/poll.js';
import { bin } from '../helpers/cli.js';
import { probeSeeder, type ProbeResult } from '../helpers/flood-peer.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { startProcess, type Proc } from '../helpers/processes.js';

const work = mkdtempSync(join(tmpdir(), 'torrent-attack-truncated-'));
const PIECE_LENGTH = 64 * 1024;
const data = bytes(2 * 1024 * 1024, 88);
const torrentBytes = makeTorrent({ name: 'cut.bin', data, pieceLength: PIECE_LENGTH });
const infoHash = parseTorrent(torrentBytes).infoHash!;
const pieceCount = data.length / PIECE_LENGTH;
const torrentPath = join(work, 'cut.torrent');
const seedDir = join(work, 'seed');
mkdirSync(seedDir);
writeFileSync(join(seedDir, 'cut.bin'), data);
writeFileSync(torrentPath, torrentBytes);

/** Where the file is cut: inside piece 12, so pieces 0..11 stay whole. */
const CUT_AT = Math.floor(data.length * 0.4);
const WHOLE_PIECES = Math.floor(CUT_AT / PIECE_LENGTH);
/** A probe's requests must all be answered by then (a stuck seeder fails it). */
const PROBE_DEADLINE_MS = 30_000;
/**
 * The seeder must have warned by then. It notices a failed read at once, and otherwise checks
 * its files every 30 s (session.ts SEED_DISK_CHECK_MS).
 */
const WARNING_DEADLINE_MS = 60_000;
/** Pieces past the cut must no longer be offered by then: two SEED_DISK_CHECK_MS (30 s) rounds. */
const STOP_OFFERING_DEADLINE_MS = 70_000;
const TEST_TIMEOUT_MS = 180_000;

const procs: Proc[] = [];

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  rmSync(work, { recursive: true, force: true });
});

/** Every received block is the torrent's bytes at that place. */
function expectNoWrongBytes(r: ProbeResult): void {
  for (const [key, block] of r.received) {
    const [index, begin] = key.split(':').map(Number) as [number, number];
    const at = index * PIECE_LENGTH + begin;
    expect(block.equals(data.subarray(at, at + block.length)), `block ${key} has wrong bytes`).toBe(true);
  }
}

describe('torrent seed over a file truncated under it', () => {
  it('never leaves a leecher waiting or sends wrong bytes; after its warning, offers only what it has', async () => {
    const seeder = startProcess(process.execPath, [bin, 'seed', torrentPath, seedDir, '--port', '0', '--no-dht'], {
      env: { TORRENT_CACHE_DIR: join(work, 'cache'), NO_COLOR: '1' },
    });
    procs.push(seeder);
    const port = Number((await seeder.waitFor(/on port (\d+)/, 30_000))[1]);
    truncateSync(join(seedDir, 'cut.bin'), CUT_AT);

    // A leecher that connects right after the cut: every request gets an answer or a reject, or
    // the seeder hangs up; none is left waiting (probeSeeder rejects then), no byte is wrong.
    const first = await probeSeeder('127.0.0.1', port, { infoHash, pieceLength: PIECE_LENGTH, length: data.length, deadlineMs: PROBE_DEADLINE_MS });
    expectNoWrongBytes(first);
    for (const key of first.received.keys()) expect(Number(key.split(':')[0])).toBeLessThan(WHOLE_PIECES + 1);

    // The seeder says so...
    await seeder.waitFor(/warning:/, WARNING_DEADLINE_MS);
    // ...and soon stops offering what lies past the cut: new leechers (each one also never left
    // waiting, never sent a wrong byte) until one is offered no piece past the cut. The seeder
    // checks its files at least every SEED_DISK_CHECK_MS (30 s), so the deadline is generous.
    const probes: ProbeResult[] = [];
    const second = await pollUntil(async () => {
      const r = await probeSeeder('127.0.0.1', port, { infoHash, pieceLength: PIECE_LENGTH, length: data.length, deadlineMs: PROBE_DEADLINE_MS });
      expectNoWrongBytes(r);
      probes.push(r);
      return [...r.advertised].every((i) => i < WHOLE_PIECES) ? r : null;
    }, {
      timeoutMs: STOP_OFFERING_DEADLINE_MS,
      intervalMs: 1000,
      what: `the seeder to stop offering pieces past the cut (piece ${WHOLE_PIECES} on)`,
      detail: () => `last probe offered ${[...(probes[probes.length - 1]?.advertised ?? [])].join(',')}\n${seeder.output().slice(-1500)}`,
    });
    // Whatever is still offered (at most the pieces before the cut: the seeder may also stop
    // offering those until it has checked them again) is served whole and right.
    expect(second.closedByRemote, seeder.output().slice(-1500)).toBe(false);
    expect(second.rejected.size).toBe(0);
    expect(second.received.size).toBe(second.advertised.size * (PIECE_LENGTH / (16 * 1024)));
    expect(pieceCount).toBeGreaterThan(WHOLE_PIECES);
  }, TEST_TIMEOUT_MS);
});
