// Preloaded through NODE_OPTIONS by test/cli/executable.test.ts: tells stderr which node flags the
// process was started with (NODE_OPTIONS' own do not count in execArgv).
process.stderr.write(`execArgv ${JSON.stringify(process.execArgv)}\n`);
