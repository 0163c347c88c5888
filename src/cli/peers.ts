/** `torrent peers`: one announce to every tracker, the peers they returned, one per line. */
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { InputError, RuntimeError, UsageError } from '../errors.js';
import { formatHostPort } from '../metainfo/index.js';
import { makePeerId } from '../wire/index.js';
import { readTorrentInput } from './input.js';
import { writeOut } from './output.js';
import { intArg, urlArg } from './options.js';

/** Longest --timeout: an hour; a tracker that has not answered by then will not. */
const MAX_TIMEOUT_S = 3600;
/** Trackers we can announce to: HTTP(S) (BEP 3) and UDP (BEP 15). */
const TRACKER_SCHEMES = ['http:', 'https:', 'udp:'];

interface PeersFlags {
  tracker: string[];
  json?: boolean;
  /** Seconds. */
  timeout: number;
  port: number;
}

export function registerPeers(program: Command): void {
  program
    .command('peers')
    .description("announce once to the torrent's trackers and print the peers they return")
    .argument('<torrent>', 'a .torrent file, a magnet URI, or - for stdin')
    .option('--tracker <url>', 'also ask this tracker (repeatable; ignored for private torrents)', urlArg(TRACKER_SCHEMES), [])
    .option('--json', 'print one JSON array of {ip, port, tracker}')
    .option('--timeout <seconds>', 'how long to wait for trackers', intArg(1, MAX_TIMEOUT_S), 20)
    .option('--port <n>', 'the port to announce (peers may try to connect there)', intArg(1, 65535), 6881)
    .action(async (arg: string, flags: PeersFlags) => {
      const { announceOnce } = await import('../tracker/index.js');
      const input = await readTorrentInput(arg);
      const infoHash = input.kind === 'torrent' ? input.meta.infoHash : input.magnet.infoHash;
      if (!infoHash) throw new InputError('ERR_BAD_TORRENT', 'a v2-only torrent has no v1 info hash to announce');
      const own = input.kind === 'torrent' ? input.meta.announce : input.magnet.trackers.length ? [input.magnet.trackers] : [];
      const isPrivate = input.kind === 'torrent' && input.meta.private;
      if (isPrivate && flags.tracker.length > 0) {
        process.stderr.write('torrent: warning: private torrent (BEP 27): --tracker ignored, only its own trackers are used\n');
      }
      const tiers = [...own, ...(isPrivate ? [] : flags.tracker.map((t) => [t]))];
      if (tiers.length === 0) {
        throw new UsageError(`${input.label}: no trackers to ask`, { hint: 'add one with --tracker <url>' });
      }
      const deadlineMs = flags.timeout * 1000;
      const port = flags.port;
      const request = {
        infoHash,
        peerId: makePeerId((n) => randomBytes(n)),
        port,
        uploaded: 0,
        downloaded: 0,
        left: input.kind === 'torrent' ? input.meta.length : 1,
        key: randomBytes(4).readUInt32BE(0),
      };
      const results = await announceOnce(tiers, { ...request, event: 'started' }, { deadlineMs });
      // We only looked: take ourselves off the trackers that registered us.
      const answered = results.filter((r) => r.ok).map((r) => [r.url]);
      const leaving = answered.length ? announceOnce(answered, { ...request, event: 'stopped' }, { deadlineMs: 2000 }) : null;

      const seen = new Set<string>();
      const peers: { ip: string; port: number; tracker: string }[] = [];
      for (const r of results) {
        if (!r.ok) {
          process.stderr.write(`torrent: tracker ${r.url}: ${r.error.message}\n`);
          continue;
        }
        for (const p of r.response.peers) {
          const addr = formatHostPort(p.ip, p.port);
          if (seen.has(addr)) continue;
          seen.add(addr);
          peers.push({ ip: p.ip, port: p.port, tracker: r.url });
        }
      }
      await leaving;
      if (flags.json) await writeOut(`${JSON.stringify(peers)}\n`);
      else if (peers.length > 0) await writeOut(`${peers.map((p) => formatHostPort(p.ip, p.port)).join('\n')}\n`);
      if (answered.length === 0) throw new RuntimeError('ERR_TRACKER', `none of ${results.length} tracker(s) answered`);
    });
}
