/**
 * The catalog's tables and indexes, and the migrations that bring an older
 * catalog up to date. Invariants: only ever adds (CREATE ... IF NOT EXISTS,
 * ADD COLUMN for what is missing), never drops or rewrites, so running it
 * again, or on a catalog of any earlier release, is safe; receivers sharing
 * a database run it one at a time (the dialect's schema lock). The token
 * tables are their stores' own (host-tokens.ts, operator-tokens.ts).
 */
import { DUMP_LEVEL_COLUMNS, EVENT_TIME_MS, LATER_COLUMNS, TRIAGE_COLUMNS } from './dumps-table.js';
import type { SqlDriver } from './sql/driver.js';
import { sqlDialect, type SqlDialect } from './sql/dialect.js';

/** The statuses a row may have; catalogs made before 'partial' are upgraded (allowPartialStatus). */
const STATUS_CHECK = "status IN ('receiving', 'complete', 'partial', 'failed')";
const FIRST_STATUS_CHECK = "status IN ('receiving', 'complete', 'failed')";

/** The dumps table as first released; later columns are added by addMissingColumns. */
function baseSchema({ int, bytes }: SqlDialect): string {
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
  status TEXT NOT NULL CHECK (${STATUS_CHECK}),
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
  crcs ${bytes} NOT NULL,
  PRIMARY KEY (dump_id, first_seq)
);
CREATE TABLE IF NOT EXISTS dump_leases (
  dump_id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  expires_at ${int} NOT NULL
);
`;
}

async function addMissingColumns(db: SqlDriver, dialect: SqlDialect): Promise<void> {
  const present = new Set(await dialect.columnNames(db, 'dumps'));
  for (const [, column, type] of [...TRIAGE_COLUMNS, ...DUMP_LEVEL_COLUMNS, ...LATER_COLUMNS]) {
    if (!present.has(column)) await db.exec(`ALTER TABLE dumps ADD COLUMN ${column} ${dialect[type]}`);
  }
  // Where the storage backend's writer stands (JSON), for the receiver that resumes the upload.
  if (!present.has('storage_state')) await db.exec('ALTER TABLE dumps ADD COLUMN storage_state TEXT');
  await db.exec('CREATE INDEX IF NOT EXISTS dumps_by_signature ON dumps (signature)');
  await db.exec(`CREATE INDEX IF NOT EXISTS dumps_by_time ON dumps ((${EVENT_TIME_MS}))`);
  // Covers the groups query: grouping 100,000 dumps reads this index alone (bench/catalog-queries.mjs: 384 -> 77 ms on SQLite).
  await db.exec(`CREATE INDEX IF NOT EXISTS dumps_by_group ON dumps (signature, status, (${EVENT_TIME_MS}), host_id, os_release)`);
}

/**
 * Catalogs from before partial dumps refuse the status in their CHECK. The
 * one exception to "only ever adds": a CHECK cannot be added to, so it is
 * replaced, once, with one that allows more (nothing stored is rewritten).
 */
async function allowPartialStatus(db: SqlDriver, dialect: SqlDialect): Promise<void> {
  await dialect.replaceCheck(db, 'dumps', FIRST_STATUS_CHECK, STATUS_CHECK);
}

/** Creates the dump tables, or upgrades them to this release's. */
export async function createDumpSchema(db: SqlDriver): Promise<void> {
  const dialect = sqlDialect(db.dialect);
  const lock = dialect.schemaLock;
  if (lock) await db.exec(lock.acquire);
  try {
    // First: remaking the table drops its indexes, which the schema then creates again.
    await allowPartialStatus(db, dialect);
    await db.exec(baseSchema(dialect));
    await addMissingColumns(db, dialect);
  } finally {
    if (lock) await db.exec(lock.release);
  }
}
