/**
 * IPv6 address bytes <-> text, shared by everything that reads compact peer lists (trackers,
 * PEX): one spelling per address, so the same peer learned from two sources is one peer.
 */

/** RFC 5952 text: lower case, no leading zeros, the first longest run of 2+ zero groups as '::',
 * IPv4-mapped addresses (::ffff:a.b.c.d) with a dotted quad (RFC 5952 section 5). */
export function formatIPv6(bytes: Uint8Array): string {
  if (isV4Mapped(bytes)) return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[i * 2]! << 8) | bytes[i * 2 + 1]!);
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i >= 2 && j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * The 16 bytes of IPv6 text that node:net's isIPv6 accepted (a zone id, `%eth0`, is dropped), or
 * undefined when the groups do not add up.
 */
export function parseIPv6(text: string): Buffer | undefined {
  let t = text.toLowerCase();
  const zone = t.indexOf('%');
  if (zone >= 0) t = t.slice(0, zone);
  // A trailing dotted quad (::ffff:1.2.3.4, RFC 4291 section 2.2) becomes two hex groups.
  const lastColon = t.lastIndexOf(':');
  const tail = t.slice(lastColon + 1);
  if (tail.includes('.')) {
    const q = tail.split('.').map(Number);
    const hi = ((q[0] ?? 0) << 8) | (q[1] ?? 0);
    const lo = ((q[2] ?? 0) << 8) | (q[3] ?? 0);
    t = `${t.slice(0, lastColon + 1)}${hi.toString(16)}:${lo.toString(16)}`;
  }
  const [left, right] = t.split('::') as [string, string | undefined];
  const head = left === '' ? [] : left.split(':');
  const rest = right === undefined || right === '' ? [] : right.split(':');
  const groups = right === undefined ? head : [...head, ...new Array<string>(8 - head.length - rest.length).fill('0'), ...rest];
  if (groups.length !== 8) return undefined;
  const out = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) {
    const g = Number.parseInt(groups[i] ?? '', 16);
    if (!Number.isInteger(g) || g < 0 || g > 0xffff) return undefined;
    out.writeUInt16BE(g, i * 2);
  }
  return out;
}

/** ::ffff:0:0/96, an IPv4 address carried in IPv6. */
export function isV4Mapped(bytes: Uint8Array): boolean {
  if (bytes.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}
