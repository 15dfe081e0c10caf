/**
 * Retention plans and outcomes for people (a CLI table) and for programs
 * (plain JSON with stable field names). A dry run is a plan printed this way.
 */
import type { RetentionPlan } from './policy.js';
import type { RetentionOutcome } from './apply.js';

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  return [header, ...rows].map((row) => row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
}

/** The plan as a table, one dump a line in deletion order, then the totals before and after. */
export function formatRetentionPlan(plan: RetentionPlan): string {
  const lines = plan.deletions.length === 0
    ? ['nothing to delete']
    : table(['REASON', 'DUMP ID', 'HOST', 'STATUS', 'RECEIVED (UTC)', 'STORED', 'PATH'], plan.deletions.map((d) => [
      d.reason, d.dumpId.slice(0, 12), d.hostId, d.status, iso(d.receivedAt), mb(d.bytes), d.path,
    ]));
  const freed = plan.totalBytesBefore - plan.totalBytesAfter;
  lines.push('');
  lines.push(`${plan.deletions.length} dump(s), ${mb(freed)}: dumps take ${mb(plan.totalBytesBefore)} -> ${mb(plan.totalBytesAfter)}, `
    + `disk free ${mb(plan.freeBytesBefore)} -> ${mb(plan.freeBytesAfter)} (estimated)`);
  for (const rule of plan.unmet) lines.push(`warning: ${rule} is still not met after every deletion retention may make`);
  return lines.join('\n');
}

/** What a pass did, for the CLI: one line per dump not deleted, then a count. */
export function formatRetentionOutcome(outcome: RetentionOutcome): string {
  const lines = [
    ...outcome.skipped.map(({ deletion, why }) => `skipped ${deletion.dumpId.slice(0, 12)} ${deletion.path}: ${why}`),
    ...outcome.failed.map(({ deletion, code, message }) => `FAILED  ${deletion.dumpId.slice(0, 12)} ${deletion.path}: ${code} ${message}`),
  ];
  const bytes = outcome.deleted.reduce((sum, d) => sum + d.bytes, 0);
  lines.push(`deleted ${outcome.deleted.length} dump(s), ${mb(bytes)}; skipped ${outcome.skipped.length}; failed ${outcome.failed.length}`);
  return lines.join('\n');
}

/** JSON for `--json` and the HTTP API: the plan as is (already plain data), with the dry-run flag said out loud. */
export function retentionPlanJson(plan: RetentionPlan): { dryRun: true } & RetentionPlan {
  return { dryRun: true, ...plan };
}

export function retentionOutcomeJson(outcome: RetentionOutcome): RetentionOutcome & { deletedBytes: number } {
  return { ...outcome, deletedBytes: outcome.deleted.reduce((sum, d) => sum + d.bytes, 0) };
}
