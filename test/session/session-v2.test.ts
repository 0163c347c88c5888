/**
 * BitTorrent v2 (BEP 52) in the session, on a fake clock with an in-memory peer: a v2-only
 * torrent downloads and every piece is checked against its merkle hash; a hybrid is checked
 * against both hash sets, and one whose two sets disagree is refused with a clear error (exit 2).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildTorrent, fileTree, parseTorrent } from '../../src/metainfo/index.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { bytes, pieceHashes } from '../helpers/make-torrent.js';
import { ScriptedMemoryPeer, startHarness, storedBytes, type Harness, type TorrentFixture } from './harness.js';

const PIECE = 32 * 1024;
const data = bytes(5 * PIECE + 1234, 17);

function fixtureOf(version: 2 | 'hybrid', tamperV1 = false): TorrentFixture {
  // A single file: v1 pieces cover the file as it is (the last piece shorter).
  let pieces: Buffer | null = version === 2 ? null : pieceHashes(data, PIECE);
  if (pieces && tamperV1) {
    pieces = Buffer.from(pieces);
    pieces[20 * 2]! ^= 0xff; // piece 2's SHA-1 no longer matches the data its merkle hash describes
  }
  const torrent = buildTorrent({
    name: 'v2.bin', files: [], length: data.length, pieceLength: PIECE, pieces, version, trees: [fileTree(data, PIECE)],
    announce: [], urlList: [], private: false, comment: null, createdBy: null, creationDate: null,
  });
  const meta = parseTorrent(torrent);
  // The piece stream a peer serves: the file, then zeros to the end of its last piece (the pad
  // libtorrent and we model for v2's file alignment; a hybrid's v1 view ends with the file).
  const stream = Buffer.concat([data, Buffer.alloc(meta.totalLength - data.length)]);
  return { data: stream, pieceLength: PIECE, torrent, meta };
}

let h: Harness | null = null;
afterEach(async () => {
  await h?.session.stop();
  h = null;
});

async function run(fx: TorrentFixture, behaviour: 'honest' | 'bad-data' = 'honest', badPieces?: number[]): Promise<Harness> {
  const clock = new FakeClock();
  h = await startHarness(fx, { '10.0.0.5:6881': new ScriptedMemoryPeer(fx, behaviour, clock, { badPieces }) }, {}, clock);
  return h;
}

describe('v2 in the session', () => {
  it('downloads a v2-only torrent, handshaking with the truncated SHA-256 info hash', async () => {
    const fx = fixtureOf(2);
    expect(fx.meta.infoHash).toBeNull();
    const x = await run(fx);
    expect(x.session.infoHash.equals(fx.meta.infoHashV2!.subarray(0, 20))).toBe(true);
    expect(await x.runUntil(() => x.session.lifecycle.kind === 'stopped', 30_000)).toBe(true);
    expect((await storedBytes(x.store!, fx.meta.pieceCount)).subarray(0, data.length).equals(data)).toBe(true);
  });

  it('a v2 piece that fails its merkle hash is fetched again and its sender banned', async () => {
    const fx = fixtureOf(2);
    const x = await run(fx, 'bad-data', [1]);
    expect(await x.runUntil(() => x.events.some((e) => e.type === 'warning' && /piece 1 failed its hash check/.test(e.message)), 10_000)).toBe(true);
    expect(x.closedReasons('10.0.0.5:6881').some((r) => r.startsWith('bad-data'))).toBe(true);
  });

  it('downloads a hybrid, checking both hash sets', async () => {
    const fx = fixtureOf('hybrid');
    const x = await run(fx);
    expect(await x.runUntil(() => x.session.lifecycle.kind === 'stopped', 30_000)).toBe(true);
    expect(x.session.lifecycle).toEqual({ kind: 'stopped', reason: 'done' });
  });

  it('refuses a hybrid whose v1 and v2 hashes disagree, with a clear error (exit 2)', async () => {
    const fx = fixtureOf('hybrid', true);
    const x = await run(fx);
    expect(await x.runUntil(() => x.session.lifecycle.kind === 'failed', 30_000)).toBe(true);
    const end = x.session.lifecycle;
    expect(end.kind === 'failed' && end.error.exitCode).toBe(2);
    expect(end.kind === 'failed' && end.error.message).toMatch(/v1 and v2 hashes of this hybrid torrent disagree on piece 2/);
  });
});
