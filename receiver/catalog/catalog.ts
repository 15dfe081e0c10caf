/**
 * The index of dumps: DIR/index.db (SQLite, WAL) for one receiver, or a
 * PostgreSQL database several receivers share. One row per dump; the row is
 * created at HELLO (status receiving) and updated at each durable ACK
 * (resume point) and at the end (complete or failed). The same SQL serves
 * both engines (receiver/catalog/sql/); test/engines runs one suite against each.
 *
 * This file only composes the parts, each in a module of its own: the schema
 * (schema.ts), dump rows (dumps.ts), groups by signature (groups.ts), resume
 * points (resume-points.ts), leases (leases.ts) and the token stores; the
 * records they speak in are in records.ts, re-exported here for callers.
 */
import path from 'node:path';
import { Dumps } from './dumps.js';
import { DumpGroups } from './groups.js';
import { HostTokens } from './host-tokens.js';
import { DumpLeases } from './leases.js';
import { OperatorTokens } from './operator-tokens.js';
import type { DumpGroup, DumpLevelRecord, DumpQuery, DumpRecord, DumpStatus, PartialReason, ProgressUpdate, TriageRecord } from './records.js';
import { ResumePoints } from './resume-points.js';
import { createDumpSchema } from './schema.js';
import type { SqlDriver } from './sql/driver.js';
import { sqlDialect } from './sql/dialect.js';
import { PostgresDriver } from './sql/postgres.js';
import { SqliteDriver } from './sql/sqlite.js';

export { levelLowered } from './records.js';
export type { DumpGroup, DumpKind, DumpLevelRecord, DumpQuery, DumpRecord, DumpStatus, LogSource, PartialReason, ProgressUpdate, TriageRecord } from './records.js';
export { DUMP_KINDS, DUMP_STATUSES, hasStoredFile } from './records.js';

/** Where the catalog lives: a postgres:// URL, or a SQLite file (DATA_DIR/index.db by default). */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//.test(location);
}

export class Catalog {
  /** Enrolled hosts; same database, so a data directory (or a fleet's database) carries its enrolments. */
  readonly hostTokens: HostTokens;
  readonly operatorTokens: OperatorTokens;
  private readonly dumps: Dumps;
  private readonly dumpGroups: DumpGroups;
  private readonly resumePoints: ResumePoints;
  private readonly leases: DumpLeases;

  // `db` keeps its name: bench/catalog-queries.mjs fills the tables through it.
  private constructor(private readonly db: SqlDriver) {
    this.hostTokens = new HostTokens(db);
    this.operatorTokens = new OperatorTokens(db);
    this.dumpGroups = new DumpGroups(db);
    this.resumePoints = new ResumePoints(db);
    this.leases = new DumpLeases(db);
    this.dumps = new Dumps(db, { groups: this.dumpGroups, resumePoints: this.resumePoints });
  }

  /** Opens (and creates or upgrades, unless readonly) the catalog at `location`: a SQLite file or a postgres:// URL. */
  static async open(location: string, options: { readonly?: boolean } = {}): Promise<Catalog> {
    const db = isPostgresUrl(location) ? PostgresDriver.open(location) : SqliteDriver.open(location, options);
    const catalog = new Catalog(db);
    try {
      if (!options.readonly) await catalog.createSchema();
    } catch (error) {
      await db.close();
      throw error;
    }
    return catalog;
  }

  /** The SQLite file of a data directory, the default catalog. */
  static inDataDir(dataDir: string): string {
    return path.join(dataDir, 'index.db');
  }

  get dialect(): SqlDriver['dialect'] {
    return this.db.dialect;
  }

  /** Whether other receivers may use this catalog at once (else leases left in it died with this receiver's last run). */
  get sharedByReceivers(): boolean {
    return sqlDialect(this.db.dialect).sharedByReceivers;
  }

  private async createSchema(): Promise<void> {
    await createDumpSchema(this.db);
    await this.hostTokens.createSchema();
    await this.operatorTokens.createSchema();
    await this.dumpGroups.summariseIfMissing();
  }

  // Dump rows (dumps.ts).

  insert(record: DumpRecord): Promise<void> {
    return this.dumps.insert(record);
  }

  get(dumpId: string): Promise<DumpRecord | undefined> {
    return this.dumps.get(dumpId);
  }

  /** Whether a dump (any status) has this path: paths name dumps uniquely. */
  pathInUse(relativePath: string): Promise<boolean> {
    return this.dumps.pathInUse(relativePath);
  }

  /** Looks a dump up by its full id or a unique prefix of it (as `show` takes). */
  find(idOrPrefix: string): Promise<DumpRecord[]> {
    return this.dumps.find(idOrPrefix);
  }

  list(filter: { hostId?: string; status?: DumpStatus } = {}): Promise<DumpRecord[]> {
    return this.dumps.list(filter);
  }

  /** Dumps with their triage, newest event first, one page of them, and how many match in all. */
  query(query: DumpQuery): Promise<{ dumps: Array<{ record: DumpRecord; triage: TriageRecord }>; total: number }> {
    return this.dumps.query(query);
  }

  getWithTriage(dumpId: string): Promise<{ record: DumpRecord; triage: TriageRecord } | undefined> {
    return this.dumps.getWithTriage(dumpId);
  }

  saveTriage(dumpId: string, triage: TriageRecord): Promise<void> {
    return this.dumps.saveTriage(dumpId, triage);
  }

  /** Complete dumps triage has not looked at yet (a receiver stopped before it got to them). */
  untriaged(): Promise<DumpRecord[]> {
    return this.dumps.untriaged();
  }

  delete(dumpId: string): Promise<boolean> {
    return this.dumps.delete(dumpId);
  }

  /** Stored dumps by status, for metrics. */
  countsByStatus(): Promise<Record<DumpStatus, { count: number; bytes: number }>> {
    return this.dumps.countsByStatus();
  }

  markComplete(dumpId: string, p: ProgressUpdate & { finishedAt: number; digest: string }): Promise<void> {
    return this.dumps.markComplete(dumpId, p);
  }

  /** Kept partial (PartialReason says why): a kdump file crash opens, of the pages that arrived. */
  markPartial(dumpId: string, p: ProgressUpdate & { finishedAt: number; reason: PartialReason }): Promise<void> {
    return this.dumps.markPartial(dumpId, p);
  }

  /** Starts a failed dump over: same row and folder, counters reset, the new HELLO's dump level recorded. */
  restart(dumpId: string, start: { receivedAt: number; chunkPages: number; dumpLevel: DumpLevelRecord; firstTierChunks: number | null }): Promise<void> {
    return this.dumps.restart(dumpId, start);
  }

  markFailed(dumpId: string, reason: string): Promise<void> {
    return this.dumps.markFailed(dumpId, reason);
  }

  // Groups by signature (groups.ts).

  /** Dumps that share a signature (the same bug), most recently seen first. */
  groups(query: Omit<DumpQuery, 'status' | 'limit' | 'offset'> = {}): Promise<DumpGroup[]> {
    return this.dumpGroups.list(query);
  }

  // Resume points (resume-points.ts).

  /** Records a durable checkpoint: chunk checksums [firstSeq, p.nextSeq), then progress and the storage writer's state. */
  saveResumePoint(dumpId: string, p: ProgressUpdate, resume: { firstSeq: number; crcs: Buffer; storageState: string }): Promise<void> {
    return this.resumePoints.save(dumpId, p, resume);
  }

  /** The storage writer's state and checksums of chunks [0, nextSeq), or undefined when they do not cover them (start over). */
  resumePoint(dumpId: string, nextSeq: number): Promise<{ storageState: string; crcs: Buffer } | undefined> {
    return this.resumePoints.get(dumpId, nextSeq);
  }

  /** The storage writer state of an unfinished dump (to drop what it left in the store), if any. */
  storageState(dumpId: string): Promise<string | undefined> {
    return this.resumePoints.storageState(dumpId);
  }

  // Leases (leases.ts).

  /** Takes (or renews) the lease on a dump for `owner` until now + ttlMs; false while another owner's lease lives. */
  acquireLease(dumpId: string, owner: string, ttlMs: number, now = Date.now()): Promise<boolean> {
    return this.leases.acquire(dumpId, owner, ttlMs, now);
  }

  releaseLease(dumpId: string, owner: string): Promise<void> {
    return this.leases.release(dumpId, owner);
  }

  /** Drops every lease: for a catalog only one receiver uses (SQLite), whose earlier process's leases died with it. */
  clearLeases(): Promise<void> {
    return this.leases.clear();
  }

  leaseHolder(dumpId: string, now = Date.now()): Promise<string | undefined> {
    return this.leases.holder(dumpId, now);
  }

  /** Throws (UNAVAILABLE for PostgreSQL) when the database does not answer. */
  async ping(): Promise<void> {
    await this.db.get('SELECT 1 AS ok');
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
