/**
 * Dumps that share a crash signature (the same bug), for operators. Every
 * dump with a signature counts, whatever its status: a crash is a crash
 * from the moment its log is read, and a sender that sends its log ahead of
 * the pages (LOG) gives its dump a signature while the pages arrive. dump_groups keeps one summary row per signature so
 * listing every group reads one small table instead of grouping every dump
 * (bench/catalog-queries.mjs: 100,000 dumps); any filter groups the dumps
 * themselves. Invariants: whoever changes a complete dump's signature, or
 * deletes it, calls refresh for each signature it touched; the summary and
 * grouping the dumps give the same answer (test/engines checks); a group's
 * texts are its latest dump's.
 */
import { EVENT_TIME_MS, whereClause } from './dumps-table.js';
import type { DumpGroup, DumpQuery } from './records.js';
import type { SqlDriver } from './sql/driver.js';
import { sqlDialect, type SqlDialect } from './sql/dialect.js';

export class DumpGroups {
  private readonly dialect: SqlDialect;

  constructor(private readonly db: SqlDriver) {
    this.dialect = sqlDialect(db.dialect);
  }

  /** Catalogs from before dump_groups existed: summarise every signature once. */
  async summariseIfMissing(): Promise<void> {
    if (await this.db.get('SELECT 1 AS x FROM dump_groups LIMIT 1')) return;
    const signatures = await this.db.all<{ signature: string }>(
      'SELECT DISTINCT signature FROM dumps WHERE signature IS NOT NULL');
    for (const { signature } of signatures) await this.refresh(signature);
  }

  /**
   * Recomputes one signature's row of dump_groups from its dumps (cheap: the
   * signature's index entries only).
   * Two receivers refreshing one group at once may leave the older answer;
   * the group's next change corrects it.
   */
  async refresh(signature: string): Promise<void> {
    const { jsonArrayDistinct: distinct, jsonArrayValue: jsonArray } = this.dialect;
    const summary = await this.db.get(`SELECT COUNT(*) AS n, MIN(${EVENT_TIME_MS}) AS first_seen, MAX(${EVENT_TIME_MS}) AS last_seen,
        ${distinct('host_id')} AS hosts, ${distinct('os_release')} AS kernels
      FROM dumps WHERE signature = ?`, [signature]);
    const latest = await this.db.get(`SELECT dump_id, signature_text, reason, panic_line FROM dumps
      WHERE signature = ? ORDER BY ${EVENT_TIME_MS} DESC, dump_id LIMIT 1`, [signature]);
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

  /** Groups most recently seen first. */
  async list(query: Omit<DumpQuery, 'status' | 'limit' | 'offset'> = {}): Promise<DumpGroup[]> {
    const { signature, ...filters } = query;
    if (Object.values(filters).every((v) => v === undefined)) return this.summarised(signature);
    const { jsonArrayDistinct: distinct, jsonArrayValue: jsonArray } = this.dialect;
    const where = whereClause(query);
    const matching = `${where.sql ? `${where.sql} AND` : 'WHERE'} signature IS NOT NULL`;
    const rows = await this.db.all(`WITH g AS (
        SELECT signature, COUNT(*) AS n, MIN(${EVENT_TIME_MS}) AS first_seen, MAX(${EVENT_TIME_MS}) AS last_seen,
          ${distinct('host_id')} AS hosts, ${distinct('os_release')} AS kernels
        FROM dumps ${matching} GROUP BY signature)
      SELECT g.*, d.dump_id, d.signature_text, d.reason, d.panic_line FROM g JOIN dumps d ON d.dump_id = (
        SELECT dump_id FROM dumps ${matching} AND signature = g.signature ORDER BY ${EVENT_TIME_MS} DESC, dump_id LIMIT 1)
      ORDER BY g.last_seen DESC, g.signature`, [...where.params, ...where.params]);
    return rows.map((r) => groupOf(r, {
      count: r.n,
      hosts: (jsonArray(r.hosts) as string[]).sort(),
      kernels: (jsonArray(r.kernels) as Array<string | null>).filter((k): k is string => k !== null).sort(),
      latestDumpId: r.dump_id,
    }));
  }

  private async summarised(signature?: string): Promise<DumpGroup[]> {
    const rows = await this.db.all(`SELECT * FROM dump_groups ${signature === undefined ? '' : 'WHERE signature = ?'}
      ORDER BY last_seen DESC, signature`, signature === undefined ? [] : [signature]);
    return rows.map((r) => groupOf(r, {
      count: r.dumps,
      hosts: JSON.parse(r.hosts as string) as string[],
      kernels: JSON.parse(r.kernels as string) as string[],
      latestDumpId: r.latest_dump_id,
    }));
  }
}

/**
 * A group from a row of either query: the live grouping and the kept summary
 * share the signature, the latest dump's texts and the time span; how many,
 * which hosts and kernels, and which dump is latest come from columns of
 * their own (and, live, from the dialect's JSON arrays).
 */
function groupOf(r: Record<string, unknown>, own: { count: unknown; hosts: string[]; kernels: string[]; latestDumpId: unknown }): DumpGroup {
  return {
    signature: r.signature as string,
    signatureText: r.signature_text as string | null,
    reason: r.reason as string | null,
    panicLine: r.panic_line as string | null,
    count: Number(own.count),
    hosts: own.hosts,
    kernels: own.kernels,
    firstSeenMs: Number(r.first_seen),
    lastSeenMs: Number(r.last_seen),
    latestDumpId: own.latestDumpId as string,
  };
}
