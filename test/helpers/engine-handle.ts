/**
 * A real engine (PostgreSQL, an object store) a test file starts for itself:
 * started in beforeAll, stopped in afterAll, and, when it cannot start, a
 * reason that names what lifts the skip (or a failure, when the environment
 * variable `requireEnv` is 1, as the test script sets where it installed them).
 */
import { afterAll, beforeAll, type TestContext } from 'vitest';

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
