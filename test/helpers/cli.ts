/** Runs the built command-line programs (dist/) as a user would. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SENDER_CLI = path.join(ROOT, 'dist/sender/cli.js');
export const RECEIVER_CLI = path.join(ROOT, 'dist/receiver/cli.js');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], options: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // Without input, stdin is /dev/null: nothing to write, so no write can race the child's exit.
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (child.stdin) {
      // A child that exits before reading all its input closes the pipe (EPIPE); its exit code says what happened.
      child.stdin.on('error', () => {});
      child.stdin.end(options.input);
    }
  });
}

export function runSender(args: string[], timeoutMs = 120_000): Promise<RunResult> {
  return run(process.execPath, [SENDER_CLI, ...args], { timeoutMs });
}

export function runReceiverCli(args: string[]): Promise<RunResult> {
  return run(process.execPath, [RECEIVER_CLI, ...args]);
}
