/**
 * `npm run demo`: a real download on a local swarm, with nothing but this repo and Node.
 *
 * Makes a sample payload, starts a tracker (`torrent tracker`) and a seeder (`torrent seed`) on
 * loopback, then runs `torrent download` of it in this terminal (live progress), verifies the
 * result (`torrent verify`) and cleans everything up, also on Ctrl-C. The seeder is held to
 * 32 MiB/s so there is something to watch.
 *
 * Cleanup order is the invariant: every child is stopped and has EXITED before the work folder is
 * removed (the seeder and the tracker keep files in it until they exit; removing it under them
 * failed with ENOTEMPTY). A child that ignores SIGINT gets SIGKILL after CHILD_EXIT_GRACE_MS; a
 * second Ctrl-C skips the grace period, and the folder is still removed. Exit: 0 when the
 * download verified, 1 on failure, 130 when interrupted.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** How long a child may take to stop gracefully (a seeder announces `stopped`) before SIGKILL. */
const CHILD_EXIT_GRACE_MS = 5_000;
/** How long a background child may take to print that it is ready. */
const READY_TIMEOUT_MS = 20_000;

const bin = fileURLToPath(new URL('../bin/torrent.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'torrent-demo-'));
// Loopback only: the DHT bootstraps from nowhere (no public routers).
const env = { ...process.env, TORRENT_CACHE_DIR: join(work, 'cache'), TORRENT_DHT_BOOTSTRAP: '' };
/** child -> promise of its exit; a child leaves the map only once it has exited. */
const children = new Map();

function start(args, { inherit = false } = {}) {
  // stdin is never the terminal's: the demo runs unattended, and CI closes it.
  const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', inherit ? 'inherit' : 'pipe', inherit ? 'inherit' : 'pipe'] });
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  children.set(child, exited);
  void exited.then(() => children.delete(child));
  return { child, exited };
}

async function run(args, opts) {
  const { code } = await start(args, opts).exited;
  return code;
}

function firstLine(child, pattern, what) {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start:\n${text}`)), READY_TIMEOUT_MS);
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
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${text}`));
    });
  });
}

let cleaning = null;
let hurry = false;

/** Stops every child, waits until each has exited, then removes the work folder. Idempotent. */
function cleanup() {
  cleaning ??= (async () => {
    const waits = [...children].map(async ([child, exited]) => {
      child.kill('SIGINT');
      let timer;
      const grace = new Promise((resolve) => (timer = setTimeout(resolve, hurry ? 0 : CHILD_EXIT_GRACE_MS)));
      await Promise.race([exited, grace]);
      clearTimeout(timer);
      if (children.has(child)) {
        child.kill('SIGKILL');
        await exited;
      }
    });
    await Promise.all(waits);
    rmSync(work, { recursive: true, force: true, maxRetries: 3 });
  })();
  return cleaning;
}

let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) {
    // A second Ctrl-C: no more waiting for graceful exits, but the folder still goes.
    hurry = true;
    for (const child of children.keys()) child.kill('SIGKILL');
    return;
  }
  interrupted = true;
  say('interrupted: stopping the tracker and the seeder, then cleaning up');
  void cleanup().then(
    () => process.exit(130),
    (e) => {
      say(`cleanup failed: ${e.message}`);
      process.exit(130);
    },
  );
});

const bold = process.stderr.isTTY && !process.env.NO_COLOR ? (s) => `\x1b[1m${s}\x1b[0m` : (s) => s;
function say(s) {
  process.stderr.write(`\n${bold('demo:')} ${s}\n`);
}

async function demo() {
  say(`making a 160 MiB sample payload in ${work}`);
  const payload = join(work, 'seed', 'demo-album');
  mkdirSync(join(payload, 'extras'), { recursive: true });
  const files = [['track-1.flac', 48], ['track-2.flac', 64], ['extras/booklet.pdf', 40], ['extras/cover.jpg', 8]];
  for (const [name, mib] of files) writeFileSync(join(payload, name), randomBytes(mib * 1024 * 1024));

  say('starting a tracker on loopback: torrent tracker --host 127.0.0.1 --port 0');
  const tracker = start(['tracker', '--host', '127.0.0.1', '--port', '0', '--interval', '5', '-q']).child;
  const [, announce] = await firstLine(tracker, /(http:\/\/\S+)\n/, 'the tracker');

  say(`creating the torrent: torrent create … --tracker ${announce}`);
  const torrent = join(work, 'demo-album.torrent');
  if ((await run(['create', payload, '-o', torrent, '--tracker', announce, '-q'])) !== 0) throw new Error('torrent create failed');

  say('starting a seeder: torrent seed demo-album.torrent --upload-limit 32M');
  const seeder = start(['seed', torrent, join(work, 'seed'), '--port', '0', '--upload-limit', '32M']).child;
  await firstLine(seeder, /seeding .* on port (\d+)/, 'the seeder');

  say('downloading it: torrent download demo-album.torrent -o downloads --files');
  const downloads = join(work, 'downloads');
  const code = await run(['download', torrent, '-o', downloads, '--port', '0', '--files', '--timeout', '60'], { inherit: true });
  if (code !== 0) throw new Error(`torrent download exited with ${code}`);

  say('checking every piece: torrent verify demo-album.torrent downloads');
  if ((await run(['verify', torrent, downloads], { inherit: true })) !== 0) throw new Error('torrent verify failed');
  say('done: the download matches the seed. Stopping the seeder and the tracker, cleaning up.');
}

let exitCode = 0;
try {
  await demo();
} catch (e) {
  // An interrupted child exits non-zero; the SIGINT handler owns that exit.
  if (!interrupted) {
    say(`failed: ${e.message}`);
    exitCode = 1;
  }
}
if (!interrupted) {
  try {
    await cleanup();
  } catch (e) {
    say(`cleanup failed: ${e.message}`);
    exitCode = 1;
  }
  process.exit(exitCode);
}
