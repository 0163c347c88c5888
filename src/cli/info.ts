/** `torrent info <file.torrent | URL | magnet | ->`: metadata as text or one JSON object. */
import { Option, type Command } from 'commander';
import { collect, intArg, peerArg, urlArg } from './options.js';
import type { DhtFlags } from './peer-sources.js';
import { readTorrentInput } from './input.js';
import { infoFromMagnet, infoFromTorrent, torrentInfoJson } from './info-view.js';
import { writeOut } from './output.js';

/** Longest --timeout: about 11 days, far beyond any metadata fetch worth waiting for. */
const MAX_TIMEOUT_S = 10 ** 6;

interface InfoFlags extends DhtFlags {
  json?: boolean;
  fetch?: boolean;
  /** Seconds, checked at parse time. */
  timeout: number;
  tracker: string[];
  peer: { host: string; port: number }[];
  encryption: 'prefer' | 'require' | 'off';
  transport: 'tcp' | 'utp' | 'both';
}

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('show what a torrent or magnet URI says')
    .argument('<torrent>', 'a .torrent file, its http(s) URL, a magnet URI, or - to read a .torrent from stdin')
    .option('--json', 'print one JSON object (keys documented in README)')
    .option('--fetch', 'for a magnet URI: fetch the metadata from peers first and show it all')
    .option('--timeout <seconds>', 'with --fetch: give up after this long without progress', intArg(1, MAX_TIMEOUT_S), 60)
    .option('--tracker <url>', 'with --fetch: also ask this tracker (repeatable)', urlArg(['http:', 'https:', 'udp:']), [])
    .option('--peer <host:port>', 'with --fetch: also ask this peer (repeatable)', peerArg, [])
    .option('--no-dht', 'with --fetch: do not use the DHT')
    .option('--dht-bootstrap <host:port>', 'with --fetch: bootstrap the DHT from this node (repeatable)', collect, [])
    .addOption(new Option('--encryption <mode>', 'with --fetch: prefer, require or off (as for download)').choices(['prefer', 'require', 'off']).default('prefer'))
    .addOption(new Option('--transport <kind>', 'with --fetch: tcp, utp or both (as for download)').choices(['tcp', 'utp', 'both']).default('both'))
    .action(async (arg: string, opts: InfoFlags) => {
      const input = await readTorrentInput(arg);
      let meta = input.kind === 'torrent' ? input.meta : null;
      if (input.kind === 'magnet' && opts.fetch) {
        const { fetchMetadata, dhtStarter } = await import('./peer-sources.js');
        const warn = (m: string): void => void process.stderr.write(`warning: ${m}\n`);
        // The session starts the DHT (in the background) and closes it.
        meta = (
          await fetchMetadata({
            magnet: input.magnet,
            extraTrackers: opts.tracker,
            extraPeers: opts.peer,
            dht: dhtStarter(opts, warn),
            port: 0,
            timeoutMs: opts.timeout * 1000,
            encryption: opts.encryption,
            transport: opts.transport,
            onWarning: warn,
          })
        ).meta;
      }
      const magnet = input.kind === 'magnet' ? input.magnet : null;
      if (opts.json) {
        await writeOut(`${meta ? torrentInfoJson(meta) : JSON.stringify(infoFromMagnet(magnet!))}\n`);
      } else {
        const view = meta ? infoFromTorrent(meta) : infoFromMagnet(magnet!);
        // Text only: --json never loads the renderer or chalk.
        const [{ renderInfo }, { styleFor }] = await Promise.all([import('./info-text.js'), import('./style.js')]);
        await writeOut(renderInfo(view, styleFor(process.stdout), meta?.warnings ?? []));
      }
    });
}
