/**
 * Everything SQLite and PostgreSQL disagree on, one table per dialect, so
 * the catalog's SQL is written once and asks here wherever the two part.
 * Invariants: both tables answer the same questions (SqlDialect); the SQL
 * they produce means the same in either engine (test/engines runs one suite
 * against each); nothing outside receiver/catalog/sql/ compares dialect names.
 */
import type { SqlDriver } from './driver.js';

export type DialectName = SqlDriver['dialect'];

export interface SqlDialect {
  /** Millisecond times and byte counts pass 2^31: BIGINT in PostgreSQL (SQLite's INTEGER is 64-bit already). */
  readonly int: string;
  readonly bytes: string;
  readonly text: string;
  /** An aggregate: the distinct values of `column` as a JSON array. */
  jsonArrayDistinct(column: string): string;
  /** A jsonArrayDistinct result as read back: SQLite's json_group_array gives text, PostgreSQL's json_agg a parsed array. */
  jsonArrayValue(value: unknown): unknown[];
  /** The columns `table` has now (migrations add the missing ones). */
  columnNames(db: SqlDriver, table: string): Promise<string[]>;
  /**
   * Held while the schema is created or upgraded, so receivers starting at
   * once on one database do not race: one creates, the others wait, then find
   * it made. None for SQLite, whose file one receiver owns.
   */
  readonly schemaLock: { acquire: string; release: string } | undefined;
  /**
   * Replaces the CHECK constraint `from` of `table` (as written in its
   * CREATE TABLE) with `to`, keeping every row; nothing when `from` is not
   * there (a new table has `to` already, or it was done before).
   */
  replaceCheck(db: SqlDriver, table: string, from: string, to: string): Promise<void>;
  /** Whether several receivers may use the database at once (then one receiver's restart must not drop the others' leases). */
  readonly sharedByReceivers: boolean;
}

const SQLITE: SqlDialect = {
  int: 'INTEGER',
  bytes: 'BLOB',
  text: 'TEXT',
  jsonArrayDistinct: (column) => `json_group_array(DISTINCT ${column})`,
  jsonArrayValue: (value) => (typeof value === 'string' ? JSON.parse(value) as unknown[] : []),
  columnNames: async (db, table) => (await db.all<{ name: string }>(`PRAGMA table_info(${table})`)).map((c) => c.name),
  schemaLock: undefined,
  sharedByReceivers: false,
  // SQLite cannot alter a constraint: the table is made again from its own DDL with the new CHECK,
  // in one transaction, rows copied as they are (same columns, same order); the caller recreates the indexes.
  replaceCheck: async (db, table, from, to) => {
    const row = await db.get<{ sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]);
    if (!row || !row.sql.includes(from)) return;
    const rebuilt = row.sql.replace(from, to).replace(/^CREATE TABLE\s+"?\w+"?/i, `CREATE TABLE ${table}_upgrading`);
    await db.exec(`BEGIN IMMEDIATE; DROP TABLE IF EXISTS ${table}_upgrading; ${rebuilt}; INSERT INTO ${table}_upgrading SELECT * FROM ${table};
      DROP TABLE ${table}; ALTER TABLE ${table}_upgrading RENAME TO ${table}; COMMIT;`);
  },
};

const POSTGRES: SqlDialect = {
  int: 'BIGINT',
  bytes: 'BYTEA',
  text: 'TEXT',
  jsonArrayDistinct: (column) => `json_agg(DISTINCT ${column})`,
  jsonArrayValue: (value) => (value as unknown[] | null) ?? [],
  columnNames: async (db, table) => (await db.all<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns WHERE table_name = '${table}' AND table_schema = current_schema()`)).map((c) => c.column_name),
  // Any fixed key will do; 7341 is the catalog's.
  schemaLock: { acquire: 'SELECT pg_advisory_lock(7341)', release: 'SELECT pg_advisory_unlock(7341)' },
  sharedByReceivers: true,
  replaceCheck: async (db, table, from, to) => {
    const checks = await db.all<{ name: string; definition: string }>(
      `SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint
        WHERE conrelid = to_regclass('${table}') AND contype = 'c'`);
    // PostgreSQL prints the constraint back in its own words: match on the values it allows.
    const values = (text: string) => [...text.matchAll(/'([^']*)'/g)].map((m) => m[1]).sort().join(',');
    const old = checks.find((c) => values(c.definition) === values(from));
    if (!old) return;
    await db.exec(`ALTER TABLE ${table} DROP CONSTRAINT "${old.name}", ADD CONSTRAINT "${old.name}" CHECK (${to})`);
  },
};

const DIALECTS: Record<DialectName, SqlDialect> = { sqlite: SQLITE, postgres: POSTGRES };

export function sqlDialect(name: DialectName): SqlDialect {
  return DIALECTS[name];
}
