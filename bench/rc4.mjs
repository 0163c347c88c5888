/**
 * Bench case "rc4": RC4 throughput on one core (MB/s, 10^6 bytes per second), over 64 KiB
 * buffers (a socket read's size), and the CPU time of a full MSE handshake pair in memory. Needs
 * `npm run build` first (it measures dist/mse).
 *
 * Variants, all in-place XOR into the caller's buffer, each checked against the first before it
 * is timed (a fast wrong answer does not count):
 * - u8-state:   permutation in a Uint8Array, one byte per iteration (the textbook loop)
 * - i32-state:  permutation in an Int32Array, one byte per iteration
 * - i32-words:  Int32Array permutation, 4 keystream bytes XORed as one 32-bit word into the
 *               4-byte-aligned middle of the buffer
 * - wasm-bytes / wasm-words: the same two loops hand-assembled to WebAssembly (state in linear
 *               memory), the caller's bytes copied in and out of linear memory
 * - dist:       src/mse/rc4.ts as built, the one the transport uses
 * Results here (Node 20.20, x86-64, 2 cores shared with other jobs, so best-of runs):
 *   quiet box:         u8-state 409, i32-state 407, i32-words 612, wasm-bytes 384-428, wasm-words 347-387
 *   load average ~5:   u8-state 269, i32-state 362, i32-words 542, wasm-bytes 302, wasm-words 331
 * The naive 25-line version in the issue did 137 MiB/s (144 MB/s). src/mse/rc4.ts is i32-words.
 * A full handshake pair costs ~1.4 ms of CPU (3 ms under load): two BigInt key pairs and
 * secrets dominate (node:crypto's createDiffieHellman would add ~38 ms per pair, see dh.ts).
 */
import { randomBytes } from 'node:crypto';
import { MseInitiator, MseReceiver, Rc4 } from '../dist/mse/index.js';

const BUF_BYTES = 64 * 1024;
const TOTAL_BYTES = 512 * 1024 * 1024;
const RUNS = 3;
const HANDSHAKES = 200;

function ksa(key) {
  const s = new Uint8Array(256);
  for (let i = 0; i < 256; i++) s[i] = i;
  let j = 0;
  for (let i = 0; i < 256; i++) {
    j = (j + s[i] + key[i % key.length]) & 255;
    const t = s[i];
    s[i] = s[j];
    s[j] = t;
  }
  return s;
}

// Two literal copies of one loop, not one factory: V8 keeps type feedback per function literal,
// so a shared loop would see both array kinds and be slower for the second one measured.
class U8State {
  constructor(key) {
    this.s = ksa(key);
    this.i = 0;
    this.j = 0;
  }
  process(buf) {
    const s = this.s;
    let i = this.i;
    let j = this.j;
    for (let k = 0; k < buf.length; k++) {
      i = (i + 1) & 255;
      const si = s[i];
      j = (j + si) & 255;
      const sj = s[j];
      s[i] = sj;
      s[j] = si;
      buf[k] ^= s[(si + sj) & 255];
    }
    this.i = i;
    this.j = j;
  }
}

class I32State {
  constructor(key) {
    this.s = Int32Array.from(ksa(key));
    this.i = 0;
    this.j = 0;
  }
  process(buf) {
    const s = this.s;
    let i = this.i;
    let j = this.j;
    for (let k = 0; k < buf.length; k++) {
      i = (i + 1) & 255;
      const si = s[i];
      j = (j + si) & 255;
      const sj = s[j];
      s[i] = sj;
      s[j] = si;
      buf[k] ^= s[(si + sj) & 255];
    }
    this.i = i;
    this.j = j;
  }
}

// --- hand-assembled WebAssembly: rc4(ptr, len) over linear memory -------------------------
const leb = (n) => {
  const o = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    o.push(b);
  } while (n);
  return o;
};
const sleb = (n) => {
  const o = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...o, b];
    o.push(b | 0x80);
  }
};
const vec = (items) => [...leb(items.length), ...items.flat()];
const section = (id, bytes) => [id, ...leb(bytes.length), ...bytes];
const get = (l) => [0x20, l];
const set = (l) => [0x21, l];
const tee = (l) => [0x22, l];
const i32 = (n) => [0x41, ...sleb(n)];
const ld8 = [0x2d, 0, 0];
const st8 = [0x3a, 0, 0];
const ld32 = [0x28, 0, 0];
const st32 = [0x36, 0, 0];
const [ADD, AND, XOR, OR, SHL, GEU] = [[0x6a], [0x71], [0x73], [0x72], [0x74], [0x4f]];
const [P, N, I, J, SI, SJ, END, X, WEND] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
/** One keystream byte left on the stack; state bytes at 0..255, i and j at 256 and 257. */
const step = [
  ...get(I), ...i32(1), ...ADD, ...i32(255), ...AND, ...tee(I), ...ld8, ...tee(SI),
  ...get(J), ...ADD, ...i32(255), ...AND, ...tee(J), ...ld8, ...set(SJ),
  ...get(I), ...get(SJ), ...st8, ...get(J), ...get(SI), ...st8,
  ...get(SI), ...get(SJ), ...ADD, ...i32(255), ...AND, ...ld8,
];
function wasmModule(words) {
  const body = [...i32(256), ...ld8, ...set(I), ...i32(257), ...ld8, ...set(J), ...get(P), ...get(N), ...ADD, ...set(END)];
  if (words) {
    body.push(...get(P), ...get(N), ...i32(-4), ...AND, ...ADD, ...set(WEND));
    body.push(0x02, 0x40, 0x03, 0x40, ...get(P), ...get(WEND), ...GEU, 0x0d, 1,
      ...step, ...set(X),
      ...step, ...i32(8), ...SHL, ...get(X), ...OR, ...set(X),
      ...step, ...i32(16), ...SHL, ...get(X), ...OR, ...set(X),
      ...step, ...i32(24), ...SHL, ...get(X), ...OR, ...set(X),
      ...get(P), ...get(P), ...ld32, ...get(X), ...XOR, ...st32,
      ...get(P), ...i32(4), ...ADD, ...set(P), 0x0c, 0, 0x0b, 0x0b);
  }
  body.push(0x02, 0x40, 0x03, 0x40, ...get(P), ...get(END), ...GEU, 0x0d, 1,
    ...get(P), ...get(P), ...ld8, ...step, ...XOR, ...st8,
    ...get(P), ...i32(1), ...ADD, ...set(P), 0x0c, 0, 0x0b, 0x0b);
  body.push(...i32(256), ...get(I), ...st8, ...i32(257), ...get(J), ...st8, 0x0b);
  const fn = [...vec([[7, 0x7f]]), ...body];
  const name = (s) => vec([...Buffer.from(s)].map((x) => [x]));
  return new WebAssembly.Module(new Uint8Array([
    0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, vec([[0x60, ...vec([[0x7f], [0x7f]]), 0]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0, ...leb(2)]])),
    ...section(7, vec([[...name('mem'), 2, 0], [...name('rc4'), 0, 0]])),
    ...section(10, vec([[...leb(fn.length), ...fn]])),
  ]));
}
/** Where the caller's bytes are copied in linear memory (after state, i and j). */
const WASM_DATA = 1024;
function wasmRc4(words) {
  const mod = wasmModule(words);
  return class {
    constructor(key) {
      const { mem, rc4 } = new WebAssembly.Instance(mod, {}).exports;
      this.mem = mem;
      this.rc4 = rc4;
      const m = new Uint8Array(mem.buffer);
      m.set(ksa(key), 0);
      m[256] = 0;
      m[257] = 0;
    }
    process(buf) {
      for (let off = 0; off < buf.length; ) {
        const n = Math.min(this.mem.buffer.byteLength - WASM_DATA, buf.length - off);
        const m = new Uint8Array(this.mem.buffer);
        m.set(buf.subarray(off, off + n), WASM_DATA);
        this.rc4(WASM_DATA, n);
        buf.set(m.subarray(WASM_DATA, WASM_DATA + n), off);
        off += n;
      }
    }
  };
}

const VARIANTS = {
  'u8-state': U8State,
  'i32-state': I32State,
  'wasm-bytes': wasmRc4(false),
  'wasm-words': wasmRc4(true),
  'dist (i32-words)': Rc4,
};

function measure(Impl, key) {
  const buf = Buffer.alloc(BUF_BYTES, 7);
  const r = new Impl(key);
  for (let w = 0; w < 400; w++) r.process(buf);
  let best = Infinity;
  for (let run = 0; run < RUNS; run++) {
    const t = process.hrtime.bigint();
    for (let done = 0; done < TOTAL_BYTES; done += BUF_BYTES) r.process(buf);
    best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e9);
  }
  return TOTAL_BYTES / best / 1e6;
}

function handshakePair() {
  const infoHash = randomBytes(20);
  const a = new MseInitiator({ infoHash, allowPlaintext: false, initialPayload: Buffer.alloc(68, 1), randomBytes });
  const b = new MseReceiver({ infoHashes: [infoHash], allowPlaintext: false, allowRc4: true, randomBytes });
  const s1 = b.receive(a.start());
  const s2 = a.receive(s1.send);
  const s3 = b.receive(s2.send);
  const s4 = a.receive(s3.send);
  if (!s3.done || !s4.done) throw new Error('handshake pair did not finish');
}

export async function run() {
  const key = randomBytes(20);
  const check = Buffer.alloc(BUF_BYTES + 3, 9);
  const expected = Buffer.from(check);
  new VARIANTS['u8-state'](key).process(expected);
  console.log(`\n### RC4, one core, ${BUF_BYTES / 1024} KiB buffers, best of ${RUNS} x ${TOTAL_BYTES >> 20} MiB\n`);
  console.log('| variant | MB/s |');
  console.log('| --- | ---: |');
  for (const [name, Impl] of Object.entries(VARIANTS)) {
    const got = Buffer.from(check);
    const c = new Impl(key);
    c.process(got.subarray(0, 1001));
    c.process(got.subarray(1001));
    if (!got.equals(expected)) throw new Error(`rc4 variant ${name} gives wrong output`);
    console.log(`| ${name} | ${measure(Impl, key).toFixed(0)} |`);
  }
  for (let w = 0; w < 20; w++) handshakePair();
  const t = process.hrtime.bigint();
  for (let k = 0; k < HANDSHAKES; k++) handshakePair();
  const ms = Number(process.hrtime.bigint() - t) / 1e6 / HANDSHAKES;
  console.log(`\nMSE handshake pair in memory (both roles, 2 DH key pairs + 2 secrets, RC4 set-up): ${ms.toFixed(2)} ms CPU\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
