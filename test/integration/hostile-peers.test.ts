/**
 * `torrent download` against an honest scripted seeder plus hostile scripted peers on loopback
 * (test/helpers/scripted-peer.ts): the download still completes with the right bytes, a peer proven
 * to send bad data is banned and never used again, a peer that breaks the protocol is dropped
 * while the download is still going (before the honest peer's last request), and when the only
 * peer lies the CLI gives up at --timeout with one error line instead of hanging. No assertion is
 * on a duration: how fast belongs in `npm run bench`; here the download's own --timeout and the
 * runner's kill bound every run.
 *
 * Runs the built CLI (dist/): `npx tsc -p .` first.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { startScriptedPeer, type ConnectionRecord, type ScriptedPeer, type ScriptedPeerOptions } from '../helpers/scripted-peer.js';

const work = mkdtempSync(join(tmpdir(), 'torrent-hostile-peers-'));
const PIECE_LENGTH = 64 * 1024;
/** 4 MiB and a bit: 65 pieces, the last one short. */
const data = bytes(4 * 1024 * 1024 + 12_345, 42);
const torrentBytes = makeTorrent({ name: 'hostile.bin', data, pieceLength: PIECE_LENGTH });
const infoHash = parseTorrent(torrentBytes).infoHash!;
const torrentPath = join(work, 'hostile.torrent');
const TEST_TIMEOUT_MS = 90_000;
/** An honest seeder paced at this rate takes about 4 s, so hostile peers act during the download. */
const PACED = 1024 * 1024;
/**
 * About 8 s: longer than the client's first redial backoff (5 s), so a peer that should never be
 * dialled again would have been.
 */
const PACED_PAST_REDIAL = 512 * 1024;

const peers: ScriptedPeer[] = [];
let runs = 0;

afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

function sha1(b: Buffer): string {
  return createHash('sha1').update(b).digest('hex');
}

async function peer(misbehaviour: Partial<ScriptedPeerOptions> = {}): Promise<ScriptedPeer> {
  const p = await startScriptedPeer({ data, pieceLength: PIECE_LENGTH, infoHash, ...misbehaviour });
  peers.push(p);
  return p;
}

interface Run extends CliResult {
  out: string;
}

/** One download into a fresh folder with a fresh resume cache; not --quiet, so warnings show. */
async function download(via: ScriptedPeer[], extra: string[] = [], quiet = false): Promise<Run> {
  await writeFile(torrentPath, torrentBytes);
  const n = ++runs;
  const out = join(work, `out-${n}`);
  const cache = join(work, `cache-${n}`);
  const args = ['download', torrentPath, '-o', out, '--port', '0', ...via.flatMap((p) => ['--peer', p.address])];
  const r = await runCli([...args, ...(extra.length > 0 ? extra : ['--timeout', '30']), ...(quiet ? ['--quiet'] : [])], {
    env: { TORRENT_CACHE_DIR: cache },
    timeoutMs: 80_000,
  });
  return { ...r, out };
}

/** stderr lines that are warnings or errors (progress and the summary line are not checked). */
function warnings(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /^(warning:|torrent:|hint:)/.test(l) || /error|Error/.test(l));
}

const BAD_DATA_WARNING = /^warning: (piece \d+ failed its hash check; fetching it again|banned 127\.0\.0\.1:\d+: sent bad data for piece \d+)$/;

function expectComplete(r: Run): void {
  expect(r.code, r.stderr).toBe(0);
  expect(r.signal).toBeNull();
  expect(sha1(readFileSync(join(r.out, 'hostile.bin')))).toBe(sha1(data));
}

/** The client hung up on `hostile` while it still needed blocks: before the honest peer's last request. */
function expectDroppedDuringDownload(hostile: ScriptedPeer, honest: ScriptedPeer): void {
  const first = btConnections(hostile)[0]!;
  expect(first.closedByRemote).toBe(true);
  const lastHonestRequest = Math.max(...honest.stats.requests.map((q) => q.at));
  expect(first.closedAt!).toBeLessThan(lastHonestRequest);
}

/**
 * Connections on which our client spoke BitTorrent (its handshake reached the scripted peer).
 * An attempt the scripted peer refused before that, such as an encrypted (MSE) handshake tried
 * before plaintext, is not a dial of the BitTorrent peer.
 */
function btConnections(p: ScriptedPeer): ConnectionRecord[] {
  return p.stats.connections.filter((c) => c.handshook);
}

function expectBannedForBadData(r: Run, bad: ScriptedPeer): void {
  expect(bad.stats.badBlocksSent, 'the bad peer was never asked for anything').toBeGreaterThan(0);
  expect(r.stderr).toContain(`warning: banned ${bad.address}: sent bad data for piece`);
  // Proven bad -> dropped and never dialled again: one connection, ended by the client.
  expect(btConnections(bad)).toHaveLength(1);
  expect(btConnections(bad)[0]!.closedByRemote).toBe(true);
  const closedAt = btConnections(bad)[0]!.closedAt!;
  expect(bad.stats.requests.filter((q) => q.at > closedAt)).toEqual([]);
}

describe('download with hostile peers', () => {
  it('from an honest scripted seeder alone, asking for each block once', async () => {
    const honest = await peer();
    const r = await download([honest]);
    expectComplete(r);
    expect(warnings(r.stderr), r.stderr).toEqual([]);
    expect(btConnections(honest)).toHaveLength(1);
    // Nothing wasted: every block requested exactly once, every byte sent once.
    const keys = honest.stats.requests.map((q) => `${q.index}:${q.begin}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toHaveLength(Math.ceil(data.length / 16384));
    expect(honest.stats.blockBytesSent).toBe(data.length);
  }, TEST_TIMEOUT_MS);

  it('bans a peer whose every block is corrupt and never uses it again', async () => {
    const bad = await peer({ badData: true });
    const honest = await peer({ rateBytesPerSec: PACED_PAST_REDIAL });
    const r = await download([bad, honest]);
    expectComplete(r);
    for (const w of warnings(r.stderr)) expect(w).toMatch(BAD_DATA_WARNING);
    expectBannedForBadData(r, bad);
  }, TEST_TIMEOUT_MS);

  it('bans a peer that corrupts only some pieces once one of them fails', async () => {
    const evenPieces = Array.from({ length: Math.ceil(data.length / PIECE_LENGTH) }, (_, i) => i).filter((i) => i % 2 === 0);
    const bad = await peer({ badData: evenPieces });
    const honest = await peer({ rateBytesPerSec: PACED_PAST_REDIAL });
    const r = await download([bad, honest]);
    expectComplete(r);
    for (const w of warnings(r.stderr)) expect(w).toMatch(BAD_DATA_WARNING);
    expectBannedForBadData(r, bad);
  }, TEST_TIMEOUT_MS);

  it('drops a peer that sends a 2^31 length prefix, before buffering it', async () => {
    const huge = await peer({ hugeLengthPrefix: true });
    const honest = await peer({ rateBytesPerSec: PACED });
    const r = await download([huge, honest]);
    expectComplete(r);
    expect(warnings(r.stderr), r.stderr).toEqual([]);
    expect(huge.stats.requests).toEqual([]);
    expectDroppedDuringDownload(huge, honest);
  }, TEST_TIMEOUT_MS);

  it('drops (and never redials) a peer that answers with another info hash', async () => {
    const wrong = await peer({ wrongInfoHash: true });
    const honest = await peer({ rateBytesPerSec: PACED_PAST_REDIAL });
    const r = await download([wrong, honest]);
    expectComplete(r);
    expect(warnings(r.stderr), r.stderr).toEqual([]);
    expect(btConnections(wrong)).toHaveLength(1);
    expect(btConnections(wrong)[0]!.closedByRemote).toBe(true);
    expect(wrong.stats.requests).toEqual([]);
  }, TEST_TIMEOUT_MS);

  it('drops a peer that trickles one byte a second, without waiting for it', async () => {
    const slow = await peer({ trickle: true });
    // Paced so the download outlasts the client's handshake timeout (15 s).
    const honest = await peer({ rateBytesPerSec: 200 * 1024 });
    const r = await download([slow, honest]);
    expectComplete(r);
    expect(warnings(r.stderr), r.stderr).toEqual([]);
    expect(slow.stats.requests).toEqual([]);
    // It never got a whole handshake (68 bytes) out on any connection...
    expect(slow.stats.bytesSent).toBeLessThan(68 * slow.stats.connections.length);
    // ...and the client hung up on it while the download was still going, rather than waiting.
    expectDroppedDuringDownload(slow, honest);
  }, TEST_TIMEOUT_MS);

  it('recovers the blocks of a peer that closes in the middle of a piece message', async () => {
    const quitter = await peer({ disconnectMidBlock: true });
    const honest = await peer({ rateBytesPerSec: PACED });
    const r = await download([quitter, honest]);
    expectComplete(r);
    expect(warnings(r.stderr), r.stderr).toEqual([]);
    expect(quitter.stats.requests.length).toBeGreaterThan(0);
  }, TEST_TIMEOUT_MS);

  it('drops a peer that sends a block nobody asked for', async () => {
    const pushy = await peer({ unrequestedPiece: true });
    const honest = await peer({ rateBytesPerSec: PACED });
    const r = await download([pushy, honest]);
    expectComplete(r);
    expect(warnings(r.stderr), r.stderr).toEqual([]);
    // The unsolicited block precedes the unchoke: the client hangs up before asking for anything.
    expect(pushy.stats.requests).toEqual([]);
    expectDroppedDuringDownload(pushy, honest);
  }, TEST_TIMEOUT_MS);

  it('completes with every kind of hostile peer at once', async () => {
    const bad = await peer({ badData: true });
    const hostile = [
      bad,
      await peer({ hugeLengthPrefix: true }),
      await peer({ wrongInfoHash: true }),
      await peer({ trickle: true }),
      await peer({ disconnectMidBlock: true }),
      await peer({ unrequestedPiece: true }),
    ];
    // Paced so the download lasts long enough (about 17 s) for handshake timeouts and redials.
    const honest = await peer({ rateBytesPerSec: 256 * 1024 });
    const r = await download([...hostile, honest]);
    expectComplete(r);
    for (const w of warnings(r.stderr)) expect(w).toMatch(BAD_DATA_WARNING);
    expectBannedForBadData(r, bad);
    const [, huge, wrong, slow, , pushy] = hostile;
    expect(huge!.stats.requests).toEqual([]);
    expect(btConnections(wrong!)).toHaveLength(1);
    expect(slow!.stats.requests).toEqual([]);
    expect(pushy!.stats.requests).toEqual([]);
    expect(honest.stats.blockBytesSent).toBeGreaterThan(0);
  }, TEST_TIMEOUT_MS);

  it('exits 1 at --timeout with one error line when the only peer sends bad data', async () => {
    const bad = await peer({ badData: true });
    const r = await download([bad], ['--timeout', '5'], true);
    expect(r.signal).toBeNull();
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^torrent: /);
    // The error line, then at most its hint.
    expect(lines.length).toBeLessThanOrEqual(2);
    if (lines[1] !== undefined) expect(lines[1]).toMatch(/^hint: /);
    // It gave up because of --timeout (the message names it), not for another reason.
    expect(lines[0]).toMatch(/\b5 s\b/);
    expect(bad.stats.badBlocksSent).toBeGreaterThan(0);
    // Banned after its first piece: never dialled again while waiting for the timeout.
    expect(btConnections(bad)).toHaveLength(1);
    expect(btConnections(bad)[0]!.closedByRemote).toBe(true);
  }, TEST_TIMEOUT_MS);
});
