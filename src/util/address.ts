/**
 * A peer's address and its one spelling. Every source of peers (trackers, DHT, PEX, --peer,
 * magnet x.pe, incoming connections) goes through `peerAddr`, so the same peer learned twice is
 * one entry: IPv4-mapped IPv6 is folded to IPv4, IPv6 is lower case and bracketed in keys.
 */
import { isIP } from 'node:net';

export interface PeerAddr {
  readonly host: string;
  readonly port: number;
}

/** "1.2.3.4:6881" or "[::1]:6881": the key of an address in every map. */
export function addrKey(a: PeerAddr): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** A DNS name as --peer may give one (dialled as is; the OS resolves it). */
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** A port we may name: an integer in 1..65535. */
export function isPort(port: unknown): port is number {
  return typeof port === 'number' && Number.isInteger(port) && port > 0 && port <= 65535;
}

/**
 * Unicast IPv4 (given an IPv4 address) we may send to: not 0/8 ("this network", which Linux
 * delivers to localhost), multicast, or broadcast.
 */
export function isUnicastIPv4(host: string): boolean {
  const first = Number(host.split('.', 1)[0]);
  return first !== 0 && first < 224;
}

/** A normalised address, or null for a port outside 1..65535 or a host that is neither an IP nor a DNS name. */
export function peerAddr(host: string, port: number): PeerAddr | null {
  if (!isPort(port)) return null;
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.startsWith('::ffff:') && isIP(h.slice(7)) === 4) h = h.slice(7);
  if (isIP(h) === 0 && !HOSTNAME.test(h)) return null;
  return { host: h, port };
}

/** Inverse of addrKey. */
export function parseAddrKey(k: string): PeerAddr {
  const i = k.lastIndexOf(':');
  return { host: k.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(k.slice(i + 1)) };
}

export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

/** Addresses that mean "this machine" when a tracker hands them back with our own port. */
export function isLocalAddress(ip: string): boolean {
  return isLoopback(ip) || ip === '0.0.0.0' || ip === '::';
}
