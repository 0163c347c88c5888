/**
 * How to run a build of ours as its installed `torrent` command runs: with the node flags its
 * bin/torrent.js names on its second line (`':' //; exec node <flags> "$0" "$@"`, see there).
 * Benches spawn `process.execPath` rather than the script itself so every run uses the same
 * node; reading the flags here keeps them timing the process users run, for this build and for
 * an older one (BENCH_BEFORE_BIN, BENCH_BASELINE) alike, whose bin may name none.
 */
import { readFileSync } from 'node:fs';

/** The node flags `bin` starts node with when run as a program, to put before `bin` in argv. */
export function shebangFlags(bin) {
  const [first, second = ''] = readFileSync(bin, 'utf8').split('\n', 2);
  const viaShell = /^':' \/\/; exec node((?: +--\S+)*) "\$0" "\$@"$/.exec(second);
  if (first === '#!/bin/sh' && viaShell) return viaShell[1].trim().split(/ +/).filter(Boolean);
  const viaEnv = /^#!\/usr\/bin\/env -S node((?: +\S+)*) *$/.exec(first);
  return viaEnv ? viaEnv[1].trim().split(/ +/).filter(Boolean) : [];
}
