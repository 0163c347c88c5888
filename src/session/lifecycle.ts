/**
 * The session's lifecycle: one discriminated union and the one table of legal transitions.
 * An illegal transition is a bug (InternalError), never a silent no-op.
 *
 *   fetching-metadata ──> checking ──> downloading ──> seeding ──> stopped
 *                                  └─────────────────> seeding
 *   downloading ──> stopped(done)  (no --seed)          any non-final ──> stopped(interrupted)
 *   any non-final ──> failed(error)                     stopped and failed are final
 */
import { InternalError, type TorrentError } from '../errors.js';

export type Lifecycle =
  | { kind: 'fetching-metadata' }
  | { kind: 'checking' }
  | { kind: 'downloading' }
  | { kind: 'seeding' }
  | { kind: 'stopped'; reason: 'done' | 'interrupted' }
  | { kind: 'failed'; error: TorrentError };

export type LifecycleKind = Lifecycle['kind'];

const LEGAL: Record<LifecycleKind, readonly LifecycleKind[]> = {
  'fetching-metadata': ['checking', 'stopped', 'failed'],
  checking: ['downloading', 'seeding', 'stopped', 'failed'],
  downloading: ['seeding', 'stopped', 'failed'],
  seeding: ['stopped', 'failed'],
  stopped: [],
  failed: [],
};

export function isFinal(s: Lifecycle): boolean {
  return s.kind === 'stopped' || s.kind === 'failed';
}

/** The next state, or an InternalError for a transition the table does not allow. */
export function transition(from: Lifecycle, to: Lifecycle): Lifecycle {
  if (!LEGAL[from.kind].includes(to.kind)) throw new InternalError(`illegal session transition ${from.kind} -> ${to.kind}`);
  return to;
}
