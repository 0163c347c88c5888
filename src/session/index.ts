/** One torrent's session (see session.ts and STATE.md): what the CLI needs of it. */
export { TorrentSession } from './session.js';
export type { SessionEvent, SessionOptions, SessionStats, TorrentStorage } from './types.js';
export type { Lifecycle, LifecycleKind } from './lifecycle.js';
export type { StreamPlan } from './stream-window.js';
export { tcpDialer, type Dialer, type DialResult, type EncryptionMode, type TransportMode } from './connector.js';
