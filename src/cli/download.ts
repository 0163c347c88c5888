/**
 * `torrent download <file.torrent>` and `torrent seed <file.torrent> [dir]`: flags -> SessionOptions.
 * The engine is imported when a command runs, so `torrent info` never loads it.
 */
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { InputError, UsageError } from '../errors.js';
import { parsePeerAddress, parseSelect, type Metainfo } from '../metainfo/index.js';
import type { DhtStarter } from '../discovery/index.js';
import type { EncryptionMode, SessionOptions, TorrentStorage, TransportMode } from '../session/index.js';
import { defaultCacheDir, FileStorage, MemoryStorage } from '../storage/index.js';
import { readTorrentInput } from './input.js';
import { collect, intArg, peerArg, rateArg, ratioArg, urlArg } from './options.js';
import { dhtStarter, type DhtFlags } from './peer-sources.js';
import type { StreamRange } from './stream-out.js';

/** Flag values as commander hands them over, already parsed and checked (cli/options.ts). */
interface PeerFlags extends DhtFlags {
  port?: number;
  maxPeers: number;
  peer: { host: string; port: number }[];
  tracker: string[];
  quiet?: boolean;
  json?: boolean;
  files?: boolean;
  seedRatio?: number;
  seedTime?: number;
  uploadLimit?: number;
  downloadLimit?: number;
  encryption: EncryptionMode;
  transport: TransportMode;
  /** commander: false for --no-web-seeds */
  webSeeds?: boolean;
}

interface DownloadFlags extends PeerFlags {
  output: string;
  select?: string;
  timeout?: number;
  seed?: boolean;
  stdout?: boolean;
  /** commander sets false for --no-save */
  save?: boolean;
  saveTorrent?: string;
}

/** Read-ahead for --stdout: enough pieces in flight to keep a fast link busy. */
const STREAM_WINDOW_BYTES = 32 * 1024 * 1024;
const MIN_STREAM_WINDOW_PIECES = 8;

/** The one file --stdout streams, as a byte range of the torrent. */
function streamRange(meta: Metainfo, selected: Set<number> | null): StreamRange {
  const candidates = meta.files.map((f, i) => ({ f, i })).filter(({ f, i }) => !f.pad && (selected === null || selected.has(i)));
  if (candidates.length !== 1) {
    throw new UsageError(`--stdout streams one file; this selection has ${candidates.length}`, {
      hint: 'pick one with --select <index> (see torrent info)',
    });
  }
  const { f } = candidates[0]!;
  const end = Math.max(f.offset, f.offset + f.length - 1);
  return {
    offset: f.offset,
    length: f.length,
    firstPiece: Math.floor(f.offset / meta.pieceLength),
    lastPiece: Math.floor(end / meta.pieceLength),
    pieceLength: meta.pieceLength,
  };
}

interface SeedFlags extends PeerFlags {
  requireComplete?: boolean;
}

const DEFAULT_PORT = 6881;

function peerOptions(cmd: Command): Command {
  return cmd
    .option('--port <n>', `port to accept peers on (default ${DEFAULT_PORT}, or the next free one; 0 = any)`, intArg(0, 65535))
    .option('--max-peers <n>', 'most peer connections at once', intArg(1, 1000), 50)
    .option('--peer <host:port>', 'also connect to this peer (repeatable)', peerArg, [])
    .option('--tracker <url>', 'also announce to this tracker (repeatable; ignored for private torrents)', urlArg(['http:', 'https:', 'udp:']), [])
    .option('--seed-ratio <r>', 'stop seeding once uploaded = r x the size (exit 0)', ratioArg)
    .option('--seed-time <minutes>', 'stop seeding after this many minutes (exit 0)', intArg(0, 10 ** 7))
    .option('--upload-limit <rate>', 'upload at most this fast, e.g. 500K or 10M (bytes a second)', rateArg)
    .option('--download-limit <rate>', 'download at most this fast, e.g. 500K or 10M (bytes a second, peers and web seeds together)', rateArg)
    .addOption(
      new Option('--encryption <mode>', 'prefer: MSE handshake when the peer speaks it (RC4 payload if it asks); require: RC4-encrypted peers only; off: plaintext only')
        .choices(['prefer', 'require', 'off'])
        .default('prefer'),
    )
    .addOption(new Option('--transport <kind>', 'how to reach peers: tcp, utp or both').choices(['tcp', 'utp', 'both']).default('both'))
    .option('--no-web-seeds', 'do not download from the HTTP servers the torrent lists (BEP 19 url-list, BEP 17 httpseeds)')
    .option('--no-dht', 'do not use the DHT (BEP 5) to find peers')
    .option('--dht-port <n>', 'UDP port for the DHT (default: any)', intArg(0, 65535))
    .option('--dht-bootstrap <host:port>', 'bootstrap the DHT from this node instead of the public routers (repeatable)', collect, [])
    .option('--json', 'newline-delimited JSON events on stdout (see README)')
    .option('--files', 'on a terminal, also show one progress bar per file')
    .option('-q, --quiet', 'no progress output on stderr');
}

export function registerDownload(program: Command): void {
  peerOptions(
    program
      .command('download')
      .description('download a torrent, verifying every piece before it is written')
      .argument('<torrent>', 'a .torrent file, a magnet URI, or - for stdin')
      .option('-o, --output <dir>', 'folder to save into', '.')
      .option('--save-torrent <file>', 'for a magnet URI: also write the fetched .torrent here')
      .option('--select <list>', 'file indexes to download, as `torrent info` lists them, e.g. 0,2-4')
      .option('--timeout <seconds>', 'give up (exit 1) when no data has arrived for this long', intArg(1, 10 ** 7))
      .option('--seed', 'keep seeding after the download completes, until Ctrl-C, --seed-ratio or --seed-time')
      .option('--stdout', "write the file's bytes to stdout in order as they verify (one file: single-file torrent or --select of one)")
      .option('--no-save', 'with --stdout: keep nothing on disk (memory stays bounded)'),
  ).action(async (arg: string, flags: DownloadFlags) => {
    // Every flag is checked before anything starts (a magnet's metadata fetch included).
    const peer = peerSettings(flags);
    const timeoutMs = flags.timeout === undefined ? null : flags.timeout * 1000;
    const input = await readTorrentInput(arg);
    checkFlags(flags, input.kind === 'magnet');
    const noSave = flags.save === false;
    const outputDir = resolve(flags.output);
    const select = (meta: Metainfo): Set<number> | null => (flags.select === undefined ? null : selection(meta, flags.select));
    const { runSession } = await import('./run-session.js');
    await runSession(
      {
        ...sessionOptions(peer, outputDir, input.kind === 'torrent' && input.meta.private, flags),
        input: input.kind === 'magnet' ? { kind: 'magnet', magnet: input.magnet } : { kind: 'torrent', meta: input.meta },
        openStorage: (meta) => openStorage(meta, outputDir, select(meta), noSave),
        select,
        timeoutMs,
        seed: wantsSeeding(flags),
        noSave,
        stream: flags.stdout
          ? (meta) => {
              const r = streamRange(meta, select(meta));
              return {
                firstPiece: r.firstPiece,
                lastPiece: r.lastPiece,
                windowPieces: Math.max(MIN_STREAM_WINDOW_PIECES, Math.ceil(STREAM_WINDOW_BYTES / meta.pieceLength)),
                hard: noSave,
              };
            }
          : undefined,
      },
      flags,
      flags.stdout ? (meta) => streamRange(meta, select(meta)) : null,
    );
  });
}

const wantsSeeding = (flags: DownloadFlags): boolean =>
  flags.seed === true || flags.seedRatio !== undefined || flags.seedTime !== undefined;

/** Flag combinations that cannot work, refused before anything starts (a magnet's fetch included). */
function checkFlags(flags: DownloadFlags, isMagnet: boolean): void {
  if (flags.save === false && !flags.stdout) throw new UsageError('--no-save only makes sense with --stdout');
  if (flags.stdout && flags.json) throw new UsageError('--stdout and --json both want stdout: pick one');
  if (flags.save === false && wantsSeeding(flags)) throw new UsageError('--no-save keeps nothing to seed: drop --seed');
  if (flags.saveTorrent && !isMagnet) throw new UsageError('--save-torrent is for magnet URIs: the .torrent is already a file');
}

export function registerSeed(program: Command): void {
  peerOptions(
    program
      .command('seed')
      .description('check the data of a torrent in a folder and seed it')
      .argument('<torrent>', 'a .torrent file (or - for stdin)')
      .argument('[dir]', 'the folder that holds the data (what download -o used)', '.')
      .option('--require-complete', 'exit 1 instead of seeding when the data is incomplete'),
  ).action(async (arg: string, dir: string, flags: SeedFlags) => {
    const peer = peerSettings(flags);
    const meta = await readTorrentFile(arg);
    const outputDir = resolve(dir);
    const { runSession } = await import('./run-session.js');
    await runSession(
      {
        ...sessionOptions(peer, outputDir, meta.private, flags),
        input: { kind: 'torrent', meta },
        openStorage: (m) => openStorage(m, outputDir, null, false),
        timeoutMs: null,
        seedOnly: true,
        seed: true,
        requireComplete: flags.requireComplete === true,
      },
      flags,
    );
  });
}

async function readTorrentFile(arg: string): Promise<Metainfo> {
  const input = await readTorrentInput(arg);
  if (input.kind === 'magnet') {
    throw new InputError('ERR_BAD_MAGNET', 'seeding needs the data and its .torrent file, not a magnet URI', {
      hint: 'torrent download <magnet> --save-torrent x.torrent writes one',
    });
  }
  return input.meta;
}

/** The flags shared by download and seed, parsed and checked. */
interface PeerSettings {
  port: number;
  portSearch: boolean;
  maxPeers: number;
  peers: { host: string; port: number }[];
  seedRatio: number | null;
  seedTimeMs: number | null;
  uploadLimit: number | null;
  downloadLimit: number | null;
  encryption: EncryptionMode;
  transport: TransportMode;
  webSeeds: boolean;
  dht: DhtStarter | null;
}

function peerSettings(flags: PeerFlags): PeerSettings {
  return {
    port: flags.port ?? DEFAULT_PORT,
    portSearch: flags.port === undefined,
    maxPeers: flags.maxPeers,
    peers: flags.peer,
    seedRatio: flags.seedRatio ?? null,
    seedTimeMs: flags.seedTime === undefined ? null : flags.seedTime * 60_000,
    uploadLimit: flags.uploadLimit ?? null,
    downloadLimit: flags.downloadLimit ?? null,
    encryption: flags.encryption,
    transport: flags.transport,
    webSeeds: flags.webSeeds !== false,
    dht: dhtStarter(flags, (m) => {
      if (!flags.quiet) process.stderr.write(`warning: ${m}\n`);
    }),
  };
}

function sessionOptions(
  peer: PeerSettings,
  outputDir: string,
  isPrivate: boolean,
  flags: PeerFlags,
): Omit<SessionOptions, 'input' | 'openStorage' | 'timeoutMs' | 'seed'> {
  if (isPrivate && flags.tracker.length > 0 && !flags.quiet) {
    process.stderr.write('torrent: warning: private torrent (BEP 27): --tracker ignored, only its own trackers are used\n');
  }
  return {
    outputDir,
    port: peer.port,
    portSearch: peer.portSearch,
    maxPeers: peer.maxPeers,
    peers: peer.peers,
    trackers: flags.tracker,
    cacheDir: defaultCacheDir(),
    seedRatio: peer.seedRatio,
    seedTimeMs: peer.seedTimeMs,
    uploadLimit: peer.uploadLimit,
    downloadLimit: peer.downloadLimit,
    encryption: peer.encryption,
    transport: peer.transport,
    webSeeds: peer.webSeeds,
    dht: peer.dht,
  };
}

/** Where the data goes: files under outputDir, or memory only with --no-save. */
function openStorage(meta: Metainfo, outputDir: string, selected: ReadonlySet<number> | null, noSave: boolean): TorrentStorage {
  if (noSave) {
    const last = meta.totalLength - meta.pieceLength * (meta.pieceCount - 1);
    return { store: new MemoryStorage((p) => (p === meta.pieceCount - 1 ? last : meta.pieceLength)), disk: null };
  }
  const files = new FileStorage({ root: outputDir, meta, selected });
  return { store: files, disk: files };
}

/** `--select 0,2-4` (indexes as `torrent info` lists files: pad files not counted) -> meta.files indexes. */
function selection(meta: Metainfo, text: string): Set<number> {
  let wanted: number[];
  try {
    wanted = parseSelect(text);
  } catch (e) {
    throw new UsageError(`--select ${text}: ${(e as Error).message}`);
  }
  const listed: number[] = [];
  meta.files.forEach((f, i) => {
    if (!f.pad) listed.push(i);
  });
  const out = new Set<number>();
  for (const i of wanted) {
    const fileIndex = listed[i];
    if (fileIndex === undefined) throw new UsageError(`--select ${text}: the torrent has files 0 to ${listed.length - 1}`);
    out.add(fileIndex);
  }
  return out;
}
