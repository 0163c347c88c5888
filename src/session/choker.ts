/**
 * The choker (BEP 3 "choking"; libtorrent's and Transmission's standard algorithm): which peers
 * may download from us. Pure: the session passes what it measured and applies the result.
 *
 * - Regular slots go to interested peers, best first: while downloading, by how fast they send to
 *   us (reciprocation); while seeding, by how fast we upload to them (serve who can take it).
 * - One optimistic slot goes to an interested peer outside the regular set, rotated every 30 s by
 *   the caller, so newcomers get a chance to prove themselves.
 * - Peers that are not interested are never unchoked (it would only waste a slot).
 */

export interface ChokeCandidate {
  id: number;
  interested: boolean;
  /** bytes/s they send us */
  downloadRate: number;
  /** bytes/s we send them */
  uploadRate: number;
}

export const REGULAR_UNCHOKE_SLOTS = 4;
/** Regular slots are re-evaluated this often (BEP 3 suggests 10 s). */
export const RECHOKE_INTERVAL_MS = 10_000;
/** The optimistic unchoke moves on this often (BEP 3: every 30 s). */
export const OPTIMISTIC_INTERVAL_MS = 30_000;

export function chooseUnchoked(
  candidates: readonly ChokeCandidate[],
  opts: { seeding: boolean; slots?: number; optimistic: number | null },
): Set<number> {
  const slots = opts.slots ?? REGULAR_UNCHOKE_SLOTS;
  const interested = candidates.filter((c) => c.interested);
  const rate = (c: ChokeCandidate): number => (opts.seeding ? c.uploadRate : c.downloadRate);
  interested.sort((a, b) => rate(b) - rate(a) || a.id - b.id);
  const out = new Set(interested.slice(0, slots).map((c) => c.id));
  if (opts.optimistic !== null && interested.some((c) => c.id === opts.optimistic)) out.add(opts.optimistic);
  return out;
}

/** Picks the next optimistic unchoke: an interested peer not in `regular`, chosen at random. */
export function pickOptimistic(
  candidates: readonly ChokeCandidate[],
  regular: ReadonlySet<number>,
  random: () => number,
): number | null {
  const pool = candidates.filter((c) => c.interested && !regular.has(c.id));
  if (pool.length === 0) return null;
  return pool[Math.floor(random() * pool.length)]!.id;
}
