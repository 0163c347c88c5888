/**
 * Dialling over uTP (src/session/connector.ts): the connect deadline runs on the session's clock,
 * and its timer is cancelled however the dial ends. A UtpSocket over a scripted datagram
 * transport and a fake clock stand in for the network and for time.
 */
import { describe, expect, it } from 'vitest';
import { tcpDialer } from '../../src/session/connector.js';
import { UtpConnection } from '../../src/utp/connection.js';
import { PacketType } from '../../src/utp/packet.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { answerSyn, scriptedUtpSocket } from '../helpers/utp-wire.js';

const PEER = { host: '10.0.0.1', port: 5000 };
/** Shorter than uTP's own SYN give-up (1 s, then 2 s): only the dial's deadline can end it. */
const TIMEOUT_MS = 500;

function harness() {
  const clock = new FakeClock();
  let counter = 0;
  const random = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => (counter++ * 37 + 11) & 0xff));
  const { sock, sent } = scriptedUtpSocket(clock, random);
  const dialer = tcpDialer({
    encryption: 'off',
    transport: 'utp',
    utp: () => sock,
    handshake: Buffer.alloc(68),
    infoHash: Buffer.alloc(20),
    clock,
    randomBytes: random,
  });
  /** The peer's answer to our latest SYN: a STATE acking it (connects), or a RESET (refuses). */
  const answer = (type: typeof PacketType.state | typeof PacketType.reset): void => answerSyn(sock, sent, type, PEER);
  return { clock, sock, dialer, answer };
}

/** The dial's outcome, caught so a rejection is read after the clock moves. */
const outcome = <T>(p: Promise<T>): Promise<{ ok: T } | { error: string }> => p.then((ok) => ({ ok }), (e: Error) => ({ error: e.message }));

describe('uTP dial deadline', () => {
  it("times out on the session's clock", async () => {
    const h = harness();
    const before = h.clock.timerCount;
    let settled = false;
    const dial = outcome(h.dialer.dial(PEER, TIMEOUT_MS, new AbortController().signal)).finally(() => (settled = true));
    await h.clock.advance(TIMEOUT_MS - 1);
    expect(settled).toBe(false);
    // No real time passes: only the fake clock can have ended the dial.
    await h.clock.advance(1);
    expect(settled).toBe(true);
    expect(await dial).toEqual({ error: 'timeout' });
    // The connection went with the dial, its timers with it.
    expect(h.clock.timerCount).toBe(before);
    await h.sock.close();
  });

  it('cancels the deadline once connected: the connection outlives it', async () => {
    const h = harness();
    const dial = outcome(h.dialer.dial(PEER, TIMEOUT_MS, new AbortController().signal));
    await h.clock.advance(1);
    h.answer(PacketType.state);
    const got = await dial;
    if ('error' in got) throw new Error(`the dial failed: ${got.error}`);
    // Encryption is off, so the stream handed over is the uTP connection itself.
    const conn = got.ok.stream;
    if (!(conn instanceof UtpConnection)) throw new Error(`the dial handed over a ${conn.constructor.name}, not the UtpConnection`);
    expect(conn.state).toBe('connected');
    await h.clock.advance(2 * TIMEOUT_MS);
    expect(conn.state).toBe('connected');
    expect(conn.destroyed).toBe(false);
    conn.destroy();
    await h.sock.close();
  });

  it('cancels the deadline when the dial is aborted or refused', async () => {
    const h = harness();
    const before = h.clock.timerCount;
    const ac = new AbortController();
    const aborted = outcome(h.dialer.dial(PEER, TIMEOUT_MS, ac.signal));
    await h.clock.advance(1);
    ac.abort();
    expect(await aborted).toEqual({ error: 'aborted' });
    expect(h.clock.timerCount).toBe(before);

    const refused = outcome(h.dialer.dial(PEER, TIMEOUT_MS, new AbortController().signal));
    await h.clock.advance(1);
    h.answer(PacketType.reset);
    // Refused as a TCP connect is: the Dialer's rejection names the errno over either transport.
    expect(await refused).toEqual({ error: 'ECONNREFUSED' });
    expect(h.clock.timerCount).toBe(before);
    await h.sock.close();
  });
});
