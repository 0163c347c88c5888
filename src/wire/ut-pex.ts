/**
 * BEP 11 (ut_pex): peer exchange. Once a minute at most, each side tells the other which peers
 * it connected to and disconnected from since its last message. The payload of the BEP 10
 * extended message (under the id the peer gave `ut_pex` in `m`) is a bencoded dictionary:
 *
 *   key        contents                                                   defined in
 *   added      IPv4 contacts, compact: 4 address bytes + 2 port bytes,    BEP 11 (format: BEP 23)
 *              big-endian, concatenated
 *   added.f    optional: one flags byte per `added` contact (PexFlags)    BEP 11
 *   added6     IPv6 contacts, compact: 16 address bytes + 2 port bytes    BEP 11 (format: BEP 7)
 *   added6.f   optional: one flags byte per `added6` contact              BEP 11
 *   dropped    IPv4 contacts disconnected since the last message          BEP 11
 *   dropped6   IPv6 contacts disconnected since the last message          BEP 11
 *
 * Owns: the message codec. A decoded message holds at most MAX_PEX_PEERS added and
 * MAX_PEX_PEERS dropped contacts (IPv4 first, then IPv6), none with port 0 or an unspecified
 * address (0.0.0.0, ::), none twice in one list; hosts are IP literals, IPv6 in RFC 5952 text
 * (the same form as tracker/peers.ts). What the decoder would drop, the encoder leaves out, so
 * decode(encode(m)) keeps every valid contact. Contacts are unverified claims of one peer (BEP
 * 11, "Security Considerations"): whether and how fast to dial them is the session's policy.
 *
 * Tolerated rather than fatal (only a payload that is not one bounded bencoded dictionary is a
 * ProtocolError): missing keys; a key of the wrong type (read as absent); a compact string whose
 * length is not a multiple of its entry size, which is ignored whole (libtorrent's ut_pex.cpp
 * instead reads the whole entries and drops the remainder; we take nothing from a list whose
 * framing is broken, as a misaligned list is either a broken encoder or a forged one, and
 * losing one PEX list costs little); a flags string whose length does not match its list,
 * which is read as all-zero flags (libtorrent drops the list instead; the contacts are as good
 * as those of a message without the optional flags).
 */
import { formatIPv6, isV4Mapped, parseIPv6 } from '../util/ip.js';
import { isIPv4, isIPv6 } from 'node:net';
import { encode, isBytes, type BValue, type DecodeLimits } from '../bencode/index.js';
import { decodeExtensionDict } from './extended.js';

export interface PexPeer {
  host: string;
  port: number;
  /** Bit set of PexFlags. */
  flags: number;
}

export interface PexMessage {
  added: PexPeer[];
  dropped: { host: string; port: number }[];
}

/** BEP 11 `added.f` / `added6.f` bits; other bits are reserved. */
export const PexFlags = {
  /** Prefers encryption (the `e` field of its extended handshake). */
  encryption: 0x01,
  /** Seed or upload-only. */
  seed: 0x02,
  /** Supports uTP. */
  utp: 0x04,
  /** Announced `ut_holepunch` in its extended handshake. */
  holepunch: 0x08,
  /** We connected out to it: it accepts connections. */
  reachable: 0x10,
} as const;

/** BEP 11: "Clients must batch updates to send no more than 1 PEX message per minute." */
export const PEX_INTERVAL_MS = 60_000;

/**
 * Most contacts taken from one message's added lists (IPv4 and IPv6 together), and likewise from
 * its dropped lists; the rest are ignored. BEP 11 says a message "should not exceed 50" added and
 * 50 dropped, except the first, which may list every current connection; libtorrent sends at most
 * 100 (`max_peer_entries` in ut_pex.cpp). 200 leaves room for large first messages while one
 * peer cannot hand us thousands of addresses to dial a minute.
 */
export const MAX_PEX_PEERS = 200;

/**
 * Bounds for the message dictionary: six keys whose values are strings, with room for keys
 * other clients add. The compact strings are single values, so this does not bound their size;
 * MAX_PEX_PEERS bounds what we build from them.
 */
const PEX_LIMITS: DecodeLimits = { maxDepth: 4, maxItems: 256 };

const IPV4_BYTES = 4;
const IPV6_BYTES = 16;
const PORT_BYTES = 2;
const MAX_PORT = 65535;
const MAX_FLAGS = 0xff;

/**
 * The ut_pex payload. All six keys are always written (as libtorrent does; BEP 11 wants at least
 * one of the lists), `added.f` / `added6.f` with one flags byte per contact. An IPv4-mapped IPv6
 * host (what a dual-stack socket reports for an IPv4 peer) goes in the IPv4 lists. Left out, as
 * decodePex would drop them: hosts that are not IP literals (host names, IPv6 with a zone id),
 * port 0, unspecified addresses, and repeats of a contact already in the same list. Throws
 * RangeError for a list longer than MAX_PEX_PEERS, a port that is not an integer 0..65535 or
 * flags that are not an integer 0..255.
 */
export function encodePex(m: PexMessage): Buffer {
  for (const [name, list] of [['added', m.added], ['dropped', m.dropped]] as const) {
    if (list.length > MAX_PEX_PEERS) throw new RangeError(`${name} has ${list.length} contacts, more than ${MAX_PEX_PEERS}`);
  }
  const added = new CompactLists();
  for (const p of m.added) {
    if (!Number.isInteger(p.flags) || p.flags < 0 || p.flags > MAX_FLAGS) {
      throw new RangeError(`flags of ${p.host}:${p.port} must be 0..${MAX_FLAGS}, got ${p.flags}`);
    }
    added.add(p.host, p.port, p.flags);
  }
  const dropped = new CompactLists();
  for (const p of m.dropped) dropped.add(p.host, p.port, 0);
  return encode({
    added: Buffer.concat(added.v4),
    'added.f': Buffer.from(added.flags4),
    added6: Buffer.concat(added.v6),
    'added6.f': Buffer.from(added.flags6),
    dropped: Buffer.concat(dropped.v4),
    dropped6: Buffer.concat(dropped.v6),
  });
}

/** One message's IPv4 and IPv6 compact entries, deduplicated. */
class CompactLists {
  readonly v4: Buffer[] = [];
  readonly v6: Buffer[] = [];
  readonly flags4: number[] = [];
  readonly flags6: number[] = [];
  private readonly seen = new Set<string>();

  add(host: string, port: number, flags: number): void {
    if (!Number.isInteger(port) || port < 0 || port > MAX_PORT) {
      throw new RangeError(`port of ${host} must be 0..${MAX_PORT}, got ${port}`);
    }
    const address = addressBytes(host);
    if (address === null || port === 0 || isUnspecified(address)) return;
    const entry = Buffer.allocUnsafe(address.length + PORT_BYTES);
    address.copy(entry);
    entry.writeUInt16BE(port, address.length);
    const key = entry.toString('hex');
    if (this.seen.has(key)) return;
    this.seen.add(key);
    if (address.length === IPV4_BYTES) {
      this.v4.push(entry);
      this.flags4.push(flags);
    } else {
      this.v6.push(entry);
      this.flags6.push(flags);
    }
  }
}

/**
 * Decodes a ut_pex payload (after the extended id byte). Throws ProtocolError only when it is
 * not one bounded bencoded dictionary; see the module comment for what is tolerated.
 */
export function decodePex(payload: Buffer): PexMessage {
  const d = decodeExtensionDict(payload, 'ut_pex message', PEX_LIMITS);
  const added: PexPeer[] = [];
  const addedSeen = new Set<string>();
  for (const [key, flagsKey, size] of [
    ['added', 'added.f', IPV4_BYTES],
    ['added6', 'added6.f', IPV6_BYTES],
  ] as const) {
    const flags = d.get(flagsKey);
    readContacts(d.get(key), size, addedSeen, added.length, (host, port, i, count) => {
      const f = isBytes(flags) && flags.length === count ? flags[i]! : 0;
      added.push({ host, port, flags: f });
    });
  }
  const dropped: { host: string; port: number }[] = [];
  const droppedSeen = new Set<string>();
  for (const [key, size] of [
    ['dropped', IPV4_BYTES],
    ['dropped6', IPV6_BYTES],
  ] as const) {
    readContacts(d.get(key), size, droppedSeen, dropped.length, (host, port) => dropped.push({ host, port }));
  }
  return { added, dropped };
}

/**
 * Calls `take` for each usable contact of one compact list, in order, until the message's list
 * holds MAX_PEX_PEERS (`already` counts those taken from its other address family).
 */
function readContacts(
  list: BValue | undefined,
  addressLength: number,
  seen: Set<string>,
  already: number,
  take: (host: string, port: number, index: number, count: number) => void,
): void {
  if (!isBytes(list)) return;
  const entryBytes = addressLength + PORT_BYTES;
  if (list.length % entryBytes !== 0) return;
  const count = list.length / entryBytes;
  let taken = already;
  for (let i = 0; i < count && taken < MAX_PEX_PEERS; i++) {
    const at = i * entryBytes;
    const address = list.subarray(at, at + addressLength);
    const port = list.readUInt16BE(at + addressLength);
    if (port === 0 || isUnspecified(address)) continue;
    const host = addressLength === IPV4_BYTES ? formatIPv4(address) : formatIPv6(address);
    const key = `${host}|${port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    take(host, port, i, count);
    taken++;
  }
}

/** 4 or 16 address bytes of an IP literal (IPv4-mapped IPv6 as 4), or null for anything else. */
function addressBytes(host: string): Buffer | null {
  if (isIPv4(host)) return Buffer.from(host.split('.').map(Number));
  if (!isIPv6(host) || host.includes('%')) return null; // a zone id has no compact form
  const bytes = parseIPv6(host);
  if (!bytes) return null;
  return isV4Mapped(bytes) ? bytes.subarray(12) : bytes;
}


/** 0.0.0.0, :: or ::ffff:0.0.0.0: "any address", never a peer. */
function isUnspecified(address: Buffer): boolean {
  const from = address.length === IPV6_BYTES && isV4Mapped(address) ? 12 : 0;
  for (let i = from; i < address.length; i++) if (address[i] !== 0) return false;
  return true;
}

function formatIPv4(b: Buffer): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

