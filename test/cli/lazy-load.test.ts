/**
 * Each command loads only what it needs (cli/main.ts COMMANDS, issue 15): `torrent info` on a
 * file must not load the session, the DHT, the tracker client, progress bars, chalk (for --json)
 * or the HTTP stack, which cost its start-up tens of milliseconds. The modules a run loads are
 * listed by a module hook (node:module register) that appends each URL it resolves to a file.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { bin } from '../helpers/cli.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';

const dir = mkdtempSync(join(tmpdir(), 'torrent-lazy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hooks = join(dir, 'hooks.mjs');
writeFileSync(
  hooks,
  `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.LOADED_LOG, r.url + '\\n');
  return r;
}
`,
);
const register = `data:text/javascript,${encodeURIComponent(
  `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hooks).href)});`,
)}`;

const torrent = join(dir, 'x.torrent');
writeFileSync(torrent, makeTorrent({ name: 'x', files: [{ path: ['a', 'b.bin'], data: bytes(40_000, 1) }] }));

/** The module URLs one run of `torrent <args>` resolved, and its exit code. */
function loaded(args: string[]): { code: number | null; urls: string[] } {
  const log = join(dir, `loaded-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(log, '');
  const r = spawnSync(process.execPath, ['--import', register, bin, ...args], {
    env: { ...process.env, LOADED_LOG: log, NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, urls: readFileSync(log, 'utf8').split('\n').filter((u) => u !== '') };
}

describe('lazy command loading', () => {
  it('info --json on a file loads no session, DHT, tracker, progress bars, chalk or HTTP', () => {
    const { code, urls } = loaded(['info', '--json', torrent]);
    expect(code).toBe(0);
    expect(urls.some((u) => u.endsWith('/dist/cli/info.js'))).toBe(true);
    const unwanted = urls.filter((u) =>
      /\/dist\/(session|dht|tracker|discovery|peer|storage|wire)\/|\/dist\/cli\/(download|seed|peers|tracker|create|verify|style|info-text|fetch-url)\.js$|\/node_modules\/(chalk|cli-progress|bittorrent-dht|bittorrent-tracker)\/|^node:https?$/.test(
        u,
      ),
    );
    expect(unwanted).toEqual([]);
  });

  it('download without a terminal (logs, scripts, --json) loads no progress bars', () => {
    // No peer, no tracker, no DHT: the run ends at --timeout (exit 1) having loaded what a run does.
    const out = join(dir, 'out');
    const { code, urls } = loaded(['download', torrent, '-o', out, '--no-dht', '--port', '0', '--timeout', '1']);
    expect(code).toBe(1);
    expect(urls.some((u) => u.endsWith('/dist/cli/run-session.js'))).toBe(true);
    expect(urls.filter((u) => /\/node_modules\/cli-progress\/|\/dist\/cli\/tty-reporter\.js$/.test(u))).toEqual([]);
  });

  it('--help still loads every command (it lists them all)', () => {
    const { code, urls } = loaded(['--help']);
    expect(code).toBe(0);
    for (const m of ['info', 'magnet', 'download', 'peers', 'tracker', 'create', 'verify']) {
      expect(urls.some((u) => u.endsWith(`/dist/cli/${m}.js`)), m).toBe(true);
    }
  });
});
