/**
 * The PostgreSQL test engine itself (scripts/postgres.sh through
 * test/helpers/postgres.ts): a real Debian PostgreSQL 15 on loopback only,
 * a password login for role kdump, and fresh databases per suite.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createDatabase, useDatabase, usePostgres } from '../helpers/postgres.js';

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('PostgreSQL test engine (skips with the reason when none can be started)', () => {
  const postgres = usePostgres();
  const fresh = useDatabase(postgres, 'engine_test');

  it('is a real PostgreSQL 15 that role kdump logs in to with its password over TCP', async (ctx) => {
    const server = postgres.require(ctx);
    expect(server.url).toBe(`postgres://kdump:${server.password}@127.0.0.1:${server.port}/kdump`);
    const [row] = await query<{ version: string; user: string; db: string }>(server.url,
      'SELECT version(), current_user AS user, current_database() AS db');
    expect(row.version).toMatch(/^PostgreSQL 15\./);
    expect(row.user).toBe('kdump');
    expect(row.db).toBe('kdump');
    await ctx.annotate(`cluster started in ${server.startMs} ms`);
  });

  it('listens only on 127.0.0.1 and asks for a scram-sha-256 password', async (ctx) => {
    const server = postgres.require(ctx);
    const [listen] = await query<{ listen_addresses: string }>(server.url, 'SHOW listen_addresses');
    expect(listen.listen_addresses).toBe('127.0.0.1');
    const [port] = await query<{ port: string }>(server.url, 'SHOW port');
    expect(Number(port.port)).toBe(server.port);
    const wrong = new URL(server.url);
    wrong.password = 'not-the-password';
    await expect(query(wrong.toString(), 'SELECT 1')).rejects.toThrow(/password authentication failed/);
  });

  it('creates and drops databases, and useDatabase gave this file one of its own', async (ctx) => {
    const server = postgres.require(ctx);
    const own = fresh.require(ctx);
    expect(own.name).toMatch(/^engine_test_[0-9a-f]{12}$/);
    const [inOwn] = await query<{ db: string }>(own.url, 'SELECT current_database() AS db');
    expect(inOwn.db).toBe(own.name);

    const db = await createDatabase(server);
    const names = async () => (await query<{ datname: string }>(server.url, 'SELECT datname FROM pg_database')).map((r) => r.datname);
    expect(await names()).toContain(db.name);
    await query(db.url, 'CREATE TABLE t (x int); INSERT INTO t VALUES (1)');
    // A connection left open does not stop the drop (WITH (FORCE)).
    const lingering = new pg.Client({ connectionString: db.url });
    lingering.on('error', () => undefined);
    await lingering.connect();
    await db.drop();
    expect(await names()).not.toContain(db.name);
    await lingering.end().catch(() => undefined);
  });
});
