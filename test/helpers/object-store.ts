/**
 * A real, throwaway S3-compatible object store for tests: OpenStack Swift
 * from Debian's packages with its s3api middleware, started by
 * scripts/object-store.sh in a temp directory on a free loopback port, and
 * stopped and removed afterwards.
 *
 * When no store can be started (Swift not installed and not installable, not
 * root, no user xattrs under the temp directory...), the handle's server is
 * undefined and reason says why and what lifts the skip; tests call
 * store.require(ctx) to skip with that reason. With
 * KDUMP_TEST_REQUIRE_OBJECT_STORE=1 (for CI) the failure fails the suite
 * instead of skipping it.
 *
 *   const store = useObjectStore();
 *   it('...', async (ctx) => { const s3 = store.require(ctx); ... s3.endpoint ... });
 */
import path from 'node:path';
import { startScriptEngine, stopScriptEngine, useEngine, type EngineHandle, type EngineStart, type ScriptEngine } from './engine-handle.js';
import { ROOT } from './cli.js';

export const OBJECT_STORE_SCRIPT = path.join(ROOT, 'scripts/object-store.sh');

/** What lifts an object-store skip, appended to every skip reason. */
export const OBJECT_STORE_SKIP_HINT =
  'needs OpenStack Swift from Debian 12 (swift-proxy swift-account swift-container swift-object memcached): run `bash scripts/install-test-deps.sh` as root '
  + '(or let scripts/object-store.sh apt-get them as root), with the temp directory on a filesystem with user xattrs (ext4, xfs)';

/** Set to 1 to make an unavailable object store fail the suite instead of skipping it. */
export const REQUIRE_ENV = 'KDUMP_TEST_REQUIRE_OBJECT_STORE';

/** A running store (DIR/s3.env): path-style S3 on 127.0.0.1, SigV4 with a fixed key pair. */
export interface ObjectStoreServer {
  endpoint: string;
  region: string;
  /** Created by the script; tests may create more. */
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  port: number;
  /** The store's directory (etc/, srv/, run/, log/, s3.env). */
  dir: string;
  /** How long scripts/object-store.sh start took. */
  startMs: number;
}

export type ObjectStoreStart = EngineStart<ObjectStoreServer>;

const START_TIMEOUT_MS = 590_000; // a first apt-get install takes a minute or more

const OBJECT_STORE_ENGINE: ScriptEngine<ObjectStoreServer> = {
  name: 'object store',
  script: OBJECT_STORE_SCRIPT,
  envFile: 's3.env',
  dirPrefix: 'kdump-s3-',
  lift: () => OBJECT_STORE_SKIP_HINT,
  toServer: (env, { dir, port, startMs }) => ({
    endpoint: env.S3_ENDPOINT, region: env.S3_REGION, bucket: env.S3_BUCKET,
    accessKeyId: env.S3_ACCESS_KEY, secretAccessKey: env.S3_SECRET_KEY, port, dir, startMs,
  }),
};

/** Starts a store; never throws for an unavailable engine (returns the reason instead). */
export function startObjectStore(): Promise<ObjectStoreStart> {
  return startScriptEngine(OBJECT_STORE_ENGINE, START_TIMEOUT_MS);
}

/** Stops a store and removes its directory. */
export function stopObjectStore(server: ObjectStoreServer): Promise<void> {
  return stopScriptEngine(OBJECT_STORE_SCRIPT, server.dir);
}

export type ObjectStoreHandle = EngineHandle<ObjectStoreServer>;

/** Registers beforeAll/afterAll hooks that start and stop a object store of this file's own. */
export function useObjectStore(): ObjectStoreHandle {
  return useEngine({ name: 'object store', start: startObjectStore, stop: stopObjectStore, requireEnv: REQUIRE_ENV, startTimeoutMs: START_TIMEOUT_MS });
}
