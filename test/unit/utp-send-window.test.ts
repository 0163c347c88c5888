/**
 * The uTP send side (src/utp/send-window.ts) alone: packetising the write queue, the congestion
 * and peer windows, acks and selective acks, fast retransmit, timeouts, zero-window probes, the
 * FIN, and the outstanding-packet bound. No socket and no clock: each call is given its time.
 */
import { describe, expect, it } from 'vitest';
import { INITIAL_RTO_MS, MAX_OUTSTANDING_PACKETS, MAX_PEER_WINDOW_BYTES, MIN_RTO_MS } from '../../src/utp/constants.js';
import { PacketType, SEQ_MASK, type Packet } from '../../src/utp/packet.js';
import { AckOutcome, SendWindow, type OutPacket } from '../../src/utp/send-window.js';

const MSS = 1000;
const FIRST = 100;

/** A STATE from the peer acking `ackNr`, advertising `wnd`, with an optional selective ack. */
function ack(ackNr: number, opts: { wnd?: number; sack?: number[] } = {}): Packet {
  return {
    type: PacketType.state,
    connectionId: 1,
    timestampUs: 0,
    timestampDiffUs: 0,
    wndSize: opts.wnd ?? 1 << 20,
    seqNr: 0,
    ackNr: ackNr & SEQ_MASK,
    sack: opts.sack ? new Uint8Array(opts.sack) : null,
    payload: new Uint8Array(0),
  };
}

function setup(firstSeq = FIRST) {
  const stats = { retransmits: 0, fastRetransmits: 0, timeouts: 0 };
  const w = new SendWindow(MSS, firstSeq, stats);
  // The peer's first packet tells its window (a dialler learns it from the STATE).
  expect(w.onAck(ack(firstSeq - 1), 0)).toBe(AckOutcome.none);
  return { w, stats };
}

/** One sending round: every packet the windows let go now. */
function round(w: SendWindow, nowMs: number, finWanted = false): OutPacket[] {
  const out: OutPacket[] = [];
  for (let o = w.next(nowMs, finWanted); o !== null; o = w.next(nowMs, finWanted)) out.push(o);
  return out;
}

/** Rounds of "send the window, all acked" until the window holds `packets` packets (slow start). */
function grow(w: SendWindow, packets: number): void {
  let now = 0;
  while (w.cwnd < packets * MSS) {
    const sent = round(w, now);
    expect(sent.length).toBeGreaterThan(0);
    now += 100;
    w.onAck(ack(sent.at(-1)!.seq), now);
  }
}

describe('SendWindow: sending', () => {
  it('cuts the queue into full packets in sequence, viewing written bytes, copying only across writes', () => {
    const { w } = setup();
    const first = Buffer.alloc(2500, 1);
    w.enqueue(first);
    // The initial window is two packets.
    const sent = round(w, 0);
    expect(sent.map((o) => [o.seq, o.type, o.payload.length])).toEqual([
      [FIRST, PacketType.data, MSS],
      [FIRST + 1, PacketType.data, MSS],
    ]);
    expect(sent[0]!.payload.buffer).toBe(first.buffer);
    expect(w.queuedBytes).toBe(500);
    w.enqueue(Buffer.alloc(700, 2));
    w.onAck(ack(FIRST), 50);
    const more = round(w, 50);
    expect(more.map((o) => o.payload.length)).toEqual([MSS, 200]);
    expect(more[0]!.payload.buffer).not.toBe(first.buffer);
    expect([...more[0]!.payload]).toEqual([...Buffer.alloc(500, 1), ...Buffer.alloc(500, 2)]);
    expect(w.queuedBytes).toBe(0);
    expect(w.nextSeq).toBe(FIRST + 4);
  });

  it('numbers packets across the 16-bit wrap', () => {
    const { w } = setup(0xfffe);
    w.enqueue(Buffer.alloc(3 * MSS));
    const sent = round(w, 0);
    w.onAck(ack(0xffff), 10);
    sent.push(...round(w, 10));
    expect(sent.map((o) => o.seq)).toEqual([0xfffe, 0xffff, 0]);
    expect(w.outstandingPackets).toBe(1);
  });

  it('sends the FIN once the queue is empty and the writer ended, once', () => {
    const { w } = setup();
    w.enqueue(Buffer.alloc(10));
    const sent = round(w, 0, true);
    expect(sent.map((o) => [o.seq, o.type])).toEqual([
      [FIRST, PacketType.data],
      [FIRST + 1, PacketType.fin],
    ]);
    expect(w.finSeq).toBe(FIRST + 1);
    expect(round(w, 1, true)).toEqual([]);
    expect(w.onlyFinOutstanding).toBe(false);
    w.onAck(ack(FIRST), 10);
    expect(w.onlyFinOutstanding).toBe(true);
    expect(w.finAcked).toBe(false);
    w.onAck(ack(FIRST + 1), 20);
    expect(w.finAcked).toBe(true);
    expect(w.outstandingPackets).toBe(0);
  });

  it('on a peer window below one packet, waits for a probe, then sends one packet', () => {
    const { w } = setup();
    w.onAck(ack(FIRST - 1, { wnd: 500 }), 0);
    w.enqueue(Buffer.alloc(3 * MSS));
    expect(round(w, 0)).toEqual([]);
    expect(w.zeroWindow).toBe(true);
    w.allowProbe();
    const probe = round(w, 1000);
    expect(probe.map((o) => o.payload.length)).toEqual([MSS]);
    // In flight now: the window, not the probe, holds the rest back.
    expect(w.zeroWindow).toBe(false);
    expect(round(w, 1001)).toEqual([]);
    expect(w.zeroWindow).toBe(false);
  });

  it(`keeps at most ${MAX_OUTSTANDING_PACKETS} packets outstanding, whatever the windows`, () => {
    const { w } = setup();
    w.enqueue(Buffer.alloc(3 * MAX_OUTSTANDING_PACKETS * MSS));
    w.onAck(ack(FIRST - 1, { wnd: MAX_PEER_WINDOW_BYTES }), 0);
    grow(w, MAX_OUTSTANDING_PACKETS + 100);
    round(w, 5000);
    expect(w.outstandingPackets).toBe(MAX_OUTSTANDING_PACKETS);
    expect(w.cwnd).toBeGreaterThan(MAX_OUTSTANDING_PACKETS * MSS);
    // One acked, one more goes.
    const firstOut = (w.nextSeq - MAX_OUTSTANDING_PACKETS) & SEQ_MASK;
    w.onAck(ack(firstOut), 5100);
    expect(round(w, 5100).length).toBe(1);
    expect(w.outstandingPackets).toBe(MAX_OUTSTANDING_PACKETS);
  });
});

describe('SendWindow: acks', () => {
  it('an ack frees what it covers, takes an RTT sample, and opens the window', () => {
    const { w } = setup();
    w.enqueue(Buffer.alloc(4 * MSS));
    round(w, 1000);
    expect(w.rtoMs).toBe(INITIAL_RTO_MS);
    expect(w.onAck(ack(FIRST), 1300)).toBe(AckOutcome.progress);
    expect(w.outstandingPackets).toBe(1);
    expect(w.smoothedRttMs).toBe(300);
    // RTT + 4 × RTT/2 = 900 ms (above the floor).
    expect(w.rtoMs).toBe(900);
    expect(round(w, 1300).length).toBeGreaterThan(0);
    // An ack covering nothing new.
    expect(w.onAck(ack(FIRST), 1310)).toBe(AckOutcome.none);
  });

  it('an ack of data never sent is refused and changes nothing', () => {
    const { w } = setup();
    w.enqueue(Buffer.alloc(2 * MSS));
    round(w, 0);
    expect(w.onAck(ack(FIRST + 5, { wnd: 7 }), 10)).toBe(AckOutcome.invalid);
    expect(w.outstandingPackets).toBe(2);
    expect(w.peerWindow).toBe(1 << 20);
  });

  it('clamps the advertised window to MAX_PEER_WINDOW_BYTES', () => {
    const { w } = setup();
    w.onAck(ack(FIRST - 1, { wnd: 0xffffffff }), 0);
    expect(w.peerWindow).toBe(MAX_PEER_WINDOW_BYTES);
    w.setPeerWindow(0xffffffff);
    expect(w.peerWindow).toBe(MAX_PEER_WINDOW_BYTES);
  });

  it('three duplicate acks resend the first outstanding packet at once, past the window just cut', () => {
    const { w, stats } = setup();
    w.enqueue(Buffer.alloc(5 * MSS));
    expect(round(w, 0).length).toBe(2);
    const cwnd = w.cwnd;
    w.onAck(ack(FIRST - 1), 10);
    w.onAck(ack(FIRST - 1), 11);
    expect(stats.fastRetransmits).toBe(0);
    w.onAck(ack(FIRST - 1), 12);
    expect(stats.fastRetransmits).toBe(1);
    expect(w.cwnd).toBe(cwnd / 2);
    // The window (one packet) is full with FIRST+1 in flight; the resend goes anyway, alone.
    expect(round(w, 12).map((o) => o.seq)).toEqual([FIRST]);
    expect(stats.retransmits).toBe(1);
    // A fourth duplicate does not resend it again.
    w.onAck(ack(FIRST - 1), 13);
    expect(round(w, 13)).toEqual([]);
    expect(stats.fastRetransmits).toBe(1);
  });

  it('a selective ack frees the packets it names and resends a hole with three above it', () => {
    const { w, stats } = setup();
    w.enqueue(Buffer.alloc(200 * MSS));
    grow(w, 6);
    round(w, 1000);
    const base = (w.nextSeq - w.outstandingPackets - 1) & SEQ_MASK;
    expect(w.outstandingPackets).toBeGreaterThanOrEqual(6);
    const before = w.outstandingPackets;
    // base+2 … base+5 arrived (bits 0-3); base+1 did not, nor base+6.
    expect(w.onAck(ack(base, { sack: [0x0f, 0, 0, 0] }), 1100)).toBe(AckOutcome.progress);
    expect(w.outstandingPackets).toBe(before - 4);
    expect(stats.fastRetransmits).toBe(1);
    expect(round(w, 1100)[0]!.seq).toBe((base + 1) & SEQ_MASK);
  });

  it('ignores selective-ack bits past what was sent', () => {
    const { w, stats } = setup();
    w.enqueue(Buffer.alloc(2 * MSS));
    round(w, 0);
    expect(w.onAck(ack(FIRST - 1, { sack: [0xff, 0xff, 0xff, 0xff] }), 10)).toBe(AckOutcome.progress);
    // Only FIRST+1 (bit 0) was ours to ack; FIRST has one packet above it, not three.
    expect(w.outstandingPackets).toBe(1);
    expect(stats.fastRetransmits).toBe(0);
  });
});

describe('SendWindow: timeouts', () => {
  it('a timeout doubles the RTO, drops the window to one packet and resends from the first', () => {
    const { w, stats } = setup();
    w.enqueue(Buffer.alloc(4 * MSS));
    expect(round(w, 0).length).toBe(2);
    expect(w.onTimeout(INITIAL_RTO_MS, 5)).toBe(true);
    expect(stats.timeouts).toBe(1);
    expect(w.rtoMs).toBe(2 * INITIAL_RTO_MS);
    expect(w.cwnd).toBe(MSS);
    // Nothing in flight: the first goes; the second waits for the window.
    expect(round(w, INITIAL_RTO_MS).map((o) => o.seq)).toEqual([FIRST]);
    expect(stats.retransmits).toBe(1);
    // Its ack makes room for the second, then new data.
    expect(w.onAck(ack(FIRST), INITIAL_RTO_MS + 50)).toBe(AckOutcome.progress);
    expect(w.consecutiveTimeouts).toBe(0);
    expect(round(w, INITIAL_RTO_MS + 50).map((o) => o.seq)).toEqual([FIRST + 1, FIRST + 2]);
  });

  it('gives up at the limit of timeouts in a row', () => {
    const { w } = setup();
    w.enqueue(Buffer.alloc(MSS));
    round(w, 0);
    for (let i = 1; i < 5; i++) expect(w.onTimeout(i * 1000, 5)).toBe(true);
    expect(w.onTimeout(5000, 5)).toBe(false);
    expect(w.consecutiveTimeouts).toBe(5);
  });

  it('the RTO never drops below MIN_RTO_MS', () => {
    const { w } = setup();
    w.enqueue(Buffer.alloc(2 * MSS));
    round(w, 0);
    w.onAck(ack(FIRST + 1), 5);
    expect(w.smoothedRttMs).toBe(5);
    expect(w.rtoMs).toBe(MIN_RTO_MS);
  });

  it('resends a SYN the timer marked, and only then', () => {
    const stats = { retransmits: 0, fastRetransmits: 0, timeouts: 0 };
    const w = new SendWindow(MSS, FIRST, stats);
    const syn = w.openSyn(0);
    expect([syn.seq, syn.type]).toEqual([FIRST, PacketType.syn]);
    expect(w.resendSyn(FIRST, 10)).toBeNull();
    w.onTimeout(1000, 2);
    expect(w.resendSyn(FIRST, 1000)).toBe(syn);
    expect(syn.transmissions).toBe(2);
    expect(stats.retransmits).toBe(1);
  });
});
