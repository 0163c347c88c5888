/** Child processes for interop tests: started with a bounded wait for readiness, always killed. */
import { spawn, type ChildProcess } from 'node:child_process';

export interface Proc {
  child: ChildProcess;
  output(): string;
  /** Resolves with the first match of `pattern` in stdout and stderr, or rejects after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export function startProcess(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Proc {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  let stdoutText = '';
  const listeners: (() => void)[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    stdoutText += d.toString();
    for (const l of listeners) l();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  });
  child.stdin!.on('error', () => {});
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => {
      live.delete(child);
      for (const l of listeners) l();
      resolve(code);
    });
    child.on('error', () => resolve(null));
  });
  return {
    child,
    output: () => out,
    exited,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = stdoutText.match(pattern) ?? out.match(pattern);
          if (m) {
            done();
            resolve(m);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`${cmd} exited before printing ${pattern}:\n${out.slice(-2000)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${cmd} did not print ${pattern} within ${timeoutMs} ms:\n${out.slice(-2000)}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          const i = listeners.indexOf(check);
          if (i >= 0) listeners.splice(i, 1);
        };
        listeners.push(check);
        check();
      });
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin!.end();
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}
