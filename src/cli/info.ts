/** `torrent info <file.torrent | magnet | ->`: metadata as text or one JSON object. */
import type { Command } from 'commander';
import { readTorrentInput } from './input.js';
import { renderInfo } from './info-text.js';
import { infoFromMagnet, infoFromTorrent } from './info-view.js';
import { writeOut } from './output.js';
import { styleFor } from './style.js';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('show what a torrent or magnet URI says')
    .argument('<torrent>', 'a .torrent file, a magnet URI, or - to read a .torrent from stdin')
    .option('--json', 'print one JSON object (keys documented in README)')
    .action(async (arg: string, opts: { json?: boolean }) => {
      const input = await readTorrentInput(arg);
      const view = input.kind === 'torrent' ? infoFromTorrent(input.meta) : infoFromMagnet(input.magnet);
      if (opts.json) {
        await writeOut(`${JSON.stringify(view)}\n`);
      } else {
        const warnings = input.kind === 'torrent' ? input.meta.warnings : [];
        await writeOut(renderInfo(view, styleFor(process.stdout), warnings));
      }
    });
}
