/** RFC 4648 base32 (upper-case alphabet, no padding), as used by BitTorrent magnet links. */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Decodes base32 (any case); returns null on a character outside the alphabet. */
export function base32Decode(text: string): Buffer | null {
  const upper = text.toUpperCase();
  const out = Buffer.alloc(Math.floor((upper.length * 5) / 8));
  let bits = 0;
  let value = 0;
  let o = 0;
  for (const ch of upper) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) return null;
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (value >>> bits) & 0xff;
    }
  }
  return out;
}
