/**
 * SQLite through better-sqlite3: synchronous calls behind the async driver
 * interface. A receiver's catalog is small and local; a statement takes
 * microseconds, so blocking the event loop for it costs less than a thread hop.
 */
import Database from 'better-sqlite3';
import type { SqlDriver, SqlValue } from './driver.js';

export class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite';
  private readonly statements = new Map<string, Database.Statement>();

  constructor(readonly db: Database.Database) {}

  static open(file: string, options: { readonly?: boolean } = {}): SqliteDriver {
    const db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      // WAL + NORMAL: a committed row survives a process crash; a power cut may
      // lose the last commits, which resume then redoes (ACKs follow fdatasync of the data).
      db.pragma('synchronous = NORMAL');
    }
    return new SqliteDriver(db);
  }

  private prepare(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.prepare(sql).all(...params) as T[];
  }

  async get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return this.prepare(sql).get(...params) as T | undefined;
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.prepare(sql).run(...params).changes;
  }

  async exec(sql: string): Promise<void> {
    this.db.exec(sql);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
