export { decode, decodePrefix, DEFAULT_LIMITS, type DecodeLimits, type ListStream } from './decode.js';
export { encode, type Encodable } from './encode.js';
export { BDict, isBytes, isDict, isInt, isList, type BValue } from './types.js';
export { bytesAre, smallIntAt, stringStart, valueEnd } from './checked.js';
export { D, E, I, L, NINE, ZERO } from './tokens.js';
