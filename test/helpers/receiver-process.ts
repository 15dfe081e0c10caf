/**
 * A receiver as its own process (dist/receiver/cli.js serve), for tests that
 * kill it (-9) the way a machine dies. Open mode, loopback, started with the
 * caller's arguments and environment; resolves once it logs that it is ready.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { RECEIVER_CLI } from './cli.js';

export interface ReceiverProcess {
  child: ChildProcess;
  /** Everything it printed so far (pino JSON lines). */
  log(): string;
}

export function startReceiverProcess(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ReceiverProcess> {
  const child = spawn(process.execPath, [RECEIVER_CLI, 'serve', '--open', '--min-free-bytes', String(64 * 2 ** 20), ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  return new Promise((resolve, reject) => {
    const ready = setInterval(() => {
      if (out.includes('kdump-receiver ready')) { clearInterval(ready); resolve({ child, log: () => out }); }
    }, 20);
    child.once('exit', (code) => { clearInterval(ready); reject(new Error(`receiver exited ${code} before it was ready: ${out}`)); });
    setTimeout(() => {
      clearInterval(ready);
      child.kill('SIGKILL');
      reject(new Error(`receiver not ready within 30 s: ${out}`));
    }, 30_000).unref();
  });
}
