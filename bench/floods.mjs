/**
 * Bench case "floods" (issue 17, causes 2 and 5): how much memory a hostile peer can make the
 * client take, and how long a full disk takes to end a download, for this build and an older one.
 *
 * Floods (one peer that stops reading what we send and writes as fast as its socket takes):
 * - metadata: BEP 9 ut_metadata requests for piece 0, against `torrent seed`;
 * - interest: interested / not-interested, against `torrent seed`;
 * - choke: unchoke / choke (it claims every piece), against `torrent download`, which dials it.
 * Each runs FLOOD_S seconds (or until the client drops the flooder); we report the process's
 * VmRSS when the flood began, its peak (VmHWM from /proc/<pid>/status), whether and after how
 * long the flooder was dropped, then send SIGINT and report the exit code and how long it took
 * (SIGKILL after SIGNAL_WAIT_MS: "hung").
 *
 * ENOSPC: `download` of a 12 MiB torrent from a local seeder (our own `torrent seed` of this
 * build) into a 4 MiB tmpfs (root only: `mount -t tmpfs`; skipped with the reason otherwise).
 * We poll the tmpfs's free space and report the time from "full" (less than one piece free) to
 * the process's exit, its exit code and wall time.
 *
 * Builds: this checkout's bin/torrent.js (its dist/ as it is: build it first) and
 * BENCH_FLOODS_OLD (default /tmp/old/bin/torrent.js, the build before the session rebuild; the
 * column is left out when it does not exist). Loopback only; every process is killed by id and
 * every temp folder and mount removed.
 *
 * Env: BENCH_FLOODS_OLD, BENCH_FLOODS_CASES (comma list of metadata, interest, choke, enospc),
 * BENCH_FLOODS_SECONDS (FLOOD_S).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '../dist/bencode/index.js';
import {
  decodeExtendedHandshake,
  decodeHandshake,
  encodeExtendedHandshake,
  encodeHandshake,
  encodeMessage,
  encodeMetadataMessage,
  EXTENDED_HANDSHAKE_ID,
  Framer,
  HANDSHAKE_BYTES,
  maxMessageBytes,
  reservedBits,
} from '../dist/wire/index.js';
import { shebangFlags } from './lib/ours.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const BUILDS = [
  { name: 'before (old)', bin: process.env.BENCH_FLOODS_OLD ?? '/tmp/old/bin/torrent.js' },
  { name: 'after (this)', bin: join(ROOT, 'bin', 'torrent.js') },
].filter((b) => existsSync(b.bin));
/** How long each flood runs: long enough for kernel socket buffers to fill and queues to grow. */
const FLOOD_S = Number(process.env.BENCH_FLOODS_SECONDS ?? 30);
/** After SIGINT, a process still alive after this is reported as hung and killed. */
const SIGNAL_WAIT_MS = 30_000;
/** How often VmRSS is sampled (VmHWM gives the true peak; this feeds the drop log). */
const SAMPLE_MS = 100;
/** One flood write; the flooder waits for 'drain' between writes, so it holds one at a time. */
const FLOOD_BATCH_BYTES = 64 * 1024;
const PIECE_LENGTH = 64 * 1024;
/** ENOSPC case: the tmpfs, and a torrent three times its size. */
const TMPFS_SIZE = '4m';
const ENOSPC_DATA_BYTES = 12 * 1024 * 1024;
/** A download that has not ended this long after the disk filled is reported as hung. */
const ENOSPC_WAIT_MS = 120_000;

const live = new Set();
process.on('exit', () => {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
});

function deterministicBytes(n, seed) {
  const out = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function makeTorrent(name, data) {
  const hashes = [];
  for (let o = 0; o < data.length; o += PIECE_LENGTH) hashes.push(createHash('sha1').update(data.subarray(o, o + PIECE_LENGTH)).digest());
  const info = { length: data.length, name, 'piece length': PIECE_LENGTH, pieces: Buffer.concat(hashes) };
  const infoBytes = encode(info);
  return { bytes: encode({ info }), infoHash: createHash('sha1').update(infoBytes).digest(), pieceCount: hashes.length };
}

function status(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
  } catch {
    return null;
  }
}

function startCli(bin, args, env) {
  const child = spawn(process.execPath, [...shebangFlags(bin), bin, ...args], { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    live.delete(child);
    resolve({ code, signal, at: Date.now() });
  }));
  return { child, exited, output: () => out };
}

async function waitFor(fn, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`bench floods: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs a flood on `socket`: handshake, extended handshake, bitfield, then `kind` until stopped. */
function drive(socket, { infoHash, pieceCount, kind, outgoing }) {
  const state = { closedByRemote: false, closedAt: null, handshook: false, messages: 0, stopped: false };
  const framer = new Framer({ maxMessageBytes: maxMessageBytes(pieceCount) });
  const peerId = Buffer.concat([Buffer.from('-FB0001-'), createHash('sha1').update(String(Math.random())).digest().subarray(0, 12)]);
  let metadataId = 0;
  let flooding = false;
  const hello = () => socket.write(encodeHandshake({ reserved: reservedBits({ extensionProtocol: true }), infoHash, peerId }));
  if (outgoing) socket.once('connect', hello);
  const batch = (n0) => {
    const parts = [];
    let size = 0;
    let n = n0;
    while (size < FLOOD_BATCH_BYTES) {
      let m;
      if (kind === 'metadata') m = encodeMessage({ type: 'extended', id: metadataId, payload: encodeMetadataMessage({ type: 'request', piece: 0 }) });
      else if (kind === 'interest') m = encodeMessage({ type: n % 2 === 0 ? 'interested' : 'not-interested' });
      else m = encodeMessage({ type: n % 2 === 0 ? 'unchoke' : 'choke' });
      parts.push(m);
      size += m.length;
      n++;
    }
    return { buf: Buffer.concat(parts), count: n - n0 };
  };
  const flood = async () => {
    if (flooding) return;
    flooding = true;
    socket.pause(); // never read again
    while (!state.stopped && state.closedAt === null) {
      const b = batch(state.messages);
      const ok = socket.write(b.buf);
      state.messages += b.count;
      if (!ok) {
        await new Promise((r) => {
          const done = () => {
            socket.off('drain', done);
            socket.off('close', done);
            r();
          };
          socket.on('drain', done);
          socket.on('close', done);
        });
      } else await new Promise((r) => setImmediate(r));
    }
  };
  socket.on('data', (chunk) => {
    try {
      onData(chunk);
    } catch {
      // Not plaintext BitTorrent (an encrypted attempt) or a broken stream: hang up.
      socket.destroy();
    }
  });
  const onData = (chunk) => {
    framer.push(chunk);
    if (!state.handshook) {
      const raw = framer.takeRaw(HANDSHAKE_BYTES);
      if (!raw) return;
      const hs = decodeHandshake(raw);
      if (!hs || !hs.infoHash.equals(infoHash)) {
        socket.destroy();
        return;
      }
      state.handshook = true;
      if (!outgoing) hello();
      socket.write(encodeMessage({ type: 'extended', id: EXTENDED_HANDSHAKE_ID, payload: encodeExtendedHandshake({ m: { ut_metadata: 3 } }) }));
      const bitfield = Buffer.alloc(Math.ceil(pieceCount / 8), kind === 'choke' ? 0xff : 0);
      if (kind === 'choke' && pieceCount % 8) bitfield[bitfield.length - 1] = (0xff << (8 - (pieceCount % 8))) & 0xff;
      socket.write(encodeMessage({ type: 'bitfield', bitfield }));
      if (kind !== 'metadata') void flood();
    }
    for (let m = framer.next(); m !== null; m = framer.next()) {
      if (kind === 'metadata' && m.type === 'extended' && m.id === EXTENDED_HANDSHAKE_ID) {
        metadataId = decodeExtendedHandshake(m.payload).m.get('ut_metadata') ?? 0;
        if (metadataId) void flood();
      }
    }
  };
  socket.on('error', () => undefined);
  socket.on('close', () => {
    if (!state.stopped) state.closedByRemote = true;
    state.closedAt = Date.now();
  });
  return {
    state,
    stop() {
      state.stopped = true;
      socket.destroy();
    },
  };
}

async function floodCase(build, kind, work, torrent, seedDir) {
  const cache = join(work, `cache-${kind}-${build.name.replace(/\W+/g, '')}`);
  let cli;
  let flooder;
  let server = null;
  if (kind === 'choke') {
    let resolveConn;
    const accepted = new Promise((r) => (resolveConn = r));
    server = net.createServer((s) => {
      const f = drive(s, { infoHash: torrent.infoHash, pieceCount: torrent.pieceCount, kind, outgoing: false });
      // The first connection that speaks plaintext BitTorrent is the one measured.
      const check = setInterval(() => {
        if (f.state.handshook) {
          clearInterval(check);
          resolveConn(f);
        } else if (f.state.closedAt !== null) clearInterval(check);
      }, 20);
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const out = join(work, `out-${kind}-${build.name.replace(/\W+/g, '')}`);
    cli = startCli(build.bin, ['download', join(work, 'flood.torrent'), '-o', out, '--port', '0', '--no-dht', '--quiet', '--peer', `127.0.0.1:${server.address().port}`], { TORRENT_CACHE_DIR: cache });
    flooder = await Promise.race([accepted, cli.exited.then(() => null)]);
    if (!flooder) throw new Error(`bench floods: ${build.name} download exited before connecting:\n${cli.output().slice(-800)}`);
  } else {
    cli = startCli(build.bin, ['seed', join(work, 'flood.torrent'), seedDir, '--port', '0', '--no-dht'], { TORRENT_CACHE_DIR: cache });
    const port = Number((await waitFor(() => /on port (\d+)/.exec(cli.output()), 30_000, `${build.name} seed to listen`))[1]);
    flooder = drive(net.connect({ host: '127.0.0.1', port }), { infoHash: torrent.infoHash, pieceCount: torrent.pieceCount, kind, outgoing: true });
  }
  const pid = cli.child.pid;
  const startKiB = status(pid)?.rss ?? 0;
  const startedAt = Date.now();
  let peakKiB = startKiB;
  await new Promise((resolve) => {
    const t = setInterval(() => {
      const s = status(pid);
      if (s) peakKiB = Math.max(peakKiB, s.hwm, s.rss);
      if (Date.now() - startedAt >= FLOOD_S * 1000 || flooder.state.closedAt !== null || !s) {
        clearInterval(t);
        resolve();
      }
    }, SAMPLE_MS);
  });
  const s = status(pid);
  if (s) peakKiB = Math.max(peakKiB, s.hwm);
  // Dropped before the first sample (as soon as the flood began) counts as 0 s.
  const droppedS = flooder.state.closedByRemote ? (Math.max(0, flooder.state.closedAt - startedAt) / 1000).toFixed(1) : null;
  // SIGINT while the flooder is still connected (or just dropped).
  const sigAt = Date.now();
  cli.child.kill('SIGINT');
  const exit = await Promise.race([cli.exited, new Promise((r) => setTimeout(() => r(null), SIGNAL_WAIT_MS))]);
  if (!exit) cli.child.kill('SIGKILL');
  flooder.stop();
  if (server) await new Promise((r) => server.close(r));
  await cli.exited;
  return {
    build: build.name,
    kind,
    startMiB: startKiB / 1024,
    peakMiB: peakKiB / 1024,
    droppedS,
    exit: exit ? (exit.code ?? exit.signal) : 'hung',
    sigintS: exit ? ((exit.at - sigAt) / 1000).toFixed(1) : `>${SIGNAL_WAIT_MS / 1000}`,
  };
}

async function enospcCase(build, work) {
  const data = deterministicBytes(ENOSPC_DATA_BYTES, 5);
  const torrent = makeTorrent('full.bin', data);
  const seedDir = join(work, 'enospc-seed');
  mkdirSync(seedDir, { recursive: true });
  writeFileSync(join(seedDir, 'full.bin'), data);
  writeFileSync(join(work, 'full.torrent'), torrent.bytes);
  const mnt = join(work, 'enospc-mnt');
  mkdirSync(mnt, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE}`, 'tmpfs', mnt], { stdio: 'pipe' });
  } catch (e) {
    return { build: build.name, skipped: String(e.stderr ?? e.message).split('\n')[0] };
  }
  // The seeder is always this build: only the downloader is being measured.
  const seeder = startCli(BUILDS[BUILDS.length - 1].bin, ['seed', join(work, 'full.torrent'), seedDir, '--port', '0', '--no-dht'], { TORRENT_CACHE_DIR: join(work, 'cache-enospc-seed') });
  try {
    const port = Number((await waitFor(() => /on port (\d+)/.exec(seeder.output()), 30_000, 'the ENOSPC seeder'))[1]);
    const startedAt = Date.now();
    const cli = startCli(build.bin, ['download', join(work, 'full.torrent'), '-o', mnt, '--port', '0', '--no-dht', '--quiet', '--peer', `127.0.0.1:${port}`], {
      TORRENT_CACHE_DIR: join(work, `cache-enospc-${build.name.replace(/\W+/g, '')}`),
    });
    let fullAt = null;
    const poll = setInterval(() => {
      if (fullAt !== null) return;
      const st = statfsSync(mnt);
      if (st.bavail * st.bsize < PIECE_LENGTH) fullAt = Date.now();
    }, 20);
    const exit = await Promise.race([cli.exited, new Promise((r) => setTimeout(() => r(null), ENOSPC_WAIT_MS))]);
    clearInterval(poll);
    if (!exit) {
      cli.child.kill('SIGKILL');
      await cli.exited;
    }
    const lines = cli.output().split('\n').filter((l) => l.startsWith('torrent:'));
    return {
      build: build.name,
      exit: exit ? (exit.code ?? exit.signal) : 'hung',
      wallS: (((exit?.at ?? Date.now()) - startedAt) / 1000).toFixed(1),
      fullToExitS: fullAt && exit ? ((exit.at - fullAt) / 1000).toFixed(1) : fullAt ? `>${((Date.now() - fullAt) / 1000).toFixed(0)}` : 'never full',
      line: (lines[0] ?? '(none)').slice(0, 90),
    };
  } finally {
    seeder.child.kill('SIGKILL');
    await seeder.exited;
    execFileSync('umount', [mnt], { stdio: 'pipe' });
  }
}

export async function run() {
  const only = process.env.BENCH_FLOODS_CASES?.split(',');
  const want = (c) => !only || only.includes(c);
  const work = mkdtempSync(join(tmpdir(), 'torrent-bench-floods-'));
  const floodRows = [];
  const enospcRows = [];
  try {
    const data = deterministicBytes(2 * 1024 * 1024, 17);
    const torrent = makeTorrent('flood.bin', data);
    const seedDir = join(work, 'seed');
    mkdirSync(seedDir);
    writeFileSync(join(seedDir, 'flood.bin'), data);
    writeFileSync(join(work, 'flood.torrent'), torrent.bytes);
    for (const kind of ['metadata', 'interest', 'choke']) {
      if (!want(kind)) continue;
      for (const build of BUILDS) {
        const r = await floodCase(build, kind, work, torrent, seedDir);
        console.error(`bench floods: ${kind} ${build.name}: ${r.startMiB.toFixed(0)} -> peak ${r.peakMiB.toFixed(0)} MiB, dropped ${r.droppedS ?? 'no'}, SIGINT exit ${r.exit} in ${r.sigintS} s`);
        floodRows.push(r);
      }
    }
    if (want('enospc')) {
      for (const build of BUILDS) {
        const r = await enospcCase(build, work);
        console.error(`bench floods: enospc ${build.name}: ${JSON.stringify(r)}`);
        enospcRows.push(r);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (floodRows.length > 0) {
    console.log(`\n## floods (${FLOOD_S} s each, a peer that never reads)\n`);
    console.log('| flood | target | build | RSS at start MiB | peak RSS MiB | flooder dropped after s | SIGINT exit | SIGINT to exit s |');
    console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |');
    for (const r of floodRows) {
      const target = r.kind === 'choke' ? 'download' : 'seed';
      console.log(`| ${r.kind} | ${target} | ${r.build} | ${r.startMiB.toFixed(0)} | ${r.peakMiB.toFixed(0)} | ${r.droppedS ?? 'not dropped'} | ${r.exit} | ${r.sigintS} |`);
    }
  }
  if (enospcRows.length > 0) {
    console.log(`\n## ENOSPC (12 MiB into a ${TMPFS_SIZE} tmpfs)\n`);
    console.log('| build | exit | wall s | disk full to exit s | first torrent: line |');
    console.log('| --- | ---: | ---: | ---: | --- |');
    for (const r of enospcRows) {
      if (r.skipped) console.log(`| ${r.build} | skipped: ${r.skipped} | | | |`);
      else console.log(`| ${r.build} | ${r.exit} | ${r.wallS} | ${r.fullToExitS} | ${r.line.replace(/\|/g, '\\|')} |`);
    }
  }
}
