/** python3-libtorrent (Debian) as a real peer: create torrents, seed, leech. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './corpus.js';
import { startProcess, type Proc } from './processes.js';

const PY = '/usr/bin/python3';
const SCRIPT = join(repoRoot, 'test', 'helpers', 'lt_peer.py');
const run = promisify(execFile);

export async function ltCreate(
  path: string,
  out: string,
  opts: { pieceLength?: number; tracker?: string; pad?: boolean } = {},
): Promise<void> {
  const args = [SCRIPT, 'create', path, out];
  if (opts.pieceLength) args.push('--piece-length', String(opts.pieceLength));
  if (opts.tracker) args.push('--tracker', opts.tracker);
  if (opts.pad) args.push('--pad');
  await run(PY, args, { timeout: 120_000 });
}

export interface LtSeeder {
  port: number;
  proc: Proc;
  stop(): Promise<void>;
}

export async function ltSeed(torrent: string, saveDir: string): Promise<LtSeeder> {
  const proc = startProcess(PY, [SCRIPT, 'seed', torrent, saveDir, '--port', '0']);
  const m = await proc.waitFor(/ready (\d+)/, 60_000);
  return { port: Number(m[1]), proc, stop: () => proc.kill() };
}

export function ltLeech(torrent: string, saveDir: string, peers: string[], timeoutS = 120): Proc {
  return startProcess(PY, [SCRIPT, 'leech', torrent, saveDir, '--timeout', String(timeoutS), ...peers.flatMap((p) => ['--peer', p])]);
}

/** A libtorrent peer with no data that stays connected to `peers`: others learn them by PEX. */
export async function ltHub(torrent: string, emptyDir: string, peers: string[]): Promise<LtSeeder> {
  const proc = startProcess(PY, [SCRIPT, 'hub', torrent, emptyDir, ...peers.flatMap((p) => ['--peer', p])]);
  const m = await proc.waitFor(/ready (\d+)/, 60_000);
  return { port: Number(m[1]), proc, stop: () => proc.kill() };
}
