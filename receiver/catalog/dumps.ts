/**
 * The dump rows: one per dump, created at HELLO (status receiving), finished
 * as complete or failed, started over, triaged, deleted; and the mapping
 * between a row and its records. Invariants: a complete dump is never marked
 * failed; a dump gains a signature only from triage, once complete, so
 * saving triage and deleting are what refresh the groups of the signatures
 * they touch (groups.ts); completing or restarting an upload, or deleting the
 * dump, forgets its resume point (resume-points.ts); a resume never rewrites
 * the dump level (only insert and restart do).
 */
import { COLUMNS, DUMP_LEVEL_COLUMNS, EVENT_TIME_MS, LATER_COLUMNS, TRIAGE_COLUMNS, whereClause } from './dumps-table.js';
import type { DumpGroups } from './groups.js';
import type { DumpLevelRecord, DumpQuery, DumpRecord, DumpStatus, PartialReason, ProgressUpdate, TriageRecord } from './records.js';
import type { ResumePoints } from './resume-points.js';
import type { SqlDriver, SqlValue } from './sql/driver.js';

function toDumpLevel(row: Record<string, unknown>): DumpLevelRecord {
  const number = (value: unknown) => (value === null || value === undefined ? null : Number(value));
  const notes = typeof row.dump_level_notes === 'string' ? JSON.parse(row.dump_level_notes) as unknown : [];
  return {
    asked: number(row.dump_level_asked),
    applied: number(row.dump_level_applied),
    rules: (row.dump_level_rules as string | null | undefined) ?? null,
    notes: Array.isArray(notes) ? notes.map(String) : [],
  };
}

/** The column values of a DumpLevelRecord, in DUMP_LEVEL_COLUMNS order. */
function dumpLevelValues(level: DumpLevelRecord): SqlValue[] {
  return DUMP_LEVEL_COLUMNS.map(([key]) => (key === 'notes' ? JSON.stringify(level.notes) : level[key]));
}

function toTriage(row: Record<string, unknown>): TriageRecord {
  const triage: Record<string, unknown> = {};
  for (const [key, column] of TRIAGE_COLUMNS) triage[key] = row[column] ?? null;
  triage.callTrace = typeof row.call_trace === 'string' ? JSON.parse(row.call_trace) as string[] : null;
  return triage as unknown as TriageRecord;
}

/** The column values of a TriageRecord, in TRIAGE_COLUMNS order. */
function triageValues(triage: TriageRecord): SqlValue[] {
  return TRIAGE_COLUMNS.map(([key]) => (key === 'callTrace'
    ? (triage.callTrace === null ? null : JSON.stringify(triage.callTrace))
    : triage[key] as SqlValue));
}

function toRecord(row: Record<string, unknown>): DumpRecord {
  const record: Record<string, unknown> = {};
  for (const [key, column] of COLUMNS) record[key] = row[column];
  for (const [key, column] of LATER_COLUMNS) record[key] = row[column] ?? null;
  record.kind ??= 'crash';
  record.dumpLevel = toDumpLevel(row);
  return record as unknown as DumpRecord;
}

export class Dumps {
  private readonly groups: DumpGroups;
  private readonly resumePoints: ResumePoints;

  constructor(private readonly db: SqlDriver, related: { groups: DumpGroups; resumePoints: ResumePoints }) {
    this.groups = related.groups;
    this.resumePoints = related.resumePoints;
  }

  async insert(record: DumpRecord): Promise<void> {
    const columns = [...COLUMNS, ...LATER_COLUMNS].map(([, c]) => c).concat(DUMP_LEVEL_COLUMNS.map(([, c]) => c));
    await this.db.run(`INSERT INTO dumps (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
      [...[...COLUMNS, ...LATER_COLUMNS].map(([key]) => record[key] as SqlValue), ...dumpLevelValues(record.dumpLevel)]);
  }

  async get(dumpId: string): Promise<DumpRecord | undefined> {
    const row = await this.db.get('SELECT * FROM dumps WHERE dump_id = ?', [dumpId]);
    return row && toRecord(row);
  }

  /** Whether a dump (any status) has this path: paths name dumps uniquely. */
  async pathInUse(relativePath: string): Promise<boolean> {
    return (await this.db.get('SELECT 1 AS x FROM dumps WHERE path = ?', [relativePath])) !== undefined;
  }

  /** Looks a dump up by its full id or a unique prefix of it (as `show` takes). */
  async find(idOrPrefix: string): Promise<DumpRecord[]> {
    const rows = await this.db.all("SELECT * FROM dumps WHERE dump_id = ? OR dump_id LIKE ? ESCAPE '\\' ORDER BY received_at LIMIT 2",
      [idOrPrefix, `${idOrPrefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`]);
    const exact = rows.find((r) => r.dump_id === idOrPrefix);
    return exact ? [toRecord(exact)] : rows.map(toRecord);
  }

  async list(filter: { hostId?: string; status?: DumpStatus } = {}): Promise<DumpRecord[]> {
    const where = whereClause(filter);
    return (await this.db.all(`SELECT * FROM dumps ${where.sql} ORDER BY received_at DESC`, where.params)).map(toRecord);
  }

  /** Dumps with their triage, newest event first, one page of them, and how many match in all. */
  async query(query: DumpQuery): Promise<{ dumps: Array<{ record: DumpRecord; triage: TriageRecord }>; total: number }> {
    const where = whereClause(query);
    const counted = await this.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM dumps ${where.sql}`, where.params);
    const rows = await this.db.all(`SELECT * FROM dumps ${where.sql} ORDER BY ${EVENT_TIME_MS} DESC, dump_id LIMIT ? OFFSET ?`,
      [...where.params, query.limit ?? 100, query.offset ?? 0]);
    return { dumps: rows.map((row) => ({ record: toRecord(row), triage: toTriage(row) })), total: Number(counted?.n ?? 0) };
  }

  async getWithTriage(dumpId: string): Promise<{ record: DumpRecord; triage: TriageRecord } | undefined> {
    const row = await this.db.get('SELECT * FROM dumps WHERE dump_id = ?', [dumpId]);
    return row && { record: toRecord(row), triage: toTriage(row) };
  }

  async saveTriage(dumpId: string, triage: TriageRecord): Promise<void> {
    const before = await this.db.get<{ signature: string | null; kind: string | null }>('SELECT signature, kind FROM dumps WHERE dump_id = ?', [dumpId]);
    // A live snapshot is no crash: an oops in its log (a WARN, an earlier BUG) is kept and shown, but joins no crash's group.
    if (before?.kind === 'live') triage = { ...triage, signature: null, signatureText: null };
    const sets = TRIAGE_COLUMNS.map(([, column]) => `${column} = ?`).join(', ');
    await this.db.run(`UPDATE dumps SET ${sets} WHERE dump_id = ?`, [...triageValues(triage), dumpId]);
    for (const signature of new Set([before?.signature, triage.signature])) if (signature) await this.groups.refresh(signature);
  }

  /** Complete dumps triage has not looked at yet (a receiver stopped before it got to them). */
  async untriaged(): Promise<DumpRecord[]> {
    return (await this.db.all("SELECT * FROM dumps WHERE status = 'complete' AND triaged_at IS NULL ORDER BY finished_at")).map(toRecord);
  }

  async delete(dumpId: string): Promise<boolean> {
    const row = await this.db.get<{ signature: string | null }>('SELECT signature FROM dumps WHERE dump_id = ?', [dumpId]);
    await this.resumePoints.forget(dumpId);
    const deleted = (await this.db.run('DELETE FROM dumps WHERE dump_id = ?', [dumpId])) > 0;
    if (row?.signature) await this.groups.refresh(row.signature);
    return deleted;
  }

  /** Stored dumps by status, for metrics. */
  async countsByStatus(): Promise<Record<DumpStatus, { count: number; bytes: number }>> {
    const counts: Record<DumpStatus, { count: number; bytes: number }> = {
      receiving: { count: 0, bytes: 0 }, complete: { count: 0, bytes: 0 }, partial: { count: 0, bytes: 0 }, failed: { count: 0, bytes: 0 },
    };
    const rows = await this.db.all<{ status: DumpStatus; n: number; bytes: number | null }>(
      'SELECT status, COUNT(*) AS n, SUM(bytes_stored) AS bytes FROM dumps GROUP BY status');
    for (const r of rows) counts[r.status] = { count: Number(r.n), bytes: Number(r.bytes ?? 0) };
    return counts;
  }

  async markComplete(dumpId: string, p: ProgressUpdate & { finishedAt: number; digest: string }): Promise<void> {
    await this.db.run(`UPDATE dumps SET status = 'complete', failure = NULL, next_seq = ?, data_end = ?, bytes_in = ?, bytes_stored = ?,
      pages_zero = ?, pages_stored = ?, finished_at = ?, duration_ms = ? - received_at, digest = ?, storage_state = NULL WHERE dump_id = ?`,
    [p.nextSeq, p.dataEnd, p.bytesIn, p.bytesStored, p.pagesZero, p.pagesStored, p.finishedAt, p.finishedAt, p.digest, dumpId]);
    await this.resumePoints.forget(dumpId);
  }

  /**
   * The upload stopped for good part-way and what arrived is kept (a partial
   * file under the dump's key). The resume point goes: the file it described
   * is finished; a sender that returns starts the dump over.
   */
  async markPartial(dumpId: string, p: ProgressUpdate & { finishedAt: number; reason: PartialReason }): Promise<void> {
    await this.db.run(`UPDATE dumps SET status = 'partial', partial_reason = ?, failure = NULL, next_seq = ?, data_end = ?, bytes_in = ?, bytes_stored = ?,
      pages_zero = ?, pages_stored = ?, finished_at = ?, duration_ms = ? - received_at, storage_state = NULL WHERE dump_id = ? AND status = 'receiving'`,
    [p.reason, p.nextSeq, p.dataEnd, p.bytesIn, p.bytesStored, p.pagesZero, p.pagesStored, p.finishedAt, p.finishedAt, dumpId]);
    await this.resumePoints.forget(dumpId);
  }

  /**
   * Starts a failed dump over: same row and folder, counters reset. The new
   * HELLO's dump level is recorded: the file is written again from it.
   */
  async restart(dumpId: string, start: { receivedAt: number; chunkPages: number; dumpLevel: DumpLevelRecord; firstTierChunks: number | null }): Promise<void> {
    const levels = DUMP_LEVEL_COLUMNS.map(([, column]) => `${column} = ?`).join(', ');
    await this.db.run(`UPDATE dumps SET status = 'receiving', failure = NULL, finished_at = NULL, duration_ms = NULL, next_seq = 0,
      data_end = 0, bytes_in = 0, bytes_stored = 0, pages_zero = 0, pages_stored = 0, digest = NULL, received_at = ?, chunk_pages = ?,
      storage_state = NULL, first_tier_chunks = ?, partial_reason = NULL, ${levels} WHERE dump_id = ?`,
    [start.receivedAt, start.chunkPages, start.firstTierChunks, ...dumpLevelValues(start.dumpLevel), dumpId]);
    await this.resumePoints.forget(dumpId);
  }

  async markFailed(dumpId: string, reason: string): Promise<void> {
    await this.db.run("UPDATE dumps SET status = 'failed', failure = ?, finished_at = ? WHERE dump_id = ? AND status = 'receiving'",
      [reason, Date.now(), dumpId]);
  }
}
