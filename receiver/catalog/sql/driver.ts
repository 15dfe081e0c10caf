/**
 * The few things the catalog asks of a SQL database, so one catalog serves
 * SQLite (one receiver, local disk) and PostgreSQL (several receivers). SQL
 * is written once with `?` placeholders; a driver turns them into its own.
 * Where the two dialects differ (types, JSON aggregates, schema locking),
 * sql/dialect.ts has one table per dialect, looked up by `dialect`.
 */
export type SqlValue = string | number | bigint | Buffer | null;

export interface SqlDriver {
  readonly dialect: 'sqlite' | 'postgres';
  /** Rows as objects keyed by column name; integer columns come back as numbers. */
  all<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** How many rows the statement changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** Several statements at once, no parameters (schema). */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

/** `?` to `$1`, `$2`, ... outside string literals (PostgreSQL's placeholders). */
export function numberedPlaceholders(sql: string): string {
  let n = 0;
  let quoted = false;
  let out = '';
  for (const ch of sql) {
    if (ch === "'") quoted = !quoted;
    out += ch === '?' && !quoted ? `$${++n}` : ch;
  }
  return out;
}
