/**
 * Announce requests for tracker tests: one builder, so every tracker test speaks the same client
 * (peer id `-TS0001-<id>`, key = port) and a change to AnnounceRequest is made once.
 */
import type { AnnounceRequest } from '../../src/tracker/index.js';

/** An announce for `infoHash` from a test client named `id` listening on `port`; `over` wins. */
export function announceRequest(infoHash: Buffer, id: string, port: number, over: Partial<AnnounceRequest> = {}): AnnounceRequest {
  return {
    infoHash,
    peerId: Buffer.from(`-TS0001-${id.padEnd(12, '0')}`),
    port,
    uploaded: 0,
    downloaded: 0,
    left: 1000,
    key: port,
    ...over,
  };
}
