/** The session's figures for display and --json: rates summed over live peers, bytes on disk. */
import type { LifecycleKind } from './lifecycle.js';
import type { Core, SessionStats } from './types.js';

export function collectStats(core: Core, state: LifecycleKind): SessionStats {
  const now = core.clock.now();
  let downloadRate = 0;
  let uploadRate = 0;
  let live = 0;
  let encrypted = 0;
  let utp = 0;
  for (const c of core.conns.values()) {
    if (!c.live) continue;
    live++;
    if (c.conn.transport.endsWith('+rc4')) encrypted++;
    if (c.conn.transport.startsWith('utp')) utp++;
    downloadRate += c.conn.download.rate(now);
    uploadRate += c.conn.upload.rate(now);
  }
  const t = core.torrent();
  const p = t?.progress;
  return {
    state,
    downloaded: core.counters.downloaded,
    uploaded: core.counters.uploaded,
    verifiedBytes: p?.writtenWantedBytes ?? 0,
    wantedBytes: p?.wantedBytes ?? 0,
    downloadRate,
    uploadRate,
    peers: live,
    encryptedPeers: encrypted,
    utpPeers: utp,
    webSeeds: t?.webSeeds?.usable ?? 0,
    knownPeers: core.peers.size,
    verifiedPieces: p?.writtenWanted ?? 0,
    wantedPieces: p?.wantedPieces ?? 0,
  };
}
