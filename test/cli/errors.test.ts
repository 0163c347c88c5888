/**
 * The one error edge (cli/main.ts): whatever goes wrong, commander's own errors included, stderr
 * holds exactly `torrent: <what is wrong>` and at most one `hint: <what to do>` line, stdout stays
 * empty, and the exit code is 2 for usage and input errors. Help and version still exit 0. A bad
 * option value is refused while parsing, before the command does anything: shown by a tracker
 * that is never asked when a value is bad, and asked when the same command line is good.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { repoRoot } from '../helpers/corpus.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';

const dir = mkdtempSync(join(tmpdir(), 'torrent-errors-'));
const plain = join(dir, 'plain.torrent');
writeFileSync(plain, makeTorrent({ name: 'plain.bin', data: bytes(20_000, 7) }));

/** Exactly the shape of the edge: one `torrent:` line, then at most one `hint:` line. */
const ERROR_SHAPE = /^torrent: [^\n]+\n(?:hint: [^\n]+\n)?$/;

function expectUsageError(r: CliResult, message: RegExp, hint?: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(ERROR_SHAPE);
  expect(r.stderr.split('\n')[0]).toMatch(message);
  if (hint) expect(r.stderr.split('\n')[1]).toMatch(hint);
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('commander errors come out in our shape, exit 2', () => {
  it.each([
    ['an unknown command', ['frobnicate'], /^torrent: unknown command 'frobnicate'$/, /^hint: torrent --help lists the commands$/],
    ['a misspelt command', ['infoo', 'x'], /^torrent: unknown command 'infoo'$/, /^hint: did you mean info\?$/],
    ['no command at all', [], /^torrent: no command given$/, /^hint: torrent --help/],
    ['a missing argument', ['info'], /^torrent: info: missing required argument 'torrent'$/, /^hint: torrent info --help/],
    ['too many arguments', ['info', 'a', 'b'], /^torrent: info: too many arguments: expected 1, got 2$/, /^hint: torrent info --help/],
    ['an option without its value', ['download', 'x.torrent', '-o'], /^torrent: download: -o, --output <dir> needs a value$/, /^hint: torrent download --help/],
    ['an unknown option', ['info', '--jsn', 'x'], /^torrent: info: unknown option '--jsn'$/, /^hint: did you mean --json\?$/],
  ])('%s', async (_what, args, message, hint) => {
    expectUsageError(await runCli(args), message, hint);
  });
});

describe('option values are checked when parsing', () => {
  it.each([
    [['peers', plain, '--port', 'abc'], /^torrent: --port abc: expected a whole number from 1 to 65535$/],
    [['peers', plain, '--timeout', '0'], /^torrent: --timeout 0: expected a whole number from 1 to 3600$/],
    [['peers', plain, '--tracker', 'ftp://x.example/'], /^torrent: --tracker ftp:\/\/x\.example\/: expected a URL starting http, https or udp:$/],
    [['tracker', '--port', '99999'], /^torrent: --port 99999: expected a whole number from 0 to 65535$/],
    [['tracker', '--interval', '1.5'], /^torrent: --interval 1\.5: expected a whole number from 1 to 86400$/],
    [['info', plain, '--timeout', '-1'], /^torrent: --timeout -1: expected a whole number from 1 to 1000000$/],
    [['info', plain, '--peer', 'nohost'], /^torrent: --peer nohost: expected host:port/],
    [['create', plain, '--piece-length', '1000'], /^torrent: --piece-length 1000: expected a power of two from 16\.0 KiB to 512 MiB/],
  ])('torrent %j', async (args, message) => {
    expectUsageError(await runCli(args), message, /^hint: torrent \w+ --help shows its usage$/);
  });

  describe('before any side effect', () => {
    let server: http.Server;
    let announces = 0;
    let torrent: string;
    beforeAll(async () => {
      server = http.createServer((req, res) => {
        announces++;
        res.end('d8:intervali60e5:peers0:e');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      torrent = join(dir, 'tracked.torrent');
      writeFileSync(torrent, makeTorrent({ name: 'tracked.bin', data: bytes(20_000, 8), announce: `http://127.0.0.1:${port}/announce` }));
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });

    it('torrent peers with a bad --port exits 2 without announcing; with a good one it announces', async () => {
      const bad = await runCli(['peers', torrent, '--port', '70000']);
      expectUsageError(bad, /^torrent: --port 70000: /);
      // The process has exited: had it announced, the server would have counted it by now.
      expect(announces).toBe(0);
      const good = await runCli(['peers', torrent, '--port', '7000', '--timeout', '10']);
      expect(good.code, good.stderr).toBe(0);
      expect(announces).toBeGreaterThanOrEqual(1);
    });
  });
});

describe('input errors', () => {
  it('a missing file', async () => {
    expectUsageError(await runCli(['info', join(dir, 'missing.torrent')]), /: no such file$/, /^hint: give the path of a \.torrent file/);
  });

  it('an ftp:// URL says only http(s) can be fetched, not "no such file"', async () => {
    const r = await runCli(['info', 'ftp://example.invalid/x.torrent']);
    expectUsageError(r, /^torrent: ftp:\/\/example\.invalid\/x\.torrent: only http:\/\/ and https:\/\/ URLs can be fetched/, /^hint: /);
  });

  it('a message holding a newline still prints as one line', async () => {
    expectUsageError(await runCli(['info', join(dir, 'two\nlines.torrent')]), /two\\nlines\.torrent: no such file$/);
  });
});

describe('torrent tracker without its optional package', () => {
  it('says which package to install, in the error shape, exit 1, and nothing listens', async () => {
    const hide = join(repoRoot, 'test', 'helpers', 'hide-bittorrent-tracker.mjs');
    const r = await runCli(['tracker', '--host', '127.0.0.1', '--port', '0'], { env: { NODE_OPTIONS: `--import=${hide}` } });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(ERROR_SHAPE);
    expect(r.stderr).toMatch(/^torrent: torrent tracker needs the optional package bittorrent-tracker, which is not installed\nhint: .*npm install --global bittorrent-tracker/);
  });

  it('the other commands never load it', async () => {
    const hide = join(repoRoot, 'test', 'helpers', 'hide-bittorrent-tracker.mjs');
    const r = await runCli(['info', '--json', plain], { env: { NODE_OPTIONS: `--import=${hide}` } });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'plain.bin' });
  });
});

describe('help and version are not errors', () => {
  it.each([[['--help']], [['-V']], [['help', 'info']], [['info', '--help']]])('torrent %j exits 0 on stdout', async (args) => {
    const r = await runCli(args);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toBe('');
    expect(r.stderr).toBe('');
  });
});
