/**
 * Bench case "utp": our uTP transport (dist/utp, BEP 29) measured at the stream level.
 *
 * 1. ours -> ours on loopback: a sink process (UtpSocket, counts bytes) and this process writing
 *    BENCH_UTP_MIB MiB into one UtpConnection, honouring back-pressure; at the default 1400-byte
 *    packet and at a larger loopback-only packet. MB/s from connect to the sink's last byte, and
 *    CPU s/GiB of each side (process.cpuUsage), peak RSS of each side.
 * 2. a python3-libtorrent seeder (test/helpers/lt_utp_peer.py: uTP only, or TCP only) serving one
 *    file; downloaded by our stream-level client (handshake, interested, pipelined requests with
 *    the src/wire codecs over a UtpConnection, or a net.Socket for TCP) and by a libtorrent
 *    leecher of the same mode, in turn. Every download is checked by SHA-1.
 *
 * Needs a build (npx tsc -p tsconfig.json). Env: BENCH_UTP_MIB (default 256; the note
 * uses 1024), BENCH_UTP_RUNS (default 3), BENCH_UTP_TIMEOUT_S (per run, default 240).
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { measure, startService } from './lib/proc.mjs';
import { sha1File, writeRandomFile } from './lib/payload.mjs';
import { fmt, stats } from './lib/stats.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const DIST = join(ROOT, 'dist');
const PY = '/usr/bin/python3';
const LT_UTP = join(ROOT, 'test', 'helpers', 'lt_utp_peer.py');
const LT_PEER = join(ROOT, 'test', 'helpers', 'lt_peer.py');
const MiB = 1 << 20;
const GiB = 1 << 30;
const SIZE_MIB = Number(process.env.BENCH_UTP_MIB ?? 256);
const RUNS = Number(process.env.BENCH_UTP_RUNS ?? 3);
const TIMEOUT_MS = Number(process.env.BENCH_UTP_TIMEOUT_S ?? 240) * 1000;
/** Requests in flight from our stream-level client: 256 blocks = 4 MiB, enough for loopback. */
const PIPELINE_BLOCKS = 256;
const BLOCK = 16 * 1024;
/** Larger packets for ours -> ours only: loopback has a 64 KiB MTU; libtorrent reads 1500. */
const LOOPBACK_PACKET_BYTES = 16 * 1024;

/** A clock with sub-millisecond now(), so RTT and LEDBAT delay samples are finer than Date.now(). */
function fineClock(systemClock) {
  const base = systemClock();
  return { now: () => performance.timeOrigin + performance.now(), setTimeout: base.setTimeout };
}

const SINK = `
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
const { UtpSocket } = await import(process.argv[1] + '/utp/index.js');
const { systemClock } = await import(process.argv[1] + '/util/clock.js');
const want = Number(process.argv[2]);
const packetBytes = Number(process.argv[3]);
const base = systemClock();
const clock = { now: () => performance.timeOrigin + performance.now(), setTimeout: base.setTimeout };
const sock = await UtpSocket.bind({ port: 0, host: '127.0.0.1', clock, random: (n) => randomBytes(n), packetBytes });
sock.on('connection', (conn) => {
  let got = 0;
  const cpu0 = process.cpuUsage();
  conn.on('error', () => {});
  conn.on('data', (c) => {
    got += c.length;
    if (got >= want) {
      const cpu = process.cpuUsage(cpu0);
      console.log('done ' + ((cpu.user + cpu.system) / 1e6) + ' ' + process.resourceUsage().maxRSS + ' ' + JSON.stringify(conn.stats));
      setTimeout(() => process.exit(0), 50);
    }
  });
});
console.log('ready ' + sock.address().port);
`;

async function oursToOurs(mod, packetBytes) {
  const bytes = SIZE_MIB * MiB;
  const sink = startService(process.execPath, ['--input-type=module', '-e', SINK, DIST, String(bytes), String(packetBytes)]);
  const port = Number((await sink.waitFor(/ready (\d+)/, 30_000))[1]);
  const sock = await mod.UtpSocket.bind({ port: 0, host: '127.0.0.1', clock: fineClock(mod.systemClock), random: (n) => randomBytes(n), packetBytes });
  const conn = sock.connect('127.0.0.1', port);
  await new Promise((resolve, reject) => {
    conn.once('connect', resolve);
    conn.once('error', reject);
  });
  const block = randomBytes(MiB);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const done = sink.waitFor(/done ([\d.]+) (\d+) (.*)/, TIMEOUT_MS);
  let sent = 0;
  while (sent < bytes) {
    if (!conn.write(block)) await new Promise((r) => conn.once('drain', r));
    sent += block.length;
  }
  const m = await done;
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const sender = { ...conn.stats };
  conn.destroy();
  await sock.close();
  sink.child.kill('SIGTERM');
  return {
    mbps: bytes / 1e6 / wallS,
    senderCpuPerGiB: ((cpu.user + cpu.system) / 1e6) * (GiB / bytes),
    sinkCpuPerGiB: Number(m[1]) * (GiB / bytes),
    senderRssMiB: process.resourceUsage().maxRSS / 1024,
    sinkRssMiB: Number(m[2]) / 1024,
    retransmitPct: (100 * sender.retransmits) / Math.max(1, sender.packetsSent),
  };
}

/** Our stream-level leecher: the whole file from one peer over `conn`, checked by SHA-1. */
function download(wire, conn, infoHash, total, pieceLength) {
  const pieceCount = Math.ceil(total / pieceLength);
  const framer = new wire.Framer({ maxMessageBytes: wire.maxMessageBytes(pieceCount) });
  const hash = createHash('sha1');
  // Pieces arrive in request order from one seeder; blocks are hashed in file order as they line up.
  const pending = new Map();
  let nextOffset = 0;
  const blocks = [];
  for (let off = 0; off < total; off += BLOCK) blocks.push({ index: Math.floor(off / pieceLength), begin: off % pieceLength, length: Math.min(BLOCK, total - off) });
  conn.write(wire.encodeHandshake({ reserved: Buffer.alloc(8), infoHash, peerId: Buffer.concat([Buffer.from('-TS0001-'), randomBytes(12)]) }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`incomplete after ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    let handshaken = false;
    let unchoked = false;
    let next = 0;
    let inflight = 0;
    conn.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    conn.on('data', (chunk) => {
      framer.push(chunk);
      if (!handshaken) {
        const raw = framer.takeRaw(68);
        if (raw === null) return;
        wire.decodeHandshake(raw);
        handshaken = true;
        conn.write(wire.encodeMessage({ type: 'interested' }));
      }
      for (let m = framer.next(); m !== null; m = framer.next()) {
        if (m.type === 'unchoke') unchoked = true;
        else if (m.type === 'choke') unchoked = false;
        else if (m.type === 'piece') {
          inflight--;
          const off = m.index * pieceLength + m.begin;
          if (off === nextOffset) {
            hash.update(m.block);
            nextOffset += m.block.length;
            for (let b = pending.get(nextOffset); b !== undefined; b = pending.get(nextOffset)) {
              pending.delete(nextOffset);
              hash.update(b);
              nextOffset += b.length;
            }
          } else pending.set(off, Buffer.from(m.block));
        }
      }
      while (unchoked && inflight < PIPELINE_BLOCKS && next < blocks.length) {
        conn.write(wire.encodeMessage({ type: 'request', ...blocks[next] }));
        next++;
        inflight++;
      }
      if (nextOffset === total) {
        clearTimeout(timer);
        resolve(hash.digest('hex'));
      }
    });
  });
}

async function ourDownload(mod, wire, transport, port, infoHash, total, pieceLength) {
  let conn;
  let sock = null;
  if (transport === 'utp') {
    sock = await mod.UtpSocket.bind({ port: 0, host: '127.0.0.1', clock: fineClock(mod.systemClock), random: (n) => randomBytes(n) });
    conn = sock.connect('127.0.0.1', port);
  } else {
    conn = net.connect(port, '127.0.0.1');
    conn.setNoDelay(true);
  }
  await new Promise((resolve, reject) => {
    conn.once('connect', resolve);
    conn.once('error', reject);
  });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const digest = await download(wire, conn, infoHash, total, pieceLength);
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  conn.destroy();
  await sock?.close();
  return { wallS, cpuS: (cpu.user + cpu.system) / 1e6, digest, rssMiB: process.resourceUsage().maxRSS / 1024 };
}

async function ltDownload(transport, torrent, port, work) {
  const out = join(work, `lt-out-${transport}`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out);
  const args = [LT_UTP, 'leech', torrent, out, '--peer', `127.0.0.1:${port}`, '--timeout', String(TIMEOUT_MS / 1000)];
  if (transport === 'tcp') args.push('--tcp');
  const r = await measure(PY, args, { timeoutMs: TIMEOUT_MS + 10_000, timeFile: join(work, 'time.txt') });
  const m = r.stdout.match(/^done ([\d.]+)/m);
  const digest = m ? sha1File(join(out, 'payload.bin')) : null;
  rmSync(out, { recursive: true, force: true });
  return { wallS: m ? Number(m[1]) : NaN, cpuS: r.userS + r.sysS, digest, rssMiB: r.maxRssKiB / 1024 };
}

function row(name, list, bytes) {
  const ok = list.filter((r) => r.ok);
  const mbps = stats(ok.map((r) => bytes / 1e6 / r.wallS));
  const cpu = stats(ok.map((r) => r.cpuS * (GiB / bytes)));
  const rss = stats(ok.map((r) => r.rssMiB));
  console.log(`| ${name} | ${ok.length}/${list.length} | ${fmt(mbps, 1)} | ${fmt(cpu, 2)} | ${fmt(rss, 0)} |`);
}

export async function run() {
  if (spawnSync('test', ['-f', join(DIST, 'utp', 'index.js')]).status !== 0) {
    console.error('bench utp: build first (npx tsc -p tsconfig.json)');
    process.exitCode = 1;
    return;
  }
  const mod = { ...(await import(join(DIST, 'utp', 'index.js'))), ...(await import(join(DIST, 'util', 'clock.js'))) };
  const wire = await import(join(DIST, 'wire', 'index.js'));

  console.log(`\n## utp: ours -> ours over loopback (${SIZE_MIB} MiB, one connection)\n`);
  console.log('median (min–max) of the runs; MB = 10^6 bytes; CPU per GiB moved, each side its own process\n');
  console.log('| packet bytes | runs | MB/s | sender CPU s/GiB | receiver CPU s/GiB | sender peak RSS MiB | receiver peak RSS MiB | retransmitted % |');
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const packetBytes of [mod.DEFAULT_PACKET_BYTES, LOOPBACK_PACKET_BYTES]) {
    const rs = [];
    for (let i = 0; i < RUNS; i++) rs.push(await oursToOurs(mod, packetBytes));
    const s = (f, d) => fmt(stats(rs.map(f)), d);
    console.log(
      `| ${packetBytes} | ${rs.length} | ${s((r) => r.mbps, 1)} | ${s((r) => r.senderCpuPerGiB, 2)} | ${s((r) => r.sinkCpuPerGiB, 2)} | ${s((r) => r.senderRssMiB, 0)} | ${s((r) => r.sinkRssMiB, 0)} | ${s((r) => r.retransmitPct, 2)} |`,
    );
  }

  const work = mkdtempSync(join(tmpdir(), 'bench-utp-'));
  try {
    const seedDir = join(work, 'seed');
    mkdirSync(seedDir);
    const bytes = SIZE_MIB * MiB;
    const want = writeRandomFile(join(seedDir, 'payload.bin'), bytes);
    const torrent = join(work, 'payload.torrent');
    const pieceLength = MiB;
    const made = spawnSync(PY, [LT_PEER, 'create', join(seedDir, 'payload.bin'), torrent, '--piece-length', String(pieceLength)], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`lt_peer.py create failed: ${made.stderr}`);
    const meta = await import(join(DIST, 'metainfo', 'index.js'));
    const infoHash = meta.parseTorrent(readFileSync(torrent)).infoHash;
    const results = { 'us-utp': [], 'lt-utp': [], 'us-tcp': [], 'lt-tcp': [] };
    for (const transport of ['utp', 'tcp']) {
      const seeder = startService(PY, [LT_UTP, 'seed', torrent, seedDir, ...(transport === 'tcp' ? ['--tcp'] : [])]);
      try {
        const port = Number((await seeder.waitFor(/ready (\d+)/, 120_000))[1]);
        for (let i = 0; i < RUNS; i++) {
          try {
            const r = await ourDownload(mod, wire, transport, port, infoHash, bytes, pieceLength);
            results[`us-${transport}`].push({ ...r, ok: r.digest === want });
          } catch (e) {
            console.error(`bench utp: our ${transport} download failed: ${e.message}`);
            results[`us-${transport}`].push({ ok: false });
          }
          const l = await ltDownload(transport, torrent, port, work);
          results[`lt-${transport}`].push({ ...l, ok: l.digest === want });
        }
      } finally {
        seeder.child.stdin.end();
        seeder.child.kill('SIGTERM');
      }
    }
    console.log(`\n## utp: download ${SIZE_MIB} MiB from one python3-libtorrent seeder (uTP only, then TCP only)\n`);
    console.log('median (min–max) of the runs that verified; seconds from connect to the last byte (ours) or as libtorrent reports them; MB = 10^6 bytes\n');
    console.log('| leecher | verified | MB/s | CPU s/GiB | peak RSS MiB |');
    console.log('| --- | --- | ---: | ---: | ---: |');
    row('us, stream-level client, uTP', results['us-utp'], bytes);
    row('libtorrent 2.0 leecher, uTP only', results['lt-utp'], bytes);
    row('us, stream-level client, TCP', results['us-tcp'], bytes);
    row('libtorrent 2.0 leecher, TCP only', results['lt-tcp'], bytes);
    console.log('\nOur CPU and RSS are those of this bench process (client only, no disk writes); libtorrent\'s are its whole process (it writes the file).');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
