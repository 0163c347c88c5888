/**
 * The CLI's option parsers (src/cli/options.ts), run by commander at parse time: on any input they
 * return a value in range or throw commander's InvalidArgumentError (which main.ts turns into
 * `torrent: <flag> <value>: <reason>`, exit 2), never another exception.
 */
import { InvalidArgumentError } from 'commander';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { intArg, intOption, MIN_RATE_BYTES, peerArg, rateArg, rateOption, ratioArg, urlArg } from '../../src/cli/options.js';
import { UsageError } from '../../src/errors.js';

/** Calls `f`; a throw must be an InvalidArgumentError, else the property fails. */
function valueOrRefusal<T>(f: () => T): T | null {
  try {
    return f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return null;
  }
}

describe('intArg', () => {
  it('accepts exactly the whole numbers from min to max, written in decimal', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 70_000 }), (n) => {
        const v = valueOrRefusal(() => intArg(1, 65535)(String(n)));
        expect(v).toBe(n >= 1 && n <= 65535 ? n : null);
      }),
    );
  });

  it('refuses anything else with an InvalidArgumentError only', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const v = valueOrRefusal(() => intArg(0, 65535)(s));
        if (v !== null) expect(String(v)).toBe(s.replace(/^0+(?=\d)/, ''));
      }),
    );
    for (const bad of ['', ' 1', '1 ', '-1', '+1', '1.0', '1e3', '0x10', '65536', '99999999999999999999']) {
      expect(() => intArg(0, 65535)(bad), bad).toThrow(InvalidArgumentError);
    }
  });

  it('says the range; intOption says it with the flag, as a UsageError', () => {
    expect(() => intArg(1, 3600)('0')).toThrow('expected a whole number from 1 to 3600');
    expect(() => intOption('--timeout', '0', 1, 3600)).toThrow(UsageError);
    expect(() => intOption('--timeout', '0', 1, 3600)).toThrow('--timeout 0: expected a whole number from 1 to 3600');
  });
});

describe('rateArg', () => {
  it('reads binary multiples', () => {
    expect(rateArg('500K')).toBe(500 * 1024);
    expect(rateArg('10M')).toBe(10 * 1024 ** 2);
    expect(rateArg('1.5MiB')).toBe(1.5 * 1024 ** 2);
    expect(rateArg('1G')).toBe(1024 ** 3);
    expect(rateArg('2048')).toBe(2048);
  });

  it('never gives less than MIN_RATE_BYTES, and refuses only with InvalidArgumentError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^\d{1,6}(\.\d{1,3})?[KMGkmg]?(i?B)?$/)), (s) => {
        const v = valueOrRefusal(() => rateArg(s));
        if (v !== null) {
          expect(Number.isSafeInteger(v)).toBe(true);
          expect(v).toBeGreaterThanOrEqual(MIN_RATE_BYTES);
        }
      }),
    );
    expect(() => rateArg('1000')).toThrow(InvalidArgumentError);
    expect(() => rateOption('--upload-limit', 'fast')).toThrow('--upload-limit fast: expected a rate of at least 1K');
  });
});

describe('ratioArg', () => {
  it('a finite number of 0 or more', () => {
    expect(ratioArg('0')).toBe(0);
    expect(ratioArg('1.5')).toBe(1.5);
    for (const bad of ['-1', 'NaN', 'Infinity', '1e400', '', 'one']) expect(() => ratioArg(bad), bad).toThrow(InvalidArgumentError);
  });
});

describe('peerArg and urlArg collect repeatable flags', () => {
  it('peerArg parses host:port, IPv6 in brackets, and keeps earlier values', () => {
    const one = peerArg('127.0.0.1:6881');
    expect(peerArg('[::1]:51413', one)).toEqual([
      { host: '127.0.0.1', port: 6881 },
      { host: '::1', port: 51413 },
    ]);
    for (const bad of ['nohost', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', '::1:80']) expect(() => peerArg(bad), bad).toThrow(InvalidArgumentError);
  });

  it('urlArg keeps URLs of the given schemes only', () => {
    const trackers = urlArg(['http:', 'udp:']);
    expect(trackers('udp://t.example:1337', trackers('http://t.example/announce'))).toEqual(['http://t.example/announce', 'udp://t.example:1337']);
    expect(() => trackers('wss://t.example')).toThrow('expected a URL starting http or udp:');
    expect(() => trackers('not a url')).toThrow('not a URL');
  });

  it('never throws anything but InvalidArgumentError', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        valueOrRefusal(() => peerArg(s));
        valueOrRefusal(() => urlArg(['http:'])(s));
        valueOrRefusal(() => ratioArg(s));
      }),
    );
  });
});
