/**
 * HAProxy (Debian's package) in front of receivers, as a fleet would run it:
 * TCP mode, all uploads to the first healthy receiver, health checks every
 * 200 ms, a connection that fails redispatched to the next. Loopback only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

export const HAPROXY = '/usr/sbin/haproxy';
export const haveHaproxy = existsSync(HAPROXY);

export interface RunningHaproxy {
  port: number;
  stop(): Promise<void>;
}

function config(port: number, backends: number[]): string {
  return `global
  maxconn 256
defaults
  mode tcp
  timeout connect 1s
  timeout client 120s
  timeout server 120s
  retries 2
  option redispatch
frontend uploads
  bind 127.0.0.1:${port}
  default_backend receivers
backend receivers
  balance first
${backends.map((p, i) => `  server rx${i} 127.0.0.1:${p} check inter 200ms fall 1 rise 2`).join('\n')}
`;
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  });
}

export async function startHaproxy(backends: number[]): Promise<RunningHaproxy> {
  const dir = await mkdtemp(path.join(tmpdir(), 'haproxy-'));
  const port = await freePort();
  const file = path.join(dir, 'haproxy.cfg');
  await writeFile(file, config(port, backends));
  const child: ChildProcess = spawn(HAPROXY, ['-f', file, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`haproxy did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
