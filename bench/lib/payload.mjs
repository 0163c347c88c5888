/**
 * Bench payloads: random bytes written once per run, in 1 MiB blocks, with each file's SHA-1
 * computed while writing; and the helpers that re-read files (to verify a client's output, or to
 * put the seeder's payload in the page cache before a timed run).
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

const WRITE_BLOCK_BYTES = 1 << 20;
/** Large reads keep verification and warming cheap (a few syscalls per MiB). */
const READ_BLOCK_BYTES = 4 << 20;

/** Writes `bytes` random bytes to `path` (parents created); returns the SHA-1 hex. */
export function writeRandomFile(path, bytes) {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'w');
  const hash = createHash('sha1');
  try {
    for (let left = bytes; left > 0; ) {
      const block = randomBytes(Math.min(WRITE_BLOCK_BYTES, left));
      hash.update(block);
      for (let off = 0; off < block.length; ) off += writeSync(fd, block, off);
      left -= block.length;
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** SHA-1 hex of a file's contents, or null when it cannot be read. */
export function sha1File(path, buf = Buffer.allocUnsafe(READ_BLOCK_BYTES)) {
  let fd;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  const hash = createHash('sha1');
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** Reads every file once, so its pages are in the page cache. */
export function readFiles(paths) {
  const buf = Buffer.allocUnsafe(READ_BLOCK_BYTES);
  for (const p of paths) {
    const fd = openSync(p, 'r');
    try {
      while (readSync(fd, buf, 0, buf.length, null) > 0);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * Compares `files` ({ rel, bytes, sha1 }) under `root` with what a client wrote: returns null when
 * all match, else a short reason.
 */
export function verifyOutput(root, files) {
  const buf = Buffer.allocUnsafe(READ_BLOCK_BYTES);
  for (const f of files) {
    const path = `${root}/${f.rel}`;
    let size;
    try {
      size = statSync(path).size;
    } catch {
      return `missing ${f.rel}`;
    }
    if (size !== f.bytes) return `${f.rel}: ${size} bytes, expected ${f.bytes}`;
    if (sha1File(path, buf) !== f.sha1) return `${f.rel}: SHA-1 differs`;
  }
  return null;
}
