/**
 * What the catalog stores and answers, as the rest of the receiver sees it:
 * plain records, no SQL. Invariants: times are milliseconds since the epoch
 * unless a field says otherwise; every number fits in 2^53 (the PostgreSQL
 * driver returns BIGINT as a number); peer-supplied text is kept as sent.
 */

/**
 * receiving: pages arriving (or to resume); complete: every page, verified;
 * partial: the upload stopped for good part-way and what arrived is kept as
 * a kdump file crash opens (flagged incomplete, pages not received left out
 * of the dumpable bitmap); failed: what arrived cannot be trusted, the next
 * HELLO starts over.
 */
export type DumpStatus = 'receiving' | 'complete' | 'partial' | 'failed';

export const DUMP_STATUSES: readonly DumpStatus[] = ['receiving', 'complete', 'partial', 'failed'];

/** Whether a finished file is kept under the dump's key (complete, or partial): downloadable, opened by crash. */
export function hasStoredFile(status: DumpStatus): boolean {
  return status === 'complete' || status === 'partial';
}

/** What a dump is of: a crash (a panic, kdump's capture kernel), or a live snapshot of a running kernel (kdump-send --live). */
export type DumpKind = 'crash' | 'live';

export const DUMP_KINDS: readonly DumpKind[] = ['crash', 'live'];

/** Why a dump was kept partial. */
export type PartialReason = 'abandoned' | 'storm' | 'log-only';

export interface DumpRecord {
  dumpId: string;
  hostId: string;
  osRelease: string | null;
  buildId: string | null;
  /** Seconds since the epoch (VMCOREINFO CRASHTIME; a live snapshot's, when it was taken). */
  crashTime: number | null;
  /** Milliseconds since the epoch. */
  receivedAt: number;
  finishedAt: number | null;
  bytesIn: number;
  bytesStored: number;
  pagesTotal: number;
  pagesZero: number;
  pagesStored: number;
  durationMs: number | null;
  status: DumpStatus;
  failure: string | null;
  /** Path of the stored file relative to the data directory. */
  path: string;
  vmcoreSize: number;
  pageCodec: string;
  /** Resume state: chunks below nextSeq are durable; page data ends at dataEnd. */
  nextSeq: number;
  dataEnd: number;
  /** dumpDigest of a complete dump, to answer a sender that resends END. */
  digest: string | null;
  /** Pages per chunk of this upload: resume points and the digest depend on it. */
  chunkPages: number;
  /** How the sender arrived at the stored dump level, as its HELLO said. */
  dumpLevel: DumpLevelRecord;
  /**
   * Chunks of the first tier, sent before the others (shared/protocol/send-order.ts);
   * null for a dump sent in pfn order. Resume points count positions in that order.
   */
  firstTierChunks: number | null;
  /** Why the dump is partial (status partial); null otherwise. */
  partialReason: PartialReason | null;
  /** When the last checkpoint was recorded (ms); null before the first. How long an upload has been still. */
  checkpointAt: number | null;
  /** A crash, or a live snapshot (not atomic: read while the kernel ran). Rows from before it was kept read 'crash'. */
  kind: DumpKind;
  /** A live snapshot's --reason ('' when none was given); null for a crash. */
  liveReason: string | null;
}

/**
 * The dump level a dump was asked for and the one its sender applied (the
 * stored header's dump_level), from HELLO's dumpLevelReport. Peer-supplied
 * text: shown to operators, never interpreted.
 */
export interface DumpLevelRecord {
  /** makedumpfile -d bits the operator asked for; null for dumps catalogued before levels were recorded. */
  asked: number | null;
  /** The bits the sender applied; below `asked` when it dropped some it could not apply safely. */
  applied: number | null;
  /** Generation of page rules that judged the struct pages; '' when none did, null when unknown (older senders). */
  rules: string | null;
  /** One line per bit dropped or page kind kept, saying why. */
  notes: string[];
}

/** Whether the sender stored more than asked for (a bit dropped): operators look at these dumps' notes. */
export function levelLowered(level: DumpLevelRecord): boolean {
  return level.asked !== null && level.applied !== null && level.applied < level.asked;
}

/** What triage of a stored dump found; every field null before triage ran. */
export interface TriageRecord {
  panicLine: string | null;
  bugLine: string | null;
  ripSymbol: string | null;
  reason: string | null;
  signature: string | null;
  signatureText: string | null;
  /** Top call-trace frames, function names only. */
  callTrace: string[] | null;
  /** Why the kernel log could not be read or understood, if it could not. */
  error: string | null;
  triagedAt: number | null;
  /**
   * Where the log came from: 'sender' when it arrived ahead of the pages
   * (LOG), 'dump' when triage read it from the stored dump; null before
   * triage, and for rows triaged before the column existed.
   */
  logSource: LogSource | null;
}

export type LogSource = 'sender' | 'dump';

export interface DumpQuery {
  hostId?: string;
  status?: DumpStatus;
  osRelease?: string;
  signature?: string;
  kind?: DumpKind;
  /** Inclusive bounds on a dump's event time: its crash time, else when it started arriving (ms). */
  sinceMs?: number;
  untilMs?: number;
  limit?: number;
  offset?: number;
}

export interface DumpGroup {
  signature: string;
  signatureText: string | null;
  reason: string | null;
  panicLine: string | null;
  count: number;
  hosts: string[];
  kernels: string[];
  firstSeenMs: number;
  lastSeenMs: number;
  latestDumpId: string;
}

export interface ProgressUpdate {
  nextSeq: number;
  dataEnd: number;
  bytesIn: number;
  bytesStored: number;
  pagesZero: number;
  pagesStored: number;
}
