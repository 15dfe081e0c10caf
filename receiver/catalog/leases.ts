/**
 * One writer per dump across receivers sharing a catalog. A lease names its
 * owner and when it expires. Invariants: at most one live (unexpired) lease
 * per dump; only its owner renews or releases it; another owner takes it only
 * once it has expired, so a receiver that died mid-upload frees its dumps
 * after the lease's ttl and a survivor can take the sender's reconnect.
 */
import type { SqlDriver } from './sql/driver.js';

export class DumpLeases {
  constructor(private readonly db: SqlDriver) {}

  /** Takes (or renews) the lease on a dump for `owner` until now + ttlMs; false when another owner holds it. */
  async acquire(dumpId: string, owner: string, ttlMs: number, now = Date.now()): Promise<boolean> {
    const changed = await this.db.run(`INSERT INTO dump_leases (dump_id, owner, expires_at) VALUES (?, ?, ?)
      ON CONFLICT (dump_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
      WHERE dump_leases.owner = excluded.owner OR dump_leases.expires_at < ?`, [dumpId, owner, now + ttlMs, now]);
    return changed > 0;
  }

  async release(dumpId: string, owner: string): Promise<void> {
    await this.db.run('DELETE FROM dump_leases WHERE dump_id = ? AND owner = ?', [dumpId, owner]);
  }

  /** Drops every lease: for a catalog only one receiver uses (SQLite), whose earlier process's leases died with it. */
  async clear(): Promise<void> {
    await this.db.run('DELETE FROM dump_leases');
  }

  async holder(dumpId: string, now = Date.now()): Promise<string | undefined> {
    const row = await this.db.get<{ owner: string }>('SELECT owner FROM dump_leases WHERE dump_id = ? AND expires_at >= ?', [dumpId, now]);
    return row?.owner;
  }
}
