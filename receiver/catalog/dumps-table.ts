/**
 * The dumps table's columns and the SQL its readers share. Invariants: each
 * column holds exactly one record field (COLUMNS, TRIAGE_COLUMNS,
 * DUMP_LEVEL_COLUMNS); columns added after the first release are nullable,
 * so rows from before read as unknown; every filter is a bound parameter.
 */
import type { DumpLevelRecord, DumpQuery, DumpRecord, TriageRecord } from './records.js';
import type { SqlValue } from './sql/driver.js';

/** A column's logical type; sql/dialect.ts names it for each engine. */
export type ColumnType = 'int' | 'text';

/** The columns of the first release, which every row has. */
export const COLUMNS: Array<[keyof DumpRecord, string]> = [
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
export const TRIAGE_COLUMNS: Array<[keyof TriageRecord, string, ColumnType]> = [
  ['panicLine', 'panic_line', 'text'],
  ['bugLine', 'bug_line', 'text'],
  ['ripSymbol', 'rip_symbol', 'text'],
  ['reason', 'reason', 'text'],
  ['signature', 'signature', 'text'],
  ['signatureText', 'signature_text', 'text'],
  ['callTrace', 'call_trace', 'text'],
  ['error', 'triage_error', 'text'],
  ['triagedAt', 'triaged_at', 'int'],
  ['logSource', 'triage_log_source', 'text'],
];

/**
 * Added after the first release: the dump level asked and applied, with why
 * (DumpLevelRecord). Added by ALTER TABLE like the triage columns; NULL in
 * rows catalogued before. Written when the row is created (or started over)
 * at HELLO, never by a resume.
 */
export const DUMP_LEVEL_COLUMNS: Array<[keyof DumpLevelRecord, string, ColumnType]> = [
  ['asked', 'dump_level_asked', 'int'],
  ['applied', 'dump_level_applied', 'int'],
  ['rules', 'dump_level_rules', 'text'],
  // JSON array of strings.
  ['notes', 'dump_level_notes', 'text'],
];

/**
 * Record fields added after the first release, one column each; NULL in
 * rows from before, which read as null. Written at insert and restart.
 */
export const LATER_COLUMNS: Array<[keyof DumpRecord, string, ColumnType]> = [
  ['firstTierChunks', 'first_tier_chunks', 'int'],
  ['partialReason', 'partial_reason', 'text'],
  ['checkpointAt', 'checkpoint_at', 'int'],
  // NULL in rows from before: crashes, all of them (toRecord reads them so).
  ['kind', 'kind', 'text'],
  ['liveReason', 'live_reason', 'text'],
];

/** A dump's time on the timeline operators filter and sort by: its crash time, else when it started arriving (ms). */
export const EVENT_TIME_MS = 'COALESCE(crash_time * 1000, received_at)';

export function whereClause(query: DumpQuery): { sql: string; params: SqlValue[] } {
  const where: string[] = [];
  const params: SqlValue[] = [];
  const add = (condition: string, value: SqlValue) => { where.push(condition); params.push(value); };
  if (query.hostId !== undefined) add('host_id = ?', query.hostId);
  if (query.status !== undefined) add('status = ?', query.status);
  if (query.osRelease !== undefined) add('os_release = ?', query.osRelease);
  if (query.signature !== undefined) add('signature = ?', query.signature);
  if (query.kind !== undefined) add(query.kind === 'crash' ? "COALESCE(kind, 'crash') = ?" : 'kind = ?', query.kind);
  if (query.sinceMs !== undefined) add(`${EVENT_TIME_MS} >= ?`, query.sinceMs);
  if (query.untilMs !== undefined) add(`${EVENT_TIME_MS} <= ?`, query.untilMs);
  return { sql: where.length ? `WHERE ${where.join(' AND ')}` : '', params };
}
