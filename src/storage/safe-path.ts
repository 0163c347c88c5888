/**
 * The last guard before the file system: a path built from torrent data must resolve inside the
 * output folder. Metainfo already sanitises every component; this checks again, so a bug there
 * cannot become a write outside the folder.
 */
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { InputError } from '../errors.js';

export function safeJoin(root: string, components: readonly string[]): string {
  const base = resolve(root);
  for (const c of components) {
    if (c === '' || c === '.' || c === '..' || c.includes('/') || c.includes('\\') || c.includes('\0')) {
      throw new InputError('ERR_BAD_TORRENT', `unsafe path component ${JSON.stringify(c)}`);
    }
  }
  const full = resolve(join(base, ...components));
  const rel = relative(base, full);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
    throw new InputError('ERR_BAD_TORRENT', `path ${JSON.stringify(components.join('/'))} leaves the output folder`);
  }
  return full;
}
