/**
 * The `torrent` program: commander wiring and the one place where errors become an exit code and
 * a stderr line (`torrent: <message>`, then the hint). Stack traces only for internal errors or
 * with --debug. Nothing imports this module.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { EXIT_INPUT, EXIT_RUNTIME, TorrentError } from '../errors.js';
import { registerCreate } from './create.js';
import { registerDownload, registerSeed } from './download.js';
import { registerInfo } from './info.js';
import { registerMagnet } from './magnet.js';
import { registerPeers } from './peers.js';
import { registerTracker } from './tracker.js';
import { registerVerify } from './verify.js';

const EXIT_HELP = `
Exit codes:
  0    done
  1    runtime failure (network, disk, no peers before --timeout)
  2    bad usage or bad input (unreadable or malformed torrent, bad magnet URI)
  130  interrupted (SIGINT), 143 terminated (SIGTERM)`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('torrent')
    .description('A command-line BitTorrent client: strict, fast, safe on hostile input.')
    .version(version(), '-V, --version', 'print the version')
    .option('--debug', 'print stack traces for errors')
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXIT_HELP)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerInfo(program);
  registerMagnet(program);
  registerDownload(program);
  registerSeed(program);
  registerPeers(program);
  registerTracker(program);
  registerCreate(program);
  registerVerify(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    return report(e, debug);
  }
}

function report(e: unknown, debug: boolean): number {
  if (e instanceof CommanderError) {
    // Help and version exit 0; every other commander error is a usage error (it printed itself).
    return e.exitCode === 0 ? 0 : EXIT_INPUT;
  }
  if (e instanceof TorrentError) {
    process.stderr.write(`torrent: ${e.message}\n`);
    if (e.hint) process.stderr.write(`hint: ${e.hint}\n`);
    if (debug) process.stderr.write(`${e.stack ?? ''}\n`);
    return e.exitCode;
  }
  // A bug: say so, with the stack, so it can be reported.
  process.stderr.write(`torrent: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.stderr.write(`${e instanceof Error ? (e.stack ?? '') : ''}\n`);
  return EXIT_RUNTIME;
}

process.exitCode = await main(process.argv);
