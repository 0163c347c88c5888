/** `torrent tracker`: run an HTTP + UDP tracker (bittorrent-tracker's server) until stopped. */
import type { Command } from 'commander';
import { InterruptedError, RuntimeError, TorrentError } from '../errors.js';
import { loadTrackerServer } from '../tracker/index.js';
import { writeOut } from './output.js';
import { intArg } from './options.js';

/** Longest --interval: a day; clients treat longer intervals as "never". */
const MAX_INTERVAL_S = 86_400;

interface TrackerFlags {
  port: number;
  host: string;
  http?: boolean;
  udp?: boolean;
  /** Seconds. */
  interval: number;
  quiet?: boolean;
}

export function registerTracker(program: Command): void {
  program
    .command('tracker')
    .description('run a BitTorrent tracker (HTTP and UDP) for sharing on a LAN or a cluster')
    .option('--port <n>', 'port for both HTTP and UDP (0 = any)', intArg(0, 65535), 6969)
    .option('--host <addr>', 'address to listen on', '0.0.0.0')
    .option('--http', 'serve HTTP announces (default: both HTTP and UDP)')
    .option('--udp', 'serve UDP announces (BEP 15)')
    .option('--interval <seconds>', 'announce interval asked of clients', intArg(1, MAX_INTERVAL_S), 600)
    .option('-q, --quiet', 'no warnings on stderr')
    .action(async (flags: TrackerFlags) => {
      const both = !flags.http && !flags.udp;
      // Loaded here so that other commands never pay for the package.
      const { startTrackerServer } = await loadTrackerServer();
      let server;
      try {
        server = await startTrackerServer({
          host: flags.host,
          port: flags.port,
          http: both || flags.http === true,
          udp: both || flags.udp === true,
          intervalS: flags.interval,
          onWarning: (m) => {
            if (!flags.quiet) process.stderr.write(`torrent: warning: ${m}\n`);
          },
        });
      } catch (e) {
        if (e instanceof TorrentError) throw e;
        const inUse = (e as NodeJS.ErrnoException).code === 'EADDRINUSE';
        throw new RuntimeError('ERR_TRACKER', `cannot start the tracker: ${(e as Error).message}`, {
          cause: e,
          hint: inUse ? 'another program uses that port: choose another with --port, or --port 0 for any free one' : undefined,
        });
      }
      // Listen for signals before printing: a script may send one as soon as it reads the URLs.
      const stopped = new Promise<'SIGINT' | 'SIGTERM'>((resolve) => {
        process.once('SIGINT', () => resolve('SIGINT'));
        process.once('SIGTERM', () => resolve('SIGTERM'));
      });
      // The announce URLs are data: scripts read them from stdout.
      await writeOut(`${server.urls.join('\n')}\n`);
      const signal = await stopped;
      await server.close();
      throw new InterruptedError(signal);
    });
}
