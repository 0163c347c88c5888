/**
 * `torrent create <path>`: a .torrent of a file or a folder: v1 (BEP 3, the default), v2-only
 * (`--v2`, BEP 52) or hybrid (`--hybrid`, both hash sets in one info dict), laid out as
 * libtorrent 2.0 lays them out so it reads the same info hashes.
 *
 * Owns what goes into the torrent and how it is reported; hashing is storage/hash-files.ts (v1
 * hashAllPieces; v2 and hybrid hashV2Files, which reads each file once for its merkle tree
 * and, for a hybrid, the v1 pieces of the padded stream, on worker threads or on this one), the
 * merkle trees metainfo/merkle.ts, the bytes metainfo/build.ts.
 * Decisions (README "torrent create"):
 * - A file gives a single-file torrent; a folder a multi-file torrent named after it, its files
 *   in byte order of their path components (a folder's files stay together; the order BEP 52 uses
 *   for v2 file trees), so the same folder always gives the same info hash on any machine.
 * - Hidden entries (names starting with ".") inside the folder are left out unless
 *   --include-hidden: they are mostly tool state (.git, .DS_Store, .env) that nobody means to
 *   publish, and a leak cannot be recalled once a torrent is out. A count is reported on stderr.
 *   The path given on the command line is always used, hidden or not.
 * - Symlinks inside the folder are not followed and not stored: skipped with a warning. Following
 *   them can leave the folder, loop, or share a file twice; BEP 47 symlink entries are not
 *   recreated by our downloader nor by several other clients. The path given on the command
 *   line is followed (the user named it). Other special files (FIFOs, sockets, devices): skipped
 *   with a warning. Empty folders carry nothing in a v1 torrent: ignored. Empty files are kept.
 * - The output file, when it lies inside the folder, is never part of the torrent.
 * - stdout stays empty unless `-o -`, which writes the torrent there and nothing else. Progress
 *   goes to stderr only on a terminal; the result (path, info hash) to stderr.
 */
import { readFileSync } from 'node:fs';
import { lstat, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { InputError, RuntimeError, UsageError } from '../errors.js';
import {
  buildTorrent,
  defaultPieceLength,
  isValidPieceLength,
  MAX_FILES,
  MAX_PIECE_LENGTH,
  MAX_PIECES,
  MIN_PIECE_LENGTH,
  parseTorrent,
  type FileTree,
} from '../metainfo/index.js';
import { hashAllPieces, hashV2Files } from '../storage/index.js';
import { formatBytes } from '../util/format.js';
import { urlArg } from './options.js';
import { writeOut } from './output.js';

/** Redraw the terminal progress line at most this often: fast enough to look live, cheap. */
const PROGRESS_REDRAW_MS = 100;
/** Tracker URL schemes clients announce to: BEP 3 (HTTP), BEP 15 (UDP), WebTorrent (WebSocket). */
const TRACKER_SCHEMES = ['http:', 'https:', 'udp:', 'ws:', 'wss:'];
/** BEP 19 web seeds are plain HTTP(S) or FTP servers. */
const WEB_SEED_SCHEMES = ['http:', 'https:', 'ftp:'];

interface CreateFlags {
  output?: string;
  tracker?: string[];
  webSeed?: string[];
  /** Bytes, checked at parse time. */
  pieceLength?: number;
  private?: boolean;
  comment?: string;
  name?: string;
  source?: string;
  includeHidden?: boolean;
  /** commander sets false for --no-date */
  date: boolean;
  force?: boolean;
  quiet?: boolean;
  v2?: boolean;
  hybrid?: boolean;
}

interface ScannedFile {
  /** Where to read it. */
  abs: string;
  /** Components relative to the torrent's root folder. */
  path: string[];
  length: number;
}

interface Scan {
  single: boolean;
  files: ScannedFile[];
  hiddenSkipped: number;
}

export function registerCreate(program: Command): void {
  program
    .command('create')
    .description('make a .torrent of a file or a folder (v1; --v2 or --hybrid for BitTorrent v2)')
    .argument('<path>', 'the file or folder to share')
    .option('-o, --output <file>', 'where to write the torrent (default: <name>.torrent here; - for stdout)')
    .option('--tracker <url>', 'announce URL; repeat for backup tiers, tried in order (BEP 12)', urlArg(TRACKER_SCHEMES))
    .option('--web-seed <url>', 'web seed URL (BEP 19; repeatable)', urlArg(WEB_SEED_SCHEMES))
    .option('--piece-length <bytes>', 'power of two from 16 KiB to 512 MiB; suffixes K, M (default: by size, as libtorrent)', pieceLengthArg)
    .option('--private', 'only the torrent\'s trackers may find peers (BEP 27: no DHT, PEX)')
    .option('--comment <text>', 'a free-text comment')
    .option('--name <name>', 'the torrent\'s name (default: the file or folder name)')
    .option('--source <text>', 'info.source: changes the info hash (private trackers ask for it)')
    .option('--include-hidden', 'include files and folders whose names start with "." (left out by default)')
    .option('--no-date', 'leave out the creation date (the same input then gives the same bytes)')
    .option('--v2', 'a BitTorrent v2-only torrent (BEP 52: per-file SHA-256 merkle trees); v1-only clients cannot read it')
    .option('--hybrid', 'a hybrid torrent: v1 and v2 hashes in one, readable by v1 and v2 clients (pad files align each file)')
    .option('-f, --force', 'overwrite the output file if it exists')
    .option('-q, --quiet', 'no progress and no summary on stderr (warnings still)')
    .addHelpText(
      'after',
      `
Files are listed in byte order of their paths. Hidden entries (".name") inside the folder are
left out unless --include-hidden; symlinks inside it are skipped with a warning; empty folders
are ignored. A torrent of 0 bytes is refused (exit 2).`,
    )
    .action(async (target: string, flags: CreateFlags) => {
      await create(target, flags);
    });
}

async function create(target: string, flags: CreateFlags): Promise<void> {
  if (flags.v2 && flags.hybrid) throw new UsageError('--v2 and --hybrid exclude each other', { hint: '--hybrid already includes v2' });
  const metaVersion = flags.v2 ? 2 : flags.hybrid ? 'hybrid' : 1;
  const root = resolve(target);
  const name = flags.name ?? basename(root);
  checkName(name, flags.name !== undefined);
  const trackers = flags.tracker ?? [];
  const webSeeds = flags.webSeed ?? [];
  const toStdout = flags.output === '-';
  const out = toStdout ? null : resolve(flags.output ?? `${name}.torrent`);
  if (out) await checkOutput(out, flags.force === true);

  const warn = (msg: string): void => void process.stderr.write(`torrent: warning: ${msg}\n`);
  const scan = await scanInput(root, target, { includeHidden: flags.includeHidden === true, exclude: out }, warn);
  const total = scan.files.reduce((n, f) => n + f.length, 0);
  if (total === 0) {
    const n = scan.files.length;
    const what = scan.single ? 'the file is empty' : n === 0 ? 'the folder has no files' : `its ${n} file${n === 1 ? ' is' : 's are'} all empty`;
    throw new InputError('ERR_READ', `${target}: nothing to share: ${what}`, {
      hint: scan.hiddenSkipped > 0 ? `${scan.hiddenSkipped} hidden entries were left out; --include-hidden adds them` : undefined,
    });
  }
  const pieceLength = flags.pieceLength ?? defaultPieceLength(total);
  // v2 pieces never span files: each file is padded to a piece boundary (a single file needs none).
  const covered = metaVersion === 1 || scan.single ? total : scan.files.reduce((n, f) => n + Math.ceil(f.length / pieceLength) * pieceLength, 0);
  const pieceCount = Math.ceil(covered / pieceLength);
  if (pieceCount > MAX_PIECES) {
    throw new UsageError(`--piece-length ${flags.pieceLength}: ${pieceCount} pieces is more than ${MAX_PIECES}`, {
      hint: 'use a larger piece length, or leave --piece-length out',
    });
  }
  if (scan.hiddenSkipped > 0 && !flags.quiet) {
    process.stderr.write(`torrent: left out ${scan.hiddenSkipped} hidden entr${scan.hiddenSkipped === 1 ? 'y' : 'ies'} (--include-hidden to add them)\n`);
  }

  const progress = !flags.quiet && process.stderr.isTTY ? new ProgressLine(process.stderr, total) : null;
  let pieces: Buffer | null;
  let trees: (FileTree | null)[] | undefined;
  const onProgress = progress ? (n: number): void => progress.update(n) : undefined;
  const sources = scan.files.map((f) => ({ path: f.abs, length: f.length }));
  try {
    if (metaVersion === 1) pieces = await hashAllPieces(sources, pieceLength, { onProgress });
    else ({ pieces, trees } = await hashV2Files(sources, pieceLength, { v1: metaVersion === 'hybrid', padLast: !scan.single, onProgress }));
  } finally {
    progress?.clear();
  }

  const bytes = buildTorrent({
    name,
    files: scan.single ? [] : scan.files.map((f) => ({ path: f.path, length: f.length })),
    length: scan.single ? total : undefined,
    pieceLength,
    pieces,
    version: metaVersion,
    trees,
    announce: trackers.map((t) => [t]),
    urlList: webSeeds,
    private: flags.private === true,
    comment: flags.comment ?? null,
    createdBy: `torrent/${version()}`,
    creationDate: flags.date ? Math.floor(Date.now() / 1000) : null,
    source: flags.source ?? null,
  });
  // Read back what we wrote, as any client will: the info hash comes from these bytes, and a
  // name the reader would sanitise (so downloaders save it elsewhere) is worth a warning.
  const meta = parseTorrent(bytes);
  warnRenamed(scan, meta.files.filter((f) => !f.pad).map((f) => f.path.join('/')), meta.name, name, warn);

  if (out === null) {
    await writeOut(bytes);
    return;
  }
  await writeAtomically(out, bytes, flags.force === true);
  if (!flags.quiet) {
    const files = scan.single ? '1 file' : `${scan.files.length} files`;
    const kind = metaVersion === 2 ? 'v2, ' : metaVersion === 'hybrid' ? 'hybrid, ' : '';
    process.stderr.write(
      `wrote ${out}: ${kind}${files}, ${formatBytes(total)} in ${pieceCount} pieces of ${formatBytes(pieceLength)}\n` +
        (meta.infoHash ? `info hash: ${meta.infoHash.toString('hex')}\n` : '') +
        (meta.infoHashV2 ? `info hash v2: ${meta.infoHashV2.toString('hex')}\n` : ''),
    );
  }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function checkName(name: string, given: boolean): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    const where = given ? `--name ${JSON.stringify(name)}` : `cannot name the torrent after ${JSON.stringify(name)}`;
    throw new UsageError(`${where}: a name must be a non-empty file name without "/"`, {
      hint: given ? undefined : 'give one with --name <name>',
    });
  }
}

/** argParser for --piece-length: bytes, with an optional binary suffix (262144, 256K, 256KiB, 4M, 4MiB). */
function pieceLengthArg(value: string): number {
  const m = /^(\d+)\s*(k|kib|m|mib)?$/i.exec(value.trim());
  const unit = m?.[2]?.toLowerCase().startsWith('m') ? 1024 * 1024 : m?.[2] ? 1024 : 1;
  const n = m ? Number(m[1]) * unit : NaN;
  if (!isValidPieceLength(n)) {
    throw new InvalidArgumentError(
      `expected a power of two from ${formatBytes(MIN_PIECE_LENGTH)} to ${formatBytes(MAX_PIECE_LENGTH)}, such as 256K`,
    );
  }
  return n;
}

/** Fails before hours of hashing, not after: an existing file (without --force), a missing folder. */
async function checkOutput(out: string, force: boolean): Promise<void> {
  const st = await stat(out).catch(() => null);
  if (st?.isDirectory()) throw new UsageError(`-o ${out}: is a folder`, { hint: 'give a file name, e.g. -o name.torrent' });
  if (st && !force) throw new UsageError(`${out} exists`, { hint: 'add --force to overwrite it, or choose another name with -o' });
  const dir = await stat(dirname(out)).catch(() => null);
  if (!dir?.isDirectory()) throw new UsageError(`-o ${out}: folder ${dirname(out)} does not exist`);
}

/** Written next to the target and renamed into place: an interrupted run leaves no half torrent. */
async function writeAtomically(out: string, bytes: Buffer, force: boolean): Promise<void> {
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, bytes, { flag: 'wx' });
    if (!force && (await stat(out).catch(() => null))) throw new UsageError(`${out} exists`, { hint: 'add --force to overwrite it' });
    await rename(tmp, out);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    if (e instanceof UsageError) throw e;
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'EACCES' ? 'permission denied' : err.code === 'ENOSPC' ? 'no space left on device' : err.message;
    throw new RuntimeError('ERR_DISK', `cannot write ${out}: ${why}`, { cause: e });
  }
}

async function scanInput(
  root: string,
  label: string,
  opts: { includeHidden: boolean; exclude: string | null },
  warn: (msg: string) => void,
): Promise<Scan> {
  let st;
  try {
    st = await stat(root);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new InputError('ERR_READ', `${label}: ${err.code === 'ENOENT' ? 'no such file or folder' : err.code === 'EACCES' ? 'permission denied' : err.message}`);
  }
  if (st.isFile()) return { single: true, files: [{ abs: root, path: [basename(root)], length: st.size }], hiddenSkipped: 0 };
  if (!st.isDirectory()) throw new InputError('ERR_READ', `${label}: not a regular file or a folder`);
  const scan: Scan = { single: false, files: [], hiddenSkipped: 0 };
  await walk(root, [], scan, opts, warn);
  return scan;
}

/** Depth-first, children in byte order of their names: the files come out in path order. */
async function walk(
  dir: string,
  prefix: string[],
  scan: Scan,
  opts: { includeHidden: boolean; exclude: string | null },
  warn: (msg: string) => void,
): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new InputError('ERR_READ', `cannot list ${dir}: ${err.code === 'EACCES' ? 'permission denied' : err.message}`);
  }
  const keyed = names.map((n) => ({ n, key: Buffer.from(n, 'utf8') }));
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  for (const { n } of keyed) {
    const abs = join(dir, n);
    const rel = [...prefix, n].join('/');
    if (n.startsWith('.') && !opts.includeHidden) {
      scan.hiddenSkipped++;
      continue;
    }
    if (abs === opts.exclude) continue;
    let st;
    try {
      st = await lstat(abs);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      // A name that is not valid UTF-8 comes back from readdir with U+FFFD and cannot be found.
      if (err.code === 'ENOENT' && n.includes('\uFFFD')) {
        throw new InputError('ERR_READ', `${rel}: the name is not valid UTF-8, which a torrent cannot carry`, { hint: 'rename it' });
      }
      if (err.code === 'ENOENT') continue; // removed since we listed the folder
      throw new InputError('ERR_READ', `${rel}: ${err.code === 'EACCES' ? 'permission denied' : err.message}`);
    }
    if (st.isSymbolicLink()) warn(`${rel}: symlink skipped (links are not followed)`);
    else if (st.isDirectory()) await walk(abs, [...prefix, n], scan, opts, warn);
    else if (st.isFile()) {
      if (scan.files.length >= MAX_FILES) throw new InputError('ERR_READ', `more than ${MAX_FILES} files: too many for one torrent`);
      scan.files.push({ abs, path: [...prefix, n], length: st.size });
    } else warn(`${rel}: not a regular file, skipped`);
  }
}

/** Names a reader sanitises (libtorrent's rules, metainfo/sanitize.ts) are saved under another name. */
function warnRenamed(scan: Scan, readBack: string[], readName: string, name: string, warn: (msg: string) => void): void {
  if (readName !== name) warn(`name ${JSON.stringify(name)} will be saved by downloaders as ${JSON.stringify(readName)}`);
  if (scan.single) return;
  scan.files.forEach((f, i) => {
    const mine = f.path.join('/');
    const theirs = readBack[i];
    if (theirs !== undefined && theirs !== mine) warn(`${mine} will be saved by downloaders as ${theirs}`);
  });
}

/** One percentage line on a terminal, redrawn in place and erased at the end. */
class ProgressLine {
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly total: number,
  ) {}

  update(done: number): void {
    const now = Date.now();
    if (now - this.lastDraw < PROGRESS_REDRAW_MS && done < this.total) return;
    this.lastDraw = now;
    this.drawn = true;
    const pct = Math.floor((done / this.total) * 100);
    this.stream.write(`\r\x1b[2Khashing ${pct}%  ${formatBytes(done)} of ${formatBytes(this.total)}`);
  }

  clear(): void {
    if (this.drawn) this.stream.write('\r\x1b[2K');
  }
}
