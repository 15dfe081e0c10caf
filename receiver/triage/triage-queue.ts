/**
 * Triage of stored dumps, one at a time, off the upload path: a dump is
 * DONE for its sender before its log is read, so a slow or failing
 * extraction never holds an upload up. A dump whose sender sent its log
 * ahead of the pages (LOG) was triaged then; it only gets its notice here. What is found goes into the catalog
 * and dmesg.txt beside the dump; a log that cannot be read is recorded as
 * the reason, and the dump stays listed like any other.
 */
import type { Logger } from 'pino';
import { keysFor } from '../../shared/dump-folders.js';
import { ErrorCode, NetdumpError } from '../../shared/errors.js';
import { extractKernelLogFromKdumpSource } from '../../shared/dmesg/extract.js';
import type { DumpStorage } from '../storage/dump-storage.js';
import { hasStoredFile, type Catalog, type TriageRecord } from '../catalog/catalog.js';
import type { ReceiverMetrics } from '../metrics.js';
import { triageOfLog } from './log-triage.js';

const EMPTY: Omit<TriageRecord, 'error' | 'triagedAt'> = {
  panicLine: null, bugLine: null, ripSymbol: null, reason: null, signature: null, signatureText: null, callTrace: null, logSource: null,
};

/**
 * Reads the dump's kernel log, saves it as dmesg.txt beside it and says what
 * it shows. What is wrong with the dump becomes `error`; the storage being
 * unreachable (UNAVAILABLE) or failing is thrown, so the dump stays
 * untriaged and is tried again.
 */
export async function triageStoredDump(storage: DumpStorage, key: string): Promise<TriageRecord> {
  const keys = keysFor(key);
  const notReadable = (why: string): TriageRecord => ({ ...EMPTY, error: `kernel log not readable: ${why}`, triagedAt: Date.now() });
  const object = await storage.openReader(keys.dump);
  if (!object) return notReadable(`${storage.locationOf(keys.dump)}: no such file`);
  let log: Buffer;
  try {
    log = await extractKernelLogFromKdumpSource(object, storage.locationOf(keys.dump));
  } catch (error) {
    if (error instanceof NetdumpError && error.code === ErrorCode.UNAVAILABLE) throw error;
    return notReadable((error as Error).message);
  }
  // Whole or not at all (put is atomic): the API serves it as the dump's log.
  await storage.put(keys.dmesg, log);
  return triageOfLog(log, 'dump');
}

export class TriageQueue {
  private readonly waiting: string[] = [];
  private running?: Promise<void>;
  private stopped = false;

  constructor(private readonly deps: {
    storage: DumpStorage;
    catalog: Catalog;
    logger: Logger;
    metrics?: ReceiverMetrics;
    /** After a dump's triage is saved (the webhook goes out from here). */
    onTriaged?: (dumpId: string) => void | Promise<void>;
  }) {}

  enqueue(dumpId: string): void {
    if (this.stopped || this.waiting.includes(dumpId)) return;
    this.waiting.push(dumpId);
    this.running ??= this.work().finally(() => { this.running = undefined; });
  }

  /** Settles when nothing is waiting (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops taking work; the dump being triaged finishes. Untriaged dumps are picked up at the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.waiting.length = 0;
    await this.idle();
  }

  private async work(): Promise<void> {
    for (let dumpId = this.waiting.shift(); dumpId !== undefined; dumpId = this.waiting.shift()) {
      const found = await this.deps.catalog.getWithTriage(dumpId);
      if (!found || !hasStoredFile(found.record.status)) continue; // deleted meanwhile
      const { record } = found;
      const started = Date.now();
      try {
        if (found.triage.logSource === 'sender') {
          // The sender's LOG was triaged when it arrived, from the same core: reading it again from the stored dump would say the same.
          await this.deps.onTriaged?.(dumpId);
          continue;
        }
        const triage = await triageStoredDump(this.deps.storage, record.path);
        if (!(await this.deps.catalog.get(dumpId))) continue;
        await this.deps.catalog.saveTriage(dumpId, triage);
        this.deps.metrics?.triageRuns.inc({ outcome: triage.error ? 'no-log' : triage.panicLine ? 'panic-found' : 'no-panic-line' });
        this.deps.logger.info({ dump: dumpId, host: record.hostId, ms: Date.now() - started, reason: triage.reason, signature: triage.signature,
          triageError: triage.error }, 'dump triaged');
        await this.deps.onTriaged?.(dumpId);
      } catch (error) {
        // Our own trouble (disk, catalog): leave the dump untriaged so the next start retries it.
        this.deps.metrics?.triageRuns.inc({ outcome: 'error' });
        this.deps.logger.error({ dump: dumpId, err: error }, 'triage failed');
      }
    }
  }
}
