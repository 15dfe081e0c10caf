/**
 * The index of dumps: DIR/index.db (SQLite, WAL). One row per dump; the row
 * is created at HELLO (status receiving) and updated at each durable ACK
 * (resume point) and at the end (complete or failed).
 */
import Database from 'better-sqlite3';
import { HostTokens } from './host-tokens.js';
import { OperatorTokens } from './operator-tokens.js';

export type DumpStatus = 'receiving' | 'complete' | 'failed';

export interface DumpRecord {
  dumpId: string;
  hostId: string;
  osRelease: string | null;
  buildId: string | null;
  /** Seconds since the epoch (VMCOREINFO CRASHTIME). */
  crashTime: number | null;
  /** Milliseconds since the epoch. */
  receivedAt: number;
  finishedAt: number | null;
  bytesIn: number;
  bytesStored: number;
  pagesTotal: number;
  pagesZero: number;
  pagesStored: number;
  durationMs: number | null;
  status: DumpStatus;
  failure: string | null;
  /** Path of the stored file relative to the data directory. */
  path: string;
  vmcoreSize: number;
  pageCodec: string;
  /** Resume state: chunks below nextSeq are durable; page data ends at dataEnd. */
  nextSeq: number;
  dataEnd: number;
  /** dumpDigest of a complete dump, to answer a sender that resends END. */
  digest: string | null;
  /** Pages per chunk of this upload: resume points and the digest depend on it. */
  chunkPages: number;
}

const COLUMNS: Array<[keyof DumpRecord, string]> = [
  ['dumpId', 'dump_id'], ['hostId', 'host_id'], ['osRelease', 'os_release'], ['buildId', 'build_id'],
  ['crashTime', 'crash_time'], ['receivedAt', 'received_at'], ['finishedAt', 'finished_at'], ['bytesIn', 'bytes_in'],
  ['bytesStored', 'bytes_stored'], ['pagesTotal', 'pages_total'], ['pagesZero', 'pages_zero'],
  ['pagesStored', 'pages_stored'], ['durationMs', 'duration_ms'], ['status', 'status'], ['failure', 'failure'],
  ['path', 'path'], ['vmcoreSize', 'vmcore_size'], ['pageCodec', 'page_codec'], ['nextSeq', 'next_seq'], ['dataEnd', 'data_end'], ['digest', 'digest'], ['chunkPages', 'chunk_pages'],
];

const SCHEMA = `
CREATE TABLE IF NOT EXISTS dumps (
  dump_id TEXT PRIMARY KEY,
  host_id TEXT NOT NULL,
  os_release TEXT,
  build_id TEXT,
  crash_time INTEGER,
  received_at INTEGER NOT NULL,
  finished_at INTEGER,
  bytes_in INTEGER NOT NULL DEFAULT 0,
  bytes_stored INTEGER NOT NULL DEFAULT 0,
  pages_total INTEGER NOT NULL,
  pages_zero INTEGER NOT NULL DEFAULT 0,
  pages_stored INTEGER NOT NULL DEFAULT 0,
  duration_ms INTEGER,
  status TEXT NOT NULL CHECK (status IN ('receiving', 'complete', 'failed')),
  failure TEXT,
  path TEXT NOT NULL UNIQUE,
  vmcore_size INTEGER NOT NULL,
  page_codec TEXT NOT NULL,
  next_seq INTEGER NOT NULL DEFAULT 0,
  data_end INTEGER NOT NULL DEFAULT 0,
  digest TEXT,
  chunk_pages INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dumps_by_host ON dumps (host_id, crash_time);
`;

/**
 * Added after the first release: what triage found in the dump's kernel log.
 * Added by ALTER TABLE so catalogs made before keep working; NULL until
 * triage ran (or when it could not read the log: triage_error says why).
 */
const TRIAGE_COLUMNS: Array<[keyof TriageRecord, string, string]> = [
  ['panicLine', 'panic_line', 'TEXT'],
  ['bugLine', 'bug_line', 'TEXT'],
  ['ripSymbol', 'rip_symbol', 'TEXT'],
  ['reason', 'reason', 'TEXT'],
  ['signature', 'signature', 'TEXT'],
  ['signatureText', 'signature_text', 'TEXT'],
  ['callTrace', 'call_trace', 'TEXT'],
  ['error', 'triage_error', 'TEXT'],
  ['triagedAt', 'triaged_at', 'INTEGER'],
];

/** What triage of a stored dump found; every field null before triage ran. */
export interface TriageRecord {
  panicLine: string | null;
  bugLine: string | null;
  ripSymbol: string | null;
  reason: string | null;
  signature: string | null;
  signatureText: string | null;
  /** Top call-trace frames, function names only. */
  callTrace: string[] | null;
  /** Why the kernel log could not be read or understood, if it could not. */
  error: string | null;
  triagedAt: number | null;
}

/** A dump's time on the timeline operators filter and sort by: its crash time, else when it started arriving (ms). */
const EVENT_TIME_MS = 'COALESCE(crash_time * 1000, received_at)';

export interface DumpQuery {
  hostId?: string;
  status?: DumpStatus;
  osRelease?: string;
  signature?: string;
  /** Inclusive bounds on EVENT_TIME_MS. */
  sinceMs?: number;
  untilMs?: number;
  limit?: number;
  offset?: number;
}

export interface DumpGroup {
  signature: string;
  signatureText: string | null;
  reason: string | null;
  panicLine: string | null;
  count: number;
  hosts: string[];
  kernels: string[];
  firstSeenMs: number;
  lastSeenMs: number;
  latestDumpId: string;
}

function toTriage(row: Record<string, unknown>): TriageRecord {
  const triage: Record<string, unknown> = {};
  for (const [key, column] of TRIAGE_COLUMNS) triage[key] = row[column] ?? null;
  triage.callTrace = typeof row.call_trace === 'string' ? JSON.parse(row.call_trace) as string[] : null;
  return triage as unknown as TriageRecord;
}

function whereClause(query: DumpQuery): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (condition: string, value: unknown) => { where.push(condition); params.push(value); };
  if (query.hostId !== undefined) add('host_id = ?', query.hostId);
  if (query.status !== undefined) add('status = ?', query.status);
  if (query.osRelease !== undefined) add('os_release = ?', query.osRelease);
  if (query.signature !== undefined) add('signature = ?', query.signature);
  if (query.sinceMs !== undefined) add(`${EVENT_TIME_MS} >= ?`, query.sinceMs);
  if (query.untilMs !== undefined) add(`${EVENT_TIME_MS} <= ?`, query.untilMs);
  return { sql: where.length ? `WHERE ${where.join(' AND ')}` : '', params };
}

function toRecord(row: Record<string, unknown>): DumpRecord {
  const record: Record<string, unknown> = {};
  for (const [key, column] of COLUMNS) record[key] = row[column];
  return record as unknown as DumpRecord;
}

export interface ProgressUpdate {
  nextSeq: number;
  dataEnd: number;
  bytesIn: number;
  bytesStored: number;
  pagesZero: number;
  pagesStored: number;
}

export class Catalog {
  private readonly db: Database.Database;
  /** Enrolled hosts; same database, so a data directory carries its enrolments. */
  readonly hostTokens: HostTokens;
  readonly operatorTokens: OperatorTokens;

  constructor(path: string, options: { readonly?: boolean } = {}) {
    this.db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    if (!options.readonly) {
      this.db.pragma('journal_mode = WAL');
      // WAL + NORMAL: a committed row survives a process crash; a power cut may
      // lose the last commits, which resume then redoes (ACKs follow fdatasync of the data).
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(SCHEMA);
      this.addMissingColumns();
    }
    this.hostTokens = new HostTokens(this.db);
    this.operatorTokens = new OperatorTokens(this.db);
  }

  private addMissingColumns(): void {
    const present = new Set((this.db.prepare('PRAGMA table_info(dumps)').all() as Array<{ name: string }>).map((c) => c.name));
    for (const [, column, type] of TRIAGE_COLUMNS) {
      if (!present.has(column)) this.db.exec(`ALTER TABLE dumps ADD COLUMN ${column} ${type}`);
    }
    this.db.exec('CREATE INDEX IF NOT EXISTS dumps_by_signature ON dumps (signature)');
    this.db.exec(`CREATE INDEX IF NOT EXISTS dumps_by_time ON dumps (${EVENT_TIME_MS})`);
  }

  insert(record: DumpRecord): void {
    const columns = COLUMNS.map(([, c]) => c);
    const stmt = this.db.prepare(`INSERT INTO dumps (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`);
    const params: Record<string, unknown> = {};
    for (const [key, column] of COLUMNS) params[column] = record[key];
    stmt.run(params);
  }

  get(dumpId: string): DumpRecord | undefined {
    const row = this.db.prepare('SELECT * FROM dumps WHERE dump_id = ?').get(dumpId) as Record<string, unknown> | undefined;
    return row && toRecord(row);
  }

  /** Looks a dump up by its full id or a unique prefix of it (as `show` takes). */
  find(idOrPrefix: string): DumpRecord[] {
    const rows = this.db
      .prepare("SELECT * FROM dumps WHERE dump_id = ? OR dump_id LIKE ? ESCAPE '\\' ORDER BY received_at LIMIT 2")
      .all(idOrPrefix, `${idOrPrefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`) as Record<string, unknown>[];
    const exact = rows.find((r) => r.dump_id === idOrPrefix);
    return exact ? [toRecord(exact)] : rows.map(toRecord);
  }

  list(filter: { hostId?: string; status?: DumpStatus } = {}): DumpRecord[] {
    const where = whereClause(filter);
    const sql = `SELECT * FROM dumps ${where.sql} ORDER BY received_at DESC`;
    return (this.db.prepare(sql).all(...where.params) as Record<string, unknown>[]).map(toRecord);
  }

  /** Dumps with their triage, newest event first, one page of them, and how many match in all. */
  query(query: DumpQuery): { dumps: Array<{ record: DumpRecord; triage: TriageRecord }>; total: number } {
    const where = whereClause(query);
    const total = (this.db.prepare(`SELECT COUNT(*) AS n FROM dumps ${where.sql}`).get(...where.params) as { n: number }).n;
    const rows = this.db.prepare(`SELECT * FROM dumps ${where.sql} ORDER BY ${EVENT_TIME_MS} DESC, dump_id LIMIT ? OFFSET ?`)
      .all(...where.params, query.limit ?? 100, query.offset ?? 0) as Record<string, unknown>[];
    return { dumps: rows.map((row) => ({ record: toRecord(row), triage: toTriage(row) })), total };
  }

  getWithTriage(dumpId: string): { record: DumpRecord; triage: TriageRecord } | undefined {
    const row = this.db.prepare('SELECT * FROM dumps WHERE dump_id = ?').get(dumpId) as Record<string, unknown> | undefined;
    return row && { record: toRecord(row), triage: toTriage(row) };
  }

  /** Dumps that share a signature (the same bug), most recently seen first. */
  groups(query: Omit<DumpQuery, 'signature' | 'status' | 'limit' | 'offset'> = {}): DumpGroup[] {
    const where = whereClause({ ...query, status: 'complete' });
    const matching = `${where.sql} ${where.sql ? 'AND' : 'WHERE'} signature IS NOT NULL`;
    // The texts shown for a group are its latest dump's.
    const rows = this.db.prepare(`WITH g AS (
        SELECT signature, COUNT(*) AS n, MIN(${EVENT_TIME_MS}) AS first_seen, MAX(${EVENT_TIME_MS}) AS last_seen,
          json_group_array(DISTINCT host_id) AS hosts, json_group_array(DISTINCT os_release) AS kernels
        FROM dumps ${matching} GROUP BY signature)
      SELECT g.*, d.dump_id, d.signature_text, d.reason, d.panic_line FROM g JOIN dumps d ON d.dump_id = (
        SELECT dump_id FROM dumps ${matching} AND signature = g.signature ORDER BY ${EVENT_TIME_MS} DESC, dump_id LIMIT 1)
      ORDER BY g.last_seen DESC, g.signature`).all(...where.params, ...where.params) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      signature: r.signature as string,
      signatureText: r.signature_text as string | null,
      reason: r.reason as string | null,
      panicLine: r.panic_line as string | null,
      count: r.n as number,
      hosts: (JSON.parse(r.hosts as string) as string[]).sort(),
      kernels: (JSON.parse(r.kernels as string) as Array<string | null>).filter((k): k is string => k !== null).sort(),
      firstSeenMs: r.first_seen as number,
      lastSeenMs: r.last_seen as number,
      latestDumpId: r.dump_id as string,
    }));
  }

  saveTriage(dumpId: string, triage: TriageRecord): void {
    const sets = TRIAGE_COLUMNS.map(([, column]) => `${column} = @${column}`).join(', ');
    const params: Record<string, unknown> = { dump_id: dumpId };
    for (const [key, column] of TRIAGE_COLUMNS) params[column] = triage[key];
    params.call_trace = triage.callTrace === null ? null : JSON.stringify(triage.callTrace);
    this.db.prepare(`UPDATE dumps SET ${sets} WHERE dump_id = @dump_id`).run(params);
  }

  /** Complete dumps triage has not looked at yet (a receiver stopped before it got to them). */
  untriaged(): DumpRecord[] {
    return (this.db.prepare("SELECT * FROM dumps WHERE status = 'complete' AND triaged_at IS NULL ORDER BY finished_at").all() as
      Record<string, unknown>[]).map(toRecord);
  }

  delete(dumpId: string): boolean {
    return this.db.prepare('DELETE FROM dumps WHERE dump_id = ?').run(dumpId).changes > 0;
  }

  /** Stored dumps by status, for metrics. */
  countsByStatus(): Record<DumpStatus, { count: number; bytes: number }> {
    const counts: Record<DumpStatus, { count: number; bytes: number }> = {
      receiving: { count: 0, bytes: 0 }, complete: { count: 0, bytes: 0 }, failed: { count: 0, bytes: 0 },
    };
    const rows = this.db.prepare('SELECT status, COUNT(*) AS n, SUM(bytes_stored) AS bytes FROM dumps GROUP BY status').all() as
      Array<{ status: DumpStatus; n: number; bytes: number | null }>;
    for (const r of rows) counts[r.status] = { count: r.n, bytes: r.bytes ?? 0 };
    return counts;
  }

  updateProgress(dumpId: string, p: ProgressUpdate): void {
    this.db.prepare(`UPDATE dumps SET next_seq = ?, data_end = ?, bytes_in = ?, bytes_stored = ?, pages_zero = ?, pages_stored = ?
      WHERE dump_id = ?`).run(p.nextSeq, p.dataEnd, p.bytesIn, p.bytesStored, p.pagesZero, p.pagesStored, dumpId);
  }

  markComplete(dumpId: string, p: ProgressUpdate & { finishedAt: number; digest: string }): void {
    this.db.prepare(`UPDATE dumps SET status = 'complete', failure = NULL, next_seq = ?, data_end = ?, bytes_in = ?, bytes_stored = ?,
      pages_zero = ?, pages_stored = ?, finished_at = ?, duration_ms = ? - received_at, digest = ? WHERE dump_id = ?`)
      .run(p.nextSeq, p.dataEnd, p.bytesIn, p.bytesStored, p.pagesZero, p.pagesStored, p.finishedAt, p.finishedAt, p.digest, dumpId);
  }

  /** Starts a failed dump over: same row and folder, counters reset. */
  restart(dumpId: string, receivedAt: number, chunkPages: number): void {
    this.db.prepare(`UPDATE dumps SET status = 'receiving', failure = NULL, finished_at = NULL, duration_ms = NULL, next_seq = 0,
      data_end = 0, bytes_in = 0, bytes_stored = 0, pages_zero = 0, pages_stored = 0, digest = NULL, received_at = ?, chunk_pages = ?
      WHERE dump_id = ?`)
      .run(receivedAt, chunkPages, dumpId);
  }

  markFailed(dumpId: string, reason: string): void {
    this.db.prepare(`UPDATE dumps SET status = 'failed', failure = ?, finished_at = ? WHERE dump_id = ? AND status = 'receiving'`)
      .run(reason, Date.now(), dumpId);
  }

  close(): void {
    this.db.close();
  }
}
