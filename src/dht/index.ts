/**
 * Mainline DHT (BEP 5): what the session and the CLI import. The bittorrent-dht package stays
 * behind dht.ts.
 */
export {
  ANNOUNCE_TIMEOUT_MS,
  BOOTSTRAP_WAIT_MS,
  DEFAULT_BOOTSTRAP,
  defaultDhtStateFile,
  Dht,
  LOOKUP_INTERVAL_MS,
  MAX_PACKET_BYTES,
  MAX_PEERS_PER_LOOKUP,
  MAX_STATE_NODES,
  sanitizeKrpc,
  type DhtNodeAddress,
  type DhtOptions,
  type DhtStats,
} from './dht.js';
