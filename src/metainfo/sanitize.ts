/**
 * Path sanitising: what turns names from a torrent into path components that can never leave the
 * output folder. A security boundary; storage checks again before it opens anything.
 *
 * Rules (libtorrent's `sanitize_append_path_element`, so that our file names match the reference;
 * corpus: empty_path, parent_path, slash_path*, hidden_parent_path, invalid_filename*):
 * - an element "." or ".." (or one that filters down to nothing or to only one or two dots) is
 *   dropped; an element that is empty in the torrent becomes "_";
 * - NUL, "/" and "\" inside an element, and the Unicode direction overrides U+200E, U+200F,
 *   U+202A-U+202E (used to disguise extensions) are removed;
 * - other control characters (< 0x20) and invalid UTF-8 become "_";
 * - an element is cut to 240 bytes, keeping a short extension (libtorrent counts 240 characters;
 *   we count bytes, because Linux limits names to 255 bytes, not characters).
 * The result therefore never contains a separator, NUL, or a "." / ".." component.
 */

/** Longest element we produce before the extension is appended: fits 255-byte file systems. */
export const MAX_ELEMENT_BYTES = 240;
/** An extension longer than this (dot excluded) is not kept when a name is cut, as in libtorrent. */
export const MAX_EXTENSION_BYTES = 8;

const DIRECTION_OVERRIDES = new Set([0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e]);

/** Decodes one UTF-8 code point at `i`: [codePoint or -1 if invalid, byte length]. */
function codePointAt(b: Uint8Array, i: number): [number, number] {
  const c = b[i]!;
  if (c < 0x80) return [c, 1];
  let need: number;
  let cp: number;
  if (c >= 0xc2 && c <= 0xdf) [need, cp] = [1, c & 0x1f];
  else if (c >= 0xe0 && c <= 0xef) [need, cp] = [2, c & 0x0f];
  else if (c >= 0xf0 && c <= 0xf4) [need, cp] = [3, c & 0x07];
  else return [-1, 1];
  for (let k = 1; k <= need; k++) {
    const n = b[i + k];
    if (n === undefined || (n & 0xc0) !== 0x80) return [-1, 1];
    cp = (cp << 6) | (n & 0x3f);
  }
  const min = need === 1 ? 0x80 : need === 2 ? 0x800 : 0x10000;
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return [-1, 1];
  return [cp, need + 1];
}

/**
 * Sanitises one path element. Returns null when the element is to be dropped.
 */
export function sanitizeElement(raw: Uint8Array): string | null {
  if (raw.length === 0) return '_';
  if (raw.length === 1 && raw[0] === 0x2e) return null;
  const plain = plainAscii(raw);
  if (plain !== null) return plain;
  const out: number[] = [];
  let added = 0;
  let dots = 0;
  let cut = false;
  for (let i = 0; i < raw.length; ) {
    const [cp, len] = codePointAt(raw, i);
    if (cp === 0 || cp === 0x2f || cp === 0x5c || DIRECTION_OVERRIDES.has(cp)) {
      i += len;
      continue;
    }
    if (out.length + (cp < 0 || cp < 0x20 ? 1 : len) > MAX_ELEMENT_BYTES) {
      cut = true;
      break;
    }
    if (cp < 0 || cp < 0x20) {
      out.push(0x5f); // '_'
      added++;
    } else {
      for (let k = 0; k < len; k++) out.push(raw[i + k]!);
      added++;
      if (cp === 0x2e) dots++;
    }
    i += len;
  }
  if (added === dots && added <= 2) return null;
  let name = Buffer.from(out).toString('utf8');
  if (cut) {
    const ext = extensionOf(raw);
    if (ext !== null) name += ext;
  }
  return name;
}

/** A character that keeps a latin1-read name off the plain path: not printable ASCII, or / or \. */
const NOT_PLAIN = /[^\x20-\x2e\x30-\x5b\x5d-\x7e]/;

/**
 * The common case, decided without decoding: printable ASCII with no separator, short enough not
 * to be cut, is kept byte for byte (every rule above leaves such a name unchanged, except the
 * dots-only one, checked here too). Null means "take the general path". The bytes are checked by
 * a regular expression on their latin1 text rather than by a loop over them: a file list runs
 * this once per path element, mostly before the JIT has optimised any loop here.
 */
function plainAscii(raw: Uint8Array): string | null {
  if (raw.length > MAX_ELEMENT_BYTES) return null;
  const text = (Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.length)).toString('latin1');
  if (NOT_PLAIN.test(text)) return null;
  return text === '.' || text === '..' ? null : text; // dots only: the general path drops them
}

/** The ASCII extension (".ext") of a raw name, when short and safe enough to keep. */
function extensionOf(raw: Uint8Array): string | null {
  const dot = raw.lastIndexOf(0x2e);
  if (dot <= 0 || raw.length - dot > MAX_EXTENSION_BYTES + 1) return null;
  for (let i = dot + 1; i < raw.length; i++) {
    const c = raw[i]!;
    if (c < 0x20 || c >= 0x7f || c === 0x2f || c === 0x5c) return null;
  }
  return Buffer.from(raw.subarray(dot)).toString('latin1');
}

/**
 * sanitizeElement(buf.subarray(start, end)), without making that view for the usual plain name
 * (a file list has one or more per file).
 */
export function sanitizeElementAt(buf: Buffer, start: number, end: number): string | null {
  if (end > start && end - start <= MAX_ELEMENT_BYTES) {
    const text = buf.toString('latin1', start, end);
    if (!NOT_PLAIN.test(text) && text !== '.' && text !== '..') return text;
  }
  return sanitizeElement(buf.subarray(start, end));
}

/**
 * sanitizePath of the elements buf[spans[0], spans[1]), buf[spans[2], spans[3]), ... (`count`
 * elements), through sanitizeElementAt.
 */
export function sanitizePathAt(buf: Buffer, spans: readonly number[], count: number): string[] {
  const out = new Array<string>(count);
  let n = 0;
  for (let k = 0; k < count; k++) {
    const s = sanitizeElementAt(buf, spans[2 * k]!, spans[2 * k + 1]!);
    if (s !== null) out[n++] = s;
  }
  if (n === 0) return ['_'];
  if (n < out.length) out.length = n;
  return out;
}

/** Sanitises a list of elements; an empty result becomes ["_"] (libtorrent: a file needs a name). */
export function sanitizePath(elements: readonly Uint8Array[]): string[] {
  // Sized up front: a file list keeps one of these per file, and an array grown by push carries
  // spare room (a 2-element path would take 17 slots).
  const out = new Array<string>(elements.length);
  let n = 0;
  for (let i = 0; i < elements.length; i++) {
    const s = sanitizeElement(elements[i]!);
    if (s !== null) out[n++] = s;
  }
  if (n === 0) return ['_'];
  if (n < out.length) out.length = n;
  return out;
}

/**
 * Renames files whose path repeats an earlier file's path, or names a folder another file needs,
 * by inserting ".N" before the extension (libtorrent: duplicate_files.torrent gives bar.1.txt).
 * Comparison ignores ASCII case, as libtorrent's does: the download must also work on
 * case-insensitive file systems. `paths` are component arrays, changed in place where renamed.
 */
export function resolveDuplicates(paths: string[][], skip: (index: number) => boolean): void {
  // Names taken, per folder: the folder's lowercased path ("" for the root) -> the lowercased
  // names in it, of files and folders alike. No component holds a "/", so two paths clash exactly
  // when they have the same folder key and name key, and lowercasing each component equals
  // lowercasing the joined path ("/" is neither cased nor case-ignorable). The common shape,
  // folder/name, then makes no new string: toLowerCase returns lowercase text as it is.
  const taken = new Map<string, Set<string>>();
  const namesIn = (folder: string): Set<string> => {
    let names = taken.get(folder);
    if (names === undefined) {
      names = new Set();
      taken.set(folder, names);
    }
    return names;
  };
  // Every folder on every path is taken before any file is looked at: a file may not take the
  // name of a folder that a later file needs.
  const folders = new Array<string>(paths.length);
  for (let i = 0; i < paths.length; i++) {
    if (skip(i)) continue;
    const path = paths[i]!;
    let folder = '';
    for (let k = 0; k < path.length - 1; k++) {
      const name = path[k]!.toLowerCase();
      namesIn(folder).add(name);
      folder = k === 0 ? name : `${folder}/${name}`;
    }
    folders[i] = folder;
  }
  for (let i = 0; i < paths.length; i++) {
    if (skip(i)) continue;
    const path = paths[i]!;
    const names = namesIn(folders[i]!);
    const last = path[path.length - 1]!;
    // One Set operation in the usual case: the name was free when adding it grew the set.
    const size = names.size;
    if (names.add(last.toLowerCase()).size > size) continue;
    const dot = last.lastIndexOf('.');
    const [stem, ext] = dot >= 0 ? [last.slice(0, dot), last.slice(dot)] : [last, ''];
    for (let n = 1; ; n++) {
      const candidate = `${stem}.${n}${ext}`;
      const own = candidate.toLowerCase();
      if (!names.has(own)) {
        names.add(own);
        paths[i] = [...path.slice(0, -1), candidate];
        break;
      }
    }
  }
}
