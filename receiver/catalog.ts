/**
 * The index of dumps: DIR/index.db (SQLite, WAL). One row per dump; the row
 * is created at HELLO (status receiving) and updated at each durable ACK
 * (resume point) and at the end (complete or failed).
 */
import Database from 'better-sqlite3';
import { HostTokens } from './host-tokens.js';

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

  constructor(path: string, options: { readonly?: boolean } = {}) {
    this.db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    if (!options.readonly) {
      this.db.pragma('journal_mode = WAL');
      // WAL + NORMAL: a committed row survives a process crash; a power cut may
      // lose the last commits, which resume then redoes (ACKs follow fdatasync of the data).
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(SCHEMA);
    }
    this.hostTokens = new HostTokens(this.db);
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
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.hostId) { where.push('host_id = ?'); params.push(filter.hostId); }
    if (filter.status) { where.push('status = ?'); params.push(filter.status); }
    const sql = `SELECT * FROM dumps ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY received_at DESC`;
    return (this.db.prepare(sql).all(...params) as Record<string, unknown>[]).map(toRecord);
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
