/**
 * The DHT flags (--no-dht, --dht-port, --dht-bootstrap) turned into a DhtStarter for the session
 * (which starts the DHT in the background without holding up any other peer source), and
 * `fetchMetadata` for `info --fetch`: a session that stops once the magnet's metadata is verified.
 *
 * TORRENT_DHT_BOOTSTRAP (comma-separated host:port, empty = none) replaces the public routers as
 * the default bootstrap: the test suite sets it empty so no test ever contacts the internet.
 */
import type { DhtStarter } from '../discovery/index.js';
import type { EncryptionMode, TransportMode } from '../session/index.js';
import { InternalError, InterruptedError, UsageError } from '../errors.js';
import { parsePeerAddress, type Magnet, type Metainfo } from '../metainfo/index.js';
import { defaultCacheDir } from '../storage/index.js';

/**
 * get_peers again this often while a download runs: a peer that announces itself after our
 * first lookup (a new seeder, or one that only learns of our node from that lookup) is found
 * within seconds, not at the next regular round.
 */
const LOOKUP_INTERVAL_MS = 15_000;

export interface DhtFlags {
  /** commander: false for --no-dht */
  dht?: boolean;
  /** Parsed by commander (intArg). */
  dhtPort?: number;
  dhtBootstrap: string[];
}

function bootstrapList(
  flags: DhtFlags,
  env: NodeJS.ProcessEnv,
  defaults: readonly { host: string; port: number }[],
): { host: string; port: number }[] {
  const given = flags.dhtBootstrap.length > 0 ? flags.dhtBootstrap : env.TORRENT_DHT_BOOTSTRAP !== undefined ? env.TORRENT_DHT_BOOTSTRAP.split(',').filter(Boolean) : null;
  if (given === null) return [...defaults];
  return given.map((text) => {
    const a = parsePeerAddress(text.trim());
    if (!a) throw new UsageError(`--dht-bootstrap ${text}: expected host:port`);
    return a;
  });
}

/**
 * How the session may start the DHT, or null with --no-dht. The flags are checked now (a bad
 * --dht-port is a usage error before anything starts); the DHT itself starts when the session
 * asks, and a failure to start is a warning, not a failed download.
 */
export function dhtStarter(flags: DhtFlags, onWarning: (m: string) => void): DhtStarter | null {
  if (flags.dht === false) return null;
  const port = flags.dhtPort ?? 0;
  const env = process.env;
  return async () => {
    // Loaded only when a DHT is wanted: `torrent info` and friends never pay for the package.
    const { DEFAULT_BOOTSTRAP, defaultDhtStateFile, Dht } = await import('../dht/index.js');
    const bootstrap = bootstrapList(flags, env, DEFAULT_BOOTSTRAP);
    try {
      return await Dht.start({ port, bootstrap, stateFile: defaultDhtStateFile(defaultCacheDir()), onWarning, lookupIntervalMs: LOOKUP_INTERVAL_MS });
    } catch (e) {
      onWarning(`DHT not started: ${(e as Error).message}`);
      return null;
    }
  };
}

export interface FetchedTorrent {
  meta: Metainfo;
  bytes: Buffer;
}

/** The magnet's metadata from peers (BEP 9), verified against its info hash, by a session that stops there. */
export async function fetchMetadata(opts: {
  magnet: Magnet;
  extraTrackers: string[];
  extraPeers: { host: string; port: number }[];
  dht: DhtStarter | null;
  port: number;
  timeoutMs: number | null;
  encryption: EncryptionMode;
  transport: TransportMode;
  onWarning: (m: string) => void;
}): Promise<FetchedTorrent> {
  const { TorrentSession } = await import('../session/index.js');
  const session = new TorrentSession({
    input: { kind: 'magnet', magnet: opts.magnet },
    metadataOnly: true,
    outputDir: '.',
    openStorage: () => {
      throw new UsageError('info --fetch stores nothing');
    },
    port: opts.port,
    portSearch: false,
    maxPeers: 50,
    peers: opts.extraPeers,
    trackers: opts.extraTrackers,
    timeoutMs: opts.timeoutMs,
    cacheDir: null,
    seed: false,
    dht: opts.dht,
    encryption: opts.encryption,
    transport: opts.transport,
  });
  let interrupted: 'SIGINT' | 'SIGTERM' | null = null;
  const onInt = (): void => {
    interrupted = 'SIGINT';
    void session.stop();
  };
  const onTerm = (): void => {
    interrupted = 'SIGTERM';
    void session.stop();
  };
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  let fetched: FetchedTorrent | null = null;
  const events = (async () => {
    for await (const e of session.events) {
      if (e.type === 'metadata') fetched = { meta: e.meta, bytes: e.torrent };
      else if (e.type === 'warning') opts.onWarning(e.message);
    }
  })();
  try {
    await session.start();
    const end = await session.finished;
    await events;
    if (end.kind === 'failed') throw end.error;
    if (interrupted) throw new InterruptedError(interrupted);
    if (!fetched) throw new InternalError('the metadata session ended without metadata');
    return fetched;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
