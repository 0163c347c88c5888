/**
 * The DHT flags (--no-dht, --dht-port, --dht-bootstrap) and the magnet metadata phase, shared by
 * `download` and `info --fetch`.
 *
 * TORRENT_DHT_BOOTSTRAP (comma-separated host:port, empty = none) replaces the public routers as
 * the default bootstrap: the test suite sets it empty so no test ever contacts the internet.
 */
import { writeFile } from 'node:fs/promises';
import type { Dht } from '../dht/index.js';
import { InterruptedError, RuntimeError, UsageError } from '../errors.js';
import { parsePeerAddress, torrentFromMetadata, type Magnet, type Metainfo } from '../metainfo/index.js';
import { MetadataFetch } from '../session/metadata-fetch.js';
import { defaultCacheDir } from '../storage/resume.js';
import { intOption } from './options.js';

/**
 * get_peers again this often while a download runs: a peer that announces itself after our
 * first lookup (a new seeder, or one that only learns of our node from that lookup) is found
 * within seconds, not at the next regular round.
 */
const LOOKUP_INTERVAL_MS = 15_000;

export interface DhtFlags {
  /** commander: false for --no-dht */
  dht?: boolean;
  dhtPort?: string;
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

/** Starts the DHT unless --no-dht (or the torrent is private: BEP 27). */
export async function startDht(flags: DhtFlags, isPrivate: boolean, onWarning: (m: string) => void): Promise<Dht | null> {
  if (flags.dht === false || isPrivate) return null;
  // Loaded only when a DHT is wanted: `torrent info` and friends never pay for the package.
  const { DEFAULT_BOOTSTRAP, defaultDhtStateFile, Dht } = await import('../dht/index.js');
  const bootstrap = bootstrapList(flags, process.env, DEFAULT_BOOTSTRAP);
  const port = flags.dhtPort === undefined ? 0 : intOption('--dht-port', flags.dhtPort, 0, 65535);
  try {
    return await Dht.start({ port, bootstrap, stateFile: defaultDhtStateFile(defaultCacheDir()), onWarning, lookupIntervalMs: LOOKUP_INTERVAL_MS });
  } catch (e) {
    onWarning(`DHT not started: ${(e as Error).message}`);
    return null;
  }
}

export interface FetchedTorrent {
  meta: Metainfo;
  bytes: Buffer;
  peers: { host: string; port: number }[];
}

/** The magnet's metadata from peers (BEP 9), verified against its info hash; --save-torrent writes it. */
export async function fetchMetadata(opts: {
  magnet: Magnet;
  extraTrackers: string[];
  extraPeers: { host: string; port: number }[];
  dht: Dht | null;
  port: number;
  timeoutMs: number | null;
  saveTorrent?: string;
  onWarning: (m: string) => void;
}): Promise<FetchedTorrent> {
  if (!opts.magnet.infoHash) {
    throw new RuntimeError('ERR_BAD_MAGNET', 'a v2-only magnet cannot be fetched yet (no v1 info hash)');
  }
  const trackers = [...opts.magnet.trackers, ...opts.extraTrackers];
  const fetch = new MetadataFetch({
    magnet: opts.magnet,
    trackers: trackers.length > 0 ? [trackers] : [],
    peers: [...opts.magnet.peers, ...opts.extraPeers],
    dht: opts.dht,
    port: opts.port,
    timeoutMs: opts.timeoutMs,
    onWarning: opts.onWarning,
  });
  const onInt = (): void => fetch.cancel(new InterruptedError('SIGINT'));
  const onTerm = (): void => fetch.cancel(new InterruptedError('SIGTERM'));
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  try {
    const { infoBytes, peers } = await fetch.run();
    const { bytes, meta } = torrentFromMetadata(infoBytes, opts.magnet);
    if (opts.saveTorrent) await writeFile(opts.saveTorrent, bytes);
    return { meta, bytes, peers };
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
