/**
 * Starts Debian's nginx on loopback for web-seed tests, serving a folder with Range support.
 *
 * How it is started (nginx 1.22 as packaged by Debian):
 *   nginx -e <tmp>/error.log -c <tmp>/nginx.conf -p <tmp>/ -g 'daemon off; master_process off;'
 * - `-e` moves the start-up error log out of /var/log/nginx (unwritable for a normal user);
 * - `master_process off` keeps one process that never drops privileges, so as root it does not
 *   switch to "nobody" and lose read access to a 0700 temp dir, and the pid we spawn is the only
 *   process to kill;
 * - every temp path and the pid file are in the temp dir, so nothing outside it is touched.
 * Ports: a free port is found by binding port 0 and closing it; if nginx loses the race for it
 * ("Address already in use") the start is retried on another port (bounded).
 * Readiness is polled (bounded) with an HTTP GET; stop() kills by pid and removes the temp dir.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeTcpPort } from './opentracker.js';
import { startProcess, type Proc } from './processes.js';

export const NGINX_BIN = '/usr/sbin/nginx';
const READY_TIMEOUT_MS = 5_000;
const START_ATTEMPTS = 3;

export interface RunningNginx {
  /** http://127.0.0.1:<port>/ (with the trailing slash). */
  baseUrl: string;
  port: number;
  /** Lines of the access log: "<status> <connection serial> <request line>", for asserting what was asked. */
  accessLog(): Promise<string[]>;
  output(): string;
  stop(): Promise<void>;
}

export interface NginxOptions {
  /** Extra directives inside `server { }` (for example a `location` that redirects). */
  serverExtra?: string;
}

function config(dir: string, root: string, port: number, extra: string): string {
  return `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  log_format edge '$status $connection $request';
  access_log ${dir}/access.log edge;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  default_type application/octet-stream;
  sendfile on;
  keepalive_requests 10000;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    ${extra}
  }
}
`;
}

function probe(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 500 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Serves `root` (read-only) over HTTP on 127.0.0.1 until stop(). */
export async function startNginx(root: string, opts: NginxOptions = {}): Promise<RunningNginx> {
  const dir = await mkdtemp(join(tmpdir(), 'nginx-'));
  let lastError = '';
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const port = await freeTcpPort();
    const conf = join(dir, 'nginx.conf');
    await writeFile(conf, config(dir, root, port, opts.serverExtra ?? ''));
    const proc: Proc = startProcess(NGINX_BIN, ['-e', join(dir, 'error.log'), '-c', conf, '-p', `${dir}/`, '-g', 'daemon off; master_process off;']);
    const baseUrl = `http://127.0.0.1:${port}/`;
    const until = Date.now() + READY_TIMEOUT_MS;
    let ready = false;
    while (Date.now() < until && proc.child.exitCode === null) {
      if (await probe(baseUrl)) {
        ready = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (ready) {
      return {
        baseUrl,
        port,
        output: () => proc.output(),
        async accessLog() {
          const text = await readFile(join(dir, 'access.log'), 'utf8').catch(() => '');
          return text.split('\n').filter((l) => l !== '');
        },
        async stop() {
          await proc.kill('SIGTERM');
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    await proc.kill('SIGKILL');
    lastError = proc.output() + (await readFile(join(dir, 'error.log'), 'utf8').catch(() => ''));
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`nginx did not start after ${START_ATTEMPTS} attempts:\n${lastError.slice(-2000)}`);
}

