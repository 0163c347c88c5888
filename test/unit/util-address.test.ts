/** Address rules shared by the DHT, the peer set and the CLI: ports we may name, IPv4 we may send to. */
import { describe, expect, it } from 'vitest';
import { isPort, isUnicastIPv4, peerAddr } from '../../src/util/address.js';

describe('address rules', () => {
  it('a port is an integer in 1..65535', () => {
    for (const p of [1, 6881, 65535]) expect(isPort(p)).toBe(true);
    for (const p of [0, -1, 65536, 1.5, NaN, Infinity, '6881', null, undefined]) expect(isPort(p)).toBe(false);
    expect(peerAddr('10.0.0.1', 0)).toBeNull();
    expect(peerAddr('10.0.0.1', 65535)).toEqual({ host: '10.0.0.1', port: 65535 });
  });

  it('unicast IPv4 excludes 0/8, multicast and broadcast', () => {
    for (const h of ['1.2.3.4', '127.0.0.1', '10.0.0.1', '223.255.255.255']) expect(isUnicastIPv4(h)).toBe(true);
    for (const h of ['0.0.0.0', '0.1.2.3', '224.0.0.1', '239.255.255.250', '255.255.255.255']) expect(isUnicastIPv4(h)).toBe(false);
  });
});
