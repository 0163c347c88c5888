/**
 * The part of the npm `bencode` package (webtorrent/node-bencode, which ships no declarations) the
 * tests use: its encoder, as an oracle our canonical encoder must agree with. Its decoder is
 * lenient (STYLE.md), so it is left undeclared: no test should parse with it.
 */
declare module 'bencode' {
  const bencode: {
    /** Bencodes `data` (dicts as plain objects or Maps, lists, strings, integers, byte arrays). */
    encode(data: unknown): Uint8Array;
  };
  export default bencode;
}
