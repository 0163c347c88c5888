/**
 * Conformance: every torrent and magnet of ../shared/corpus gets libtorrent 2.0.8's verdict, and
 * accepted torrents agree on the facts (hashes, name, lengths, geometry, files, trackers).
 * Deliberate differences are listed below with the reason.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TorrentError } from '../../src/errors.js';
import { formatHostPort, parseMagnet, parseTorrent } from '../../src/metainfo/index.js';
import { corpusDir } from '../helpers/corpus.js';
import { needs } from '../helpers/requirements.js';

/** ../shared/corpus: CI always has it (a missing corpus fails there); elsewhere these skip, saying why. */
const corpus = needs('corpus');

interface ExpectedFile {
  path: string;
  length: number;
  offset: number;
  pad: boolean;
  symlink: boolean;
}
interface ExpectedTorrent {
  verdict: 'accept' | 'reject';
  error?: string;
  infoHash: string | null;
  infoHashV2: string | null;
  name: string;
  length: number;
  totalSize: number;
  pieceLength: number;
  pieceCount: number;
  files: ExpectedFile[];
  announce: string[][];
  urlList: string[];
  httpSeeds: string[];
  private: boolean;
  comment: string | null;
  createdBy: string | null;
  creationDate: number | null;
}

const load = <T>(name: string): T => JSON.parse(readFileSync(join(corpusDir, name), 'utf8')) as T;

describe.skipIf(corpus.skip)(`corpus: torrents (libtorrent 2.0.8 verdicts)${corpus.note}`, () => {
  const expected = !corpus.skip ? load<{ torrents: Record<string, ExpectedTorrent> }>('expected.json').torrents : {};
  it('has the whole corpus', () => {
    expect(Object.keys(expected).length).toBeGreaterThanOrEqual(100);
  });

  it.each(Object.entries(expected))('%s', (file, e) => {
    const bytes = readFileSync(join(corpusDir, 'torrents', file));
    if (e.verdict === 'reject') {
      expect(() => parseTorrent(bytes), e.error).toThrow(TorrentError);
      return;
    }
    const m = parseTorrent(bytes);
    expect(m.infoHash?.toString('hex') ?? null).toBe(e.infoHash);
    expect(m.infoHashV2?.toString('hex') ?? null).toBe(e.infoHashV2);
    expect(m.name).toBe(e.name);
    expect(m.length).toBe(e.length);
    expect(m.totalLength).toBe(e.totalSize);
    expect(m.pieceLength).toBe(e.pieceLength);
    expect(m.pieceCount).toBe(e.pieceCount);
    // libtorrent lists multi-file paths under the torrent's folder; ours are relative to it.
    const rel = (p: string): string => (p === e.name ? p : p.startsWith(`${e.name}/`) ? p.slice(e.name.length + 1) : p);
    const theirs = e.files.filter((f) => !f.pad).map((f) => ({ path: rel(f.path), length: f.length, offset: f.offset, symlink: f.symlink }));
    const ours = m.files
      .filter((f) => !f.pad)
      .map((f) => ({ path: f.path.join('/'), length: f.length, offset: f.offset, symlink: f.symlink !== null }));
    expect(ours).toEqual(theirs);
    // Tiers compared as sets: libtorrent shuffles the URLs within a tier.
    expect(m.announce.map((t) => [...t].sort())).toEqual(e.announce.map((t) => [...t].sort()));
    expect(m.urlList).toEqual(e.urlList);
    expect(m.httpSeeds).toEqual(e.httpSeeds);
    expect(m.private).toBe(e.private);
    expect(m.comment).toBe(e.comment);
    expect(m.createdBy).toBe(e.createdBy);
    expect(m.creationDate).toBe(e.creationDate);
  });
});

interface ExpectedMagnet {
  case: string;
  uri: string;
  verdict: 'accept' | 'reject';
  error?: string;
  infoHash: string | null;
  infoHashV2: string | null;
  name: string | null;
  trackers: string[];
  urlList: string[];
  peers: string[];
  select: number[] | null;
  contract?: { expect: 'accept' | 'reject'; peers?: string[]; why: string };
}

describe.skipIf(corpus.skip)(`corpus: magnets${corpus.note}`, () => {
  const magnets = !corpus.skip ? load<{ magnets: ExpectedMagnet[] }>('magnets.json').magnets : [];
  it.each(magnets.map((m) => [m.case, m] as const))('%s', (_name, e) => {
    // Where the project's contract differs from libtorrent, the contract wins (its `why` says why).
    const verdict = e.contract?.expect ?? e.verdict;
    if (verdict === 'reject') {
      expect(() => parseMagnet(e.uri)).toThrow(TorrentError);
      return;
    }
    const m = parseMagnet(e.uri);
    expect(m.infoHash?.toString('hex') ?? null).toBe(e.infoHash);
    expect(m.infoHashV2?.toString('hex') ?? null).toBe(e.infoHashV2);
    expect(m.name).toBe(e.name);
    expect(m.trackers).toEqual(e.trackers);
    expect(m.urlList).toEqual(e.urlList);
    expect(m.peers.map((p) => formatHostPort(p.host, p.port))).toEqual(e.contract?.peers ?? e.peers);
    expect(m.select).toEqual(e.select);
  });
});
