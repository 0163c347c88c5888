/**
 * `npm run demo`: a real download on a local swarm, with nothing but this repo and Node.
 *
 * Makes a sample payload, starts a tracker (`torrent tracker`) and a seeder (`torrent seed`) on
 * loopback, then runs `torrent download` of it in this terminal (live progress), verifies the
 * result (`torrent verify`) and cleans everything up, also on Ctrl-C. The seeder is held to
 * 32 MiB/s so there is something to watch.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/torrent.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'torrent-demo-'));
// Loopback only: the DHT bootstraps from nowhere (no public routers).
const env = { ...process.env, TORRENT_CACHE_DIR: join(work, 'cache'), TORRENT_DHT_BOOTSTRAP: '' };
const children = new Set();

function start(args, { inherit = false } = {}) {
  const child = spawn(process.execPath, [bin, ...args], { env, stdio: inherit ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

function run(args, opts) {
  return new Promise((resolve) => start(args, opts).on('exit', (code) => resolve(code)));
}

function firstLine(child, pattern, what) {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start:\n${text}`)), 20_000);
    const onData = (d) => {
      text += d;
      const m = text.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${what} exited with ${code}:\n${text}`)));
  });
}

function cleanup() {
  for (const c of children) c.kill('SIGINT');
  rmSync(work, { recursive: true, force: true });
}

process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

const bold = process.stderr.isTTY && !process.env.NO_COLOR ? (s) => `\x1b[1m${s}\x1b[0m` : (s) => s;
const say = (s) => process.stderr.write(`\n${bold('demo:')} ${s}\n`);

try {
  say(`making a 160 MiB sample payload in ${work}`);
  const payload = join(work, 'seed', 'demo-album');
  mkdirSync(join(payload, 'extras'), { recursive: true });
  const files = [['track-1.flac', 48], ['track-2.flac', 64], ['extras/booklet.pdf', 40], ['extras/cover.jpg', 8]];
  for (const [name, mib] of files) writeFileSync(join(payload, name), randomBytes(mib * 1024 * 1024));

  say('starting a tracker on loopback: torrent tracker --host 127.0.0.1 --port 0');
  const tracker = start(['tracker', '--host', '127.0.0.1', '--port', '0', '--interval', '5', '-q']);
  const [, announce] = await firstLine(tracker, /(http:\/\/\S+)\n/, 'the tracker');

  say(`creating the torrent: torrent create … --tracker ${announce}`);
  const torrent = join(work, 'demo-album.torrent');
  if ((await run(['create', payload, '-o', torrent, '--tracker', announce, '-q'])) !== 0) throw new Error('torrent create failed');

  say('starting a seeder: torrent seed demo-album.torrent --upload-limit 32M');
  const seeder = start(['seed', torrent, join(work, 'seed'), '--port', '0', '--upload-limit', '32M']);
  await firstLine(seeder, /seeding .* on port (\d+)/, 'the seeder');

  say('downloading it: torrent download demo-album.torrent -o downloads --files');
  const downloads = join(work, 'downloads');
  const code = await run(['download', torrent, '-o', downloads, '--port', '0', '--files', '--timeout', '60'], { inherit: true });
  if (code !== 0) throw new Error(`torrent download exited with ${code}`);

  say('checking every piece: torrent verify demo-album.torrent downloads');
  if ((await run(['verify', torrent, downloads], { inherit: true })) !== 0) throw new Error('torrent verify failed');
  say('done: the download matches the seed. Cleaning up.');
  cleanup();
} catch (e) {
  say(`failed: ${e.message}`);
  cleanup();
  process.exit(1);
}
