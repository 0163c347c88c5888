/**
 * Starts bittorrent-tracker's Server (webtorrent) on loopback for tests: HTTP and UDP on
 * 127.0.0.1, UDP6 on ::1, no WebSocket, no stats page. Binding udp6 to 127.0.0.1 fails, hence the
 * per-protocol hostname object. Like opentracker it returns the requester to itself (it filters
 * self only for WebRTC peers), and its UDP replies carry IPv4 peers only. Warnings and errors it emits are collected so tests can assert there were none.
 */
import type { AddressInfo } from 'node:net';
// @ts-expect-error bittorrent-tracker ships no type declarations; BtServer below types what we use.
import { Server as UntypedServer } from 'bittorrent-tracker';

/** The part of the untyped Server we use. */
interface BtServer {
  http: { address(): AddressInfo | string | null } | null;
  udp4: { address(): AddressInfo } | null;
  udp6: { address(): AddressInfo } | null;
  on(event: 'warning' | 'error', cb: (e: Error) => void): void;
  once(event: 'listening', cb: () => void): void;
  listen(port: { http: number; udp: number }, hostname: { http: string; udp: string; udp6: string }): void;
  close(cb: () => void): void;
}

export interface RunningBtTracker {
  httpUrl: string;
  udpUrl: string;
  udp6Url: string;
  warnings: string[];
  errors: string[];
  stop(): Promise<void>;
}

export async function startBtTrackerServer(opts: { intervalMs?: number } = {}): Promise<RunningBtTracker> {
  const Server = UntypedServer as unknown as new (o: Record<string, unknown>) => BtServer;
  const server = new Server({ http: true, udp: true, ws: false, stats: false, interval: opts.intervalMs ?? 60_000 });
  const warnings: string[] = [];
  const errors: string[] = [];
  server.on('warning', (e) => warnings.push(e.message));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('bittorrent-tracker did not start listening')), 10_000);
    server.on('error', (e) => {
      errors.push(e.message);
      clearTimeout(t);
      reject(e);
    });
    server.once('listening', () => {
      clearTimeout(t);
      resolve();
    });
    server.listen({ http: 0, udp: 0 }, { http: '127.0.0.1', udp: '127.0.0.1', udp6: '::1' });
  });
  const httpPort = (server.http!.address() as AddressInfo).port;
  const udpPort = server.udp4!.address().port;
  const udp6Port = server.udp6!.address().port;
  return {
    httpUrl: `http://127.0.0.1:${httpPort}/announce`,
    udpUrl: `udp://127.0.0.1:${udpPort}`,
    udp6Url: `udp://[::1]:${udp6Port}`,
    warnings,
    errors,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
