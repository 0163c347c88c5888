/**
 * `torrent verify <file.torrent> [dir]`: hashes the torrent's data in `dir`, laid out as
 * `download -o dir` leaves it (<dir>/<name>, or <dir>/<name>/<path…>), and says how complete each
 * file is. Read-only: it creates and changes nothing (FileStorage opens existing files only when
 * reading). Every piece whose data is present is read and checked: SHA-1 for v1 (BEP 3), the
 * file's SHA-256 merkle tree for v2 (BEP 52: the piece's layer hash, or the pieces root of a file
 * of one piece), both for a hybrid, whose two hash sets disagreeing on a piece is a bad torrent
 * (exit 2, as libtorrent refuses it). Resume data is never trusted here, since answering "is it
 * really there" is the point. Hashing runs on both cores (worker threads reading the files
 * themselves, storage/check.ts and check-v2.ts); memory is a few pieces' worth at most.
 *
 * A file is complete when every piece that touches it verified (a piece shared with a missing
 * neighbour cannot verify, so a file next to a missing one can read as incomplete although its
 * own bytes are right: the hashes cannot tell). An empty file is complete when it exists; a
 * symlink entry (BEP 47) counts as complete, because download never creates one. Pad files are
 * not listed. Missing data is not an error: exit 0 when everything verified, 1 when not, 2 for a
 * bad torrent or usage; a reader that closed stdout early (`| head`) ends it quietly with exit 0.
 * Cost is bounded in the number of files: storage stats and opens them a few at a time, so
 * 100,000 files cost what a few thousand do (bench/memory.mjs). A file reached through a
 * symbolic link out of `dir` is refused (ERR_DISK), never read.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InputError, MetainfoError, RuntimeError, UsageError } from '../errors.js';
import type { Metainfo } from '../metainfo/index.js';
import { checkExisting, checkExistingV2, FileStorage } from '../storage/index.js';
import { Bitfield } from '../util/bitfield.js';
import { formatBytes } from '../util/format.js';
import { readTorrentInput } from './input.js';
import { readerGone, writeOut } from './output.js';

/** Redraw the terminal progress line at most this often. */
const PROGRESS_REDRAW_MS = 100;

interface VerifyFlags {
  json?: boolean;
  quiet?: boolean;
}

export interface VerifyFile {
  path: string;
  length: number;
  complete: boolean;
  /** Bytes of the file inside verified pieces (not in --json: its keys are fixed). */
  verifiedBytes: number;
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description("check a torrent's data on disk against its piece hashes")
    .argument('<torrent>', 'a .torrent file, or - for stdin')
    .argument('[dir]', 'the folder the data was downloaded into (as download -o); default: the current folder')
    .option('--json', 'print one JSON object {complete, verifiedPieces, pieceCount, files}')
    .option('-q, --quiet', 'no progress on stderr')
    .addHelpText('after', '\nExit 0 when every piece verified, 1 when some did not (missing or wrong data), 2 for a bad torrent.')
    .action(async (arg: string, dir: string | undefined, flags: VerifyFlags) => {
      await verify(arg, dir ?? '.', flags);
    });
}

async function verify(arg: string, dir: string, flags: VerifyFlags): Promise<void> {
  const input = await readTorrentInput(arg);
  if (input.kind === 'magnet') {
    throw new UsageError('verify needs a .torrent file: a magnet URI carries no piece hashes');
  }
  const { meta, label } = input;
  const root = resolve(dir);
  const st = await stat(root).catch(() => null);
  if (st && !st.isDirectory()) throw new UsageError(`${dir}: not a folder`, { hint: 'give the folder the data was downloaded into' });

  const storage = new FileStorage({ root, meta, selected: null });
  const progress = !flags.quiet && process.stderr.isTTY ? new CheckProgress(process.stderr) : null;
  let verified: Bitfield;
  let exists: boolean[];
  try {
    const onProgress = progress ? (n: number, total: number): void => progress.update(n, total) : undefined;
    if (meta.infoHashV2 !== null) verified = await checkV2(storage, meta, label, onProgress);
    else ({ verified } = await checkExisting({ storage, meta, wanted: () => true, resume: null, onProgress }));
    exists = (await storage.fileStats()).map((s) => s !== null);
  } finally {
    progress?.clear();
    await storage.close();
  }

  const files = fileCompletion(meta, verified, exists);
  const complete = verified.count === meta.pieceCount && files.every((f) => f.complete);
  if (flags.json) {
    const view = {
      complete,
      verifiedPieces: verified.count,
      pieceCount: meta.pieceCount,
      files: files.map((f) => ({ path: f.path, length: f.length, complete: f.complete })),
    };
    await writeOut(`${JSON.stringify(view)}\n`);
  } else {
    await writeOut(renderText(files, verified.count, meta.pieceCount, complete));
  }
  // Nobody reads the report any more (`verify … | head`): stop quietly, as the reader asked.
  if (readerGone()) return;
  if (!complete) {
    const missing = files.filter((f) => !f.complete).length;
    throw new RuntimeError(
      'ERR_INCOMPLETE',
      `${label}: incomplete in ${root}: ${verified.count} of ${meta.pieceCount} pieces verified, ${missing} of ${files.length} files incomplete`,
    );
  }
}

/**
 * v2 and hybrid: every piece of a present file read once and checked against the merkle tree
 * (and SHA-1 too for a hybrid), on both cores (storage/check-v2.ts). A piece whose file's piece
 * layer is unknown (dropped at parse because it did not match its root) cannot verify. A hybrid
 * whose two hash sets disagree is a bad torrent, named.
 */
async function checkV2(storage: FileStorage, meta: Metainfo, label: string, onProgress?: (n: number, total: number) => void): Promise<Bitfield> {
  try {
    return (await checkExistingV2({ storage, meta, wanted: () => true, onProgress })).verified;
  } catch (e) {
    if (e instanceof MetainfoError) throw new InputError('ERR_BAD_TORRENT', `${label}: ${e.message}`);
    throw e;
  }
}

/** Per listed file (pad files excluded): complete, and how many of its bytes verified. */
export function fileCompletion(meta: Metainfo, verified: Bitfield, exists: readonly boolean[]): VerifyFile[] {
  const out: VerifyFile[] = [];
  meta.files.forEach((f, i) => {
    if (f.pad) return;
    const path = f.path.join('/');
    if (f.length === 0) {
      out.push({ path, length: 0, complete: f.symlink !== null || exists[i] === true, verifiedBytes: 0 });
      return;
    }
    const first = Math.floor(f.offset / meta.pieceLength);
    const last = Math.floor((f.offset + f.length - 1) / meta.pieceLength);
    let bytes = 0;
    let all = true;
    for (let p = first; p <= last; p++) {
      if (!verified.has(p)) {
        all = false;
        continue;
      }
      const start = Math.max(f.offset, p * meta.pieceLength);
      const end = Math.min(f.offset + f.length, (p + 1) * meta.pieceLength);
      bytes += end - start;
    }
    out.push({ path, length: f.length, complete: all, verifiedBytes: bytes });
  });
  return out;
}

/** 99.96% shows as 99.9%, never 100.0%: 100% means complete. */
function percent(part: number, whole: number): string {
  if (whole === 0 || part >= whole) return '100.0%';
  return `${(Math.floor((part / whole) * 1000) / 10).toFixed(1)}%`;
}

function renderText(files: readonly VerifyFile[], verifiedPieces: number, pieceCount: number, complete: boolean): string {
  const lines = files.map((f) => {
    const pct = f.complete ? '100.0%' : f.length === 0 ? 'missing' : percent(f.verifiedBytes, f.length);
    return `${pct.padStart(7)}  ${formatBytes(f.length).padStart(10)}  ${f.path}`;
  });
  const incomplete = files.filter((f) => !f.complete).length;
  lines.push(
    complete
      ? `complete: ${pieceCount} of ${pieceCount} pieces verified, ${files.length} file${files.length === 1 ? '' : 's'}`
      : `incomplete: ${verifiedPieces} of ${pieceCount} pieces verified (${percent(verifiedPieces, pieceCount)}), ` +
          `${incomplete} of ${files.length} file${files.length === 1 ? '' : 's'} incomplete`,
  );
  return `${lines.join('\n')}\n`;
}

/** One percentage line on a terminal, redrawn in place and erased at the end. */
class CheckProgress {
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  update(checked: number, total: number): void {
    const now = Date.now();
    if (now - this.lastDraw < PROGRESS_REDRAW_MS && checked < total) return;
    this.lastDraw = now;
    this.drawn = true;
    this.stream.write(`\r\x1b[2Kverifying ${Math.floor((checked / total) * 100)}%  ${checked} of ${total} pieces`);
  }

  clear(): void {
    if (this.drawn) this.stream.write('\r\x1b[2K');
  }
}
