/** aria2c and transmission-cli (Debian) as real peers on loopback. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freeTcpPort } from './opentracker.js';
import { startProcess, type Proc } from './processes.js';
import { pollUntil } from './poll.js';

export interface RealPeer {
  port: number;
  proc: Proc;
  stop(): Promise<void>;
}

/** Waits until something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port: number, timeoutMs: number, proc?: Proc): Promise<void> {
  const { connect } = await import('node:net');
  const accepts = (): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
  await pollUntil(accepts, { timeoutMs, intervalMs: 100, what: `a listener on port ${port}`, detail: () => proc?.output().slice(-2000) ?? '' });
}

const ARIA2_COMMON = [
  '--enable-dht=false',
  '--enable-dht6=false',
  '--bt-enable-lpd=false',
  '--enable-peer-exchange=false',
  '--file-allocation=none',
  '--summary-interval=0',
  '--console-log-level=warn',
  '--bt-max-peers=0',
  '--disk-cache=0',
];

/** aria2c seeding `torrent` from `dir` (data assumed complete) until stopped. */
export async function aria2Seed(torrent: string, dir: string): Promise<RealPeer> {
  const port = await freeTcpPort();
  const proc = startProcess('aria2c', [
    ...ARIA2_COMMON,
    `--listen-port=${port}`,
    '--seed-ratio=0.0',
    '--bt-seed-unverified=true',
    '--check-integrity=false',
    `--dir=${dir}`,
    torrent,
  ]);
  await waitForPort(port, 20_000, proc);
  return { port, proc, stop: () => proc.kill('SIGKILL') };
}

/** aria2c leeching `torrent` into `dir` (it finds peers through the torrent's tracker); exits when done. */
export function aria2Leech(torrent: string, dir: string, port: number): Proc {
  return startProcess('aria2c', [...ARIA2_COMMON, `--listen-port=${port}`, '--seed-time=0', `--dir=${dir}`, '--bt-tracker-connect-timeout=5', '--bt-stop-timeout=120', torrent]);
}

/** transmission-cli seeding (or leeching) `torrent` in `dir`; it verifies what is there first. */
export async function transmissionRun(torrent: string, dir: string, configDir: string): Promise<RealPeer> {
  const port = await freeTcpPort();
  mkdirSync(configDir, { recursive: true });
  const proc = startProcess('transmission-cli', ['-g', configDir, '-w', dir, '-p', String(port), '-et', '-M', '-B', torrent], {
    env: { HOME: configDir },
  });
  await waitForPort(port, 20_000, proc);
  return { port, proc, stop: () => proc.kill('SIGKILL') };
}

export const transmissionConfig = (work: string, name: string): string => join(work, `tr-${name}`);
