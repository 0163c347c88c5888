/** Where peers come from: one stream of addresses per torrent (see discovery.ts). */
export { Discovery, MAX_BATCH, MAX_PER_SOURCE_PER_MINUTE, type DhtStarter, type DiscoveredPeer, type DiscoveryOptions, type PeerSource } from './discovery.js';
