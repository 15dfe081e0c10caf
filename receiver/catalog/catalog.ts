/**
 * The index of dumps: DIR/index.db (SQLite, WAL) for one receiver, or a
 * PostgreSQL database several receivers share. One row per dump; the row is
 * created at HELLO (status receiving) and updated at each durable ACK
 * (resume point) and at the end (complete or failed). The same SQL serves
 * both engines (receiver/catalog/sql/); test/engines runs one suite against each.
 */
import path from 'node:path';
import { HostTokens } from './host-tokens.js';
import { OperatorTokens } from './operator-tokens.js';
import type { SqlDriver, SqlValue } from './sql/driver.js';
import { SqliteDriver } from './sql/sqlite.js';
import { PostgresDriver } from './sql/postgres.js';

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
  /** How the sender arrived at the stored dump level, as its HELLO said. */
  dumpLevel: DumpLevelRecord;
}

/**
 * The dump level a dump was asked for and the one its sender applied (the
 * stored header's dump_level), from HELLO's dumpLevelReport. Peer-supplied
 * text: shown to operators, never interpreted.
 */
export interface DumpLevelRecord {
  /** makedumpfile -d bits the operator asked for; null for dumps catalogued before levels were recorded. */
  asked: number | null;
  /** The bits the sender applied; below `asked` when it dropped some it could not apply safely. */
  applied: number | null;
  /** Generation of page rules that judged the struct pages; '' when none did, null when unknown (older senders). */
  rules: string | null;
  /** One line per bit dropped or page kind kept, saying why. */
  notes: string[];
}

/** Whether the sender stored more than asked for (a bit dropped): operators look at these dumps' notes. */
export function levelLowered(level: DumpLevelRecord): boolean {
  return level.asked !== null && level.applied !== null && level.applied < level.asked;
}

const COLUMNS: Array<[keyof DumpRecord, string]> = [
  ['dumpId', 'dump_id'], ['hostId', 'host_id'], ['osRelease', 'os_release'], ['buildId', 'build_id'],
  ['crashTime', 'crash_time'], ['receivedAt', 'received_at'], ['finishedAt', 'finished_at'], ['bytesIn', 'bytes_in'],
  ['bytesStored', 'bytes_stored'], ['pagesTotal', 'pages_total'], ['pagesZero', 'pages_zero'],
  ['pagesStored', 'pages_stored'], ['durationMs', 'duration_ms'], ['status', 'status'], ['failure', 'failure'],
  ['path', 'path'], ['vmcoreSize', 'vmcore_size'], ['pageCodec', 'page_codec'], ['nextSeq', 'next_seq'], ['dataEnd', 'data_end'], ['digest', 'digest'], ['chunkPages', 'chunk_pages'],
];

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

/**
 * Added after the first release: the dump level asked and applied, with why
 * (DumpLevelRecord). Added by ALTER TABLE like the triage columns; NULL in
 * rows catalogued before. Written when the row is created (or started over)
 * at HELLO, never by a resume.
 */
const DUMP_LEVEL_COLUMNS: Array<[keyof DumpLevelRecord, string, 'INTEGER' | 'TEXT']> = [
  ['asked', 'dump_level_asked', 'INTEGER'],
  ['applied', 'dump_level_applied', 'INTEGER'],
  ['rules', 'dump_level_rules', 'TEXT'],
  // JSON array of strings.
  ['notes', 'dump_level_notes', 'TEXT'],
];

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

/** The dumps table as first released; later columns are added by addMissingColumns. */
function baseSchema(dialect: SqlDriver['dialect']): string {
  // Millisecond times and byte counts pass 2^31: BIGINT in PostgreSQL (SQLite's INTEGER is 64-bit already).
  const int = dialect === 'postgres' ? 'BIGINT' : 'INTEGER';
  return `
CREATE TABLE IF NOT EXISTS dumps (
  dump_id TEXT PRIMARY KEY,
  host_id TEXT NOT NULL,
  os_release TEXT,
  build_id TEXT,
  crash_time ${int},
  received_at ${int} NOT NULL,
  finished_at ${int},
  bytes_in ${int} NOT NULL DEFAULT 0,
  bytes_stored ${int} NOT NULL DEFAULT 0,
  pages_total ${int} NOT NULL,
  pages_zero ${int} NOT NULL DEFAULT 0,
  pages_stored ${int} NOT NULL DEFAULT 0,
  duration_ms ${int},
  status TEXT NOT NULL CHECK (status IN ('receiving', 'complete', 'failed')),
  failure TEXT,
  path TEXT NOT NULL UNIQUE,
  vmcore_size ${int} NOT NULL,
  page_codec TEXT NOT NULL,
  next_seq ${int} NOT NULL DEFAULT 0,
  data_end ${int} NOT NULL DEFAULT 0,
  digest TEXT,
  chunk_pages ${int} NOT NULL
);
CREATE INDEX IF NOT EXISTS dumps_by_host ON dumps (host_id, crash_time);
CREATE TABLE IF NOT EXISTS dump_groups (
  signature TEXT PRIMARY KEY,
  dumps ${int} NOT NULL,
  first_seen ${int} NOT NULL,
  last_seen ${int} NOT NULL,
  hosts TEXT NOT NULL,
  kernels TEXT NOT NULL,
  latest_dump_id TEXT NOT NULL,
  signature_text TEXT,
  reason TEXT,
  panic_line TEXT
);
CREATE TABLE IF NOT EXISTS dump_chunk_crcs (
  dump_id TEXT NOT NULL,
  first_seq ${int} NOT NULL,
  crcs ${dialect === 'postgres' ? 'BYTEA' : 'BLOB'} NOT NULL,
  PRIMARY KEY (dump_id, first_seq)
);
CREATE TABLE IF NOT EXISTS dump_leases (
  dump_id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  expires_at ${int} NOT NULL
);
`;
}

function toTriage(row: Record<string, unknown>): TriageRecord {
  const triage: Record<string, unknown> = {};
  for (const [key, column] of TRIAGE_COLUMNS) triage[key] = row[column] ?? null;
  triage.callTrace = typeof row.call_trace === 'string' ? JSON.parse(row.call_trace) as string[] : null;
  return triage as unknown as TriageRecord;
}

function whereClause(query: DumpQuery): { sql: string; params: SqlValue[] } {
  const where: string[] = [];
  const params: SqlValue[] = [];
  const add = (condition: string, value: SqlValue) => { where.push(condition); params.push(value); };
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
  record.dumpLevel = toDumpLevel(row);
  return record as unknown as DumpRecord;
}

/** SQLite's json_group_array gives text, PostgreSQL's json_agg a parsed array. */
const jsonArray = (value: unknown): unknown[] => (typeof value === 'string' ? JSON.parse(value) as unknown[] : (value as unknown[] | null) ?? []);

export interface ProgressUpdate {
  nextSeq: number;
  dataEnd: number;
  bytesIn: number;
  bytesStored: number;
  pagesZero: number;
  pagesStored: number;
}

/** Where the catalog lives: a postgres:// URL, or a SQLite file (DATA_DIR/index.db by default). */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//.test(location);
}

export class Catalog {
  /** Enrolled hosts; same database, so a data directory (or a fleet's database) carries its enrolments. */
  readonly hostTokens: HostTokens;
  readonly operatorTokens: OperatorTokens;

  private constructor(private readonly db: SqlDriver) {
    this.hostTokens = new HostTokens(db);
    this.operatorTokens = new OperatorTokens(db);
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

  private async createSchema(): Promise<void> {
    if (this.db.dialect === 'postgres') {
      // Several receivers may start at once: one creates, the others wait on the lock, then find it made.
      await this.db.exec('SELECT pg_advisory_lock(7341)');
      try {
        await this.db.exec(baseSchema('postgres'));
        await this.addMissingColumns();
      } finally {
        await this.db.exec('SELECT pg_advisory_unlock(7341)');
      }
    } else {
      await this.db.exec(baseSchema('sqlite'));
      await this.addMissingColumns();
    }
    await this.hostTokens.createSchema();
    await this.operatorTokens.createSchema();
    await this.summariseGroupsIfMissing();
  }

  /** Catalogs from before dump_groups existed: summarise every signature once. */
  private async summariseGroupsIfMissing(): Promise<void> {
    if (await this.db.get('SELECT 1 AS x FROM dump_groups LIMIT 1')) return;
    const signatures = await this.db.all<{ signature: string }>(
      "SELECT DISTINCT signature FROM dumps WHERE status = 'complete' AND signature IS NOT NULL");
    for (const { signature } of signatures) await this.refreshGroup(signature);
  }

  /**
   * Recomputes one signature's row of dump_groups from its dumps (cheap: the
   * signature's index entries only). Called whenever a dump gains or loses
   * that signature, so listing all groups reads one small table instead of
   * grouping every dump (bench/catalog-queries.mjs: 100,000 dumps).
   * Two receivers refreshing one group at once may leave the older answer;
   * the group's next change corrects it.
   */
  private async refreshGroup(signature: string): Promise<void> {
    const distinct = (column: string) => (this.db.dialect === 'postgres' ? `json_agg(DISTINCT ${column})` : `json_group_array(DISTINCT ${column})`);
    const summary = await this.db.get(`SELECT COUNT(*) AS n, MIN(${EVENT_TIME_MS}) AS first_seen, MAX(${EVENT_TIME_MS}) AS last_seen,
        ${distinct('host_id')} AS hosts, ${distinct('os_release')} AS kernels
      FROM dumps WHERE status = 'complete' AND signature = ?`, [signature]);
    const latest = await this.db.get(`SELECT dump_id, signature_text, reason, panic_line FROM dumps
      WHERE status = 'complete' AND signature = ? ORDER BY ${EVENT_TIME_MS} DESC, dump_id LIMIT 1`, [signature]);
    if (!summary || Number(summary.n) === 0 || !latest) {
      await this.db.run('DELETE FROM dump_groups WHERE signature = ?', [signature]);
      return;
    }
    const hosts = JSON.stringify((jsonArray(summary.hosts) as string[]).sort());
    const kernels = JSON.stringify((jsonArray(summary.kernels) as Array<string | null>).filter((k) => k !== null).sort());
    await this.db.run(`INSERT INTO dump_groups (signature, dumps, first_seen, last_seen, hosts, kernels, latest_dump_id, signature_text, reason, panic_line)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (signature) DO UPDATE SET dumps = excluded.dumps, first_seen = excluded.first_seen, last_seen = excluded.last_seen,
        hosts = excluded.hosts, kernels = excluded.kernels, latest_dump_id = excluded.latest_dump_id,
        signature_text = excluded.signature_text, reason = excluded.reason, panic_line = excluded.panic_line`,
    [signature, Number(summary.n), Number(summary.first_seen), Number(summary.last_seen), hosts, kernels,
      latest.dump_id as string, latest.signature_text as string | null, latest.reason as string | null, latest.panic_line as string | null]);
  }

  private async addMissingColumns(): Promise<void> {
    const present = new Set(this.db.dialect === 'postgres'
      ? (await this.db.all<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_name = 'dumps' AND table_schema = current_schema()")).map((c) => c.column_name)
      : (await this.db.all<{ name: string }>('PRAGMA table_info(dumps)')).map((c) => c.name));
    const int = this.db.dialect === 'postgres' ? 'BIGINT' : 'INTEGER';
    for (const [, column, type] of TRIAGE_COLUMNS) {
      if (!present.has(column)) await this.db.exec(`ALTER TABLE dumps ADD COLUMN ${column} ${type === 'INTEGER' ? int : type}`);
    }
    for (const [, column, type] of DUMP_LEVEL_COLUMNS) {
      if (!present.has(column)) await this.db.exec(`ALTER TABLE dumps ADD COLUMN ${column} ${type === 'INTEGER' ? int : type}`);
    }
    // Where the storage backend's writer stands (JSON), for the receiver that resumes the upload.
    if (!present.has('storage_state')) await this.db.exec('ALTER TABLE dumps ADD COLUMN storage_state TEXT');
    await this.db.exec('CREATE INDEX IF NOT EXISTS dumps_by_signature ON dumps (signature)');
    await this.db.exec(`CREATE INDEX IF NOT EXISTS dumps_by_time ON dumps ((${EVENT_TIME_MS}))`);
    // Covers the groups query: grouping 100,000 dumps reads this index alone (bench/catalog-queries.mjs: 384 -> 77 ms on SQLite).
    await this.db.exec(`CREATE INDEX IF NOT EXISTS dumps_by_group ON dumps (signature, status, (${EVENT_TIME_MS}), host_id, os_release)`);
  }

  async insert(record: DumpRecord): Promise<void> {
    const columns = [...COLUMNS.map(([, c]) => c), ...DUMP_LEVEL_COLUMNS.map(([, c]) => c)];
    await this.db.run(`INSERT INTO dumps (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
      [...COLUMNS.map(([key]) => record[key] as SqlValue), ...dumpLevelValues(record.dumpLevel)]);
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

  /** Dumps that share a signature (the same bug), most recently seen first. */
  async groups(query: Omit<DumpQuery, 'status' | 'limit' | 'offset'> = {}): Promise<DumpGroup[]> {
    const { signature, ...filters } = query;
    if (Object.values(filters).every((v) => v === undefined)) return this.summarisedGroups(signature);
    const where = whereClause({ ...query, status: 'complete' });
    const matching = `${where.sql} AND signature IS NOT NULL`;
    const distinct = (column: string) => (this.db.dialect === 'postgres' ? `json_agg(DISTINCT ${column})` : `json_group_array(DISTINCT ${column})`);
    // The texts shown for a group are its latest dump's.
    const rows = await this.db.all(`WITH g AS (
        SELECT signature, COUNT(*) AS n, MIN(${EVENT_TIME_MS}) AS first_seen, MAX(${EVENT_TIME_MS}) AS last_seen,
          ${distinct('host_id')} AS hosts, ${distinct('os_release')} AS kernels
        FROM dumps ${matching} GROUP BY signature)
      SELECT g.*, d.dump_id, d.signature_text, d.reason, d.panic_line FROM g JOIN dumps d ON d.dump_id = (
        SELECT dump_id FROM dumps ${matching} AND signature = g.signature ORDER BY ${EVENT_TIME_MS} DESC, dump_id LIMIT 1)
      ORDER BY g.last_seen DESC, g.signature`, [...where.params, ...where.params]);
    return rows.map((r) => ({
      signature: r.signature as string,
      signatureText: r.signature_text as string | null,
      reason: r.reason as string | null,
      panicLine: r.panic_line as string | null,
      count: Number(r.n),
      hosts: (jsonArray(r.hosts) as string[]).sort(),
      kernels: (jsonArray(r.kernels) as Array<string | null>).filter((k): k is string => k !== null).sort(),
      firstSeenMs: Number(r.first_seen),
      lastSeenMs: Number(r.last_seen),
      latestDumpId: r.dump_id as string,
    }));
  }

  private async summarisedGroups(signature?: string): Promise<DumpGroup[]> {
    const rows = await this.db.all(`SELECT * FROM dump_groups ${signature === undefined ? '' : 'WHERE signature = ?'}
      ORDER BY last_seen DESC, signature`, signature === undefined ? [] : [signature]);
    return rows.map((r) => ({
      signature: r.signature as string,
      signatureText: r.signature_text as string | null,
      reason: r.reason as string | null,
      panicLine: r.panic_line as string | null,
      count: Number(r.dumps),
      hosts: JSON.parse(r.hosts as string) as string[],
      kernels: JSON.parse(r.kernels as string) as string[],
      firstSeenMs: Number(r.first_seen),
      lastSeenMs: Number(r.last_seen),
      latestDumpId: r.latest_dump_id as string,
    }));
  }

  async saveTriage(dumpId: string, triage: TriageRecord): Promise<void> {
    const before = await this.db.get<{ signature: string | null }>('SELECT signature FROM dumps WHERE dump_id = ?', [dumpId]);
    const sets = TRIAGE_COLUMNS.map(([, column]) => `${column} = ?`).join(', ');
    const values = TRIAGE_COLUMNS.map(([key]) => (key === 'callTrace'
      ? (triage.callTrace === null ? null : JSON.stringify(triage.callTrace))
      : triage[key] as SqlValue));
    await this.db.run(`UPDATE dumps SET ${sets} WHERE dump_id = ?`, [...values, dumpId]);
    for (const signature of new Set([before?.signature, triage.signature])) if (signature) await this.refreshGroup(signature);
  }

  /** Complete dumps triage has not looked at yet (a receiver stopped before it got to them). */
  async untriaged(): Promise<DumpRecord[]> {
    return (await this.db.all("SELECT * FROM dumps WHERE status = 'complete' AND triaged_at IS NULL ORDER BY finished_at")).map(toRecord);
  }

  async delete(dumpId: string): Promise<boolean> {
    const row = await this.db.get<{ signature: string | null }>('SELECT signature FROM dumps WHERE dump_id = ?', [dumpId]);
    await this.db.run('DELETE FROM dump_chunk_crcs WHERE dump_id = ?', [dumpId]);
    const deleted = (await this.db.run('DELETE FROM dumps WHERE dump_id = ?', [dumpId])) > 0;
    if (row?.signature) await this.refreshGroup(row.signature);
    return deleted;
  }

  /** Stored dumps by status, for metrics. */
  async countsByStatus(): Promise<Record<DumpStatus, { count: number; bytes: number }>> {
    const counts: Record<DumpStatus, { count: number; bytes: number }> = {
      receiving: { count: 0, bytes: 0 }, complete: { count: 0, bytes: 0 }, failed: { count: 0, bytes: 0 },
    };
    const rows = await this.db.all<{ status: DumpStatus; n: number; bytes: number | null }>(
      'SELECT status, COUNT(*) AS n, SUM(bytes_stored) AS bytes FROM dumps GROUP BY status');
    for (const r of rows) counts[r.status] = { count: Number(r.n), bytes: Number(r.bytes ?? 0) };
    return counts;
  }

  /**
   * Records a durable checkpoint: the checksums of chunks [firstSeq, p.nextSeq)
   * (4 bytes each, little-endian), then the progress and the storage writer's
   * state. Written in that order, so the row never points past checksums that
   * are there; a crash between leaves extra checksums nobody reads (the next
   * checkpoint from the same seq replaces them).
   */
  async saveResumePoint(dumpId: string, p: ProgressUpdate, resume: { firstSeq: number; crcs: Buffer; storageState: string }): Promise<void> {
    if (resume.crcs.length > 0) {
      await this.db.run(`INSERT INTO dump_chunk_crcs (dump_id, first_seq, crcs) VALUES (?, ?, ?)
        ON CONFLICT (dump_id, first_seq) DO UPDATE SET crcs = excluded.crcs`, [dumpId, resume.firstSeq, resume.crcs]);
    }
    await this.db.run(`UPDATE dumps SET next_seq = ?, data_end = ?, bytes_in = ?, bytes_stored = ?, pages_zero = ?, pages_stored = ?,
      storage_state = ? WHERE dump_id = ?`,
    [p.nextSeq, p.dataEnd, p.bytesIn, p.bytesStored, p.pagesZero, p.pagesStored, resume.storageState, dumpId]);
  }

  /**
   * What a receiver needs to continue an upload: the storage writer's state
   * and the checksums of chunks [0, nextSeq). Undefined when there is no
   * state, or the checksums do not cover nextSeq chunks (then start over).
   */
  async resumePoint(dumpId: string, nextSeq: number): Promise<{ storageState: string; crcs: Buffer } | undefined> {
    const storageState = await this.storageState(dumpId);
    if (!storageState) return undefined;
    const rows = await this.db.all<{ first_seq: number; crcs: Buffer }>(
      'SELECT first_seq, crcs FROM dump_chunk_crcs WHERE dump_id = ? AND first_seq < ? ORDER BY first_seq', [dumpId, nextSeq]);
    const crcs = Buffer.alloc(nextSeq * 4);
    let covered = 0;
    for (const r of rows) {
      const first = Number(r.first_seq);
      // Rows are contiguous runs; one that starts past what is covered leaves a gap.
      if (first > covered) return undefined;
      const bytes = Buffer.from(r.crcs).subarray(0, (nextSeq - first) * 4);
      bytes.copy(crcs, first * 4);
      covered = Math.max(covered, first + bytes.length / 4);
    }
    return covered >= nextSeq ? { storageState, crcs } : undefined;
  }

  /** The storage writer state of an unfinished dump (to drop what it left in the store), if any. */
  async storageState(dumpId: string): Promise<string | undefined> {
    const row = await this.db.get<{ storage_state: string | null }>('SELECT storage_state FROM dumps WHERE dump_id = ?', [dumpId]);
    return row?.storage_state ?? undefined;
  }

  async markComplete(dumpId: string, p: ProgressUpdate & { finishedAt: number; digest: string }): Promise<void> {
    await this.db.run(`UPDATE dumps SET status = 'complete', failure = NULL, next_seq = ?, data_end = ?, bytes_in = ?, bytes_stored = ?,
      pages_zero = ?, pages_stored = ?, finished_at = ?, duration_ms = ? - received_at, digest = ?, storage_state = NULL WHERE dump_id = ?`,
    [p.nextSeq, p.dataEnd, p.bytesIn, p.bytesStored, p.pagesZero, p.pagesStored, p.finishedAt, p.finishedAt, p.digest, dumpId]);
    await this.db.run('DELETE FROM dump_chunk_crcs WHERE dump_id = ?', [dumpId]);
  }

  /**
   * Starts a failed dump over: same row and folder, counters reset. The new
   * HELLO's dump level is recorded: the file is written again from it.
   */
  async restart(dumpId: string, start: { receivedAt: number; chunkPages: number; dumpLevel: DumpLevelRecord }): Promise<void> {
    const levels = DUMP_LEVEL_COLUMNS.map(([, column]) => `${column} = ?`).join(', ');
    await this.db.run(`UPDATE dumps SET status = 'receiving', failure = NULL, finished_at = NULL, duration_ms = NULL, next_seq = 0,
      data_end = 0, bytes_in = 0, bytes_stored = 0, pages_zero = 0, pages_stored = 0, digest = NULL, received_at = ?, chunk_pages = ?,
      storage_state = NULL, ${levels} WHERE dump_id = ?`, [start.receivedAt, start.chunkPages, ...dumpLevelValues(start.dumpLevel), dumpId]);
    await this.db.run('DELETE FROM dump_chunk_crcs WHERE dump_id = ?', [dumpId]);
  }

  async markFailed(dumpId: string, reason: string): Promise<void> {
    await this.db.run("UPDATE dumps SET status = 'failed', failure = ?, finished_at = ? WHERE dump_id = ? AND status = 'receiving'",
      [reason, Date.now(), dumpId]);
  }

  /**
   * One writer per dump across receivers: takes (or renews) the lease on a
   * dump for `owner` until now + ttlMs. Another owner gets it only once the
   * lease has expired, so a receiver that died mid-upload frees its dumps
   * after ttlMs and a survivor can take the sender's reconnect.
   */
  async acquireLease(dumpId: string, owner: string, ttlMs: number, now = Date.now()): Promise<boolean> {
    const changed = await this.db.run(`INSERT INTO dump_leases (dump_id, owner, expires_at) VALUES (?, ?, ?)
      ON CONFLICT (dump_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
      WHERE dump_leases.owner = excluded.owner OR dump_leases.expires_at < ?`, [dumpId, owner, now + ttlMs, now]);
    return changed > 0;
  }

  async releaseLease(dumpId: string, owner: string): Promise<void> {
    await this.db.run('DELETE FROM dump_leases WHERE dump_id = ? AND owner = ?', [dumpId, owner]);
  }

  /** Drops every lease: for a catalog only one receiver uses (SQLite), whose earlier process's leases died with it. */
  async clearLeases(): Promise<void> {
    await this.db.run('DELETE FROM dump_leases');
  }

  async leaseHolder(dumpId: string, now = Date.now()): Promise<string | undefined> {
    const row = await this.db.get<{ owner: string }>('SELECT owner FROM dump_leases WHERE dump_id = ? AND expires_at >= ?', [dumpId, now]);
    return row?.owner;
  }

  /** Throws (UNAVAILABLE for PostgreSQL) when the database does not answer. */
  async ping(): Promise<void> {
    await this.db.get('SELECT 1 AS ok');
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
