/**
 * Carrying out retention: read the dumps' state from the catalog and the
 * store, plan with receiver/retention/policy.ts, then remove each planned
 * dump from the store (DumpStorage.removeDump: locally its folder
 * DIR/<host>/<stamp>/) and its catalog row.
 *
 * Store first, row second. A crash between the two leaves a row whose data
 * is gone; the next run still sees that row, the same rule still picks it
 * (its bytes still count, it is still old), removing what is missing is a
 * no-op, and the row goes. The other order would leave data no row points
 * to, invisible to everything that reads the catalog, retention included:
 * space leaked for good.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { badInput, toNetdumpError, type ErrorCode } from '../../shared/errors.js';
import { checkHostId } from '../../shared/dump-folders.js';
import { parseWriterState, type DumpStorage } from '../storage/dump-storage.js';
import { hasStoredFile, type DumpRecord } from '../catalog/catalog.js';
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
  /** Where dumps are kept. */
  storage: DumpStorage;
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

/**
 * The catalog's dumps as the planner sees them. For dumps not complete, the
 * catalog's numbers stop at the last checkpoint; where the store sees more
 * (a live upload keeps writing its file), it says how big they are and when
 * they were last written.
 */
export async function loadRetentionDumps(catalog: RetentionCatalog, storage: DumpStorage): Promise<RetentionDump[]> {
  return Promise.all((await catalog.list()).map(async (record): Promise<RetentionDump> => {
    const dump = {
      dumpId: record.dumpId, hostId: record.hostId, status: record.status, path: record.path,
      bytes: record.bytesStored, receivedAt: record.receivedAt, lastActivityAt: Math.max(record.receivedAt, record.finishedAt ?? 0),
    };
    const activity = hasStoredFile(record.status) ? undefined : await storage.unfinishedActivity(record.path);
    if (!activity) return dump;
    return { ...dump, bytes: Math.max(dump.bytes, activity.bytes), lastActivityAt: Math.max(dump.lastActivityAt, activity.lastWriteMs) };
  }));
}

/** Plans against the catalog and the store as they are now; deletes nothing (a dry run). */
export async function planRetentionNow(policy: RetentionPolicy, deps: Omit<RetentionDeps, 'logger'>, now = Date.now()): Promise<RetentionPlan> {
  const dumps = await loadRetentionDumps(deps.catalog, deps.storage);
  const attached = new Set(dumps.filter((d) => deps.uploads.isAttached(d.dumpId)).map((d) => d.dumpId));
  // A free-space rule is about a disk; a store without one has no such limit to meet.
  const free = (await deps.storage.freeBytes()) ?? Number.POSITIVE_INFINITY;
  return planRetention(dumps, policy, { now, freeBytes: free, attached });
}

/**
 * Removes everything one dump has in the store (DumpStorage.removeDump),
 * once its catalog path is known to be the dump's own.
 */
export async function deleteDumpData(
  deps: { storage: DumpStorage; catalog: RetentionCatalog },
  record: Pick<RetentionRecord, 'dumpId' | 'hostId' | 'path' | 'status'>,
): Promise<void> {
  const key = ownKeyOf(record.hostId, record.path);
  const stateText = hasStoredFile(record.status) ? undefined : await deps.catalog.storageState?.(record.dumpId);
  await deps.storage.removeDump(key, parseWriterState(stateText));
}

/**
 * A dump's catalog path <host>/<stamp>/<file>, checked to be under its own
 * host's place. Anything else is refused (BAD_INPUT) rather than guessed at:
 * removing a dump must never take another host's or the whole host's data.
 */
export function ownKeyOf(hostId: string, relativePath: string): string {
  const parts = relativePath.split(/[\\/]/);
  const refuse = (why: string) => badInput(`refusing to delete ${JSON.stringify(relativePath)}: ${why}`, { host: hostId, path: relativePath });
  if (path.isAbsolute(relativePath)) throw refuse('absolute path');
  if (parts.length !== 3) throw refuse('not <host>/<folder>/<file>');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) throw refuse('empty, . or .. component');
  if (parts[0] !== hostId) throw refuse(`not under the host's folder ${JSON.stringify(hostId)}`);
  checkHostId(hostId);
  return relativePath;
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
