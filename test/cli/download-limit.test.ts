/**
 * `--download-limit 5M` against an unlimited loopback seeder: over 20 s the rate the --json
 * progress events show stays within 10% of 5 MiB/s (measured here from the events, not from a
 * timer in the client).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { bin } from '../helpers/cli.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { startScriptedPeer } from '../helpers/scripted-peer.js';

const LIMIT = 5 * 1024 * 1024;
const WINDOW_MS = 20_000;
const work = mkdtempSync(join(tmpdir(), 'torrent-dl-limit-'));

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('--download-limit', () => {
  it('keeps a loopback download within 10% of 5 MiB/s over 20 s', async () => {
    const data = bytes(160 * 1024 * 1024, 41);
    const torrent = makeTorrent({ name: 'limited.bin', data, pieceLength: 256 * 1024 });
    const file = join(work, 'l.torrent');
    writeFileSync(file, torrent);
    const seeder = await startScriptedPeer({ data, pieceLength: 256 * 1024, infoHash: parseTorrent(torrent).infoHash! });
    const samples: { at: number; downloaded: number }[] = [];
    const child = spawn(process.execPath, [bin, 'download', file, '-o', join(work, 'out'), '--port', '0', '--no-dht', '--json', '-q', '--download-limit', '5M', '--peer', seeder.address], {
      env: { ...process.env, TORRENT_CACHE_DIR: join(work, 'cache') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const e = JSON.parse(buf.slice(0, i)) as { event: string; downloaded?: number };
        buf = buf.slice(i + 1);
        if (e.event === 'progress' && e.downloaded! > 0) samples.push({ at: Date.now(), downloaded: e.downloaded! });
      }
    });
    const exited = new Promise((r) => child.on('close', r));
    try {
      // Skip the first seconds (connection, first burst), then measure over WINDOW_MS.
      await new Promise((r) => setTimeout(r, 3_000 + WINDOW_MS + 1_000));
    } finally {
      child.kill('SIGINT');
      await exited;
      await seeder.close();
    }
    const start = samples.find((s) => s.at >= samples[0]!.at + 3_000)!;
    const end = samples.filter((s) => s.at <= start.at + WINDOW_MS).at(-1)!;
    expect(end.at - start.at).toBeGreaterThan(WINDOW_MS * 0.9);
    const rate = (end.downloaded - start.downloaded) / ((end.at - start.at) / 1000);
    expect(rate).toBeGreaterThan(LIMIT * 0.9);
    expect(rate).toBeLessThan(LIMIT * 1.1);
  }, 60_000);
});
