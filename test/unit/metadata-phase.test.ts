/**
 * The magnet's metadata check (src/session/metadata-phase.ts): a copy is accepted only when it
 * hashes to every info hash the magnet names: SHA-1 (btih), SHA-256 (btmh, BEP 52), or both for
 * a hybrid magnet; once one copy is accepted nothing more is asked or taken.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MetadataPhase } from '../../src/session/metadata-phase.js';
import { bytes } from '../helpers/make-torrent.js';

const info = bytes(40_000, 7); // three metadata pieces
const sha1 = createHash('sha1').update(info).digest();
const sha256 = createHash('sha256').update(info).digest();

/** Feeds `data` to `phase` as peer `id` would send it; returns the last outcome. */
function serve(phase: MetadataPhase, id: number, data: Buffer): string {
  phase.peerServes(id, data.length, 0);
  let out = 'none';
  for (let piece = 0; piece * 16384 < data.length; piece++) {
    out = phase.onMessage(id, { type: 'data', piece, totalSize: data.length, data: data.subarray(piece * 16384, (piece + 1) * 16384) }, 0).kind;
  }
  return out;
}

describe('MetadataPhase', () => {
  it('checks SHA-256 for a v2 magnet, SHA-1 for a v1 one, both for a hybrid one', () => {
    const other = Buffer.from(info);
    other[100]! ^= 1;
    expect(serve(new MetadataPhase({ v1: null, v2: sha256 }), 1, info)).toBe('done');
    expect(serve(new MetadataPhase({ v1: null, v2: sha256 }), 1, other)).toBe('liar');
    expect(serve(new MetadataPhase({ v1: sha1, v2: null }), 1, info)).toBe('done');
    expect(serve(new MetadataPhase({ v1: sha1, v2: sha256 }), 1, info)).toBe('done');
    // A hybrid magnet whose two hashes name different info dicts: no copy can satisfy both.
    expect(serve(new MetadataPhase({ v1: sha1, v2: createHash('sha256').update(other).digest() }), 1, info)).toBe('liar');
    expect(serve(new MetadataPhase({ v1: createHash('sha1').update(other).digest(), v2: sha256 }), 1, info)).toBe('liar');
    expect(() => new MetadataPhase({ v1: null, v2: null })).toThrow(RangeError);
  });

  it('once a copy is accepted, no peer is asked and late pieces are ignored', () => {
    const phase = new MetadataPhase({ v1: null, v2: sha256 });
    expect(phase.peerServes(2, info.length, 0)).toHaveLength(3);
    expect(serve(phase, 1, info)).toBe('done');
    expect(phase.peerServes(3, info.length, 0)).toEqual([]);
    expect(phase.onMessage(2, { type: 'data', piece: 0, totalSize: info.length, data: info.subarray(0, 16384) }, 0)).toEqual({ kind: 'none' });
    expect(phase.timedOut(10 ** 9)).toEqual([]);
  });
});
