/**
 * The DHT routing table file: our node id (so a restart keeps its place in the keyspace) and the
 * nodes worth asking first next time, as JSON:
 *
 *   {"version":1,"id":"<40 hex>","nodes":[{"host":"1.2.3.4","port":6881,"id":"<40 hex>"},...]}
 *
 * Pure: bytes in, a table or the reason it was refused out; contacts in, file bytes out. Reading,
 * writing and renaming the file stay in dht.ts.
 *
 * Invariants: parseStateFile never throws, whatever the bytes; what it returns holds at most
 * MAX_STATE_NODES nodes, each a routable IPv4 address with a port in 1..65535 and a 20-byte id
 * other than ours. encodeStateFile writes at most MAX_STATE_NODES nodes, most recently seen first.
 * The file is a cache we wrote ourselves, so a bad entry is skipped and a bad file ignored: neither
 * is ever an error.
 */
import { isIPv4 } from 'node:net';
import { isPort, isUnicastIPv4 } from '../util/address.js';
import { ID_BYTES } from './krpc.js';

/** Nodes kept in the state file: a full Kademlia table holds a few hundred; more is stale weight. */
export const MAX_STATE_NODES = 1000;
/** A state file larger than this is not ours (1000 nodes are about 90 KB of JSON). */
export const MAX_STATE_BYTES = 512 * 1024;
/** Node ids (ID_BYTES, SHA-1 size) written as 40 lower-case hex digits. */
const ID_HEX = /^[0-9a-f]{40}$/;

/** The file's JSON, as written. */
interface StateFile {
  version: 1;
  id: string;
  nodes: { host: string; port: number; id: string }[];
}

export interface StateNode {
  host: string;
  port: number;
  id: Buffer;
}

/** What a later start needs from the file: our node id and the nodes to seed the table with. */
export interface RoutingState {
  id: Buffer;
  nodes: StateNode[];
}

export type ParsedState = { ok: true; state: RoutingState } | { ok: false; reason: string };

/** A routing table contact as bittorrent-dht (k-bucket) hands it out; `seen` is its last-heard time in ms. */
export interface StateContact {
  id: Buffer;
  host: string;
  port: number;
  seen?: number;
}

/**
 * The table a state file holds, or why the whole file is refused (too large, not JSON, not our
 * shape). Entries that are not a usable node (a bad address, port or id, or our own id) are
 * skipped one by one; only the first MAX_STATE_NODES entries are looked at.
 */
export function parseStateFile(buf: Buffer): ParsedState {
  const bad = (reason: string): ParsedState => ({ ok: false, reason });
  if (buf.length > MAX_STATE_BYTES) return bad(`larger than ${MAX_STATE_BYTES} bytes`);
  let d: unknown;
  try {
    d = JSON.parse(buf.toString('utf8'));
  } catch {
    return bad('not JSON');
  }
  if (typeof d !== 'object' || d === null) return bad('not a routing table');
  const s = d as Partial<Record<keyof StateFile, unknown>>;
  if (s.version !== 1 || typeof s.id !== 'string' || !ID_HEX.test(s.id) || !Array.isArray(s.nodes)) {
    return bad('not a routing table');
  }
  const nodes: StateNode[] = [];
  for (const n of s.nodes.slice(0, MAX_STATE_NODES) as unknown[]) {
    if (typeof n !== 'object' || n === null) continue;
    const { host, port, id } = n as Record<string, unknown>;
    if (typeof host !== 'string' || !isIPv4(host) || !isUnicastIPv4(host) || !isPort(port)) continue;
    if (typeof id !== 'string' || !ID_HEX.test(id) || id === s.id) continue;
    nodes.push({ host, port, id: Buffer.from(id, 'hex') });
  }
  return { ok: true, state: { id: Buffer.from(s.id, 'hex'), nodes } };
}

/**
 * The file for this node id and table: contacts with a 20-byte id, an IPv4 address and a valid
 * port, most recently seen first (a stable sort, so ties keep the table's order), cut to
 * MAX_STATE_NODES. Null when no contact qualifies: an empty table (an offline run, or one closed
 * before bootstrap) must not replace what an earlier run learned.
 */
export function encodeStateFile(nodeId: Buffer, contacts: readonly StateContact[]): Buffer | null {
  const nodes = contacts
    .filter((n) => Buffer.isBuffer(n.id) && n.id.length === ID_BYTES && isIPv4(n.host) && isPort(n.port))
    .sort((a, b) => (b.seen ?? 0) - (a.seen ?? 0))
    .slice(0, MAX_STATE_NODES)
    .map((n) => ({ host: n.host, port: n.port, id: n.id.toString('hex') }));
  if (nodes.length === 0) return null;
  const state: StateFile = { version: 1, id: nodeId.toString('hex'), nodes };
  return Buffer.from(JSON.stringify(state), 'utf8');
}
