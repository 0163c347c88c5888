/**
 * The Diffie-Hellman exchange of MSE/PE: the fixed 768-bit prime P with generator G = 2, private
 * keys of 160 random bits, public values and the shared secret S as 96-byte big-endian numbers
 * (the spec: "Diffie Hellman Ya/Yb: 768 bit, ... P is 768 bit long"; leading zero bytes kept).
 *
 * Owns only arithmetic; the random source is injected. BigInt instead of node:crypto's
 * `createDiffieHellman(P, 2)`: that one checks the prime on every construction, which cost ~38 ms
 * of CPU per key pair here, against ~0.4 ms for the BigInt square-and-multiply below. BigInt is
 * not constant-time; MSE is obfuscation against traffic shaping, not authenticated secrecy, and
 * every key is used for one connection only.
 *
 * Invariant: `checkPublic` accepts exactly 2..P-2, so a peer cannot force S into {0, 1, P-1}.
 */

/** The MSE prime (768 bits, the Oakley group 1 prime). */
export const MSE_PRIME = BigInt(
  '0xFFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563',
);
export const MSE_GENERATOR = 2n;
/** 768 bits: the size of Ya, Yb and S on the wire and in the hashes. */
export const DH_KEY_BYTES = 96;
/** The spec: "Xa Xb: 160 bit" private keys (libtorrent and Transmission use 160 bits too). */
export const DH_PRIVATE_BYTES = 20;

export function toBigInt(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt('0x' + Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex'));
}

/** `n` as exactly DH_KEY_BYTES big-endian bytes (n < P, so it always fits). */
export function toKeyBytes(n: bigint): Buffer {
  return Buffer.from(n.toString(16).padStart(DH_KEY_BYTES * 2, '0'), 'hex');
}

export function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
    e >>= 1n;
  }
  return result;
}

export interface DhKeyPair {
  readonly privateKey: bigint;
  /** Y = G^X mod P, DH_KEY_BYTES bytes. */
  readonly publicKey: Buffer;
}

export function generateKeyPair(randomBytes: (n: number) => Buffer): DhKeyPair {
  const raw = randomBytes(DH_PRIVATE_BYTES);
  if (raw.length !== DH_PRIVATE_BYTES) throw new RangeError(`random source returned ${raw.length} bytes, expected ${DH_PRIVATE_BYTES}`);
  // A zero private key would make Y = 1; one bit set keeps X in 1..2^160-1.
  const privateKey = toBigInt(raw) | 1n;
  return { privateKey, publicKey: toKeyBytes(modPow(MSE_GENERATOR, privateKey, MSE_PRIME)) };
}

/** The peer's public value as a number, or null when it is outside 2..P-2. */
export function checkPublic(peer: Uint8Array): bigint | null {
  const y = toBigInt(peer);
  return y >= 2n && y <= MSE_PRIME - 2n ? y : null;
}

/** S = Y_peer ^ X_ours mod P, DH_KEY_BYTES bytes. */
export function sharedSecret(own: DhKeyPair, peer: bigint): Buffer {
  return toKeyBytes(modPow(peer, own.privateKey, MSE_PRIME));
}
