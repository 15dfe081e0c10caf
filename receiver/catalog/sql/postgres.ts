/**
 * PostgreSQL through node-postgres, a pool per receiver. BIGINT columns
 * (millisecond times, byte counts) come back as numbers: every value we
 * store is below 2^53, and the catalog's callers do arithmetic on them.
 */
import pg from 'pg';
import { ErrorCode, NetdumpError } from '../../../shared/errors.js';
import { numberedPlaceholders, type SqlDriver, type SqlValue } from './driver.js';

const INT8_OID = 20;
const NUMERIC_OID = 1700;
const asNumber = (text: string) => Number(text);

/** Connection trouble is UNAVAILABLE (a sender tries the next receiver); anything else is ours. */
function databaseError(error: unknown): NetdumpError {
  const e = error as { code?: string; message?: string };
  const unreachable = /^(08|57P0)/.test(e.code ?? '') || /ECONNREFUSED|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|Connection terminated|timeout/i.test(e.message ?? '');
  return new NetdumpError(unreachable ? ErrorCode.UNAVAILABLE : ErrorCode.INTERNAL,
    `catalog database ${unreachable ? 'unreachable' : 'error'}: ${e.message ?? String(error)}`, {}, { cause: error });
}

export class PostgresDriver implements SqlDriver {
  readonly dialect = 'postgres';

  private constructor(private readonly pool: pg.Pool) {}

  static open(url: string, options: { maxConnections?: number; connectTimeoutMs?: number } = {}): PostgresDriver {
    const pool = new pg.Pool({
      connectionString: url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      // A statement that hangs (database overloaded, network partition) fails instead of holding an upload forever.
      statement_timeout: 30_000,
      query_timeout: 35_000,
      types: {
        getTypeParser: ((oid: number, format?: string) =>
          oid === INT8_OID || oid === NUMERIC_OID ? asNumber : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
      },
    });
    // An idle client losing its connection must not crash the receiver; the next query reports it.
    pool.on('error', () => {});
    return new PostgresDriver(pool);
  }

  private async query<T>(sql: string, params: readonly SqlValue[]): Promise<pg.QueryResult<T & pg.QueryResultRow>> {
    try {
      return await this.pool.query<T & pg.QueryResultRow>(numberedPlaceholders(sql), params as unknown[]);
    } catch (error) {
      throw databaseError(error);
    }
  }

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return (await this.query<T>(sql, params)).rows;
  }

  async get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.query<T>(sql, params)).rows[0];
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return (await this.query(sql, params)).rowCount ?? 0;
  }

  async exec(sql: string): Promise<void> {
    try {
      await this.pool.query(sql);
    } catch (error) {
      throw databaseError(error);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
