/**
 * Carrying out retention: read the dumps' state from the catalog and the
 * disk, plan with receiver/retention/policy.ts, then delete each planned dump's
 * folder DIR/<host>/<stamp>/ and its catalog row.
 *
 * Folder first, row second. A crash between the two leaves a row whose folder
 * is gone; the next run still sees that row, the same rule still picks it (its
 * bytes still count, it is still old), removing a missing folder is a no-op,
 * and the row goes. The other order would leave a folder no row points to,
 * invisible to everything that reads the catalog, retention included: disk
 * leaked for good.
 */
import { lstat, realpath, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { badInput, toNetdumpError, type ErrorCode } from '../../shared/errors.js';
import { checkHostId, keysFor, pathsFor } from '../../shared/dump-folders.js';
import { dropDumpObject, type DumpStorage } from '../storage/dump-storage.js';
import type { DumpRecord } from '../catalog/catalog.js';
import { freeBytes } from '../ingest/disk-space.js';
import { planRetention, type PlannedDeletion, type RetentionDump, type RetentionPlan, type RetentionPolicy } from './policy.js';

export type RetentionRecord = Pick<DumpRecord, 'dumpId' | 'hostId' | 'status' | 'path' | 'bytesStored' | 'receivedAt' | 'finishedAt'>;

/** The part of the catalog retention uses. Catalog has list() and get() already. */
export interface RetentionCatalog {
  /** Every dump, any status. */
  list(): Promise<RetentionRecord[]>;
  get(dumpId: string): Promise<RetentionRecord | undefined>;
  /** Deletes the dump's row; does nothing when there is none. */
  delete(dumpId: string): Promise<unknown>;
  /** An unfinished dump's storage writer state (JSON): what it left in object storage. */
  storageState?(dumpId: string): Promise<string | undefined>;
}

/** The part of the registry of uploads retention uses. */
export interface UploadGuard {
  /** True while a connection is receiving this dump. */
  isAttached(dumpId: string): boolean;
  /**
   * Optional, and better: atomically checks that no connection has the dump
   * and keeps any from claiming it until the returned release is called;
   * undefined when one has it. Without it, a sender resuming an abandoned
   * dump in the instant between the check and the deletion loses its upload.
   * With receivers sharing a catalog it also takes the dump's lease, so no
   * other receiver attaches to it meanwhile either.
   */
  hold?(dumpId: string): Promise<(() => Promise<void>) | undefined>;
}

export interface RetentionDeps {
  dataDir: string;
  /** Where dumps are kept; the data directory when absent. */
  storage?: DumpStorage;
  catalog: RetentionCatalog;
  uploads: UploadGuard;
  logger: Logger;
}

export interface RetentionOutcome {
  deleted: PlannedDeletion[];
  /** Not deleted because things changed since the plan: attached now, row gone or different. */
  skipped: Array<{ deletion: PlannedDeletion; why: 'attached' | 'gone' | 'changed' }>;
  failed: Array<{ deletion: PlannedDeletion; code: ErrorCode; message: string }>;
}

async function mtimeMs(file: string): Promise<number> {
  try {
    return (await stat(file)).mtimeMs;
  } catch {
    return 0;
  }
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/**
 * The catalog's dumps as the planner sees them. For dumps not complete, the
 * catalog's numbers stop at the last checkpoint, so the files say how big
 * they are and when they were last written (a live upload keeps touching them).
 */
export async function loadRetentionDumps(dataDir: string, catalog: RetentionCatalog, storage?: DumpStorage): Promise<RetentionDump[]> {
  return Promise.all((await catalog.list()).map(async (record): Promise<RetentionDump> => {
    const dump = {
      dumpId: record.dumpId, hostId: record.hostId, status: record.status, path: record.path,
      bytes: record.bytesStored, receivedAt: record.receivedAt, lastActivityAt: Math.max(record.receivedAt, record.finishedAt ?? 0),
    };
    // Object storage has no file to look at: the catalog's last checkpoint is what is known.
    if (record.status === 'complete' || isObjectStorage(storage)) return dump;
    const files = pathsFor(dataDir, record.path);
    const [dataTime, dataSize] = await Promise.all([mtimeMs(files.incomplete), sizeOf(files.incomplete)]);
    return { ...dump, bytes: Math.max(dump.bytes, dataSize), lastActivityAt: Math.max(dump.lastActivityAt, dataTime) };
  }));
}

/** Plans against the catalog and the disk as they are now; deletes nothing (a dry run). */
export async function planRetentionNow(policy: RetentionPolicy, deps: Omit<RetentionDeps, 'logger'>, now = Date.now()): Promise<RetentionPlan> {
  const dumps = await loadRetentionDumps(deps.dataDir, deps.catalog, deps.storage);
  const attached = new Set(dumps.filter((d) => deps.uploads.isAttached(d.dumpId)).map((d) => d.dumpId));
  // A free-space rule is about the local disk; object storage has no such limit to meet.
  const free = isObjectStorage(deps.storage) ? Number.POSITIVE_INFINITY : await freeBytes(deps.dataDir);
  return planRetention(dumps, policy, { now, freeBytes: free, attached });
}

function isObjectStorage(storage: DumpStorage | undefined): boolean {
  return storage !== undefined && storage.backend !== 'local';
}

/**
 * Removes everything one dump has in storage: locally its folder
 * (deleteDumpFiles); in object storage the dump, its ELF headers and kernel
 * log, and an unfinished upload with its resume objects. Nothing there is
 * not an error.
 */
export async function deleteDumpData(
  deps: { dataDir: string; storage?: DumpStorage; catalog: RetentionCatalog },
  record: Pick<RetentionRecord, 'dumpId' | 'hostId' | 'path' | 'status'>,
): Promise<void> {
  const { storage } = deps;
  if (!storage || !isObjectStorage(storage)) {
    await deleteDumpFiles(deps.dataDir, record);
    return;
  }
  const keys = keysFor(record.path);
  const stateText = record.status === 'complete' ? undefined : await deps.catalog.storageState?.(record.dumpId);
  await dropDumpObject(storage, keys.dump, stateText);
  for (const key of [keys.elfHeaders, keys.dmesg]) await storage.delete(key);
}

/**
 * The absolute folder of a dump, DIR/<host>/<stamp>, from its catalog path
 * <host>/<stamp>/<file>. Anything else is refused (BAD_INPUT) rather than
 * guessed at: a recursive delete must never leave the data directory or take
 * a host's whole folder.
 */
export function dumpFolderOf(dataDir: string, hostId: string, relativePath: string): string {
  const parts = relativePath.split(/[\\/]/);
  const refuse = (why: string) => badInput(`refusing to delete ${JSON.stringify(relativePath)}: ${why}`, { host: hostId, path: relativePath });
  if (path.isAbsolute(relativePath)) throw refuse('absolute path');
  if (parts.length !== 3) throw refuse('not <host>/<folder>/<file>');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) throw refuse('empty, . or .. component');
  if (parts[0] !== hostId) throw refuse(`not under the host's folder ${JSON.stringify(hostId)}`);
  checkHostId(hostId);
  return path.join(path.resolve(dataDir), parts[0], parts[1]);
}

/**
 * Removes one dump's folder DIR/<host>/<stamp>/ with everything in it (vmcore
 * or vmcore.incomplete, vmcore.elf-headers, dmesg.txt, ...). Refuses (BAD_INPUT) a catalog
 * path not of the form <host>/<folder>/<file>, and a host or dump folder that
 * is a symlink or resolves outside the data directory. A folder already gone
 * is not an error. The host folder stays: an upload may be allocating a new
 * dump folder in it at this moment.
 */
export async function deleteDumpFiles(dataDir: string, record: Pick<RetentionRecord, 'hostId' | 'path'>): Promise<void> {
  const folder = dumpFolderOf(dataDir, record.hostId, record.path);
  const realDataDir = await realpath(dataDir);
  for (const dir of [path.dirname(folder), folder]) {
    let info;
    try {
      info = await lstat(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // gone already: a crashed earlier run, or deleted by hand
      throw error;
    }
    if (!info.isDirectory()) throw badInput(`refusing to delete ${folder}: ${dir} is not a directory (symlink?)`, { path: folder });
  }
  const real = await realpath(folder);
  if (path.dirname(path.dirname(real)) !== realDataDir) throw badInput(`refusing to delete ${folder}: it resolves to ${real}, outside ${realDataDir}`, { path: folder });
  await rm(folder, { recursive: true, force: true });
}

/** Deletes what the plan says, one dump at a time, re-checking each just before. Never throws for one dump's failure. */
export async function applyRetention(plan: { deletions: readonly PlannedDeletion[] }, deps: RetentionDeps): Promise<RetentionOutcome> {
  const outcome: RetentionOutcome = { deleted: [], skipped: [], failed: [] };
  const log = deps.logger;
  for (const deletion of plan.deletions) {
    const { dumpId } = deletion;
    let release: (() => Promise<void>) | undefined;
    if (deps.uploads.hold) {
      release = await deps.uploads.hold(dumpId);
      if (!release) { outcome.skipped.push({ deletion, why: 'attached' }); continue; }
    } else if (deps.uploads.isAttached(dumpId)) {
      outcome.skipped.push({ deletion, why: 'attached' });
      continue;
    }
    try {
      // The plan may be minutes old (a dry run shown, then applied): the dump
      // may have been resumed and finished since, and no longer fit its reason.
      const record = await deps.catalog.get(dumpId);
      if (!record) { outcome.skipped.push({ deletion, why: 'gone' }); continue; }
      if (record.status !== deletion.status || record.path !== deletion.path || record.hostId !== deletion.hostId) {
        outcome.skipped.push({ deletion, why: 'changed' });
        continue;
      }
      await deleteDumpData(deps, record);
      await deps.catalog.delete(dumpId);
      outcome.deleted.push(deletion);
      log.info({ dump: dumpId, host: deletion.hostId, path: deletion.path, bytes: deletion.bytes, reason: deletion.reason }, 'dump deleted by retention');
    } catch (error) {
      const failure = toNetdumpError(error);
      outcome.failed.push({ deletion, code: failure.code, message: failure.message });
      log.error({ dump: dumpId, path: deletion.path, code: failure.code, err: failure.message }, 'retention could not delete dump');
    } finally {
      await release?.();
    }
  }
  for (const { deletion, why } of outcome.skipped) log.info({ dump: deletion.dumpId, reason: deletion.reason, why }, 'retention skipped dump');
  return outcome;
}

/** One retention pass: plan against the current state, then apply. What the scheduler runs. */
export async function runRetention(policy: RetentionPolicy, deps: RetentionDeps): Promise<{ plan: RetentionPlan; outcome: RetentionOutcome }> {
  const plan = await planRetentionNow(policy, deps);
  const outcome = await applyRetention(plan, deps);
  if (plan.unmet.length > 0) {
    deps.logger.warn({ unmet: plan.unmet, totalBytes: plan.totalBytesAfter, freeBytes: plan.freeBytesAfter, policy },
      'retention cannot meet the policy by deleting dumps it is allowed to delete');
  }
  if (plan.deletions.length > 0) {
    deps.logger.info({ deleted: outcome.deleted.length, skipped: outcome.skipped.length, failed: outcome.failed.length,
      bytes: outcome.deleted.reduce((sum, d) => sum + d.bytes, 0) }, 'retention pass done');
  }
  return { plan, outcome };
}
