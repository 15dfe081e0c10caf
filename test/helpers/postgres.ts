/**
 * A real, throwaway PostgreSQL 15 (Debian's packages) for tests: each
 * usePostgres() starts its own cluster with scripts/postgres.sh in a temp
 * directory on a free loopback port, and stops and removes it afterwards.
 *
 * When no cluster can be started (PostgreSQL not installed and not
 * installable, not root...), the handle's server is undefined and reason says
 * why and what lifts the skip; tests call pg.require(ctx) to skip with that
 * reason. With KDUMP_TEST_REQUIRE_POSTGRES=1 (for CI) the failure fails the
 * suite instead of skipping it.
 *
 *   const pg = usePostgres();
 *   const db = useDatabase(pg);            // optional: a fresh database for this file
 *   it('...', async (ctx) => { const url = db.require(ctx).url; ... });
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, type TestContext } from 'vitest';
import { startScriptEngine, stopScriptEngine, useEngine, type EngineHandle, type EngineStart, type ScriptEngine } from './engine-handle.js';
import { ROOT } from './cli.js';

export const POSTGRES_SCRIPT = path.join(ROOT, 'scripts/postgres.sh');

/** What lifts a PostgreSQL skip, appended to every skip reason. */
export const POSTGRES_SKIP_HINT =
  'needs Debian\'s PostgreSQL 15 (/usr/lib/postgresql/15/bin): run `bash scripts/install-test-deps.sh` as root (or let scripts/postgres.sh apt-get it as root)';

/** Set to 1 to make an unavailable PostgreSQL fail the suite instead of skipping it. */
export const REQUIRE_ENV = 'KDUMP_TEST_REQUIRE_POSTGRES';

/** A running test cluster. url = postgres://kdump:PASSWORD@127.0.0.1:PORT/kdump (role kdump has CREATEDB). */
export interface PostgresServer {
  url: string;
  host: '127.0.0.1';
  port: number;
  user: string;
  password: string;
  database: string;
  /** The cluster's directory (data/, sock/, postgres.log, pg.env). */
  dir: string;
  /** How long scripts/postgres.sh start took. */
  startMs: number;
}

export type PostgresStart = EngineStart<PostgresServer>;

const START_TIMEOUT_MS = 590_000; // a first apt-get install can take minutes

/** Whether Debian's PostgreSQL 15 is installed (suites that need it say so in their name when it is not). */
export const havePostgres = existsSync('/usr/lib/postgresql/15/bin/initdb');

const POSTGRES_ENGINE: ScriptEngine<PostgresServer> = {
  name: 'PostgreSQL',
  script: POSTGRES_SCRIPT,
  envFile: 'pg.env',
  dirPrefix: 'kdump-pg-',
  lift: (failed) => (/install|could not run/.test(failed) ? POSTGRES_SKIP_HINT : 'fix that step (`bash scripts/postgres.sh start DIR PORT` reproduces it)'),
  toServer: (env, { dir, startMs }) => ({
    url: env.PGURL, host: '127.0.0.1', port: Number(env.PGPORT),
    user: env.PGUSER, password: env.PGPASSWORD, database: env.PGDATABASE, dir, startMs,
  }),
};

/** Starts a cluster; never throws for an unavailable PostgreSQL (returns the reason instead). */
export function startPostgres(): Promise<PostgresStart> {
  return startScriptEngine(POSTGRES_ENGINE, START_TIMEOUT_MS);
}

/** Stops a cluster and removes its directory. */
export function stopPostgres(server: PostgresServer): Promise<void> {
  return stopScriptEngine(POSTGRES_SCRIPT, server.dir);
}

export type PostgresHandle = EngineHandle<PostgresServer>;

/** Registers beforeAll/afterAll hooks that start and stop a PostgreSQL of this file's own. */
export function usePostgres(): PostgresHandle {
  return useEngine({ name: 'PostgreSQL', start: startPostgres, stop: stopPostgres, requireEnv: REQUIRE_ENV, startTimeoutMs: START_TIMEOUT_MS });
}

/** A database of its own on a test cluster. */
export interface TestDatabase {
  name: string;
  /** The server's url with this database's name. */
  url: string;
  /** DROP DATABASE ... WITH (FORCE): closes anything still connected. */
  drop(): Promise<void>;
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** CREATE DATABASE <prefix>_<random> OWNER kdump on the server, so suites sharing a cluster don't collide. */
export async function createDatabase(server: PostgresServer, prefix = 'kdump_test'): Promise<TestDatabase> {
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(prefix)) throw new Error(`database name prefix must match [a-z_][a-z0-9_]{0,40}: ${prefix}`);
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await withClient(server.url, (c) => c.query(`CREATE DATABASE "${name}" OWNER "${server.user}"`));
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => withClient(server.url, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  };
}

export interface DatabaseHandle {
  readonly database: TestDatabase | undefined;
  /** In a test: the database, or skips the test with the PostgreSQL reason. */
  require(ctx: TestContext): TestDatabase;
}

/** A fresh database for this file on pg's cluster: created in beforeAll, dropped in afterAll (before the cluster stops). Call after usePostgres(). */
export function useDatabase(pgHandle: PostgresHandle, prefix?: string): DatabaseHandle {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    if (pgHandle.server) database = await createDatabase(pgHandle.server, prefix);
  });
  afterAll(async () => {
    await database?.drop();
    database = undefined;
  });
  return {
    get database() { return database; },
    require(ctx) {
      if (!database) ctx.skip(pgHandle.reason);
      return database!;
    },
  };
}
