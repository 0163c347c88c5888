/**
 * v2 magnets (BEP 52 `urn:btmh:`) against python3-libtorrent on loopback: from a libtorrent
 * seeder of a v2-only and of a hybrid torrent made by libtorrent's creator, `torrent download
 * <btmh magnet>` gets the metadata (checked against the SHA-256 info hash) and the piece layers
 * (hash requests, runs of 512 with their proofs: the big file has 550 pieces), and the files and
 * the saved .torrent verify. A hybrid magnet naming both hashes gets the layers over a connection
 * libtorrent upgrades to v2. An interrupted magnet download resumes with the layers and pieces
 * it had. A peer of ours that lies about the layer is banned, and libtorrent, started after the
 * lie, finishes the download. Our seeder serves a libtorrent leecher that has only the magnet.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseTorrent, torrentFromMetadata, type Metainfo } from '../../src/metainfo/index.js';
import {
  decodeExtendedHandshake,
  decodeHandshake,
  decodeHashMessage,
  decodeMetadataMessage,
  encodeExtendedHandshake,
  encodeHandshake,
  encodeHashMessage,
  encodeMessage,
  encodeMetadataMessage,
  EXTENDED_HANDSHAKE_ID,
  Framer,
  HANDSHAKE_BYTES,
  maxMessageBytes,
  METADATA_PIECE_BYTES,
  reservedBits,
} from '../../src/wire/index.js';
import { expectAlbum, ltCreateV2, writeAlbum } from '../helpers/album.js';
import { bin, runCli } from '../helpers/cli.js';
import { repoRoot } from '../helpers/corpus.js';
import { ltSeed, type LtSeeder } from '../helpers/lt.js';
import { bytes } from '../helpers/make-torrent.js';
import { freeTcpPort } from '../helpers/opentracker.js';
import { waitForPort } from '../helpers/real-clients.js';
import { needs } from '../helpers/requirements.js';
import { scratch } from '../helpers/scratch.js';

const tools = needs('python3-libtorrent');
const PY = '/usr/bin/python3';
const LT_PEER = join(repoRoot, 'test', 'helpers', 'lt_peer.py');
const LT_MAGNET = join(repoRoot, 'test', 'helpers', 'lt_magnet.py');
const sc = scratch('v2-magnet');
const work = sc.root;
const { fresh, start } = sc;
const seedDir = join(work, 'seed');
const album = 'album';
const files: [string, Buffer][] = [
  ['big.bin', bytes(9_000_000, 61)], // 550 pieces of 16 KiB: two hash requests of 512, each with its proof
  ['mid.bin', bytes(300_000, 62)],
  ['small.txt', bytes(6, 63)],
];
const seeders: LtSeeder[] = [];
const closers: (() => Promise<void>)[] = [];

const ltCreate = (kind: '--v2' | '--hybrid'): { path: string; meta: Metainfo } => ltCreateV2(join(seedDir, album), join(work, `${kind.slice(2)}.torrent`), kind, 16384);

const btmh = (meta: Metainfo): string => `magnet:?xt=urn:btmh:1220${meta.infoHashV2!.toString('hex')}&dn=${album}`;

type JsonEvent = Record<string, unknown> & { event: string };
const jsonEvents = (stdout: string): JsonEvent[] =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as JsonEvent);

async function download(magnet: string, out: string, peers: string[], extra: string[] = [], cache = fresh('cache')): Promise<{ code: number | null; stdout: string; stderr: string; saved: string }> {
  const saved = join(out, '..', `${Math.random().toString(36).slice(2)}.torrent`);
  const r = await runCli(['download', magnet, '-o', out, '--port', '0', '--no-dht', '--timeout', '30', '--json', '--save-torrent', saved, ...peers.flatMap((p) => ['--peer', p]), ...extra], {
    env: { TORRENT_CACHE_DIR: cache },
    timeoutMs: 90_000,
  });
  return { ...r, saved };
}

/**
 * A peer of the test's own on the v2 swarm: it serves the metadata (BEP 9) and has every piece,
 * but answers every hash request with hashes of the right count one of which is wrong. Plaintext.
 */
async function startLiar(meta: Metainfo): Promise<{ address: string; lies: () => number; close: () => Promise<void> }> {
  let lies = 0;
  const sockets = new Set<Socket>();
  const info = meta.infoBytes;
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    const framer = new Framer({ maxMessageBytes: maxMessageBytes(meta.pieceCount) });
    let open = false;
    let theirMetadataId: number | null = null;
    s.on('data', (chunk: Buffer) => {
      framer.push(chunk);
      try {
        if (!open) {
          const raw = framer.takeRaw(HANDSHAKE_BYTES);
          if (!raw || !decodeHandshake(raw)) return;
          open = true;
          s.write(encodeHandshake({ reserved: reservedBits({ extensionProtocol: true, dht: false, fast: true }), infoHash: meta.infoHashV2!.subarray(0, 20), peerId: Buffer.from('-LI0001-liarliarliar') }));
          s.write(encodeMessage({ type: 'extended', id: EXTENDED_HANDSHAKE_ID, payload: encodeExtendedHandshake({ m: { ut_metadata: 3 }, metadataSize: info.length }) }));
          s.write(encodeMessage({ type: 'have-all' }));
        }
        for (let m = framer.next(); m !== null; m = framer.next()) {
          if (m.type === 'extended' && m.id === EXTENDED_HANDSHAKE_ID) theirMetadataId = decodeExtendedHandshake(m.payload).m.get('ut_metadata') ?? null;
          else if (m.type === 'extended' && m.id === 3 && theirMetadataId !== null) {
            const r = decodeMetadataMessage(m.payload);
            if (r.type !== 'request') continue;
            const at = r.piece * METADATA_PIECE_BYTES;
            s.write(encodeMessage({ type: 'extended', id: theirMetadataId, payload: encodeMetadataMessage({ type: 'data', piece: r.piece, totalSize: info.length, data: info.subarray(at, at + METADATA_PIECE_BYTES) }) }));
          } else if (m.type === 'unknown' && m.id === 21) {
            const req = decodeHashMessage(Buffer.concat([Buffer.from([21]), m.payload]));
            const count = req.length + Math.max(0, req.proofLayers - Math.log2(req.length) + 1);
            lies++;
            s.write(encodeHashMessage({ ...req, type: 'hashes', hashes: bytes(count * 32, 77 + lies) }));
          }
        }
      } catch {
        s.destroy();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${port}`,
    lies: () => lies,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * A TCP relay to our seeder on `target` that counts, by message id, the messages our side sends
 * (plaintext connections only: it reads the BitTorrent handshake, then length-prefixed frames).
 */
async function startRelay(target: number): Promise<{ port: number; sent: Map<number, number>; close: () => Promise<void> }> {
  const sent = new Map<number, number>();
  const sockets = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = createConnection(target, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    inbound.pipe(outbound);
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
    let buf = Buffer.alloc(0);
    let skip = HANDSHAKE_BYTES;
    outbound.on('data', (d: Buffer) => {
      inbound.write(d);
      buf = Buffer.concat([buf, d]);
      if (skip > 0) {
        const n = Math.min(skip, buf.length);
        buf = buf.subarray(n);
        skip -= n;
      }
      while (skip === 0 && buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0);
        if (len > 0) sent.set(buf[4]!, (sent.get(buf[4]!) ?? 0) + 1);
        buf = buf.subarray(4 + len);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    sent,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

beforeAll(() => writeAlbum(seedDir, album, files));

afterEach(async () => {
  await Promise.all(seeders.splice(0).map((s) => s.stop()));
  await Promise.all(closers.splice(0).map((f) => f()));
  await sc.cleanup();
});

afterAll(() => sc.remove());

describe.skipIf(tools.skip)(`v2 magnets${tools.note}`, () => {
  it.each([['--v2' as const], ['--hybrid' as const]])('downloads a %s torrent from a libtorrent seeder given only its btmh magnet', async (kind) => {
    const t = ltCreate(kind);
    expect(t.meta.pieceLayers.size).toBe(2); // big.bin and mid.bin
    const seeder = await ltSeed(t.path, seedDir);
    seeders.push(seeder);
    const out = fresh('out');
    const r = await download(btmh(t.meta), out, [`127.0.0.1:${seeder.port}`]);
    expect(r.code, r.stderr).toBe(0);
    expectAlbum(out, album, files);
    // The saved .torrent has the info dict libtorrent made and every layer, fetched and verified.
    const saved = parseTorrent(readFileSync(r.saved));
    expect(saved.infoBytes.equals(t.meta.infoBytes)).toBe(true);
    expect(saved.pieceLayers.size).toBe(2);
    for (const [root, layer] of t.meta.pieceLayers) expect(saved.pieceLayers.get(root)!.equals(layer), root).toBe(true);
    expect(jsonEvents(r.stdout).filter((e) => e.event === 'warning')).toEqual([]);
    const verify = await runCli(['verify', r.saved, out]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it('info --fetch of a btmh magnet shows what info shows of the .torrent', async () => {
    const t = ltCreate('--v2');
    const seeder = await ltSeed(t.path, seedDir);
    seeders.push(seeder);
    const fetched = await runCli(['info', btmh(t.meta), '--fetch', '--json', '--no-dht', '--timeout', '30', '--peer', `127.0.0.1:${seeder.port}`], {
      env: { TORRENT_CACHE_DIR: fresh('cache') },
      timeoutMs: 60_000,
    });
    expect(fetched.code, fetched.stderr).toBe(0);
    const direct = await runCli(['info', t.path, '--json']);
    expect(direct.code, direct.stderr).toBe(0);
    const a = JSON.parse(fetched.stdout) as Record<string, unknown>;
    const b = JSON.parse(direct.stdout) as Record<string, unknown>;
    expect(a.infoHashV2).toBe(t.meta.infoHashV2!.toString('hex'));
    // Outside the info dict, so not in the metadata: libtorrent's creator sets a creation date.
    expect({ ...a, creationDate: null }).toEqual({ ...b, creationDate: null });
  });

  it('a hybrid magnet naming both info hashes checks the metadata against both and gets the layers over the v2 upgrade', async () => {
    const t = ltCreate('--hybrid');
    const seeder = await ltSeed(t.path, seedDir);
    seeders.push(seeder);
    const out = fresh('out');
    const magnet = `magnet:?xt=urn:btih:${t.meta.infoHash!.toString('hex')}&xt=urn:btmh:1220${t.meta.infoHashV2!.toString('hex')}&dn=${album}`;
    // Plaintext: libtorrent upgrades a v1 connection to v2 only outside MSE (it keys MSE on the v1 hash).
    const r = await download(magnet, out, [`127.0.0.1:${seeder.port}`], ['--encryption', 'off']);
    expect(r.code, r.stderr).toBe(0);
    expectAlbum(out, album, files);
    expect(parseTorrent(readFileSync(r.saved)).pieceLayers.size).toBe(2);
    const verify = await runCli(['verify', r.saved, out]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it('a v2 .torrent without its piece layers gets them from the libtorrent seeder', async () => {
    const t = ltCreate('--v2');
    const bare = join(fresh('bare'), 'bare.torrent');
    writeFileSync(bare, torrentFromMetadata(t.meta.infoBytes, { trackers: [], urlList: [] }).bytes);
    expect(parseTorrent(readFileSync(bare)).pieceLayers.size).toBe(0);
    const seeder = await ltSeed(t.path, seedDir);
    seeders.push(seeder);
    const out = fresh('out');
    const r = await runCli(['download', bare, '-o', out, '--port', '0', '--no-dht', '--timeout', '30', '-q', '--peer', `127.0.0.1:${seeder.port}`], {
      env: { TORRENT_CACHE_DIR: fresh('cache') },
      timeoutMs: 90_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expectAlbum(out, album, files);
  });

  it('an interrupted magnet download resumes with the layers and pieces it had', async () => {
    const t = ltCreate('--v2');
    const seeder = await ltSeed(t.path, seedDir);
    seeders.push(seeder);
    const out = fresh('out');
    const cache = fresh('cache');
    const magnet = btmh(t.meta);
    const first = start(process.execPath, [bin, 'download', magnet, '-o', out, '--port', '0', '--no-dht', '--json', '--peer', `127.0.0.1:${seeder.port}`, '--download-limit', '1M'], { TORRENT_CACHE_DIR: cache });
    // At least 100 of the 570 pieces are on disk (1 MiB/s: the whole takes about 9 s).
    await first.waitFor(/"verifiedPieces":(1\d\d|[2-9]\d\d),/, 60_000);
    await first.kill('SIGINT');
    expect(await first.exited).toBe(130);
    const r = await download(magnet, out, [`127.0.0.1:${seeder.port}`], [], cache);
    expect(r.code, r.stderr).toBe(0);
    expectAlbum(out, album, files);
    const events = jsonEvents(r.stdout);
    const done = events.find((e) => e.event === 'done')!;
    // Only what was missing came again: the pieces written before the interruption were kept.
    expect(done.downloaded as number).toBeLessThanOrEqual(t.meta.totalLength - 100 * 16384);
    const verify = await runCli(['verify', r.saved, out]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it('bans a peer whose piece-layer hashes do not verify; libtorrent, there after the lie, completes the download', async () => {
    const t = ltCreate('--v2');
    const liar = await startLiar(t.meta);
    closers.push(liar.close);
    const ltPort = await freeTcpPort();
    const out = fresh('out');
    const run = download(btmh(t.meta), out, [liar.address, `127.0.0.1:${ltPort}`], ['--encryption', 'off', '--timeout', '60']);
    // The liar is the only peer up: the metadata and the first hash requests go to it.
    for (let i = 0; i < 300 && liar.lies() === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(liar.lies()).toBeGreaterThan(0);
    const seeder = start(PY, [LT_PEER, 'seed', t.path, seedDir, '--port', String(ltPort)]);
    await seeder.waitFor(/ready (\d+)/, 60_000);
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    expectAlbum(out, album, files);
    const events = jsonEvents(r.stdout);
    const closed = events.filter((e) => e.event === 'peer' && e.address === liar.address && e.state === 'closed');
    expect(closed.some((e) => /^bad-data: sent piece-layer hashes .* do not hash up to its pieces root/.test(String(e.reason)))).toBe(true);
    expect(events.some((e) => e.event === 'warning' && String(e.message).includes(`${liar.address} sent piece-layer hashes`))).toBe(true);
    // Banned: never connected again.
    expect(events.filter((e) => e.event === 'peer' && e.address === liar.address && e.state === 'connected')).toHaveLength(1);
  });

  it('serves a v2 magnet to a libtorrent leecher that has only the btmh magnet: metadata and piece layers from us', async () => {
    const t = ltCreate('--v2');
    const port = await freeTcpPort();
    const ours = start(process.execPath, [bin, 'seed', t.path, seedDir, '--port', String(port), '--no-dht', '-q'], { TORRENT_CACHE_DIR: fresh('cache') });
    await waitForPort(port, 20_000, ours);
    // libtorrent reaches us through a relay that counts the BEP 52 messages we send it: it could
    // also check a small file whole against its root, so finishing alone would prove nothing.
    const relay = await startRelay(port);
    closers.push(relay.close);
    const out = fresh('lt');
    const leech = start(PY, [LT_MAGNET, btmh(t.meta), out, '--peer', `127.0.0.1:${relay.port}`, '--timeout', '60', '--plaintext']);
    expect(await leech.exited, leech.output()).toBe(0);
    expectAlbum(out, album, files);
    expect(relay.sent.get(22) ?? 0).toBeGreaterThan(0); // hashes
    expect(relay.sent.get(23) ?? 0).toBe(0); // no hash reject
  });
});
