#!/bin/sh
':' //; exec node --max-semi-space-size=4 "$0" "$@"
// Run as a program, the shell reads the line above and starts node on this file with the flags
// it names; node reads it as a string and a comment. `env -S node <flags>` would say the same in
// a shebang, but BusyBox's env (Alpine) has no -S.
// --max-semi-space-size=4 (MiB): V8's young generation grows to 2 x 16 MiB by default, and a
// download's short-lived garbage (a message, a view, a request record per 16 KiB block) takes it
// all the way: 18 MiB of peak RSS on a 1 GiB loopback download, for no measurable gain in CPU
// (bench download, interleaved A/B). bench/lib/ours.mjs reads the flags from here so benches
// time the same process users run.
import '../dist/cli/main.js';
