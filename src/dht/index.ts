/**
 * Mainline DHT (BEP 5): what the session and the CLI import. The bittorrent-dht package stays
 * behind dht.ts.
 */
export { DEFAULT_BOOTSTRAP, defaultDhtStateFile, Dht, type DhtNodeAddress, type DhtOptions, type DhtStats } from './dht.js';
export { MAX_STATE_NODES } from './state-file.js';
