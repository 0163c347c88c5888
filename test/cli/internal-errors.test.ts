/**
 * The error edge (cli/main.ts report) for bugs: an InternalError, or anything thrown that is not a
 * TorrentError, prints `torrent: internal error: <message>`, a hint asking for a report, then its
 * stack and each cause's stack (`caused by: ...`) on stderr, always, and exits 1. A typed error
 * the user can act on keeps its one line and hint, with its stack and causes only under --debug.
 *
 * No command has a bug on demand, so a module hook (node:module register, preloaded through
 * NODE_OPTIONS as in errors.test.ts) swaps the built `info` command for one that fails as its
 * first argument says: `bug` throws an InternalError with a cause, `stray` throws one from a timer
 * after the command has returned (the uncaughtException edge), `raw` throws a TypeError, `disk` an
 * ERR_DISK RuntimeError with the system error as its cause.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'torrent-internal-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Resolved against the replaced module's own URL (dist/cli/info.js), so this is the errors module
// main.js uses: `instanceof` at the edge sees the same classes.
const FAILING_INFO = `
import { InternalError, RuntimeError } from '../errors.js';
export function registerInfo(program) {
  program.command('info').argument('<how>').action((how) => {
    const cause = new TypeError("Cannot read properties of undefined (reading 'pieces')");
    if (how === 'bug') throw new InternalError('illegal session transition seeding -> checking', { cause });
    if (how === 'stray') setTimeout(() => { throw new InternalError('peer set: stray timer', { cause }); }, 0);
    if (how === 'raw') throw cause;
    if (how === 'disk') {
      const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      throw new RuntimeError('ERR_DISK', 'cannot write /out/a.bin: no space left on device', { cause: enospc });
    }
  });
}
`;
const hooks = join(dir, 'hooks.mjs');
writeFileSync(
  hooks,
  `export async function load(url, context, next) {
  if (url.endsWith('/dist/cli/info.js')) return { format: 'module', shortCircuit: true, source: ${JSON.stringify(FAILING_INFO)} };
  return next(url, context);
}
`,
);
const preload = join(dir, 'register.mjs');
writeFileSync(preload, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);

const run = (args: string[]): Promise<CliResult> => runCli(args, { env: { NODE_OPTIONS: `--import=${preload}` } });

/** A V8 stack frame line. */
const FRAME = /^ {4}at /;
const REPORT = 'hint: this is a bug in torrent: please report it with the lines below';

/** Asserts the shape of a bug's report and returns its stderr lines. */
function expectBug(r: CliResult, message: string): string[] {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stdout).toBe('');
  const out = r.stderr.split('\n');
  expect(out[0]).toBe(`torrent: internal error: ${message}`);
  expect(out[1]).toBe(REPORT);
  expect(out.at(-1)).toBe('');
  return out;
}

describe('a bug is reported with its stack and causes, always', () => {
  it.each([[[]], [['--debug']]])('an InternalError with a cause (flags %j): stack, then the cause’s stack, exit 1', async (flags) => {
    const out = expectBug(await run([...flags, 'info', 'bug']), 'illegal session transition seeding -> checking');
    expect(out[2]).toBe('InternalError: illegal session transition seeding -> checking');
    expect(out[3]).toMatch(FRAME);
    const caused = out.indexOf("caused by: TypeError: Cannot read properties of undefined (reading 'pieces')");
    expect(caused).toBeGreaterThan(3);
    expect(out[caused + 1]).toMatch(FRAME);
    // Each printed once, --debug or not; nothing but frames between and after.
    expect(out.filter((l) => l.startsWith('InternalError: ')).length).toBe(1);
    expect(out.slice(3, -1).filter((l) => !FRAME.test(l) && l !== out[caused])).toEqual([]);
  });

  it('an InternalError thrown outside the command’s promise (a stray timer): the same report, exit 1', async () => {
    const out = expectBug(await run(['info', 'stray']), 'peer set: stray timer');
    expect(out[2]).toBe('InternalError: peer set: stray timer');
    expect(out).toContain("caused by: TypeError: Cannot read properties of undefined (reading 'pieces')");
  });

  it('an exception that is no TorrentError: the same report, exit 1', async () => {
    const out = expectBug(await run(['info', 'raw']), "Cannot read properties of undefined (reading 'pieces')");
    expect(out[2]).toBe("TypeError: Cannot read properties of undefined (reading 'pieces')");
    expect(out[3]).toMatch(FRAME);
    expect(out.some((l) => l.startsWith('caused by: '))).toBe(false);
  });
});

describe('an error the user can act on stays one line', () => {
  it('ERR_DISK: one line, exit 1, no stack and no cause', async () => {
    const r = await run(['info', 'disk']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('torrent: cannot write /out/a.bin: no space left on device\n');
  });

  it('with --debug: the same line, then its stack and the system error it came from', async () => {
    const r = await run(['--debug', 'info', 'disk']);
    expect(r.code).toBe(1);
    const out = r.stderr.split('\n');
    expect(out[0]).toBe('torrent: cannot write /out/a.bin: no space left on device');
    expect(out[1]).toBe('RuntimeError: cannot write /out/a.bin: no space left on device');
    expect(out[2]).toMatch(FRAME);
    expect(out).toContain('caused by: Error: ENOSPC: no space left on device, write');
  });
});
