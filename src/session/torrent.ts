/**
 * The owners that exist once a torrent's metadata is known, built and wired together: picker,
 * progress, storage, assembler, request scheduler (with the --download-limit budget), uploader
 * (with the --upload-limit bucket and the read cache), resume saver, --stdout window, web seeds.
 * Their events go to the `hooks` the coordinator gives; nothing here decides the lifecycle.
 */
import type { Metainfo } from '../metainfo/index.js';
import { PiecePicker } from '../picker/index.js';
import { PieceMap } from '../storage/piece-map.js';
import { ReadCache } from '../storage/read-cache.js';
import { resumePath } from '../storage/resume.js';
import type { TimerHandle } from '../util/clock.js';
import { TokenBucket } from '../util/token-bucket.js';
import { BLOCK_SIZE } from '../wire/index.js';
import { PieceAssembler } from './piece-assembler.js';
import { Progress } from './progress.js';
import { RequestScheduler } from './request-scheduler.js';
import { ResumeSaver } from './resume-saver.js';
import { StreamWindow } from './stream-window.js';
import type { Core, Torrent } from './types.js';
import { Uploader } from './uploader.js';
import { pieceVerifier, streamsSha1 } from './verify.js';
import { WebSeeds } from './web-seeds.js';

/** Pieces kept in memory to serve uploads (whole pieces, LRU). */
const READ_CACHE_BYTES = 32 * 1024 * 1024;

export interface TorrentHooks {
  /** The picker has the piece (it passed its check); `written` follows once it is on disk. */
  verified(piece: number): void;
  written(piece: number): void;
  failed(piece: number, liars: number[]): void;
  diskBusy(busy: boolean): void;
  readError(piece: number, error: Error): void;
  /** Pieces found changed on disk (by a resume save). */
  forget(pieces: readonly number[]): void;
}

export function buildTorrent(meta: Metainfo, core: Core, hooks: TorrentHooks): Torrent {
  const { o, clock } = core;
  const verify = pieceVerifier(meta);
  const picker = new PiecePicker({ pieceCount: meta.pieceCount, pieceLength: meta.pieceLength, totalLength: meta.totalLength, random: core.random });
  const map = new PieceMap(meta.files, meta.pieceLength, meta.totalLength);
  const progress = new Progress(meta, map, o.select?.(meta) ?? null);
  for (let p = 0; p < meta.pieceCount; p++) picker.setWanted(p, progress.wanted.has(p));
  const storage = o.openStorage(meta);
  const assembler = new PieceAssembler({
    picker,
    storage: storage.store,
    verify,
    streamSha1: streamsSha1(meta),
    pieceLength: meta.pieceLength,
    storeKeepsBuffers: storage.disk === null,
    events: {
      verified: (p) => core.guard(() => hooks.verified(p)),
      written: (p) => core.guard(() => hooks.written(p)),
      failed: (p, liars) => core.guard(() => hooks.failed(p, liars)),
      liars: (p, liars) => core.guard(() => core.banIds(liars, `sent bad data for piece ${p}`, p)),
      diskError: (e) => core.fail(e),
      diskBusy: (busy) => core.guard(() => hooks.diskBusy(busy)),
    },
  });
  // One piece being assembled per source (peers and web seeds in use: none with --no-web-seeds,
  // nor one found dead) may be in memory: see MIN/MAX_UNVERIFIED_BYTES.
  const sources = (): number => core.peers.liveCount + (webSeeds?.usable ?? 0);
  const roomForNewPiece = (): boolean => assembler.roomForNewPiece(sources());
  const limit = o.downloadLimit ?? null;
  // Bursts of at most a quarter second of the limit (and never less than 4 blocks): requests
  // leave at the limit's pace, so pipelines stay full without a burst-then-stall pattern.
  const downBucket = limit ? new TokenBucket(limit, Math.max(limit / 4, 4 * BLOCK_SIZE), clock.now()) : null;
  let budgetTimer: TimerHandle | null = null;
  const scheduler: RequestScheduler = new RequestScheduler({
    picker,
    downloading: () => core.life().kind === 'downloading',
    diskBusy: () => assembler.diskBusy,
    roomForNewPiece,
    // Peers still connecting count too: a swarm's first peers must not take the share of those
    // that are a round trip or two from being live.
    unverifiedShare: () => {
      const n = sources() + core.peers.connectingCount;
      return assembler.unverifiedCap(n) / Math.max(1, n);
    },
    now: () => clock.now(),
    peer: (id) => core.conns.get(id)?.live ?? undefined,
    budget: downBucket ? (n) => downBucket.take(n, clock.now()) : undefined,
    retryIn: (ms) => {
      budgetTimer ??= clock.setTimeout(() => {
        budgetTimer = null;
        core.guard(() => scheduler.updateAll(core.livePeers()));
      }, ms);
    },
  });
  const uploader = new Uploader({
    cache: o.noSave ? null : new ReadCache(storage.store, READ_CACHE_BYTES),
    bucket: o.uploadLimit ? new TokenBucket(o.uploadLimit, Math.max(o.uploadLimit, 4 * BLOCK_SIZE), clock.now()) : null,
    clock,
    random: core.random,
    canServe: (p) => p < meta.pieceCount && progress.written.has(p),
    pieceSize: (p) => map.pieceSize(p),
    onUploaded: (n) => (core.counters.uploaded += n),
    onReadError: (p, e) => core.guard(() => hooks.readError(p, e)),
  });
  const hex = core.infoHash.toString('hex');
  const resume =
    storage.disk && o.cacheDir
      ? new ResumeSaver({
          path: resumePath(o.cacheDir, hex, o.outputDir),
          infoHashHex: hex,
          pieceCount: meta.pieceCount,
          disk: storage.disk,
          written: progress.written,
          onWarning: (m) => core.warn(m),
          forget: (pieces) => core.guard(() => hooks.forget(pieces)),
        })
      : null;
  const plan = o.stream?.(meta) ?? null;
  const stream = plan ? new StreamWindow(plan, picker) : null;
  if (stream && plan) stream.advance(plan.firstPiece);
  const webSeeds =
    o.webSeeds !== false && (meta.urlList.length > 0 || meta.httpSeeds.length > 0)
      ? new WebSeeds(meta, {
          picker,
          assembler,
          clock,
          canFetch: () => core.life().kind === 'downloading' && !assembler.diskBusy,
          roomForNewPiece,
          budget: (n) => (downBucket ? downBucket.take(n, clock.now()) : 0),
          onProgress: (n) => {
            core.counters.downloaded += n;
            core.counters.lastProgressAt = clock.now();
          },
          cancelOthers: (ids, piece, block) => {
            for (const id of ids) core.conns.get(id)?.conn.cancel(piece, block);
          },
          onWarning: (m) => core.warn(m),
          wake: () => core.guard(() => core.torrent()?.webSeeds?.fill()),
        })
      : null;
  return {
    meta,
    picker,
    map,
    progress,
    storage,
    assembler,
    scheduler,
    uploader,
    resume,
    stream,
    webSeeds,
    dispose: () => budgetTimer?.cancel(),
  };
}
