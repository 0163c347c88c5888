/**
 * Pieces we claimed that are no longer on disk (a file deleted, truncated or edited from
 * outside; a piece that cannot be read): they stop counting as ours (progress, picker, resume
 * data) and, while downloading, are fetched again. `have` cannot be taken back (BEP 3): peers
 * that may ask for them are dropped, and get a bitfield without them when they reconnect.
 */
import type { Core, Torrent } from './types.js';

export function forgetPieces(core: Core, t: Torrent, pieces: readonly number[], why: string): void {
  const lost = pieces.filter((p) => t.progress.written.has(p));
  if (lost.length === 0) return;
  for (const p of lost) {
    t.progress.forget(p);
    t.picker.pieceLost(p);
  }
  t.resume?.markDirty();
  core.warn(`${lost.length} piece(s) ${why}: ${lost.length === 1 ? `piece ${lost[0]}` : `pieces ${lost[0]}…${lost[lost.length - 1]}`} no longer counted as ours`);
  for (const p of core.livePeers()) {
    if (p.conn.peerInterested) p.conn.close('not-useful', 'pieces we offered are gone');
    else t.scheduler.countInteresting(p);
  }
  if (core.life().kind === 'seeding' && !core.o.seedOnly && !t.progress.complete) core.warn('seeding incomplete data: run download again to repair it');
  t.scheduler.updateAll(core.livePeers());
}

/** Checks the files of the pieces we hold; forgets what changed. True when nothing did. */
export async function stillOnDisk(core: Core, t: Torrent): Promise<boolean> {
  const disk = t.storage.disk;
  if (!disk) return true;
  const changed = await disk.changedFiles((p) => t.progress.written.has(p));
  if (changed.pieces.length === 0) return true;
  forgetPieces(core, t, changed.pieces, 'changed on disk from outside');
  if (changed.files.length > 0) await disk.createEmptyFiles();
  return false;
}
