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
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { useEngine, type EngineHandle } from './engine-handle.js';
import { ROOT, run } from './cli.js';
import { freePort } from './ports.js';

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

export type ObjectStoreStart = { server: ObjectStoreServer; reason?: undefined } | { server?: undefined; reason: string };

const START_TIMEOUT_MS = 590_000; // a first apt-get install takes a minute or more
const running = new Set<string>();

// A worker that exits without afterAll (crash, kill) still stops its stores.
process.once('exit', () => {
  for (const dir of running) spawnSync('bash', [OBJECT_STORE_SCRIPT, 'stop', dir], { stdio: 'ignore', timeout: 30_000 });
});

function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  return env;
}

/** Starts a store; never throws for an unavailable engine (returns the reason instead). */
export async function startObjectStore(): Promise<ObjectStoreStart> {
  const dir = await mkdtemp(path.join(tmpdir(), 'kdump-s3-'));
  let stderr = '';
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const t0 = performance.now();
    let result;
    try {
      result = await run('bash', [OBJECT_STORE_SCRIPT, 'start', dir, String(port)], { timeoutMs: START_TIMEOUT_MS });
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      return { reason: `object store unavailable (could not run scripts/object-store.sh: ${(error as Error).message}): ${OBJECT_STORE_SKIP_HINT}` };
    }
    const startMs = Math.round(performance.now() - t0);
    stderr = result.stderr;
    if (result.code === 0) {
      running.add(dir);
      const env = parseEnv(await readFile(path.join(dir, 's3.env'), 'utf8'));
      return {
        server: {
          endpoint: env.S3_ENDPOINT, region: env.S3_REGION, bucket: env.S3_BUCKET,
          accessKeyId: env.S3_ACCESS_KEY, secretAccessKey: env.S3_SECRET_KEY, port, dir, startMs,
        },
      };
    }
    // Another process took the free port between freePort() and the bind: try another.
    if (!/Address already in use/.test(stderr)) break;
  }
  await run('bash', [OBJECT_STORE_SCRIPT, 'stop', dir]).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
  const failed = /object-store\.sh: FAILED at step: .*/.exec(stderr)?.[0] ?? (stderr.trim().split('\n').pop() || 'scripts/object-store.sh start failed');
  return { reason: `object store unavailable (${failed}): ${OBJECT_STORE_SKIP_HINT}` };
}

/** Stops a store and removes its directory. */
export async function stopObjectStore(server: ObjectStoreServer): Promise<void> {
  const result = await run('bash', [OBJECT_STORE_SCRIPT, 'stop', server.dir], { timeoutMs: 90_000 });
  running.delete(server.dir);
  if (result.code !== 0) throw new Error(`scripts/object-store.sh stop ${server.dir} failed:\n${result.stderr}`);
  await rm(server.dir, { recursive: true, force: true });
}

export type ObjectStoreHandle = EngineHandle<ObjectStoreServer>;

/** Registers beforeAll/afterAll hooks that start and stop a object store of this file's own. */
export function useObjectStore(): ObjectStoreHandle {
  return useEngine({ name: 'object store', start: startObjectStore, stop: stopObjectStore, requireEnv: REQUIRE_ENV, startTimeoutMs: START_TIMEOUT_MS });
}
