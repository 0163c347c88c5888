/**
 * A real HTTP + UDP tracker for LAN or cluster sharing: bittorrent-tracker's server (webtorrent),
 * which does this well. We keep its client out (see README): only this file imports the package,
 * and only `torrent tracker` imports this file, so other commands never load it.
 */
import type { AddressInfo } from 'node:net';
// @ts-expect-error bittorrent-tracker ships no type declarations; TrackerServerImpl types what we use.
import { Server as UntypedServer } from 'bittorrent-tracker';

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

export async function startTrackerServer(o: TrackerServerOptions): Promise<RunningTrackerServer> {
  const Server = UntypedServer as unknown as new (opts: Record<string, unknown>) => TrackerServerImpl;
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
