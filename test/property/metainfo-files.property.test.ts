/**
 * parseTorrent reads the usual file entry straight from its checked bytes (V1Files.addPlain) and
 * any other through its decoded value (V1Files.add). The two must agree: a list parses to the
 * same files, or fails with the same message, whether or not each entry also has an empty `attr`
 * (which means no attributes, and sends the entry down the decoded path).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encode, type Encodable } from '../../src/bencode/index.js';
import { TorrentError } from '../../src/errors.js';
import { parseTorrent } from '../../src/metainfo/index.js';

const element = fc.oneof(
  fc.constantFrom('a', 'B', 'dir', 'file.txt', 'FILE.TXT', '.', '..', '', ' ', '_____padding_file_1', 'x'.repeat(250) + '.mkv'),
  fc.uint8Array({ maxLength: 12 }).map((u) => Buffer.from(u)),
  fc.string({ maxLength: 10 }),
);
// Mostly good values, so that whole lists parse; now and then a bad one, so that errors compare too.
const length = fc.oneof(
  { weight: 30, arbitrary: fc.nat({ max: 70_000 }) },
  { weight: 1, arbitrary: fc.constantFrom<Encodable>(0, -1, 2 ** 40, 2 ** 53 - 1, 10n ** 17n, '7', [1]) },
);
const path = fc.oneof(
  { weight: 30, arbitrary: fc.array(element, { minLength: 1, maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom<Encodable>([], 'p', [[1]], [1]) },
);
const entry = fc.record(
  { length, path, md5sum: fc.constant('0123456789abcdef0123456789abcdef') },
  { requiredKeys: ['length'] },
);

/** The files of a torrent with this file list, or its error message. */
function read(files: Encodable[]): unknown {
  // One piece as long as any file list here but the huge ones: the piece count rarely hides a file.
  const torrent = encode({ info: { files, name: 'n', 'piece length': 2 ** 29, pieces: Buffer.alloc(20) } });
  try {
    return parseTorrent(torrent).files;
  } catch (e) {
    expect(e).toBeInstanceOf(TorrentError);
    return `error: ${(e as Error).message}`;
  }
}

describe('v1 file entries (property)', () => {
  it('read the same from the bytes as from the decoded value', () => {
    let parsed = 0;
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 6 }), (entries) => {
        const plain = read(entries as Encodable[]);
        const decoded = read(entries.map((e) => ({ ...e, attr: '' })) as Encodable[]);
        expect(decoded).toEqual(plain);
        if (typeof plain !== 'string') parsed++;
      }),
      { numRuns: 2000 },
    );
    // Enough lists parse for the files themselves to be compared, not only errors.
    expect(parsed).toBeGreaterThan(200);
  });
});
