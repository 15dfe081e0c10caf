/**
 * Uploads that went still for good: a sender whose deadline passed, a host
 * power-cycled by a watchdog, a link that never came back. After
 * `afterMs` with no connection and no write, what arrived is kept as a
 * partial dump crash opens (UploadRegistry.keepStalledPartial), listed as
 * partial with how much arrived. A sender that returns later starts the
 * dump over, and it becomes complete.
 */
import type { Logger } from 'pino';
import type { Catalog, DumpRecord } from '../catalog/catalog.js';
import type { DumpStorage } from '../storage/dump-storage.js';
import type { UploadRegistry } from './uploads.js';

export const DEFAULT_PARTIAL_AFTER_MS = 15 * 60_000;

export interface StalledUploadDeps {
  catalog: Catalog;
  storage: DumpStorage;
  registry: UploadRegistry;
  logger: Logger;
  afterMs: number;
  /** Called with each dump kept partial. */
  onKept?: (record: DumpRecord) => void;
}

/** When an upload was last heard of: its start, its last checkpoint, and what the store saw written since. */
async function lastActivity(record: DumpRecord, storage: DumpStorage): Promise<number> {
  const written = await storage.unfinishedActivity(record.path).catch(() => undefined);
  return Math.max(record.receivedAt, record.checkpointAt ?? 0, written?.lastWriteMs ?? 0);
}

/** One pass: every still upload is kept partial; returns those kept. */
export async function keepStalledUploads(deps: StalledUploadDeps, now = Date.now()): Promise<string[]> {
  const kept: string[] = [];
  for (const record of await deps.catalog.list({ status: 'receiving' })) {
    if (deps.registry.isAttached(record.dumpId)) continue;
    if (now - (await lastActivity(record, deps.storage)) < deps.afterMs) continue;
    try {
      const outcome = await deps.registry.keepStalledPartial(record);
      if (outcome !== 'kept') continue;
      kept.push(record.dumpId);
      deps.logger.warn({ dump: record.dumpId, host: record.hostId, path: record.path, afterMs: deps.afterMs },
        'upload still for too long: what arrived is kept as a partial dump');
      deps.onKept?.(record);
    } catch (error) {
      deps.logger.error({ dump: record.dumpId, err: error }, 'could not keep a still upload partial; tried again next pass');
    }
  }
  return kept;
}

/** Runs keepStalledUploads every intervalMs until stopped, one pass at a time. */
export class StalledUploadSweeper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(private readonly deps: StalledUploadDeps, private readonly intervalMs = Math.min(60_000, Math.max(1000, deps.afterMs / 4))) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= keepStalledUploads(this.deps).catch(() => []).finally(() => { this.running = undefined; });
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
