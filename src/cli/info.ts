/** `torrent info <file.torrent | magnet | ->`: metadata as text or one JSON object. */
import type { Command } from 'commander';
import type { Magnet } from '../metainfo/index.js';
import { collect, intArg, peerArg } from './options.js';
import type { DhtFlags } from './peer-sources.js';
import { readTorrentInput } from './input.js';
import { renderInfo } from './info-text.js';
import { infoFromMagnet, infoFromTorrent } from './info-view.js';
import { writeOut } from './output.js';
import { styleFor } from './style.js';

/** Longest --timeout: about 11 days, far beyond any metadata fetch worth waiting for. */
const MAX_TIMEOUT_S = 10 ** 6;

interface InfoFlags extends DhtFlags {
  json?: boolean;
  fetch?: boolean;
  /** Seconds, checked at parse time. */
  timeout: number;
  tracker: string[];
  peer: { host: string; port: number }[];
}

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('show what a torrent or magnet URI says')
    .argument('<torrent>', 'a .torrent file, a magnet URI, or - to read a .torrent from stdin')
    .option('--json', 'print one JSON object (keys documented in README)')
    .option('--fetch', 'for a magnet URI: fetch the metadata from peers first and show it all')
    .option('--timeout <seconds>', 'with --fetch: give up after this long without progress', intArg(1, MAX_TIMEOUT_S), 60)
    .option('--tracker <url>', 'with --fetch: also ask this tracker (repeatable)', collect, [])
    .option('--peer <host:port>', 'with --fetch: also ask this peer (repeatable)', peerArg, [])
    .option('--no-dht', 'with --fetch: do not use the DHT')
    .option('--dht-bootstrap <host:port>', 'with --fetch: bootstrap the DHT from this node (repeatable)', collect, [])
    .action(async (arg: string, opts: InfoFlags) => {
      const input = await readTorrentInput(arg);
      let meta = input.kind === 'torrent' ? input.meta : null;
      if (input.kind === 'magnet' && opts.fetch) {
        const { fetchMetadata, startDht } = await import('./peer-sources.js');
        const warn = (m: string): void => void process.stderr.write(`warning: ${m}\n`);
        const dht = await startDht(opts, false, warn);
        try {
          meta = (
            await fetchMetadata({
              magnet: input.magnet,
              extraTrackers: opts.tracker,
              extraPeers: opts.peer,
              dht,
              port: 0,
              timeoutMs: opts.timeout * 1000,
              onWarning: warn,
            })
          ).meta;
        } finally {
          await dht?.close();
        }
      }
      const view = meta ? infoFromTorrent(meta) : infoFromMagnet((input as { magnet: Magnet }).magnet);
      if (opts.json) {
        await writeOut(`${JSON.stringify(view)}\n`);
      } else {
        await writeOut(renderInfo(view, styleFor(process.stdout), meta?.warnings ?? []));
      }
    });
}
