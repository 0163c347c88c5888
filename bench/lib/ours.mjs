/**
 * How to run a build of ours as its installed `torrent` command runs: with the node flags its
 * bin/torrent.js shebang names (`#!/usr/bin/env -S node <flags>`). Benches spawn
 * `process.execPath` rather than the script itself so every run uses the same node; reading the
 * flags here keeps them timing the process users run, for this build and for an older one
 * (BENCH_BEFORE_BIN, BENCH_BASELINE) alike.
 */
import { readFileSync } from 'node:fs';

/** The node flags of `bin`'s shebang, to put before `bin` in argv (none for `#!/usr/bin/env node`). */
export function shebangFlags(bin) {
  const first = readFileSync(bin, 'utf8').split('\n', 1)[0];
  const m = /^#!\/usr\/bin\/env -S node((?: +\S+)*) *$/.exec(first);
  return m ? m[1].trim().split(/ +/).filter(Boolean) : [];
}
