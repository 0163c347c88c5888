/**
 * What the session's clock does to each live peer once a tick, and when --timeout gives up:
 * policies, pure apart from the messages they send or the connections they close.
 */
import { RuntimeError } from '../errors.js';
import type { LifecycleKind } from './lifecycle.js';
import type { LivePeer } from './live-peer.js';

/** BEP 3: peers drop connections silent for two minutes; a keep-alive every 90 s avoids it. */
export const KEEPALIVE_MS = 90_000;
/** No whole message for this long: the peer is gone. */
export const IDLE_TIMEOUT_MS = 150_000;
/** In the metadata phase, a peer that has not said it serves metadata by now gives way when room is needed. */
export const METADATA_HANDSHAKE_MS = 10_000;

/** Keep-alives, idle peers, seeds meeting seeds, peers useless in the metadata phase. */
export function maintainPeer(p: LivePeer, now: number, state: LifecycleKind, setIsFull: boolean): void {
  const c = p.conn;
  if (now - c.lastReceivedAt > IDLE_TIMEOUT_MS) c.close('idle', 'silent for too long');
  else if (state === 'seeding' && p.isSeed) c.close('not-useful', 'both sides are seeds');
  else if (state === 'fetching-metadata' && now - p.since > METADATA_HANDSHAKE_MS && !servesMetadata(p) && setIsFull) {
    c.close('not-useful', 'does not serve the metadata');
  } else if (now - c.lastSentAt > KEEPALIVE_MS) c.send({ type: 'keep-alive' });
}

function servesMetadata(p: LivePeer): boolean {
  return p.ext.metadata !== undefined && (p.ext.metadataSize ?? 0) > 0;
}

/** The error --timeout ends a run with, saying what was missing: peers, data or metadata. */
export function timeoutError(state: 'downloading' | 'fetching-metadata', timeoutMs: number, open: number, known: number): RuntimeError {
  const s = Math.round(timeoutMs / 1000);
  if (state === 'fetching-metadata') {
    return new RuntimeError('ERR_NO_PEERS', open > 0 ? `no metadata from ${open} connected peer(s) in ${s} s` : `no peer with the metadata found in ${s} s (${known} known)`, {
      hint: 'a magnet needs peers: add trackers (tr=, --tracker), --peer, or let the DHT run longer',
    });
  }
  const why = open > 0 ? `no data for ${s} s from ${open} connected peer(s)` : known === 0 ? `no peers found in ${s} s` : `could not get data from any of ${known} known peer(s) in ${s} s`;
  return new RuntimeError('ERR_NO_PEERS', why, { hint: 'check the trackers, or add peers with --peer host:port' });
}
