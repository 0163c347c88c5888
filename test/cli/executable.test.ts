/**
 * bin/torrent.js is what an installed `torrent` runs: the kernel reads its shebang, which names
 * node flags through `env -S` (bin/torrent.js says which and why). The other CLI tests run it as
 * `node bin/torrent.js`, past the shebang; this one runs the file itself, so a shebang that does
 * not start (a flag this node refuses, an env without -S) fails here rather than for users.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { bin } from '../helpers/cli.js';

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

  it('names its node flags on the first line, as `env -S node <flags>`', () => {
    const first = readFileSync(bin, 'utf8').split('\n', 1)[0]!;
    expect(first).toMatch(/^#!\/usr\/bin\/env -S node( --[a-z-]+=\d+)+$/);
  });
});
