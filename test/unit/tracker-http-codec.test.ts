import { describe, expect, it } from 'vitest';
import { encode } from '../../src/bencode/index.js';
import {
  buildAnnounceUrl,
  buildScrapeUrl,
  parseAnnounceBody,
  parseScrapeBody,
  percentEncodeBytes,
  scrapeUrlFromAnnounce,
} from '../../src/tracker/http-codec.js';
import { TrackerError } from '../../src/tracker/tracker-error.js';
import type { AnnounceRequest } from '../../src/tracker/types.js';

const infoHash = Buffer.from('0123456789abcdef0123456789abcdef01234567', 'hex');
const peerId = Buffer.from('-TR0001-\x00\xff ~.-_azAZ0', 'latin1');

function req(over: Partial<AnnounceRequest> = {}): AnnounceRequest {
  return { infoHash, peerId, port: 6881, uploaded: 1, downloaded: 2, left: 3, key: 0xdeadbeef, ...over };
}

function thrown(f: () => unknown): TrackerError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TrackerError);
    return e as TrackerError;
  }
  throw new Error('did not throw');
}

describe('percentEncodeBytes', () => {
  it('encodes every byte outside the unreserved set, one byte at a time', () => {
    expect(percentEncodeBytes(Buffer.from([0x00, 0x20, 0x7e, 0x2e, 0x2d, 0x5f, 0x41, 0x7a, 0x39, 0xff, 0x25, 0x2b]))).toBe(
      '%00%20~.-_Az9%FF%25%2B',
    );
  });
  it('never treats bytes as UTF-8 text', () => {
    // 0xc3 0xa9 is 'é' in UTF-8; it must stay two separate escapes, and a lone 0xe9 one escape.
    expect(percentEncodeBytes(Buffer.from([0xc3, 0xa9, 0xe9]))).toBe('%C3%A9%E9');
  });
  it('round-trips through decodeURIComponent-free byte parsing', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const enc = percentEncodeBytes(all);
    const back = Buffer.from(enc.replace(/%([0-9A-F]{2})|(.)/g, (_m, h: string, c: string) => (h ? String.fromCharCode(parseInt(h, 16)) : c)), 'latin1');
    expect(back.equals(all)).toBe(true);
  });
});

describe('buildAnnounceUrl', () => {
  it('carries every BEP 3 parameter', () => {
    const u = buildAnnounceUrl('http://t.example/announce', req({ event: 'started', numwant: 30, ip: '10.0.0.1' }));
    expect(u).toBe(
      'http://t.example/announce?info_hash=%01%23Eg%89%AB%CD%EF%01%23Eg%89%AB%CD%EF%01%23Eg' +
        '&peer_id=-TR0001-%00%FF%20~.-_azAZ0&port=6881&uploaded=1&downloaded=2&left=3&compact=1' +
        '&numwant=30&key=deadbeef&event=started&ip=10.0.0.1',
    );
  });
  it('keeps an existing query (passkey), drops the fragment, sends trackerid', () => {
    const u = buildAnnounceUrl('https://t.example/a/announce?passkey=abc#frag', req(), Buffer.from([1, 0x41]));
    expect(u.startsWith('https://t.example/a/announce?passkey=abc&info_hash=')).toBe(true);
    expect(u).toContain('&trackerid=%01A');
    expect(u).not.toContain('frag');
    expect(u).not.toContain('event=');
  });
  it('writes bigint figures in decimal and clamps numwant', () => {
    const u = buildAnnounceUrl('http://t/announce', req({ left: 2n ** 62n, numwant: 1e9 }));
    expect(u).toContain(`left=${2n ** 62n}`);
    expect(u).toContain('numwant=1000');
  });
  it('refuses malformed requests with a typed error', () => {
    expect(thrown(() => buildAnnounceUrl('http://t/announce', req({ infoHash: Buffer.alloc(19) }))).kind).toBe('invalid-request');
    expect(thrown(() => buildAnnounceUrl('http://t/announce', req({ port: 70000 }))).kind).toBe('invalid-request');
    expect(thrown(() => buildAnnounceUrl('http://t/announce', req({ left: -1 }))).kind).toBe('invalid-request');
    expect(thrown(() => buildAnnounceUrl('http://t/announce', req({ key: 2 ** 32 }))).kind).toBe('invalid-request');
  });
});

describe('scrape URLs', () => {
  it.each([
    ['http://example.com/announce', 'http://example.com/scrape'],
    ['http://example.com/x/announce', 'http://example.com/x/scrape'],
    ['http://example.com/announce.php', 'http://example.com/scrape.php'],
    ['http://example.com/announce?x2%0644', 'http://example.com/scrape?x2%0644'],
    ['http://example.com/a', undefined],
    ['http://example.com/announce?x=2/4', 'http://example.com/scrape?x=2/4'],
    ['http://example.com/x%064announce', undefined],
    ['http://example.com/', undefined],
  ])('%s -> %s', (a, s) => {
    expect(scrapeUrlFromAnnounce(a)).toBe(s);
  });
  it('lists each info hash', () => {
    const u = buildScrapeUrl('http://t/scrape', [infoHash, Buffer.alloc(20, 0xff)]);
    expect(u).toBe(`http://t/scrape?info_hash=${percentEncodeBytes(infoHash)}&info_hash=${'%FF'.repeat(20)}`);
  });
});

describe('parseAnnounceBody', () => {
  it('reads compact IPv4 and IPv6 peers and every documented field', () => {
    const peers = Buffer.from([127, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0, 80]);
    const peers6 = Buffer.concat([Buffer.from('20010db8000000000000000000000001', 'hex'), Buffer.from([0x1a, 0xe2])]);
    const body = encode({
      interval: 1800,
      'min interval': 900,
      'tracker id': 'abc',
      complete: 5,
      incomplete: 7,
      'warning message': 'be nice',
      peers,
      peers6,
    });
    const r = parseAnnounceBody(body);
    expect(r.peers).toEqual([
      { ip: '127.0.0.1', port: 6881 },
      { ip: '10.0.0.2', port: 80 },
      { ip: '2001:db8::1', port: 6882 },
    ]);
    expect(r.interval).toBe(1800);
    expect(r.minInterval).toBe(900);
    expect(r.trackerId?.toString()).toBe('abc');
    expect(r.complete).toBe(5);
    expect(r.incomplete).toBe(7);
    expect(r.warning).toBe('be nice');
  });
  it('reads dictionary peers, dropping port 0, hostnames and junk', () => {
    const body = encode({
      interval: 60,
      peers: [
        { ip: '1.2.3.4', port: 1000, 'peer id': 'x'.repeat(20) },
        { ip: '1.2.3.4', port: 0 },
        { ip: 'evil.example', port: 1 },
        { ip: '[2001:DB8:0:0:0:0:0:2]', port: 2 },
        { port: 3 },
        'garbage',
        { ip: '5.6.7.8', port: 70000 },
      ],
    });
    expect(parseAnnounceBody(body).peers).toEqual([
      { ip: '1.2.3.4', port: 1000 },
      { ip: '2001:db8::2', port: 2 },
    ]);
  });
  it('defaults a missing interval and tolerates missing peers', () => {
    const r = parseAnnounceBody(encode({}));
    expect(r.interval).toBe(1800);
    expect(r.peers).toEqual([]);
  });
  it('turns failure reason into a failure error with sanitised text', () => {
    const e = thrown(() => parseAnnounceBody(encode({ 'failure reason': 'torrent not registered\x1b[31m' })));
    expect(e.kind).toBe('failure');
    expect(e.code).toBe('ERR_TRACKER');
    expect(e.message).toBe('tracker refused: torrent not registered [31m');
  });
  it.each([
    ['HTML', Buffer.from('<!DOCTYPE html><html><body>Not Found</body></html>'), /HTML/],
    ['empty', Buffer.alloc(0), /empty/],
    ['truncated', encode({ interval: 1800, peers: Buffer.alloc(60) }).subarray(0, 30), /not valid bencode/],
    ['not a dict', Buffer.from('li1ee'), /not a dictionary/],
    ['trailing garbage', Buffer.from('de<html>'), /not valid bencode/],
  ])('%s body is a protocol error', (_name, body, msg) => {
    const e = thrown(() => parseAnnounceBody(body));
    expect(e.kind).toBe('protocol');
    expect(e.message).toMatch(msg);
  });
  it('caps the number of peers', () => {
    const many = Buffer.alloc(6 * 5000);
    for (let i = 0; i < 5000; i++) {
      many.writeUInt32BE(0x0a000000 + i, i * 6);
      many.writeUInt16BE(1 + (i % 60000), i * 6 + 4);
    }
    expect(parseAnnounceBody(encode({ interval: 1, peers: many })).peers).toHaveLength(2000);
    expect(parseAnnounceBody(encode({ interval: 1, peers: many }), 10).peers).toHaveLength(10);
  });
});

describe('parseScrapeBody', () => {
  it('keys the files dict by hex info hash and keeps only asked hashes', () => {
    const other = Buffer.alloc(20, 9);
    const body = Buffer.concat([
      Buffer.from('d5:filesd20:'),
      infoHash,
      encode({ complete: 1, downloaded: 2, incomplete: 3 }),
      Buffer.from('20:'),
      other,
      encode({ complete: 9 }),
      Buffer.from('ee'),
    ]);
    const r = parseScrapeBody(body, [infoHash]);
    expect([...r.files]).toEqual([[infoHash.toString('hex'), { complete: 1, downloaded: 2, incomplete: 3 }]]);
  });
  it('accepts the UTF-8-mangled key bittorrent-tracker sends for high bytes', () => {
    const mangled = Buffer.from(infoHash.toString('latin1'), 'utf8');
    expect(mangled.length).toBeGreaterThan(20);
    const body = Buffer.concat([Buffer.from(`d5:filesd${mangled.length}:`), mangled, encode({ complete: 4 }), Buffer.from('ee')]);
    expect(parseScrapeBody(body, [infoHash]).files.get(infoHash.toString('hex'))).toEqual({ complete: 4, incomplete: 0, downloaded: 0 });
  });
  it('needs a files dict', () => {
    expect(thrown(() => parseScrapeBody(encode({ x: 1 }), [infoHash])).kind).toBe('protocol');
  });
});
