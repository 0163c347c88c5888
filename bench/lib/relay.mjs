/**
 * A userspace WAN link for benchmarks (this kernel has no netem): a TCP proxy with one listening
 * port per link that forwards every accepted connection to one fixed target, adding to each
 * direction a one-way delay and a rate limit, and optionally cutting every connection after a
 * fixed lifetime (a peer that vanishes mid-piece).
 *
 * Model of one direction (a "pipe"): each chunk read from the source is cut into slices of at most
 * SLICE_BYTES; a slice leaves the link's serializer at max(now, when the previous slice left) plus
 * its length / rate, and arrives at the destination oneWayDelayMs after that. Slices arrive in
 * order. Bytes not yet serialized are the link's queue (a router buffer): when it holds more than
 * queueBytes the source socket is paused, so the sender's TCP window fills and it feels
 * back-pressure, as behind a real bottleneck. Bytes already serialized are "on the wire" and are
 * not bounded here: they are at most rate x delay. When the destination socket's own buffer is
 * full (write() returned false) the source is paused too, until 'drain'.
 *
 * Invariants: bytes are delivered exactly once, in order, or dropped with the connection; a link
 * counts the bytes it delivered per direction (down = target -> client, up = client -> target);
 * `close()` destroys every socket and timer it made. Listens only where it is told (loopback).
 */
import net from 'node:net';

/** Slices keep a 64 KiB read from arriving as one burst on a 1 MB/s link (64 ms apart). */
const SLICE_BYTES = 16 * 1024;
/** Default router buffer: 64 KiB per direction, about 8-64 ms of queue at 1-8 MB/s. */
export const DEFAULT_QUEUE_BYTES = 64 * 1024;

class Pipe {
  /**
   * @param {net.Socket} src
   * @param {net.Socket} dst
   * @param {{ rateBytesPerS: number, oneWayDelayMs: number, queueBytes: number, count: (n: number) => void }} o
   */
  constructor(src, dst, o) {
    this.src = src;
    this.dst = dst;
    this.o = o;
    /** Slices in flight: { buf, arriveAt } in arrival order. */
    this.slices = [];
    this.head = 0;
    /** When the serializer is next free (ms, performance clock). */
    this.nextFreeMs = 0;
    this.timer = null;
    this.dstBlocked = false;
    this.closed = false;
    src.on('data', (chunk) => this.onData(chunk));
    dst.on('drain', () => {
      this.dstBlocked = false;
      this.flush();
    });
  }

  /** Bytes still waiting for the serializer. */
  backlogBytes(now) {
    return Math.max(0, this.nextFreeMs - now) * this.o.rateBytesPerS / 1000;
  }

  onData(chunk) {
    if (this.closed) return;
    const now = performance.now();
    for (let off = 0; off < chunk.length; off += SLICE_BYTES) {
      const buf = chunk.subarray(off, Math.min(chunk.length, off + SLICE_BYTES));
      const leave = Math.max(now, this.nextFreeMs) + (buf.length * 1000) / this.o.rateBytesPerS;
      this.nextFreeMs = leave;
      this.slices.push({ buf, arriveAt: leave + this.o.oneWayDelayMs });
    }
    this.updatePause(now);
    this.schedule();
  }

  updatePause(now) {
    const full = this.dstBlocked || this.backlogBytes(now) > this.o.queueBytes;
    if (full && !this.src.isPaused()) this.src.pause();
    else if (!full && this.src.isPaused()) this.src.resume();
  }

  schedule() {
    if (this.timer || this.closed || this.head >= this.slices.length) return;
    const wait = Math.max(0, this.slices[this.head].arriveAt - performance.now());
    // While the source is paused, wake when the backlog will have drained below the bound too.
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, Math.ceil(wait));
  }

  flush() {
    if (this.closed) return;
    const now = performance.now();
    while (!this.dstBlocked && this.head < this.slices.length && this.slices[this.head].arriveAt <= now) {
      const { buf } = this.slices[this.head];
      this.slices[this.head++] = null;
      this.o.count(buf.length);
      if (!this.dst.write(buf)) this.dstBlocked = true;
    }
    if (this.head > 1024 && this.head * 2 > this.slices.length) {
      this.slices = this.slices.slice(this.head);
      this.head = 0;
    }
    if (this.head >= this.slices.length && this.src.readableEnded && !this.dst.writableEnded) this.dst.end();
    this.updatePause(now);
    if (this.src.isPaused() && !this.dstBlocked && this.head >= this.slices.length) {
      // Nothing left to deliver yet still over the bound cannot happen (backlog <= bytes queued),
      // but resume defensively rather than stall the link.
      this.src.resume();
    }
    this.schedule();
  }

  /** The source ended: end the destination once everything queued has arrived. */
  onEnd() {
    this.flush();
  }

  close() {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.slices = [];
    this.head = 0;
  }
}

/**
 * Starts one link. Resolves with { host, port, stats: { down, up, connections, drops }, close() }.
 * @param {{ host: string, target: { host: string, port: number }, rateBytesPerS: number,
 *   rttMs: number, dropAfterMs?: number | null, queueBytes?: number }} opts
 */
export async function startRelay(opts) {
  const { host, target, rateBytesPerS, rttMs, dropAfterMs = null, queueBytes = DEFAULT_QUEUE_BYTES } = opts;
  const stats = { down: 0, up: 0, connections: 0, drops: 0 };
  const sockets = new Set();
  const pipes = new Set();
  const timers = new Set();
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    stats.connections++;
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
    const both = [client, upstream];
    for (const s of both) {
      sockets.add(s);
      // Resets are part of the model (cut links, clients that exit): the 'close' below tears down.
      s.on('error', () => {});
    }
    const half = { rateBytesPerS, oneWayDelayMs: rttMs / 2, queueBytes };
    const up = new Pipe(client, upstream, { ...half, count: (n) => (stats.up += n) });
    const down = new Pipe(upstream, client, { ...half, count: (n) => (stats.down += n) });
    pipes.add(up);
    pipes.add(down);
    client.on('end', () => up.onEnd());
    upstream.on('end', () => down.onEnd());
    let timer = null;
    const teardown = () => {
      up.close();
      down.close();
      pipes.delete(up);
      pipes.delete(down);
      if (timer) {
        clearTimeout(timer);
        timers.delete(timer);
      }
      for (const s of both) {
        s.destroy();
        sockets.delete(s);
      }
    };
    client.on('close', teardown);
    upstream.on('close', teardown);
    if (dropAfterMs !== null) {
      timer = setTimeout(() => {
        stats.drops++;
        // A vanished peer: reset, no FIN, whatever was in flight is lost.
        client.resetAndDestroy();
        teardown();
      }, dropAfterMs);
      timers.add(timer);
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return {
    host,
    port: server.address().port,
    stats,
    close: () =>
      new Promise((resolve) => {
        for (const t of timers) clearTimeout(t);
        for (const p of pipes) p.close();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
