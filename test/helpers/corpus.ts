import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The repo's root folder. */
export const repoRoot = join(here, '..', '..');
/** ../shared/corpus beside the clone: always there in CI, maybe not on a developer's machine. */
export const corpusDir = process.env.TORRENT_CORPUS ?? join(repoRoot, '..', 'shared', 'corpus');
export const hasCorpus = existsSync(join(corpusDir, 'expected.json'));
