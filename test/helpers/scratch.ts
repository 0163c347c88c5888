/**
 * A test file's scratch space: one temp folder (prefix `torrent-`, so the leak check knows it),
 * fresh numbered sub-folders in it, and the child processes the file starts, all ended by
 * `cleanup` (processes) and `remove` (the folder).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, type Proc } from './processes.js';

export interface Scratch {
  readonly root: string;
  /** A new empty folder `<root>/<label>-<n>`. */
  fresh(label: string): string;
  /** Starts a child process that `cleanup` will kill. */
  start(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Proc;
  /** Kills every process started since the last cleanup (for afterEach). */
  cleanup(): Promise<void>;
  /** Removes the folder (for afterAll). */
  remove(): void;
}

export function scratch(prefix: string): Scratch {
  const root = mkdtempSync(join(tmpdir(), `torrent-${prefix}-`));
  const procs: Proc[] = [];
  let n = 0;
  return {
    root,
    fresh(label) {
      const dir = join(root, `${label}-${++n}`);
      mkdirSync(dir, { recursive: true });
      return dir;
    },
    start(cmd, args, env = {}) {
      const p = startProcess(cmd, args, { env });
      procs.push(p);
      return p;
    },
    async cleanup() {
      await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
    },
    remove() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}
