/**
 * Which dumps to delete, decided without touching the disk: the caller brings
 * the dumps, the free space and the set of dumps attached to a connection, and
 * gets back an ordered list of deletions with the rule that chose each one.
 * Deleting is receiver/retention/apply.ts's job.
 *
 * Rules, applied in this order; a dump is chosen at most once, by the first
 * rule that picks it, and the byte rules count what earlier rules freed:
 *   abandoned        a 'receiving' dump no connection holds, with no write for
 *                    abandonedAfterMs: its sender gave up.
 *   failed-expired   a 'failed' dump that nobody retried for abandonedAfterMs.
 *   keep-per-host    complete dumps beyond the newest keepPerHost of a host.
 *   max-total-bytes  until all dumps together take at most maxTotalBytes.
 *   min-free-disk    until the disk has minFreeBytes free (estimated: a
 *                    dump's bytes are assumed freed when it is deleted).
 *
 * Never chosen, by any rule: a dump attached to a connection (whatever its
 * status), and a 'receiving' dump that is not abandoned yet (its sender may be
 * rebooting into the capture kernel again to resume it).
 *
 * "Oldest" is the smallest receivedAt, then the smallest dumpId. receivedAt is
 * the receiver's own clock; crash time comes from the crashed host's clock,
 * which can be anything. The dumpId tie-break is arbitrary but stable, so two
 * runs over the same catalog choose the same dumps.
 */
import { badInput } from '../../shared/errors.js';
import { hasStoredFile, type DumpStatus } from '../catalog/records.js';

export interface RetentionPolicy {
  /** Complete dumps kept per host, newest first. At least 1. */
  keepPerHost?: number;
  /** Bytes all dumps together (every status, attached ones too) may take. */
  maxTotalBytes?: number;
  /** Free bytes to keep on the data directory's filesystem. */
  minFreeBytes?: number;
  /** A 'receiving' dump with no write, or a 'failed' one not retried, for this long is deleted. Infinity: never. */
  abandonedAfterMs?: number;
}

export const DEFAULT_ABANDONED_AFTER_MS = 7 * 24 * 3600 * 1000;

/** What the planner needs to know about one dump. */
export interface RetentionDump {
  dumpId: string;
  hostId: string;
  status: DumpStatus;
  /** As the catalog has it: relative to the data directory. */
  path: string;
  /** Bytes its folder takes on disk. */
  bytes: number;
  /** Milliseconds since the epoch. */
  receivedAt: number;
  /** The last time anything was written for it (milliseconds since the epoch). */
  lastActivityAt: number;
}

export interface RetentionSituation {
  /** Milliseconds since the epoch. */
  now: number;
  /** Free bytes on the data directory's filesystem now. */
  freeBytes: number;
  /** Dumps attached to a connection right now: never deleted. */
  attached: ReadonlySet<string>;
}

export type RetentionReason = 'abandoned' | 'failed-expired' | 'keep-per-host' | 'max-total-bytes' | 'min-free-disk';

export interface PlannedDeletion {
  dumpId: string;
  hostId: string;
  /** The status the plan saw: the executor skips the dump if it has changed since. */
  status: DumpStatus;
  path: string;
  bytes: number;
  receivedAt: number;
  reason: RetentionReason;
}

export interface RetentionPlan {
  /**
   * In the order to delete them: rule by rule as listed above; oldest first
   * within a rule, except that the byte rules go tier by tier (see planRetention).
   */
  deletions: PlannedDeletion[];
  /** Bytes all dumps take before and after the deletions. */
  totalBytesBefore: number;
  totalBytesAfter: number;
  /** Free bytes now and (estimated) after the deletions. */
  freeBytesBefore: number;
  freeBytesAfter: number;
  /** Byte rules that every deletion allowed still does not satisfy: the operator has to act. */
  unmet: Array<'max-total-bytes' | 'min-free-disk'>;
}

/** Throws BAD_INPUT when a policy field makes no sense; returns the policy. */
export function checkRetentionPolicy(policy: RetentionPolicy): RetentionPolicy {
  const { keepPerHost, maxTotalBytes, minFreeBytes, abandonedAfterMs } = policy;
  if (keepPerHost !== undefined && !(Number.isSafeInteger(keepPerHost) && keepPerHost >= 1)) {
    throw badInput(`keepPerHost must be an integer of at least 1, not ${keepPerHost}`, { keepPerHost });
  }
  for (const [name, value] of [['maxTotalBytes', maxTotalBytes], ['minFreeBytes', minFreeBytes]] as const) {
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
      throw badInput(`${name} must be a whole number of bytes, not ${value}`, { [name]: value });
    }
  }
  if (abandonedAfterMs !== undefined && !(abandonedAfterMs > 0)) {
    throw badInput(`abandonedAfterMs must be positive (Infinity to never expire), not ${abandonedAfterMs}`, { abandonedAfterMs });
  }
  return policy;
}

function oldestFirst(a: RetentionDump, b: RetentionDump): number {
  return a.receivedAt - b.receivedAt || (a.dumpId < b.dumpId ? -1 : a.dumpId > b.dumpId ? 1 : 0);
}

export function planRetention(dumps: readonly RetentionDump[], policy: RetentionPolicy, situation: RetentionSituation): RetentionPlan {
  checkRetentionPolicy(policy);
  const abandonedAfterMs = policy.abandonedAfterMs ?? DEFAULT_ABANDONED_AFTER_MS;
  const sorted = [...dumps].sort(oldestFirst);
  const totalBytesBefore = sorted.reduce((sum, d) => sum + d.bytes, 0);
  const chosen = new Map<string, PlannedDeletion>();
  let freed = 0;
  const choose = (dump: RetentionDump, reason: RetentionReason) => {
    chosen.set(dump.dumpId, {
      dumpId: dump.dumpId, hostId: dump.hostId, status: dump.status, path: dump.path,
      bytes: dump.bytes, receivedAt: dump.receivedAt, reason,
    });
    freed += dump.bytes;
  };
  const open = (dump: RetentionDump) => !chosen.has(dump.dumpId) && !situation.attached.has(dump.dumpId);
  const stale = (dump: RetentionDump) => situation.now - dump.lastActivityAt >= abandonedAfterMs;

  for (const dump of sorted) {
    if (open(dump) && dump.status === 'receiving' && stale(dump)) choose(dump, 'abandoned');
  }
  for (const dump of sorted) {
    if (open(dump) && dump.status === 'failed' && stale(dump)) choose(dump, 'failed-expired');
  }

  const completeByHost = new Map<string, RetentionDump[]>();
  for (const dump of sorted) {
    // Partial dumps are stored dumps too: they count toward a host's keep, oldest first.
    if (!hasStoredFile(dump.status)) continue;
    const list = completeByHost.get(dump.hostId) ?? [];
    list.push(dump);
    completeByHost.set(dump.hostId, list);
  }
  if (policy.keepPerHost !== undefined) {
    // An attached dump among the excess is skipped, not replaced by a newer
    // one: the host keeps one more until the next run, rather than losing a newer dump.
    const excess: RetentionDump[] = [];
    for (const list of completeByHost.values()) excess.push(...list.slice(0, Math.max(0, list.length - policy.keepPerHost)));
    for (const dump of excess.sort(oldestFirst)) if (open(dump)) choose(dump, 'keep-per-host');
  }

  // Under byte pressure the order is: failed dumps (their partial data is
  // useless: a retry starts the dump over), then complete dumps that are not
  // their host's newest, globally oldest first, so one chatty host loses its
  // history before a quiet host loses its only crash. A host's newest complete
  // dump goes only under max-total-bytes, as a last resort, oldest first: the
  // budget is the operator's promise about dumps. min-free-disk never takes it:
  // the shortfall may be other files' doing, the receiver already refuses
  // uploads that would eat the reserve, and wiping every host's latest crash
  // would lose the evidence without being sure to fix anything; it is reported
  // as unmet instead.
  const newestOfHost = new Set([...completeByHost.values()].map((list) => list[list.length - 1].dumpId));
  const failed = sorted.filter((d) => d.status === 'failed');
  const history = sorted.filter((d) => hasStoredFile(d.status) && !newestOfHost.has(d.dumpId));
  const newest = sorted.filter((d) => newestOfHost.has(d.dumpId));
  const takeUntil = (satisfied: () => boolean, reason: RetentionReason, candidates: RetentionDump[]) => {
    for (const dump of candidates) {
      if (satisfied()) return;
      if (open(dump)) choose(dump, reason);
    }
  };
  const totalOk = () => policy.maxTotalBytes === undefined || totalBytesBefore - freed <= policy.maxTotalBytes;
  const freeOk = () => policy.minFreeBytes === undefined || situation.freeBytes + freed >= policy.minFreeBytes;
  takeUntil(totalOk, 'max-total-bytes', [...failed, ...history, ...newest]);
  takeUntil(freeOk, 'min-free-disk', [...failed, ...history]);

  const unmet: RetentionPlan['unmet'] = [];
  if (!totalOk()) unmet.push('max-total-bytes');
  if (!freeOk()) unmet.push('min-free-disk');
  return {
    deletions: [...chosen.values()],
    totalBytesBefore,
    totalBytesAfter: totalBytesBefore - freed,
    freeBytesBefore: situation.freeBytes,
    freeBytesAfter: situation.freeBytes + freed,
    unmet,
  };
}
