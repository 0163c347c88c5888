/**
 * A real HTTP + UDP tracker for LAN or cluster sharing: bittorrent-tracker's server (webtorrent),
 * which does this well. We keep its client out (see README).
 *
 * The package is an optional peer dependency, loaded only here and only when `torrent tracker`
 * starts one: it pulls about 50 packages (a native WebRTC module among them) that nobody else
 * needs, so only the users of this command install it. When it is absent, starting a tracker is
 * a RuntimeError saying what to install, never a crash at import.
 */
import type { AddressInfo } from 'node:net';
import { RuntimeError } from '../errors.js';

/** The npm package that provides the server, and what to run to get it. */
export const TRACKER_PACKAGE = 'bittorrent-tracker';
const INSTALL_HINT = `install it where torrent is installed: npm install --global ${TRACKER_PACKAGE} (or npm install ${TRACKER_PACKAGE} in a local checkout)`;

interface TrackerServerImpl {
  http: { address(): AddressInfo | string | null } | null;
  udp4: { address(): AddressInfo } | null;
  on(event: 'warning' | 'error', cb: (e: Error) => void): void;
  once(event: 'listening', cb: () => void): void;
  listen(port: { http: number; udp: number }, hostname: { http: string; udp: string; udp6: string }): void;
  close(cb: () => void): void;
}

export interface TrackerServerOptions {
  host: string;
  port: number;
  http: boolean;
  udp: boolean;
  /** Seconds clients are asked to wait between announces. */
  intervalS: number;
  onWarning: (message: string) => void;
}

export interface RunningTrackerServer {
  urls: string[];
  close(): Promise<void>;
}

type ServerClass = new (opts: Record<string, unknown>) => TrackerServerImpl;

/** The package's Server class, or a RuntimeError naming the package when it is not installed. */
async function loadServer(): Promise<ServerClass> {
  let mod: { Server?: unknown };
  try {
    mod = (await import(TRACKER_PACKAGE)) as { Server?: unknown };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new RuntimeError('ERR_TRACKER', `torrent tracker needs the optional package ${TRACKER_PACKAGE}, which is not installed`, {
        hint: INSTALL_HINT,
        cause: e,
      });
    }
    throw e;
  }
  if (typeof mod.Server !== 'function') {
    throw new RuntimeError('ERR_TRACKER', `the installed ${TRACKER_PACKAGE} has no Server: not a version torrent knows`, { hint: INSTALL_HINT });
  }
  return mod.Server as ServerClass;
}

export async function startTrackerServer(o: TrackerServerOptions): Promise<RunningTrackerServer> {
  const Server = await loadServer();
  const server = new Server({ http: o.http, udp: o.udp, ws: false, stats: false, interval: o.intervalS * 1000, trustProxy: false });
  server.on('warning', (e) => o.onWarning(e.message));
  await new Promise<void>((resolve, reject) => {
    server.on('error', reject);
    server.once('listening', () => resolve());
    // udp6 binds separately; with an IPv4 host it would fail, so it gets the IPv6 wildcard.
    const v6 = o.host.includes(':') ? o.host : '::';
    server.listen({ http: o.port, udp: o.port }, { http: o.host, udp: o.host.includes(':') ? '0.0.0.0' : o.host, udp6: v6 });
  });
  const shown = o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host.includes(':') ? `[${o.host}]` : o.host;
  const urls: string[] = [];
  if (o.http && server.http) urls.push(`http://${shown}:${(server.http.address() as AddressInfo).port}/announce`);
  if (o.udp && server.udp4) urls.push(`udp://${shown}:${server.udp4.address().port}`);
  return { urls, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
