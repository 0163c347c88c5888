/**
 * What a command was pointed at: a .torrent file, an http(s) URL of one, `-` (a .torrent on
 * stdin) or a magnet URI.
 * Reading is bounded (MAX_TORRENT_BYTES) and every failure is an InputError naming the input.
 */
import { open } from 'node:fs/promises';
import { InputError, TorrentError } from '../errors.js';
import { isMagnetUri, MAX_TORRENT_BYTES, parseMagnet, parseTorrent, type Magnet, type Metainfo } from '../metainfo/index.js';

export type TorrentInput =
  | { kind: 'torrent'; label: string; meta: Metainfo; bytes: Buffer }
  | { kind: 'magnet'; label: string; magnet: Magnet };

/** The arguments fetch-url.ts's isTorrentUrl accepts (test/cli/url-download.test.ts runs info and download on URLs). */
const TORRENT_URL = /^https?:\/\//i;

export async function readTorrentInput(arg: string, stdin: NodeJS.ReadableStream = process.stdin): Promise<TorrentInput> {
  if (isMagnetUri(arg)) {
    return { kind: 'magnet', label: 'magnet URI', magnet: withLabel('magnet URI', () => parseMagnet(arg)) };
  }
  if (TORRENT_URL.test(arg)) {
    // Loaded only for a URL: a file or stdin needs no HTTP stack (start-up time, issue 15).
    const { FETCH_URL_MAX_REDIRECTS, FETCH_URL_TIMEOUT_MS, fetchTorrentUrl } = await import('./fetch-url.js');
    const bytes = await fetchTorrentUrl(arg, { timeoutMs: FETCH_URL_TIMEOUT_MS, maxBytes: MAX_TORRENT_BYTES, maxRedirects: FETCH_URL_MAX_REDIRECTS });
    return { kind: 'torrent', label: arg, meta: withLabel(arg, () => parseTorrent(bytes)), bytes };
  }
  if (/^ftp:\/\//i.test(arg)) {
    throw new InputError('ERR_READ', `${arg}: only http:// and https:// URLs can be fetched`, {
      hint: 'download the .torrent first (e.g. curl -o x.torrent <url>), then give its path',
    });
  }
  const label = arg === '-' ? 'stdin' : arg;
  const bytes = arg === '-' ? await readStream(stdin) : await readFileBounded(arg);
  return { kind: 'torrent', label, meta: withLabel(label, () => parseTorrent(bytes)), bytes };
}

function withLabel<T>(label: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof TorrentError && e.exitCode === 2) {
      throw new InputError(e.code, `${label}: ${e.message}`, { hint: e.hint, cause: e });
    }
    throw e;
  }
}

async function readFileBounded(path: string): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, 'r');
    const st = await handle.stat();
    if (st.isDirectory()) throw new InputError('ERR_READ', `${path}: is a directory, not a .torrent file`);
    if (st.size > MAX_TORRENT_BYTES) {
      throw new InputError('ERR_READ', `${path}: ${st.size} bytes is too large for a .torrent file (limit ${MAX_TORRENT_BYTES})`);
    }
    return await handle.readFile();
  } catch (e) {
    if (e instanceof TorrentError) throw e;
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : (err.message ?? String(e));
    throw new InputError('ERR_READ', `${path}: ${why}`, {
      hint: err.code === 'ENOENT' ? 'give the path of a .torrent file, a magnet URI, or - for stdin' : undefined,
    });
  } finally {
    await handle?.close();
  }
}

async function readStream(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    if (size > MAX_TORRENT_BYTES) {
      throw new InputError('ERR_READ', `stdin: more than ${MAX_TORRENT_BYTES} bytes, too large for a .torrent file`);
    }
    chunks.push(b);
  }
  if (size === 0) throw new InputError('ERR_READ', 'stdin: empty input', { hint: 'pipe a .torrent file in, e.g. torrent info - < file.torrent' });
  return Buffer.concat(chunks, size);
}
