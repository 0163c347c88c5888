/**
 * BEP 11 for the session: each PEX peer hears which of our peers came and went since its last
 * message, at most once a PEX_INTERVAL_MS. A peer is named by where it listens: the address we
 * dialled, or its BEP 10 `p` (an incoming connection's source port is not where it listens).
 */
import { addrKey, peerAddr, type PeerAddr } from '../util/address.js';
import { PEX_INTERVAL_MS } from '../wire/index.js';
import { pexUpdate } from './extensions.js';
import type { LivePeer } from './live-peer.js';

export function sendPex(live: readonly LivePeer[], now: number): void {
  const current = new Map<string, PeerAddr>();
  const listenAddr = (p: LivePeer): PeerAddr | null =>
    p.conn.outgoing ? p.conn.address : p.ext.listenPort ? peerAddr(p.conn.address.host, p.ext.listenPort) : null;
  for (const p of live) {
    const a = listenAddr(p);
    if (a) current.set(addrKey(a), a);
  }
  for (const p of live) {
    if (p.ext.pex === undefined || now - p.lastPexAt < PEX_INTERVAL_MS) continue;
    const self = listenAddr(p);
    const payload = pexUpdate(current, p.pexSent, self ? addrKey(self) : null);
    if (!payload) continue;
    p.lastPexAt = now;
    p.conn.send({ type: 'extended', id: p.ext.pex, payload });
  }
}
