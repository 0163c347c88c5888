/**
 * BEP 52 piece layers over the wire, both ways: which layers a v2 magnet still needs and whom to
 * ask for which run of hashes (`PieceLayerFetcher`), and what to answer a peer's `hash request`
 * (`HashServer`). Pure: no sockets, no timers; the caller passes `now`, sends what these return
 * and closes whom they blame.
 *
 * Fetching (as libtorrent's hash_picker asks): every file larger than one piece needs its piece
 * layer (a file of one piece or less needs none: its pieces root is its piece's hash). The layer
 * is asked in runs of at most HASHES_PER_REQUEST hashes at the piece layer (base layer
 * log2(piece length / 16 KiB)), each with the uncle hashes up to the file's pieces root, so every
 * `hashes` reply is checked on its own with `verifyHashRun` against the root the verified info
 * dictionary names. Run states:
 *
 *   wanted ──request──> in-flight(peer, since) ──verified reply──> done
 *      ^                     │ reject / timeout / peer gone: back to wanted; a peer that refused
 *      └─────────────────────┘ or timed out is not asked that run again for REFUSED_RETRY_MS
 *
 * A reply that does not hash up to the root is a ProtocolError for its peer (its run goes back
 * to wanted for someone else). A reply or reject for no run in flight from that peer is ignored:
 * it is a late answer to a request that timed out.
 *
 * Bounds: runs in flight per peer ≤ MAX_REQUESTS_PER_PEER; a layer's buffer is allocated at its
 * final size (32 bytes a piece) when its first run verifies, so layer memory never exceeds what
 * the .torrent would have carried (32 × pieces, and pieces ≤ MAX_PIECES); a run in flight for
 * longer than HASH_REQUEST_TIMEOUT_MS is freed. Serving keeps, per file asked about, the tree
 * above its piece layer (at most twice the layer), built once.
 */
import { ProtocolError } from '../errors.js';
import {
  blockCount,
  checkFilePieceLayer,
  MERKLE_HASH_BYTES,
  merkleRows,
  splitHashes,
  nextPowerOfTwo,
  pieceLayerHeight,
  verifyHashRun,
  type Metainfo,
  type TorrentFile,
} from '../metainfo/index.js';
import { fullProofLayers, hashRequestFits, uncleCount, type HashRequestFields } from '../wire/index.js';

/** BEP 52: requests SHOULD NOT exceed 512 hashes; libtorrent asks the piece layer 512 at a time. */
export const HASHES_PER_REQUEST = 512;
/** Hash requests in flight to one peer: enough to keep a fast peer busy, little for a slow one to sit on. */
export const MAX_REQUESTS_PER_PEER = 4;
/** A hash request unanswered this long is asked of someone else (libtorrent gives up on a request after 20 s too). */
export const HASH_REQUEST_TIMEOUT_MS = 20_000;
/** A peer that refused or timed out on a run is asked again only after this (it may get the layer meanwhile). */
export const REFUSED_RETRY_MS = 30_000;

type RunState = { kind: 'wanted' } | { kind: 'in-flight'; peer: number; since: number } | { kind: 'done' };

interface Run {
  readonly layer: LayerWanted;
  /** First piece-layer node of the run (a multiple of `length`). */
  readonly index: number;
  readonly length: number;
  readonly proofLayers: number;
  state: RunState;
  /** peer id -> until when it is not asked this run again. */
  readonly refused: Map<number, number>;
}

interface LayerWanted {
  readonly file: TorrentFile;
  readonly rootHex: string;
  /** Pieces of the file: hashes in its layer. */
  readonly pieces: number;
  /** Base layer of every request: the piece layer. */
  readonly baseLayer: number;
  /** The layer being filled (allocated at its final size on the first verified run). */
  layer: Buffer | null;
  runsLeft: number;
}

/** One request to send: the fields of a BEP 52 `hash request`. */
export type LayerRequest = HashRequestFields;

export type HashesOutcome =
  /** Not a run we asked this peer for (a late answer): nothing changes. */
  | { kind: 'ignored' }
  /** Verified; `layerDone` names the file whose layer this completed. */
  | { kind: 'verified'; layerDone: TorrentFile | null };

export class PieceLayerFetcher {
  private readonly verified = new Map<string, Buffer>();
  private readonly wanted = new Map<string, LayerWanted>();
  private readonly runs: Run[] = [];
  private readonly inFlight = new Map<number, Set<Run>>();

  /**
   * `known`: layers already at hand (the saved .torrent of an interrupted download); each is
   * checked against its file's root again, a wrong one is fetched instead.
   */
  constructor(
    private readonly meta: Metainfo,
    known: ReadonlyMap<string, Buffer> = new Map(),
  ) {
    if (meta.infoHashV2 === null) throw new RangeError('PieceLayerFetcher: not a v2 or hybrid torrent');
    const baseLayer = pieceLayerHeight(meta.pieceLength);
    for (const file of meta.files) {
      if (file.pad || file.piecesRoot === null || file.length <= meta.pieceLength) continue;
      const rootHex = file.piecesRoot.toString('hex');
      if (this.verified.has(rootHex) || this.wanted.has(rootHex)) continue; // two files, same content
      const have = known.get(rootHex);
      if (have && checkFilePieceLayer(file, have, meta.pieceLength) === 'ok') {
        this.verified.set(rootHex, have);
        continue;
      }
      const pieces = Math.ceil(file.length / meta.pieceLength);
      // The run spans the whole padded row when it is narrower than a full request.
      const length = Math.min(HASHES_PER_REQUEST, nextPowerOfTwo(pieces));
      // A full proof to the root, counted as libtorrent counts proof layers (wire uncleCount).
      const proofLayers = fullProofLayers(baseLayer, file.length);
      const w: LayerWanted = { file, rootHex, pieces, baseLayer, layer: null, runsLeft: 0 };
      for (let index = 0; index < pieces; index += length) {
        this.runs.push({ layer: w, index, length, proofLayers, state: { kind: 'wanted' }, refused: new Map() });
        w.runsLeft++;
      }
      this.wanted.set(rootHex, w);
    }
  }

  /** Every layer the torrent needs is verified. */
  get complete(): boolean {
    return this.wanted.size === 0;
  }

  /** Files whose layer is still missing. */
  get missingLayers(): number {
    return this.wanted.size;
  }

  /** Verified layers (hex pieces root -> concatenated 32-byte hashes), complete ones only. */
  get layers(): ReadonlyMap<string, Buffer> {
    return this.verified;
  }

  /** Requests in flight to this peer. */
  inFlightTo(peer: number): number {
    return this.inFlight.get(peer)?.size ?? 0;
  }

  /**
   * What to ask `peer` now (it speaks v2): wanted runs it has not refused lately, up to
   * MAX_REQUESTS_PER_PEER in flight. They are in flight from now on.
   */
  requestsFor(peer: number, now: number): LayerRequest[] {
    const out: LayerRequest[] = [];
    let mine = this.inFlight.get(peer);
    for (const run of this.runs) {
      if ((mine?.size ?? 0) >= MAX_REQUESTS_PER_PEER) break;
      if (run.state.kind !== 'wanted') continue;
      const until = run.refused.get(peer);
      if (until !== undefined && until > now) continue;
      run.state = { kind: 'in-flight', peer, since: now };
      if (!mine) this.inFlight.set(peer, (mine = new Set()));
      mine.add(run);
      out.push(this.fields(run));
    }
    return out;
  }

  /**
   * A `hashes` message from `peer`. Throws ProtocolError when it answers one of our requests
   * with hashes that do not hash up to the file's pieces root (the run is asked elsewhere).
   */
  onHashes(peer: number, m: HashRequestFields & { hashes: Buffer }): HashesOutcome {
    const run = this.match(peer, m);
    if (!run) return { kind: 'ignored' };
    this.release(run);
    const w = run.layer;
    const nodes = splitHashes(m.hashes);
    const base = nodes.slice(0, run.length);
    const proof = nodes.slice(run.length);
    if (!verifyHashRun(w.file.piecesRoot!, blockCount(w.file.length), w.baseLayer, run.index, base, proof)) {
      run.state = { kind: 'wanted' };
      throw new ProtocolError(
        `sent piece-layer hashes ${run.index}..${run.index + run.length - 1} of ${w.file.path.join('/')} that do not hash up to its pieces root`,
      );
    }
    run.state = { kind: 'done' };
    w.layer ??= Buffer.alloc(w.pieces * MERKLE_HASH_BYTES);
    // Only the file's own pieces are kept: nodes past its end are the padding the root proved.
    const real = Math.min(run.length, w.pieces - run.index);
    for (let i = 0; i < real; i++) base[i]!.copy(w.layer, (run.index + i) * MERKLE_HASH_BYTES);
    if (--w.runsLeft > 0) return { kind: 'verified', layerDone: null };
    this.wanted.delete(w.rootHex);
    this.verified.set(w.rootHex, w.layer);
    return { kind: 'verified', layerDone: w.file };
  }

  /** A `hash reject`: the run is asked of someone else; this peer not again for a while. */
  onReject(peer: number, m: HashRequestFields, now: number): boolean {
    const run = this.match(peer, m);
    if (!run) return false;
    this.release(run);
    run.state = { kind: 'wanted' };
    run.refused.set(peer, now + REFUSED_RETRY_MS);
    return true;
  }

  /** Frees runs in flight longer than HASH_REQUEST_TIMEOUT_MS; returns the peers that sat on them. */
  expire(now: number): number[] {
    const slow = new Set<number>();
    for (const run of this.runs) {
      if (run.state.kind !== 'in-flight' || now - run.state.since < HASH_REQUEST_TIMEOUT_MS) continue;
      const peer = run.state.peer;
      this.release(run);
      run.state = { kind: 'wanted' };
      run.refused.set(peer, now + REFUSED_RETRY_MS);
      slow.add(peer);
    }
    return [...slow];
  }

  /** The peer is gone: its runs are wanted again, and it is forgotten. */
  peerGone(peer: number): void {
    for (const run of this.inFlight.get(peer) ?? []) run.state = { kind: 'wanted' };
    this.inFlight.delete(peer);
    for (const run of this.runs) run.refused.delete(peer);
  }

  private fields(run: Run): LayerRequest {
    const w = run.layer;
    return { piecesRoot: w.file.piecesRoot!, baseLayer: w.baseLayer, index: run.index, length: run.length, proofLayers: run.proofLayers };
  }

  private match(peer: number, m: HashRequestFields): Run | null {
    for (const run of this.inFlight.get(peer) ?? []) {
      const w = run.layer;
      if (run.index === m.index && run.length === m.length && w.baseLayer === m.baseLayer && w.file.piecesRoot!.equals(m.piecesRoot)) return run;
    }
    return null;
  }

  private release(run: Run): void {
    if (run.state.kind !== 'in-flight') return;
    const mine = this.inFlight.get(run.state.peer);
    mine?.delete(run);
    if (mine?.size === 0) this.inFlight.delete(run.state.peer);
  }
}

export type HashAnswer = { kind: 'hashes'; hashes: Buffer } | { kind: 'reject'; why: string };

/**
 * Answers peers' hash requests from piece layers we hold (our .torrent's, or those fetched so
 * far). We keep no block hashes, so only rows at or above the piece layer are served: a request
 * below it, for a file we do not have the layer of, or that does not fit the file's tree
 * (`hashRequestFits`) is rejected. The reply carries the run, then `uncleCount` uncle hashes,
 * lowest first (BEP 52).
 */
export class HashServer {
  private readonly files = new Map<string, TorrentFile>();
  /** hex root -> rows of the tree from the piece layer (padded to a power of two) up to the root. */
  private readonly trees = new Map<string, Buffer[][]>();

  constructor(
    private readonly meta: Metainfo,
    private readonly layers: () => ReadonlyMap<string, Buffer>,
  ) {
    for (const f of meta.files) if (!f.pad && f.piecesRoot !== null) this.files.set(f.piecesRoot.toString('hex'), f);
  }

  answer(req: HashRequestFields): HashAnswer {
    const rootHex = req.piecesRoot.toString('hex');
    const file = this.files.get(rootHex);
    if (!file) return { kind: 'reject', why: 'no file of this torrent has that pieces root' };
    const misfit = hashRequestFits(req, file.length);
    if (misfit !== null) return { kind: 'reject', why: misfit };
    const pieceLayer = pieceLayerHeight(this.meta.pieceLength);
    if (file.length <= this.meta.pieceLength) return { kind: 'reject', why: 'a file of one piece has no piece layer' };
    if (req.baseLayer < pieceLayer) return { kind: 'reject', why: `layer ${req.baseLayer} is below the piece layer (${pieceLayer}): block hashes are not kept` };
    const rows = this.tree(rootHex, file);
    if (!rows) return { kind: 'reject', why: 'the piece layer of that file is not known yet' };
    const level = req.baseLayer - pieceLayer;
    const run = rows[level]!.slice(req.index, req.index + req.length);
    const uncles: Buffer[] = [];
    let at = Math.log2(req.length) + level;
    let pos = req.index / req.length;
    for (let i = 0; i < uncleCount(req, file.length); i++, at++, pos = Math.floor(pos / 2)) uncles.push(rows[at]![pos ^ 1]!);
    return { kind: 'hashes', hashes: Buffer.concat([...run, ...uncles]) };
  }

  private tree(rootHex: string, file: TorrentFile): Buffer[][] | null {
    const cached = this.trees.get(rootHex);
    if (cached) return cached;
    const layer = this.layers().get(rootHex);
    if (!layer) return null;
    const pieces = Math.ceil(file.length / this.meta.pieceLength);
    const rows = merkleRows(splitHashes(layer).slice(0, pieces), nextPowerOfTwo(pieces), pieceLayerHeight(this.meta.pieceLength));
    this.trees.set(rootHex, rows);
    return rows;
  }
}
