import { describe, expect, it } from 'vitest';
import { MagnetError } from '../../src/errors.js';
import { formatMagnet, formatSelect, parseMagnet, parseSelect } from '../../src/metainfo/index.js';

const IH = 'a0a9be0b4c8f3b5e2f5d0e6c6b1c0c0f1e2d3c4b';

describe('magnet', () => {
  it('round-trips through formatMagnet', () => {
    const uri = `magnet:?xt=urn:btih:${IH}&dn=a%20b&tr=http%3A%2F%2Ft%2Fa&tr=udp%3A%2F%2Fu%3A1&ws=http%3A%2F%2Fw%2F&x.pe=1.2.3.4%3A5&so=0,2-3&xl=99`;
    const m = parseMagnet(uri);
    const again = parseMagnet(formatMagnet(m));
    expect(again).toEqual(m);
    expect(m.length).toBe(99);
  });

  it.each([
    ['magnet:?xt=urn:btih:', /invalid info hash/],
    [`magnet:?xt=urn:btih:${'g'.repeat(40)}`, /invalid info hash/],
    [`magnet:?xt=urn:btmh:1114${'ab'.repeat(20)}`, /invalid v2 info hash/],
    ['magnet:?dn=x', /no info hash/],
    [`http://x/?xt=urn:btih:${IH}`, /not a magnet URI/],
    [`magnet:?xt=urn:btih:${IH}&so=5-1`, /invalid file selection range/],
    [`magnet:?xt=urn:btih:${IH}&so=0-9999999`, /more than 1000000 files/],
    [`magnet:?xt=urn:btih:${IH}&so=x`, /invalid file selection/],
    [`magnet:?xt=urn:btih:${IH}&tr=${'a'.repeat(70_000)}`, /more than 65536/],
  ])('rejects %s', (uri, pattern) => {
    expect(() => parseMagnet(uri)).toThrow(MagnetError);
    expect(() => parseMagnet(uri)).toThrow(pattern);
  });

  it('ignores peers it cannot read', () => {
    const m = parseMagnet(`magnet:?xt=urn:btih:${IH}&x.pe=nonsense&x.pe=1.2.3.4:0&x.pe=[::1]:70000&x.pe=[::1]:1`);
    expect(m.peers).toEqual([{ host: '::1', port: 1 }]);
  });

  it('parses and formats BEP 53 selections', () => {
    expect(parseSelect('4-6,0,2,5')).toEqual([0, 2, 4, 5, 6]);
    expect(formatSelect([0, 2, 4, 5, 6])).toBe('0,2,4-6');
  });
});
