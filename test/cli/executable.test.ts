/**
 * bin/torrent.js is what an installed `torrent` runs: the kernel hands it to /bin/sh, whose exec
 * line starts node on it with the flags it names (bin/torrent.js says which and why). The other
 * CLI tests run it as `node bin/torrent.js`, past those lines; this one runs the file itself, so
 * lines that do not start (a flag this node refuses, a typo the shell trips on) fail here rather
 * than for users, and shows the flags reach node and the arguments arrive whole.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { bin } from '../helpers/cli.js';
import { repoRoot } from '../helpers/corpus.js';

const run = promisify(execFile);

describe('bin/torrent.js as an executable', () => {
  it('starts through its shebang, with the node running these tests', async () => {
    const version = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version as string;
    // PATH starts with this node's folder, so `env node` finds the node under test.
    const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
    const r = await run(bin, ['-V'], { env, timeout: 20_000 });
    expect(r.stdout.trim()).toBe(version);
    expect(r.stderr).toBe('');
  });

  it('starts node with the flags its exec line names', async () => {
    const preload = join(repoRoot, 'test', 'helpers', 'print-exec-argv.mjs');
    const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, NODE_OPTIONS: `--import=${preload}` };
    const r = await run(bin, ['-V'], { env, timeout: 20_000 });
    expect(r.stderr).toContain('execArgv ["--max-semi-space-size=4"]');
  });

  it('names its node flags on the exec line the benches read', () => {
    const [first, second] = readFileSync(bin, 'utf8').split('\n', 2);
    expect(first).toBe('#!/bin/sh');
    expect(second).toMatch(/^':' \/\/; exec node( --[a-z-]+=\d+)+ "\$0" "\$@"$/);
  });

  it('passes its arguments through whole (one with a space stays one)', async () => {
    const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
    // An unknown command is a usage error that names it: the name must arrive as one argument.
    const r = await run(bin, ['no such command'], { env, timeout: 20_000 }).catch((e: { code: number; stderr: string }) => e);
    expect((r as { code: number }).code).toBe(2);
    expect((r as { stderr: string }).stderr).toContain('no such command');
  });
});
