/**
 * The bytes bencode is written with (BEP 3): `i<digits>e` integers, `<length>:<bytes>` strings,
 * `l…e` lists and `d…e` dictionaries. Shared by the decoder and the readers of checked bytes.
 */

/** Opens an integer. */
export const I = 0x69; // 'i'
/** Opens a list. */
export const L = 0x6c; // 'l'
/** Opens a dictionary. */
export const D = 0x64; // 'd'
/** Closes an integer, a list or a dictionary. */
export const E = 0x65; // 'e'
/** Ends a string's length prefix. */
export const COLON = 0x3a; // ':'
/** The sign of a negative integer. */
export const MINUS = 0x2d; // '-'
export const ZERO = 0x30; // '0'
export const NINE = 0x39; // '9'
