/**
 * A refused dial reads the same over uTP as over TCP. The Dialer (src/session/connector.ts)
 * rejects with the reason as its message, taken from the transport error's `code`; a TCP connect
 * to a closed port gives ECONNREFUSED, and a uTP SYN answered by a RESET must give the same, not
 * an error code of ours. TCP is a real loopback connect to a port just closed; uTP is a UtpSocket
 * over a scripted datagram transport on a fake clock.
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { tcpDialer, type TransportMode } from '../../src/session/connector.js';
import { PacketType } from '../../src/utp/packet.js';
import type { UtpSocket } from '../../src/utp/socket.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { answerSyn, scriptedUtpSocket } from '../helpers/utp-wire.js';

const TIMEOUT_MS = 5_000;

function dialer(transport: TransportMode, utp: UtpSocket | null, clock: FakeClock) {
  let counter = 0;
  return tcpDialer({
    encryption: 'off',
    transport,
    utp: () => utp,
    handshake: Buffer.alloc(68),
    infoHash: Buffer.alloc(20),
    clock,
    randomBytes: (n) => Buffer.from(Array.from({ length: n }, () => (counter++ * 37 + 11) & 0xff)),
  });
}

/** The rejection's message, or 'connected'. */
const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => 'connected', (e: Error) => e.message);

/** A loopback TCP port nothing listens on: one just closed. */
async function closedTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('a refused dial', () => {
  it('over TCP rejects with ECONNREFUSED', async () => {
    const port = await closedTcpPort();
    const why = await outcome(dialer('tcp', null, new FakeClock()).dial({ host: '127.0.0.1', port }, TIMEOUT_MS, new AbortController().signal));
    expect(why).toBe('ECONNREFUSED');
  });

  it('over uTP (the SYN answered by a RESET) rejects with ECONNREFUSED too', async () => {
    const clock = new FakeClock();
    const { sock, sent } = scriptedUtpSocket(clock, (n) => Buffer.alloc(n, 7));
    const peer = { host: '10.0.0.1', port: 5000 };
    const dial = outcome(dialer('utp', sock, clock).dial(peer, TIMEOUT_MS, new AbortController().signal));
    await clock.advance(1);
    answerSyn(sock, sent, PacketType.reset, peer);
    expect(await dial).toBe('ECONNREFUSED');
    expect(clock.timerCount).toBe(0);
    await sock.close();
  });
});
