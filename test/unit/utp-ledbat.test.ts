/** LEDBAT (src/utp/ledbat.ts) alone: window growth, back-off, loss, timeouts, base-delay history. */
import { describe, expect, it } from 'vitest';
import {
  BASE_BUCKET_MS,
  BASE_HISTORY_MINUTES,
  INIT_CWND_PACKETS,
  Ledbat,
  MAX_CWND_BYTES,
  MAX_GAIN_BYTES_PER_RTT,
  MIN_LOSS_INTERVAL_MS,
  TARGET_DELAY_US,
} from '../../src/utp/ledbat.js';

const MSS = 1380;
/** Samples are the peer's view of our clock: an arbitrary offset plus the one-way delay. */
const OFFSET = 0xfffff000; // near the 32-bit wrap on purpose

/** Leaves slow start with one delay over target, at a known window. */
function steady(queueUs: number): Ledbat {
  const l = new Ledbat(MSS);
  l.addDelaySample(OFFSET + 20_000, 0);
  for (let i = 0; i < 20; i++) l.onAck(MSS, true);
  l.addDelaySample(OFFSET + 20_000 + 2 * TARGET_DELAY_US, 1);
  for (let i = 0; i < 4; i++) l.addDelaySample(OFFSET + 20_000 + 2 * TARGET_DELAY_US, 1);
  l.onAck(MSS, true);
  expect(l.inSlowStart).toBe(false);
  for (let i = 0; i < 4; i++) l.addDelaySample((OFFSET + 20_000 + queueUs) >>> 0, 2);
  return l;
}

describe('LEDBAT', () => {
  it(`starts at ${INIT_CWND_PACKETS} packets and grows by the bytes acked in slow start`, () => {
    const l = new Ledbat(MSS);
    expect(l.cwnd).toBe(INIT_CWND_PACKETS * MSS);
    l.addDelaySample(OFFSET, 0);
    l.onAck(MSS, true);
    expect(l.cwnd).toBe((INIT_CWND_PACKETS + 1) * MSS);
  });

  it('grows under target, by at most MAX_GAIN_BYTES_PER_RTT per window of acks', () => {
    const l = steady(0);
    const before = l.cwnd;
    // One RTT's worth of acks: a full window.
    let acked = 0;
    while (acked < before) {
      l.onAck(MSS, true);
      acked += MSS;
    }
    expect(l.cwnd).toBeGreaterThan(before);
    expect(l.cwnd - before).toBeLessThanOrEqual(MAX_GAIN_BYTES_PER_RTT * 1.5);
  });

  it('shrinks above target, in proportion to how far above', () => {
    const l = steady(TARGET_DELAY_US * 1.5);
    const before = l.cwnd;
    l.onAck(MSS, true);
    expect(l.cwnd).toBeLessThan(before);
    const far = steady(TARGET_DELAY_US * 3);
    const farBefore = far.cwnd;
    far.onAck(MSS, true);
    expect(farBefore - far.cwnd).toBeGreaterThan(before - l.cwnd);
  });

  it('does not grow while the sender does not fill the window', () => {
    const l = steady(0);
    const before = l.cwnd;
    for (let i = 0; i < 100; i++) l.onAck(MSS, false);
    expect(l.cwnd).toBe(before);
  });

  it('halves on loss, once per MIN_LOSS_INTERVAL_MS', () => {
    const l = new Ledbat(MSS);
    l.addDelaySample(OFFSET, 0);
    for (let i = 0; i < 30; i++) l.onAck(MSS, true);
    const w = l.cwnd;
    expect(l.onLoss(1000)).toBe(true);
    expect(l.cwnd).toBe(w / 2);
    expect(l.onLoss(1000 + MIN_LOSS_INTERVAL_MS - 1)).toBe(false);
    expect(l.cwnd).toBe(w / 2);
    expect(l.onLoss(1000 + MIN_LOSS_INTERVAL_MS)).toBe(true);
    expect(l.cwnd).toBe(w / 4);
    expect(l.inSlowStart).toBe(false);
  });

  it('never drops below one packet, nor grows past MAX_CWND_BYTES', () => {
    const l = new Ledbat(MSS);
    for (let t = 0; t < 20; t++) l.onLoss(t * 1000);
    expect(l.cwnd).toBe(MSS);
    const g = new Ledbat(MSS);
    g.addDelaySample(OFFSET, 0);
    for (let i = 0; i < 10_000; i++) g.onAck(64 * 1024, true);
    expect(g.cwnd).toBe(MAX_CWND_BYTES);
  });

  it('a timeout drops the window to one packet and restarts slow start', () => {
    const l = steady(0);
    l.onTimeout(5000);
    expect(l.cwnd).toBe(MSS);
    expect(l.inSlowStart).toBe(true);
  });

  it('takes the base delay over the last minutes only: an old minimum ages out', () => {
    const l = new Ledbat(MSS);
    l.addDelaySample(OFFSET + 1_000, 0); // an unusually short delay, once
    for (let m = 1; m <= BASE_HISTORY_MINUTES + 1; m++) l.addDelaySample(OFFSET + 50_000, m * BASE_BUCKET_MS);
    expect(l.baseDelayUs).toBe((OFFSET + 50_000) >>> 0);
  });

  it('compares delays across the 32-bit wrap', () => {
    const l = new Ledbat(MSS);
    l.addDelaySample(0xfffffff0, 0);
    l.addDelaySample(0x00000010, 1); // 32 µs later in wrapped time: not a new minimum
    expect(l.baseDelayUs).toBe(0xfffffff0);
  });
});
