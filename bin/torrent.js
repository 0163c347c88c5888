#!/usr/bin/env -S node --max-semi-space-size=4
// --max-semi-space-size=4 (MiB): V8's young generation grows to 2 x 16 MiB by default, and a
// download's short-lived garbage (a message, a view, a request record per 16 KiB block) takes it
// all the way: 18 MiB of peak RSS on a 1 GiB loopback download, for no measurable gain in CPU
// (bench download, interleaved A/B). Kept in the shebang so `torrent` runs with it as installed;
// bench/lib/ours.mjs reads it from here so benches time the same process users run.
import '../dist/cli/main.js';
