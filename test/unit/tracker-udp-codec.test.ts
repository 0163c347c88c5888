import { describe, expect, it } from 'vitest';
import { TrackerError } from '../../src/tracker/tracker-error.js';
import type { AnnounceRequest } from '../../src/tracker/types.js';
import {
  decodeReply,
  encodeAnnounce,
  encodeConnect,
  encodeScrape,
  MAX_SCRAPE_HASHES_PER_PACKET,
  peekTransactionId,
} from '../../src/tracker/udp-codec.js';

const cid = Buffer.from('0102030405060708', 'hex');
const infoHash = Buffer.alloc(20, 0xab);
const peerId = Buffer.alloc(20, 0x2d);

function req(over: Partial<AnnounceRequest> = {}): AnnounceRequest {
  return { infoHash, peerId, port: 6881, uploaded: 3, downloaded: 1, left: 2n ** 40n, key: 0xcafebabe, ...over };
}

function header(action: number, tx: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(action, 0);
  b.writeUInt32BE(tx, 4);
  return b;
}

describe('UDP requests (BEP 15)', () => {
  it('connect: protocol id, action 0, transaction id', () => {
    expect(encodeConnect(0x11223344).toString('hex')).toBe('0000041727101980' + '00000000' + '11223344');
  });
  it('announce: 98 bytes laid out as BEP 15 says', () => {
    const b = encodeAnnounce(cid, 0xfeedf00d, req({ event: 'started', numwant: 25, ip: '10.1.2.3' }));
    expect(b.length).toBe(98);
    expect(b.subarray(0, 8).equals(cid)).toBe(true);
    expect(b.readUInt32BE(8)).toBe(1);
    expect(b.readUInt32BE(12)).toBe(0xfeedf00d);
    expect(b.subarray(16, 36).equals(infoHash)).toBe(true);
    expect(b.subarray(36, 56).equals(peerId)).toBe(true);
    expect(b.readBigUInt64BE(56)).toBe(1n); // downloaded
    expect(b.readBigUInt64BE(64)).toBe(2n ** 40n); // left
    expect(b.readBigUInt64BE(72)).toBe(3n); // uploaded
    expect(b.readUInt32BE(80)).toBe(2); // started
    expect([...b.subarray(84, 88)]).toEqual([10, 1, 2, 3]);
    expect(b.readUInt32BE(88)).toBe(0xcafebabe);
    expect(b.readInt32BE(92)).toBe(25);
    expect(b.readUInt16BE(96)).toBe(6881);
  });
  it('announce: event ids, default numwant -1, IPv6 ip left as 0', () => {
    const ids = (['completed', 'stopped', undefined] as const).map((event) => {
      const r = event === undefined ? req({ ip: '::1' }) : req({ event });
      return encodeAnnounce(cid, 1, r).readUInt32BE(80);
    });
    expect(ids).toEqual([1, 3, 0]);
    const b = encodeAnnounce(cid, 1, req({ ip: '::1' }));
    expect(b.readInt32BE(92)).toBe(-1);
    expect(b.readUInt32BE(84)).toBe(0);
  });
  it('scrape: up to 74 hashes', () => {
    const b = encodeScrape(cid, 7, [infoHash, Buffer.alloc(20, 1)]);
    expect(b.length).toBe(56);
    expect(b.readUInt32BE(8)).toBe(2);
    expect(b.subarray(36, 56).equals(Buffer.alloc(20, 1))).toBe(true);
    const tooMany = Array.from({ length: MAX_SCRAPE_HASHES_PER_PACKET + 1 }, () => infoHash);
    expect(() => encodeScrape(cid, 7, tooMany)).toThrow(TrackerError);
  });
  it('refuses a malformed request with a typed error', () => {
    expect(() => encodeAnnounce(cid, 1, req({ peerId: Buffer.alloc(3) }))).toThrow(TrackerError);
    expect(() => encodeAnnounce(Buffer.alloc(4), 1, req())).toThrow(TrackerError);
  });
});

describe('UDP replies (BEP 15)', () => {
  it('connect reply', () => {
    const r = decodeReply(Buffer.concat([header(0, 42), cid]), 4);
    expect(r).toEqual({ action: 'connect', transactionId: 42, connectionId: cid });
  });
  it('announce reply, IPv4 socket: 6-byte peers, port 0 dropped', () => {
    const b = Buffer.concat([
      header(1, 9),
      Buffer.from([0, 0, 7, 8, 0, 0, 0, 3, 0, 0, 0, 4]),
      Buffer.from([127, 0, 0, 1, 0x1a, 0xe1, 1, 1, 1, 1, 0, 0]),
    ]);
    const r = decodeReply(b, 4);
    expect(r).toEqual({
      action: 'announce',
      transactionId: 9,
      response: { peers: [{ ip: '127.0.0.1', port: 6881 }], interval: 1800, incomplete: 3, complete: 4 },
    });
  });
  it('announce reply, IPv6 socket: 18-byte peers', () => {
    const peer = Buffer.alloc(18);
    peer[15] = 1;
    peer.writeUInt16BE(51413, 16);
    const r = decodeReply(Buffer.concat([header(1, 9), Buffer.alloc(12), peer]), 6);
    expect(r.action === 'announce' && r.response.peers).toEqual([{ ip: '::1', port: 51413 }]);
  });
  it('scrape reply: seeders, completed, leechers per hash', () => {
    const b = Buffer.concat([header(2, 5), Buffer.from([0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3])]);
    expect(decodeReply(b, 4)).toEqual({ action: 'scrape', transactionId: 5, stats: [{ complete: 1, downloaded: 2, incomplete: 3 }] });
  });
  it('error reply carries the sanitised message', () => {
    const r = decodeReply(Buffer.concat([header(3, 77), Buffer.from('bad \x07info hash')]), 4);
    expect(r).toEqual({ action: 'error', transactionId: 77, message: 'bad  info hash' });
  });
  it('reports the transaction id so the client can reject a wrong one', () => {
    const b = Buffer.concat([header(0, 0xdeadbeef), cid]);
    expect(peekTransactionId(b)).toBe(0xdeadbeef);
    expect(decodeReply(b, 4).transactionId).not.toBe(1234);
    expect(peekTransactionId(Buffer.alloc(7))).toBeUndefined();
  });
  it.each([
    ['short', Buffer.alloc(5)],
    ['short connect', Buffer.concat([header(0, 1), Buffer.alloc(4)])],
    ['short announce', Buffer.concat([header(1, 1), Buffer.alloc(4)])],
    ['unknown action', header(9, 1)],
  ])('%s reply is a protocol error', (_n, b) => {
    try {
      decodeReply(b, 4);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(TrackerError);
      expect((e as TrackerError).kind).toBe('protocol');
    }
  });
});
