/** `torrent magnet <file.torrent | ->`: the torrent's magnet URI, with its trackers, on stdout. */
import type { Command } from 'commander';
import { readTorrentInput } from './input.js';
import { torrentMagnet } from './info-view.js';
import { writeOut } from './output.js';
import { formatMagnet } from '../metainfo/index.js';

export function registerMagnet(program: Command): void {
  program
    .command('magnet')
    .description("print a torrent's magnet URI (with its trackers and web seeds)")
    .argument('<torrent>', 'a .torrent file, or - for stdin (a magnet URI is printed normalised)')
    .action(async (arg: string) => {
      const input = await readTorrentInput(arg);
      await writeOut(`${input.kind === 'torrent' ? torrentMagnet(input.meta) : formatMagnet(input.magnet)}\n`);
    });
}
