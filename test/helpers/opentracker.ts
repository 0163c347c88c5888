/**
 * Starts Debian's opentracker on loopback for tests, with a whitelist of info hashes.
 *
 * How it must be started (found by trying, opentracker 1.0 as packaged by Debian):
 *   opentracker -i 127.0.0.1 -p <tcp> -P <udp> -d <dir> -w wl      (cwd = <dir>)
 * - as root it chroots to -d and drops to user "nobody" BEFORE reading the whitelist, so the
 *   whitelist path is relative to the chroot ('wl' resolves to <dir>/wl) and <dir> and the file
 *   must be world-readable (mkdtemp makes 0700 dirs: chmod 0755);
 * - `-u root` is refused ("Still running with root privileges?!"), so do not pass it;
 * - as a normal user chroot fails silently and it keeps its cwd, so cwd = <dir> makes 'wl' work
 *   in both cases;
 * - a hash not in the whitelist gets "failure reason: Requested download is not authorized";
 * - it returns the requesting peer itself in peer lists (tests must drop their own address).
 * Ports: bind port 0, read it, close, pass it on; readiness is polled (bounded) with an HTTP scrape.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollUntil } from './poll.js';

export const OPENTRACKER_BIN = '/usr/bin/opentracker';
/** How long one start may take to answer its first scrape (it starts in milliseconds). */
const READY_TIMEOUT_MS = 5_000;

export interface RunningOpentracker {
  httpUrl: string;
  udpUrl: string;
  httpPort: number;
  udpPort: number;
  /** stdout + stderr so far, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export async function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, host, resolve);
  });
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

export async function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, host, resolve);
  });
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function httpStatus(url: string, timeoutMs: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** Starts opentracker whitelisting `infoHashes`; retries with new ports if they were taken. */
export async function startOpentracker(infoHashes: readonly Buffer[]): Promise<RunningOpentracker> {
  const dir = await mkdtemp(join(tmpdir(), 'torrent-opentracker-'));
  await chmod(dir, 0o755);
  await writeFile(join(dir, 'wl'), infoHashes.map((h) => `${h.toString('hex')}\n`).join(''), { mode: 0o644 });
  let lastOutput = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const httpPort = await freeTcpPort();
    const udpPort = await freeUdpPort();
    let output = '';
    const child = spawn(
      OPENTRACKER_BIN,
      ['-i', '127.0.0.1', '-p', String(httpPort), '-P', String(udpPort), '-d', dir, '-w', 'wl'],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (e) => (output += `spawn error: ${e.message}\n`));
    const stop = async (): Promise<void> => {
      if (!(await waitExit(child, 0))) {
        child.kill('SIGTERM');
        if (!(await waitExit(child, 2_000))) {
          child.kill('SIGKILL');
          await waitExit(child, 2_000);
        }
      }
      await rm(dir, { recursive: true, force: true });
    };
    const probe = `http://127.0.0.1:${httpPort}/scrape?info_hash=${'%00'.repeat(20)}`;
    // Ready when a scrape answers; over when it exited (a port taken meanwhile: try new ports).
    const state = await pollUntil(
      async () => (child.exitCode !== null ? 'exited' : (await httpStatus(probe, 500)) === 200 ? 'ready' : null),
      { timeoutMs: READY_TIMEOUT_MS, intervalMs: 100, what: 'opentracker to answer a scrape' },
    ).catch(() => 'timeout' as const);
    if (state === 'ready') {
      return {
        httpPort,
        udpPort,
        httpUrl: `http://127.0.0.1:${httpPort}/announce`,
        udpUrl: `udp://127.0.0.1:${udpPort}/announce`,
        output: () => output,
        stop,
      };
    }
    lastOutput = output;
    child.kill('SIGKILL');
    await waitExit(child, 2_000);
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`opentracker did not start: ${lastOutput}`);
}
