import { describe, expect, it } from 'vitest';
import { addCompactV4, addCompactV6, formatIPv6, normalizeIp, PeerCollector } from '../../src/tracker/peers.js';

describe('compact peers', () => {
  it('parses 6-byte IPv4 entries and ignores a trailing partial one', () => {
    const c = new PeerCollector();
    addCompactV4(Buffer.from([1, 2, 3, 4, 0, 80, 5, 6, 7, 8, 0xff, 0xff, 9, 9]), c);
    expect(c.peers).toEqual([
      { ip: '1.2.3.4', port: 80 },
      { ip: '5.6.7.8', port: 65535 },
    ]);
    expect(c.dropped).toBe(1);
  });
  it('drops port 0, 0.0.0.0 and duplicates', () => {
    const c = new PeerCollector();
    addCompactV4(Buffer.from([1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 0, 1, 1, 2, 3, 4, 0, 1]), c);
    expect(c.peers).toEqual([{ ip: '1.2.3.4', port: 1 }]);
    expect(c.dropped).toBe(3);
  });
  it('parses 18-byte IPv6 entries', () => {
    const c = new PeerCollector();
    const entry = (hex: string, port: number): Buffer => {
      const b = Buffer.alloc(18);
      Buffer.from(hex, 'hex').copy(b);
      b.writeUInt16BE(port, 16);
      return b;
    };
    addCompactV6(Buffer.concat([entry('00000000000000000000000000000001', 1), entry('fe800000000000000202b3fffe1e8329', 2)]), c);
    expect(c.peers).toEqual([
      { ip: '::1', port: 1 },
      { ip: 'fe80::202:b3ff:fe1e:8329', port: 2 },
    ]);
  });
  it('stops storing at the cap but counts the rest', () => {
    const c = new PeerCollector(3);
    const b = Buffer.alloc(6 * 10);
    for (let i = 0; i < 10; i++) b.writeUInt32BE(0x01000000 + i, i * 6), b.writeUInt16BE(1, i * 6 + 4);
    addCompactV4(b, c);
    expect(c.peers).toHaveLength(3);
    expect(c.dropped).toBe(7);
  });
});

describe('IPv6 text', () => {
  it.each([
    ['20010db8000000000000000000000001', '2001:db8::1'],
    ['00000000000000000000000000000000', '::'],
    ['20010db8000100000001000000000001', '2001:db8:1:0:1::1'],
    ['20010db8000000010000000000000000', '2001:db8:0:1::'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['20010db8000100010001000100010001', '2001:db8:1:1:1:1:1:1'],
    ['00000000000000000000ffff7f000001', '::ffff:127.0.0.1'],
  ])('%s -> %s', (hex, text) => {
    expect(formatIPv6(Buffer.from(hex, 'hex'))).toBe(text);
  });
  it('normalises IP literals and refuses names', () => {
    expect(normalizeIp('2001:DB8:0:0::1')).toBe('2001:db8::1');
    expect(normalizeIp('[::1]')).toBe('::1');
    expect(normalizeIp('::ffff:1.2.3.4')).toBe('::ffff:1.2.3.4');
    expect(normalizeIp('10.1.2.3')).toBe('10.1.2.3');
    expect(normalizeIp('localhost')).toBeUndefined();
    expect(normalizeIp('1.2.3.256')).toBeUndefined();
  });
});
