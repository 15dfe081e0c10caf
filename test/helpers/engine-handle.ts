/**
 * A real engine (PostgreSQL, an object store) a test file starts for itself
 * with its scripts/*.sh:
 * started in beforeAll, stopped in afterAll, and, when it cannot start, a
 * reason that names what lifts the skip (or a failure, when the environment
 * variable `requireEnv` is 1, as the test script sets where it installed them).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, type TestContext } from 'vitest';
import { run } from './cli.js';
import { freePort } from './ports.js';

export interface EngineHandle<S> {
  /** The running engine (after beforeAll), or undefined when none could be started. */
  readonly server: S | undefined;
  /** Why there is no server, naming what lifts the skip. */
  readonly reason: string | undefined;
  /** In a test: the server, or skips the test with the reason. */
  require(ctx: TestContext): S;
}

export function useEngine<S>(engine: {
  name: string;
  start(): Promise<{ server?: S; reason?: string }>;
  stop(server: S): Promise<void>;
  requireEnv: string;
  startTimeoutMs: number;
}): EngineHandle<S> {
  let server: S | undefined;
  let reason: string | undefined = `${engine.name} not started yet (its handle is read in beforeAll and tests only)`;
  beforeAll(async () => {
    const started = await engine.start();
    server = started.server;
    reason = started.reason;
    if (reason && process.env[engine.requireEnv] === '1') throw new Error(`${reason} (${engine.requireEnv}=1 makes this a failure, not a skip)`);
  }, engine.startTimeoutMs + 10_000);
  afterAll(async () => {
    if (server) await engine.stop(server);
    server = undefined;
  }, 120_000);
  return {
    get server() { return server; },
    get reason() { return server ? undefined : reason; },
    require(ctx) {
      if (!server) ctx.skip(reason);
      return server!;
    },
  };
}

/** How a scripts/*.sh engine (`start DIR PORT | stop DIR`, an env file in DIR when ready) is run for a test. */
export interface ScriptEngine<S> {
  /** For messages: "PostgreSQL", "object store". */
  name: string;
  /** Absolute path of the script. */
  script: string;
  /** The file `start` writes in DIR: KEY=value lines. */
  envFile: string;
  /** Prefix of the temporary DIR. */
  dirPrefix: string;
  /** What to tell the reader to lift the skip, given the script's "FAILED at step: ..." line. */
  lift(failed: string): string;
  /** The server from the env file's values. */
  toServer(env: Record<string, string>, started: { dir: string; port: number; startMs: number }): S;
}

export type EngineStart<S> = { server: S; reason?: undefined } | { server?: undefined; reason: string };

const runningEngines = new Map<string, string>(); // dir -> script
// A worker that exits without afterAll (crash, kill) still stops what it started.
process.once('exit', () => {
  for (const [dir, script] of runningEngines) spawnSync('bash', [script, 'stop', dir], { stdio: 'ignore', timeout: 30_000 });
});

function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  return env;
}

/** Starts the engine in a new temporary directory on a free port; never throws for an unavailable engine (returns the reason). */
export async function startScriptEngine<S>(engine: ScriptEngine<S>, timeoutMs: number): Promise<EngineStart<S>> {
  const dir = await mkdtemp(path.join(tmpdir(), engine.dirPrefix));
  const scriptName = path.basename(engine.script);
  let stderr = '';
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const t0 = performance.now();
    let result;
    try {
      result = await run('bash', [engine.script, 'start', dir, String(port)], { timeoutMs });
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      const failed = `could not run scripts/${scriptName}: ${(error as Error).message}`;
      return { reason: `${engine.name} unavailable (${failed}): ${engine.lift(failed)}` };
    }
    const startMs = Math.round(performance.now() - t0);
    stderr = result.stderr;
    if (result.code === 0) {
      runningEngines.set(dir, engine.script);
      const env = parseEnvFile(await readFile(path.join(dir, engine.envFile), 'utf8'));
      return { server: engine.toServer(env, { dir, port, startMs }) };
    }
    // Another process took the free port between freePort() and the bind: try another.
    if (!/Address already in use/.test(stderr)) break;
  }
  await run('bash', [engine.script, 'stop', dir]).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
  const failed = new RegExp(`${scriptName.replace('.', '\\.')}: FAILED at step: .*`).exec(stderr)?.[0]
    ?? (stderr.trim().split('\n').pop() || `scripts/${scriptName} start failed`);
  return { reason: `${engine.name} unavailable (${failed}): ${engine.lift(failed)}` };
}

/** Stops an engine startScriptEngine started and removes its directory. */
export async function stopScriptEngine(script: string, dir: string): Promise<void> {
  const result = await run('bash', [script, 'stop', dir], { timeoutMs: 90_000 });
  runningEngines.delete(dir);
  if (result.code !== 0) throw new Error(`scripts/${path.basename(script)} stop ${dir} failed:\n${result.stderr}`);
  await rm(dir, { recursive: true, force: true });
}
