/**
 * The dialer's `connected` signal (src/session/connector.ts): it comes as soon as the TCP
 * connection is up, before an MSE handshake on it has an answer, so the session stops counting
 * the dial as half-open while a distant peer's handshake is still on its way. Over loopback: a
 * listener that accepts and never says a word. Every socket is closed by the end of its test.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { tcpDialer } from '../../src/session/connector.js';
import { systemClock } from '../../src/util/clock.js';

const sockets: Socket[] = [];
const server = createServer((s) => sockets.push(s));
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
});

async function silentPeer(): Promise<{ host: string; port: number }> {
  if (!server.listening) await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { host: '127.0.0.1', port: (server.address() as { port: number }).port };
}

function dialer(encryption: 'require' | 'prefer' | 'off') {
  return tcpDialer({ encryption, transport: 'tcp', utp: () => null, handshake: Buffer.alloc(68), infoHash: Buffer.alloc(20, 7), clock: systemClock(), randomBytes });
}

describe('dial: connected before the handshake', () => {
  for (const mode of ['require', 'prefer'] as const) {
    it(`--encryption ${mode}: says connected while the MSE handshake still waits for its answer`, async () => {
      const peer = await silentPeer();
      const ac = new AbortController();
      let connected = 0;
      const dial = dialer(mode).dial(peer, 5_000, ac.signal, 0, undefined, () => connected++);
      const settled = dial.then(() => 'resolved', (e: Error) => e.message);
      for (let i = 0; i < 200 && connected === 0; i++) await new Promise((r) => setTimeout(r, 5));
      expect(connected).toBe(1);
      expect(await Promise.race([settled, new Promise((r) => setTimeout(() => r('pending'), 100))])).toBe('pending');
      ac.abort();
      expect(await settled).not.toBe('resolved');
      expect(connected).toBe(1);
    });
  }

  it('--encryption off: says connected once, and the dial resolves', async () => {
    const peer = await silentPeer();
    let connected = 0;
    const r = await dialer('off').dial(peer, 5_000, new AbortController().signal, 0, undefined, () => connected++);
    r.stream.destroy();
    expect(connected).toBe(1);
  });
});

afterAll(async () => {
  if (server.listening) await new Promise<void>((r) => server.close(() => r()));
});
