/**
 * Debian's opentracker on loopback with a whitelist of info hashes, for benchmarks (aria2c cannot
 * be handed a peer address, so every client finds the seeder through it). The recipe is the one
 * test/helpers/opentracker.ts documents: cwd = <dir>, `-d <dir> -w wl`, <dir> 0755 and `wl`
 * world-readable (as root it chroots to <dir> and drops to "nobody" before reading the list).
 * Ports are chosen by the caller, because the torrents must carry the URL before the whitelist
 * (their info hashes) exists.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { startService } from './proc.mjs';

const OPENTRACKER_BIN = '/usr/bin/opentracker';
/** Readiness: opentracker starts in well under a second; 50 probes x 100 ms is generous. */
const READY_PROBES = 50;

function httpStatus(url, timeoutMs) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/** Starts opentracker on 127.0.0.1:httpPort (TCP) / udpPort, whitelisting `infoHashesHex`. */
export async function startOpentracker(workDir, httpPort, udpPort, infoHashesHex) {
  const dir = mkdtempSync(join(workDir, 'opentracker-'));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'wl'), infoHashesHex.map((h) => `${h}\n`).join(''), { mode: 0o644 });
  const svc = startService(OPENTRACKER_BIN, ['-i', '127.0.0.1', '-p', String(httpPort), '-P', String(udpPort), '-d', dir, '-w', 'wl'], { cwd: dir });
  const probe = `http://127.0.0.1:${httpPort}/scrape?info_hash=${'%00'.repeat(20)}`;
  for (let i = 0; i < READY_PROBES; i++) {
    if (svc.child.exitCode !== null) break;
    if ((await httpStatus(probe, 500)) === 200) {
      return {
        httpUrl: `http://127.0.0.1:${httpPort}/announce`,
        async stop() {
          await svc.stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await svc.stop();
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`opentracker did not start on ${httpPort}/${udpPort}: ${svc.output()}`);
}
