/**
 * Leak check, a vitest setup file (vitest.config.ts `setupFiles`): a test FILE fails when, after
 * all its tests and its own afterAll hooks, it left behind
 *   - a child process of this worker (or a descendant of one), zombies excepted;
 *   - a socket of this worker still open: TCP in LISTEN, or any UDP socket;
 *   - a folder or file named `torrent-*` in its temp folder.
 * As in rqbit's DropChecks (crates/librqbit/src/tests/test_util.rs): the test proves it cleaned up.
 *
 * How, and why it does not flag what a file legitimately keeps between its tests:
 * - The check compares a snapshot taken in this file's first beforeAll with one taken after its
 *   last afterAll (this setup file registers its hooks first, and vitest runs after-hooks in
 *   reverse order), so anything a test starts and the file's afterAll stops is fine.
 * - Each test file gets a temp folder of its own: TMPDIR is pointed at a fresh folder before the
 *   file is imported, so `os.tmpdir()` in the file and in every process it spawns (they inherit
 *   the environment) lands there, and parallel files never see each other's folders.
 * - Processes and sockets come from /proc (Linux), not from Node's handle list: a child is any
 *   process whose parent chain reaches this worker; a socket is ours when /proc/self/fd links to
 *   its inode.
 * - Things on their way out (a process sent SIGTERM, a socket closing) get LEAK_GRACE_MS to go
 *   before the file fails; the wait ends as soon as nothing is left.
 * The temp folder itself is removed afterwards either way (at the latest when the worker exits).
 */
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/** How long leftovers may take to finish going away (SIGTERM handlers, close callbacks). */
const LEAK_GRACE_MS = 3_000;
/** How often the leftovers are looked at again during the grace period. */
const LEAK_POLL_MS = 50;
/** Names of the temp folders our code and tests make (mkdtemp prefixes). */
const TEMP_PREFIX = 'torrent-';
/** /proc/net/tcp state of a listening socket. */
const TCP_LISTEN = '0A';

// Captured now: a test may leave fake timers installed, the check must still wait in real time.
const realSetTimeout = globalThis.setTimeout;
const realNow = Date.now.bind(Date);

const outerTmp = tmpdir();
const fileTmp = mkdtempSync(join(outerTmp, 'vitest-file-'));
process.env.TMPDIR = fileTmp;
// A file whose tests all skip, or that fails to load, runs no afterAll: remove the folder at exit.
process.once('exit', () => rmSync(fileTmp, { recursive: true, force: true }));

interface Snapshot {
  processes: Map<number, string>;
  sockets: Map<string, string>;
}

/** Live descendants of `root`: pid -> command line. */
function descendants(root: number): Map<number, string> {
  const children = new Map<number, number[]>();
  const info = new Map<number, { state: string; cmd: string }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = rest[0] ?? '';
    const ppid = Number(rest[1]);
    let cmd = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ') || cmd;
    } catch {
      // keep comm
    }
    info.set(pid, { state, cmd });
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const out = new Map<number, string>();
  const stack = [...(children.get(root) ?? [])];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    const i = info.get(pid);
    if (i && i.state !== 'Z') out.set(pid, i.cmd);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Socket inodes this process has open. */
function ownSocketInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** "127.0.0.1:6881" from /proc/net's "0100007F:1AE1" (IPv4) or its 32-hex-digit IPv6 form. */
function procAddress(hex: string): string {
  const [ip = '', port = '0'] = hex.split(':');
  const p = parseInt(port, 16);
  if (ip.length === 8) {
    const b = Buffer.from(ip, 'hex').reverse();
    return `${[...b].join('.')}:${p}`;
  }
  const words: string[] = [];
  for (let i = 0; i < 32; i += 8) {
    const w = Buffer.from(ip.slice(i, i + 8), 'hex').reverse().toString('hex');
    words.push(w.slice(0, 4), w.slice(4));
  }
  return `[${words.map((w) => w.replace(/^0+(?=.)/, '')).join(':')}]:${p}`;
}

/** Our open TCP listeners and UDP sockets: "tcp 127.0.0.1:6881" -> inode. */
function ownSockets(): Map<string, string> {
  const mine = ownSocketInodes();
  const out = new Map<string, string>();
  for (const proto of ['tcp', 'tcp6', 'udp', 'udp6']) {
    let table: string;
    try {
      table = readFileSync(`/proc/self/net/${proto}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of table.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const inode = f[9]!;
      if (!mine.has(inode)) continue;
      if (proto.startsWith('tcp') && f[3] !== TCP_LISTEN) continue;
      out.set(`${proto.replace('6', '')} ${procAddress(f[1]!)} (inode ${inode})`, inode);
    }
  }
  return out;
}

function snapshot(): Snapshot {
  return { processes: descendants(process.pid), sockets: ownSockets() };
}

function leftTemp(): string[] {
  try {
    return readdirSync(fileTmp).filter((n) => n.startsWith(TEMP_PREFIX));
  } catch {
    return [];
  }
}

function leaks(before: Snapshot): string[] {
  const now = snapshot();
  const found: string[] = [];
  for (const [pid, cmd] of now.processes) if (!before.processes.has(pid)) found.push(`child process ${pid}: ${cmd.slice(0, 200)}`);
  for (const key of now.sockets.keys()) if (!before.sockets.has(key)) found.push(`open socket ${key}`);
  for (const name of leftTemp()) found.push(`temp folder ${join(fileTmp, name)}`);
  return found;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

let before: Snapshot | null = null;

beforeAll(() => {
  before = snapshot();
});

afterAll(async () => {
  const start = before;
  if (!start) return;
  try {
    let found = leaks(start);
    const deadline = realNow() + LEAK_GRACE_MS;
    while (found.length > 0 && realNow() < deadline) {
      await new Promise((r) => realSetTimeout(r, LEAK_POLL_MS));
      found = leaks(start);
    }
    if (found.length > 0) {
      // Reported below; stopped here so that one leaky file does not burden the next ones.
      for (const pid of descendants(process.pid).keys()) if (!start.processes.has(pid)) killQuietly(pid);
      throw new Error(`this test file left behind (stop, close or remove them in afterAll):\n  ${found.join('\n  ')}`);
    }
  } finally {
    process.env.TMPDIR = outerTmp;
    rmSync(fileTmp, { recursive: true, force: true });
  }
}, LEAK_GRACE_MS + 5_000);
