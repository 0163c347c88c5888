/**
 * The MSE/PE handshake (Message Stream Encryption, as libtorrent, Transmission and aria2 speak
 * it) as two pure state machines, one per role. Each consumes received bytes and returns the bytes
 * to send; neither knows there is a socket or a clock (the driver in transport.ts owns both and
 * the overall deadline).
 *
 *   1 A->B  Ya (96 bytes), PadA (0..512 random bytes)
 *   2 B->A  Yb (96 bytes), PadB (0..512)
 *   3 A->B  HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
 *           ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
 *   4 B->A  ENCRYPT(VC, crypto_select, len(PadD), PadD), then the payload stream
 *   5 A->B  the payload stream
 *
 * S is the Diffie-Hellman secret (dh.ts), SKEY the info hash, HASH SHA-1, VC 8 zero bytes.
 * ENCRYPT is RC4 keyed with SHA-1('keyA', S, SKEY) from A to B and SHA-1('keyB', S, SKEY) from B
 * to A, first 1024 keystream bytes dropped. crypto_provide/select are 32-bit big-endian bit sets:
 * 0x01 plaintext, 0x02 RC4; after step 4 each direction is RC4 (same keystreams, continued) or
 * plaintext as selected. IA is RC4-encrypted whatever is selected (the spec writes ENCRYPT(IA));
 * integers are big-endian. A (the initiator) carries the BitTorrent handshake in IA.
 *
 * Bounds (the only memory a peer can make us hold before it has proven it knows the torrent):
 * - receiver: Ya is exactly 96 bytes; HASH('req1', S) must begin within the 512 bytes of PadA
 *   after Ya, so at most 532 bytes are searched (`REQ1_SEARCH_BYTES`);
 * - initiator: ENCRYPT(VC) must begin within the 512 bytes of PadB after Yb, so at most 520 bytes
 *   are searched (`VC_SEARCH_BYTES`);
 * - len(PadC), len(PadD) <= 512; len(IA) <= MAX_INITIAL_PAYLOAD_BYTES.
 * Each machine takes from a chunk only the bytes its current phase can use, so it never holds
 * more than the largest of those bounds; bytes after the handshake come back untouched as
 * `rest` (a view of the caller's chunk). An overrun or any check that fails throws MseError and
 * the machine is dead: every later call rethrows it.
 */
import { createHash } from 'node:crypto';
import { checkPublic, DH_KEY_BYTES, generateKeyPair, sharedSecret, type DhKeyPair } from './dh.js';
import { MseError } from './errors.js';
import { mseRc4, type Rc4 } from './rc4.js';

/** The spec: PadA, PadB, PadC and PadD are each "0 to 512 bytes". */
export const MAX_PAD_BYTES = 512;
/** SHA-1 digest size: req1, req2 xor req3 and the RC4 keys. */
const HASH_BYTES = 20;
/** Verification constant: 8 zero bytes (the spec's VC). */
const VC_BYTES = 8;
const VC = Buffer.alloc(VC_BYTES);
/** Receiver: the window after Ya in which HASH('req1', S) must start and end: PadA + the hash. */
export const REQ1_SEARCH_BYTES = MAX_PAD_BYTES + HASH_BYTES;
/** Initiator: the window after Yb in which ENCRYPT(VC) must start and end: PadB + VC. */
export const VC_SEARCH_BYTES = MAX_PAD_BYTES + VC_BYTES;
/**
 * The largest IA we accept. The initiators we know put only the 68-byte BitTorrent handshake
 * there (libtorrent sends none); 8 KiB leaves room for a client that also packs its first
 * messages in, while a peer that has not yet shown it knows the torrent's info hash cannot make
 * us hold the 64 KiB its 16-bit length field allows.
 */
export const MAX_INITIAL_PAYLOAD_BYTES = 8192;

/** crypto_provide / crypto_select bits. */
export const CryptoMethod = { plaintext: 0x01, rc4: 0x02 } as const;

export type MseMethod = 'rc4' | 'plaintext';

/** What both roles hold when the handshake is over. */
export interface MseOutcome {
  method: MseMethod;
  /** Keystream for what we send, continued from the handshake; null when plaintext. */
  encrypt: Rc4 | null;
  /** Keystream for what we receive, continued; null when plaintext. */
  decrypt: Rc4 | null;
  /** Bytes received after the handshake, as received (the caller decrypts them with `decrypt`). */
  rest: Buffer;
}

export interface ReceiverOutcome extends MseOutcome {
  /** The torrent the initiator asked for (SKEY). */
  infoHash: Buffer;
  /** IA, decrypted: normally the initiator's BitTorrent handshake. */
  initialPayload: Buffer;
}

/** What one `receive` call produced: bytes to send now, and the outcome once finished. */
export interface Step<T> {
  send: Buffer | null;
  done: T | null;
}

export interface InitiatorOptions {
  infoHash: Buffer;
  /** Offer plaintext after the handshake as well as RC4 (crypto_provide 0x03 instead of 0x02). */
  allowPlaintext: boolean;
  /** IA: bytes delivered with step 3, normally our BitTorrent handshake. */
  initialPayload?: Buffer;
  randomBytes: (n: number) => Buffer;
}

export interface ReceiverOptions {
  /** The torrents we serve (SKEY candidates). */
  infoHashes: readonly Buffer[];
  allowPlaintext: boolean;
  allowRc4: boolean;
  randomBytes: (n: number) => Buffer;
}

function sha1(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
}

const ASCII = (s: string): Buffer => Buffer.from(s, 'latin1');
const REQ1 = ASCII('req1');
const REQ2 = ASCII('req2');
const REQ3 = ASCII('req3');
const KEY_A = ASCII('keyA');
const KEY_B = ASCII('keyB');

/** Random padding of 0..MAX_PAD_BYTES bytes, as the spec asks of every pad. */
function padding(randomBytes: (n: number) => Buffer): Buffer {
  const len = randomBytes(2).readUInt16BE(0) % (MAX_PAD_BYTES + 1);
  return len === 0 ? Buffer.alloc(0) : randomBytes(len);
}

function xor20(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HASH_BYTES);
  for (let k = 0; k < HASH_BYTES; k++) out[k] = a[k]! ^ b[k]!;
  return out;
}

/**
 * Input handling shared by both roles: a small buffer that a phase fills to an exact size or to
 * a search window, taking from each received chunk only what the phase can use.
 */
abstract class Machine<T> {
  protected buf: Buffer = Buffer.alloc(0);
  private failure: MseError | null = null;
  private finished = false;

  /** Bytes held and not yet consumed: never above the current phase's bound. */
  get bufferedBytes(): number {
    return this.buf.length;
  }

  /** Feeds received bytes. Throws MseError when the peer breaks the handshake. */
  receive(chunk: Buffer): Step<T> {
    if (this.failure) throw this.failure;
    if (this.finished) throw new Error('MSE handshake already finished: the stream now belongs to the transport');
    try {
      const step = this.advance(chunk);
      if (step.done) this.finished = true;
      return step;
    } catch (e) {
      if (e instanceof MseError) {
        this.failure = e;
        this.buf = Buffer.alloc(0);
      }
      throw e;
    }
  }

  protected abstract advance(chunk: Buffer): Step<T>;

  /** Moves input into `buf` until it holds `want` bytes; returns the unused input. */
  protected fill(input: Buffer, want: number): Buffer {
    const take = Math.min(want - this.buf.length, input.length);
    if (take <= 0) return input;
    this.buf = this.buf.length === 0 ? Buffer.from(input.subarray(0, take)) : Buffer.concat([this.buf, input.subarray(0, take)]);
    return input.subarray(take);
  }

  /** Takes the first `n` bytes of `buf` (which holds at least n) and keeps the remainder. */
  protected take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /**
   * Fills `buf` up to `window` bytes and looks for `pattern`. Returns the unused input after the
   * pattern (what followed it in `buf` first), or null when it is not there yet; throws `onOverrun`
   * when the window is full without it.
   */
  protected search(input: Buffer, pattern: Buffer, window: number, onOverrun: () => MseError): Buffer | null {
    const rest = this.fill(input, window);
    const at = this.buf.indexOf(pattern);
    if (at < 0) {
      if (this.buf.length >= window) throw onOverrun();
      return null;
    }
    const after = this.buf.subarray(at + pattern.length);
    this.buf = Buffer.alloc(0);
    return after.length === 0 ? rest : rest.length === 0 ? after : Buffer.concat([after, rest]);
  }
}

/** Role A: opens the connection, offers the methods, carries IA. */
export class MseInitiator extends Machine<MseOutcome> {
  private phase: 'yb' | 'vc' | 'select' | 'pad-d' = 'yb';
  private readonly keys: DhKeyPair;
  private readonly provide: number;
  private encrypt: Rc4 | null = null;
  private decrypt: Rc4 | null = null;
  /** ENCRYPT(VC) as B will send it: 8 zero bytes through B's keystream. */
  private encryptedVc: Buffer | null = null;
  private selected: 'rc4' | 'plaintext' = 'rc4';
  private padDBytes = 0;

  constructor(private readonly opts: InitiatorOptions) {
    super();
    if (opts.infoHash.length !== HASH_BYTES) throw new RangeError(`info hash must be ${HASH_BYTES} bytes, got ${opts.infoHash.length}`);
    const ia = opts.initialPayload?.length ?? 0;
    if (ia > MAX_INITIAL_PAYLOAD_BYTES) throw new RangeError(`initial payload of ${ia} bytes exceeds ${MAX_INITIAL_PAYLOAD_BYTES}`);
    this.keys = generateKeyPair(opts.randomBytes);
    this.provide = CryptoMethod.rc4 | (opts.allowPlaintext ? CryptoMethod.plaintext : 0);
  }

  /** Step 1: Ya and PadA, to send as soon as the connection is up. */
  start(): Buffer {
    return Buffer.concat([this.keys.publicKey, padding(this.opts.randomBytes)]);
  }

  protected advance(chunk: Buffer): Step<MseOutcome> {
    let input = chunk;
    let send: Buffer | null = null;
    for (;;) {
      switch (this.phase) {
        case 'yb': {
          input = this.fill(input, DH_KEY_BYTES);
          if (this.buf.length < DH_KEY_BYTES) return { send, done: null };
          send = this.step3(this.take(DH_KEY_BYTES));
          this.phase = 'vc';
          break;
        }
        case 'vc': {
          const after = this.search(input, this.encryptedVc!, VC_SEARCH_BYTES, () =>
            new MseError('no-vc', `no verification constant within ${VC_SEARCH_BYTES} bytes after the peer's key (wrong torrent, or not MSE)`),
          );
          if (after === null) return { send, done: null };
          input = after;
          this.phase = 'select';
          break;
        }
        case 'select': {
          input = this.fill(input, 4 + 2);
          if (this.buf.length < 6) return { send, done: null };
          const head = this.take(6);
          this.decrypt!.process(head);
          const select = head.readUInt32BE(0);
          if ((select !== CryptoMethod.rc4 && select !== CryptoMethod.plaintext) || (select & this.provide) === 0) {
            throw new MseError('bad-crypto-select', `the peer selected method 0x${select.toString(16)}, we offered 0x${this.provide.toString(16)}`);
          }
          this.selected = select === CryptoMethod.rc4 ? 'rc4' : 'plaintext';
          this.padDBytes = head.readUInt16BE(4);
          if (this.padDBytes > MAX_PAD_BYTES) throw new MseError('padding-too-long', `PadD of ${this.padDBytes} bytes, at most ${MAX_PAD_BYTES} allowed`);
          this.phase = 'pad-d';
          break;
        }
        case 'pad-d': {
          input = this.fill(input, this.padDBytes);
          if (this.buf.length < this.padDBytes) return { send, done: null };
          this.decrypt!.process(this.take(this.padDBytes));
          const rc4 = this.selected === 'rc4';
          return {
            send,
            done: { method: this.selected, encrypt: rc4 ? this.encrypt : null, decrypt: rc4 ? this.decrypt : null, rest: input },
          };
        }
      }
    }
  }

  /** Step 3 from Yb: the sync hashes, then ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA). */
  private step3(yb: Buffer): Buffer {
    const y = checkPublic(yb);
    if (y === null) throw new MseError('bad-dh-key', 'the peer sent an invalid Diffie-Hellman key (not MSE, or hostile)');
    const s = sharedSecret(this.keys, y);
    const skey = this.opts.infoHash;
    this.encrypt = mseRc4(sha1(KEY_A, s, skey));
    this.decrypt = mseRc4(sha1(KEY_B, s, skey));
    this.encryptedVc = Buffer.from(VC);
    this.decrypt.process(this.encryptedVc);
    const padC = padding(this.opts.randomBytes);
    const ia = this.opts.initialPayload ?? Buffer.alloc(0);
    const head = Buffer.allocUnsafe(HASH_BYTES * 2);
    sha1(REQ1, s).copy(head, 0);
    xor20(sha1(REQ2, skey), sha1(REQ3, s)).copy(head, HASH_BYTES);
    const body = Buffer.allocUnsafe(VC_BYTES + 4 + 2 + padC.length + 2 + ia.length);
    let o = VC.copy(body, 0);
    o = body.writeUInt32BE(this.provide, o);
    o = body.writeUInt16BE(padC.length, o);
    o += padC.copy(body, o);
    o = body.writeUInt16BE(ia.length, o);
    ia.copy(body, o);
    this.encrypt.process(body);
    return Buffer.concat([head, body]);
  }
}

/** Role B: answers a connection, finds the torrent from req2, picks the method. */
export class MseReceiver extends Machine<ReceiverOutcome> {
  private phase: 'ya' | 'req1' | 'req2' | 'provide' | 'pad-c' | 'ia-len' | 'ia' = 'ya';
  private readonly keys: DhKeyPair;
  private secret: Buffer | null = null;
  private req1: Buffer | null = null;
  private infoHash: Buffer | null = null;
  private encrypt: Rc4 | null = null;
  private decrypt: Rc4 | null = null;
  private provide = 0;
  private padCBytes = 0;
  private iaBytes = 0;

  constructor(private readonly opts: ReceiverOptions) {
    super();
    this.keys = generateKeyPair(opts.randomBytes);
  }

  protected advance(chunk: Buffer): Step<ReceiverOutcome> {
    let input = chunk;
    let send: Buffer | null = null;
    for (;;) {
      switch (this.phase) {
        case 'ya': {
          input = this.fill(input, DH_KEY_BYTES);
          if (this.buf.length < DH_KEY_BYTES) return { send, done: null };
          const y = checkPublic(this.take(DH_KEY_BYTES));
          if (y === null) throw new MseError('bad-dh-key', 'the peer sent an invalid Diffie-Hellman key (not MSE, or hostile)');
          this.secret = sharedSecret(this.keys, y);
          this.req1 = sha1(REQ1, this.secret);
          send = Buffer.concat([this.keys.publicKey, padding(this.opts.randomBytes)]);
          this.phase = 'req1';
          break;
        }
        case 'req1': {
          const after = this.search(input, this.req1!, REQ1_SEARCH_BYTES, () =>
            new MseError('no-req1', `no synchronisation hash within ${REQ1_SEARCH_BYTES} bytes after the peer's key (not MSE, or hostile)`),
          );
          if (after === null) return { send, done: null };
          input = after;
          this.phase = 'req2';
          break;
        }
        case 'req2': {
          input = this.fill(input, HASH_BYTES);
          if (this.buf.length < HASH_BYTES) return { send, done: null };
          this.findTorrent(this.take(HASH_BYTES));
          this.phase = 'provide';
          break;
        }
        case 'provide': {
          input = this.fill(input, VC_BYTES + 4 + 2);
          if (this.buf.length < VC_BYTES + 4 + 2) return { send, done: null };
          const head = this.take(VC_BYTES + 4 + 2);
          this.decrypt!.process(head);
          if (!head.subarray(0, VC_BYTES).equals(VC)) throw new MseError('bad-vc', 'the verification constant did not decrypt to zeros');
          this.provide = head.readUInt32BE(VC_BYTES);
          this.padCBytes = head.readUInt16BE(VC_BYTES + 4);
          if (this.padCBytes > MAX_PAD_BYTES) throw new MseError('padding-too-long', `PadC of ${this.padCBytes} bytes, at most ${MAX_PAD_BYTES} allowed`);
          this.phase = 'pad-c';
          break;
        }
        case 'pad-c': {
          input = this.fill(input, this.padCBytes);
          if (this.buf.length < this.padCBytes) return { send, done: null };
          this.decrypt!.process(this.take(this.padCBytes));
          this.phase = 'ia-len';
          break;
        }
        case 'ia-len': {
          input = this.fill(input, 2);
          if (this.buf.length < 2) return { send, done: null };
          const len = this.take(2);
          this.decrypt!.process(len);
          this.iaBytes = len.readUInt16BE(0);
          if (this.iaBytes > MAX_INITIAL_PAYLOAD_BYTES) {
            throw new MseError('initial-payload-too-long', `initial payload of ${this.iaBytes} bytes, at most ${MAX_INITIAL_PAYLOAD_BYTES} allowed`);
          }
          this.phase = 'ia';
          break;
        }
        case 'ia': {
          input = this.fill(input, this.iaBytes);
          if (this.buf.length < this.iaBytes) return { send, done: null };
          const ia = Buffer.from(this.take(this.iaBytes));
          this.decrypt!.process(ia);
          const method = this.select();
          const step4 = this.step4(method);
          const rc4 = method === 'rc4';
          return {
            send: send ? Buffer.concat([send, step4]) : step4,
            done: {
              method,
              encrypt: rc4 ? this.encrypt : null,
              decrypt: rc4 ? this.decrypt : null,
              rest: input,
              infoHash: this.infoHash!,
              initialPayload: ia,
            },
          };
        }
      }
    }
  }

  /** SKEY from HASH('req2', SKEY) xor HASH('req3', S): one hash per torrent we serve. */
  private findTorrent(obfuscated: Buffer): void {
    const want = xor20(obfuscated, sha1(REQ3, this.secret!));
    const skey = this.opts.infoHashes.find((ih) => sha1(REQ2, ih).equals(want));
    if (!skey) throw new MseError('unknown-torrent', 'the peer asked for a torrent we do not serve');
    this.infoHash = Buffer.from(skey);
    this.decrypt = mseRc4(sha1(KEY_A, this.secret!, skey));
    this.encrypt = mseRc4(sha1(KEY_B, this.secret!, skey));
  }

  /**
   * Plaintext when the peer offers it and we allow it, else RC4 when offered and allowed: as
   * libtorrent's default (prefer_rc4 off). A peer that offers plaintext takes it, the handshake is
   * obfuscated either way, and an RC4 payload costs both sides a pass over every byte (our
   * seeder spent half its CPU on it); RC4 is what `require`, or a peer offering only RC4, gets.
   */
  private select(): MseMethod {
    if (this.provide & CryptoMethod.plaintext && this.opts.allowPlaintext) return 'plaintext';
    if (this.provide & CryptoMethod.rc4 && this.opts.allowRc4) return 'rc4';
    throw new MseError('no-common-method', `the peer offers methods 0x${this.provide.toString(16)}, none of which we allow`);
  }

  /** Step 4: ENCRYPT(VC, crypto_select, len(PadD), PadD). */
  private step4(method: MseMethod): Buffer {
    const padD = padding(this.opts.randomBytes);
    const out = Buffer.allocUnsafe(VC_BYTES + 4 + 2 + padD.length);
    let o = VC.copy(out, 0);
    o = out.writeUInt32BE(method === 'rc4' ? CryptoMethod.rc4 : CryptoMethod.plaintext, o);
    o = out.writeUInt16BE(padD.length, o);
    padD.copy(out, o);
    this.encrypt!.process(out);
    return out;
  }
}
