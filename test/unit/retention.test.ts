import { describe, it, expect, vi } from 'vitest';
import pino from 'pino';
import { ErrorCode } from '../../shared/errors.js';
import { catchNetdump } from '../helpers/errors.js';
import {
  DEFAULT_ABANDONED_AFTER_MS, checkRetentionPolicy, planRetention, type RetentionDump, type RetentionPlan, type RetentionSituation,
} from '../../receiver/retention/policy.js';
import { formatRetentionPlan, retentionPlanJson } from '../../receiver/retention/report.js';
import { RetentionScheduler } from '../../receiver/retention/scheduler.js';

const DAY = 24 * 3600 * 1000;
const NOW = Date.UTC(2026, 0, 31);

/** A dump received `ageDays` before NOW; ids are padded to 16 characters and sort as written. */
function dump(id: string, hostId: string, ageDays: number, fields: Partial<RetentionDump> = {}): RetentionDump {
  const receivedAt = NOW - ageDays * DAY;
  return {
    dumpId: id.padEnd(16, '0'), hostId, status: 'complete', path: `${hostId}/stamp-${id}/vmcore`,
    bytes: 100, receivedAt, lastActivityAt: receivedAt, ...fields,
  };
}

const situation = (fields: Partial<RetentionSituation> = {}): RetentionSituation => ({ now: NOW, freeBytes: 10 ** 12, attached: new Set(), ...fields });
const chosen = (plan: RetentionPlan) => plan.deletions.map((d) => `${d.reason}:${d.dumpId.replace(/0+$/, '')}`);

describe('planRetention', () => {
  it('chooses nothing with no dumps, or with an empty policy and nothing abandoned', () => {
    const empty = planRetention([], { keepPerHost: 1, maxTotalBytes: 0, minFreeBytes: 10 }, situation({ freeBytes: 0 }));
    expect(empty.deletions).toEqual([]);
    expect(empty.unmet).toEqual(['min-free-disk']);
    const dumps = [dump('a1', 'h1', 30), dump('a2', 'h1', 20)];
    expect(planRetention(dumps, {}, situation()).deletions).toEqual([]);
  });

  it('keep-per-host keeps the newest complete dumps of each host and deletes the rest, oldest first', () => {
    const dumps = [
      dump('a1', 'h1', 10), dump('a2', 'h1', 5), dump('a3', 'h1', 1), dump('a4', 'h1', 7),
      dump('b1', 'h2', 8), dump('b2', 'h2', 2),
      dump('c1', 'h3', 9),
    ];
    const plan = planRetention(dumps, { keepPerHost: 2 }, situation());
    expect(chosen(plan)).toEqual(['keep-per-host:a1', 'keep-per-host:a4']);
    expect(plan.deletions[0]).toMatchObject({ hostId: 'h1', status: 'complete', path: 'h1/stamp-a1/vmcore', bytes: 100, receivedAt: NOW - 10 * DAY });
    expect(chosen(planRetention(dumps, { keepPerHost: 1 }, situation()))).toEqual([
      'keep-per-host:a1', 'keep-per-host:b1', 'keep-per-host:a4', 'keep-per-host:a2',
    ]);
  });

  it('keep-per-host counts complete dumps only: failed and receiving ones neither count nor go', () => {
    const dumps = [
      dump('a1', 'h1', 10), dump('a2', 'h1', 5),
      dump('f1', 'h1', 1, { status: 'failed' }), dump('f2', 'h1', 12, { status: 'failed' }),
      dump('e1', 'h1', 0, { status: 'receiving' }),
    ];
    expect(chosen(planRetention(dumps, { keepPerHost: 1, abandonedAfterMs: Infinity }, situation()))).toEqual(['keep-per-host:a1']);
  });

  it('ties on receivedAt are broken by dump id, the same way every time', () => {
    const dumps = [dump('b', 'h1', 3), dump('c', 'h1', 3), dump('a', 'h1', 3), dump('d', 'h1', 1)];
    for (const order of [dumps, [...dumps].reverse()]) {
      expect(chosen(planRetention(order, { keepPerHost: 2 }, situation()))).toEqual(['keep-per-host:a', 'keep-per-host:b']);
    }
  });

  it('max-total-bytes deletes failed dumps first, then history oldest first across hosts, sparing each host\'s newest', () => {
    const dumps = [
      dump('a1', 'h1', 10), dump('a2', 'h1', 4), dump('a3', 'h1', 1),
      dump('b1', 'h2', 30),
      dump('f1', 'h2', 2, { status: 'failed' }),
    ];
    // 500 bytes; 250 allowed: the failed one (newest of all) goes first, then a1 and a2; b1, alone on h2, stays although oldest.
    const plan = planRetention(dumps, { maxTotalBytes: 250 }, situation());
    expect(chosen(plan)).toEqual(['max-total-bytes:f1', 'max-total-bytes:a1', 'max-total-bytes:a2']);
    expect(plan).toMatchObject({ totalBytesBefore: 500, totalBytesAfter: 200, unmet: [] });
  });

  it('max-total-bytes takes hosts\' newest dumps as a last resort, oldest first, and stops as soon as the budget is met', () => {
    const dumps = [dump('a1', 'h1', 5), dump('b1', 'h2', 30), dump('c1', 'h3', 1)];
    expect(chosen(planRetention(dumps, { maxTotalBytes: 150 }, situation()))).toEqual(['max-total-bytes:b1', 'max-total-bytes:a1']);
    expect(chosen(planRetention(dumps, { maxTotalBytes: 300 }, situation()))).toEqual([]);
  });

  it('min-free-disk frees what is missing, counting what earlier rules freed, and never takes a host\'s newest dump', () => {
    const dumps = [dump('a1', 'h1', 10), dump('a2', 'h1', 6), dump('a3', 'h1', 5), dump('a4', 'h1', 1), dump('b1', 'h2', 50)];
    // 1000 free, 1150 wanted: a1 (keep-per-host) frees 100, a2 the other 50 and more.
    const plan = planRetention(dumps, { keepPerHost: 3, minFreeBytes: 1150 }, situation({ freeBytes: 1000 }));
    expect(chosen(plan)).toEqual(['keep-per-host:a1', 'min-free-disk:a2']);
    expect(plan).toMatchObject({ freeBytesBefore: 1000, freeBytesAfter: 1200, unmet: [] });

    const short = planRetention(dumps, { minFreeBytes: 10_000 }, situation({ freeBytes: 1000 }));
    expect(chosen(short)).toEqual(['min-free-disk:a1', 'min-free-disk:a2', 'min-free-disk:a3']);
    expect(short.unmet).toEqual(['min-free-disk']);
  });

  it('combines every rule in a fixed order, each dump once, under the first rule that picks it', () => {
    const dumps = [
      dump('a1', 'h1', 40), dump('a2', 'h1', 30), dump('a3', 'h1', 20), dump('a4', 'h1', 10),
      dump('b1', 'h2', 35), dump('b2', 'h2', 3),
      dump('e1', 'h3', 9, { status: 'receiving' }),
      dump('f1', 'h2', 8, { status: 'failed' }), dump('f2', 'h2', 1, { status: 'failed' }),
    ];
    // 900 bytes, 150 free. Expiry and keep-per-host free 300; the budget of 450
    // takes the young failed dump, then b1 (oldest history); the free-disk
    // reserve of 900 takes a2 and a3 and is still short, a4 and b2 being newest.
    const plan = planRetention(dumps, { keepPerHost: 3, maxTotalBytes: 450, minFreeBytes: 900 }, situation({ freeBytes: 150 }));
    expect(chosen(plan)).toEqual([
      'abandoned:e1', 'failed-expired:f1', 'keep-per-host:a1',
      'max-total-bytes:f2', 'max-total-bytes:b1',
      'min-free-disk:a2', 'min-free-disk:a3',
    ]);
    expect(plan).toMatchObject({ totalBytesBefore: 900, totalBytesAfter: 200, freeBytesAfter: 850, unmet: ['min-free-disk'] });
    expect(new Set(plan.deletions.map((d) => d.dumpId)).size).toBe(plan.deletions.length);
  });

  it('never chooses a receiving dump that is attached or still active, whatever the pressure', () => {
    const dumps = [
      dump('e1', 'h1', 30, { status: 'receiving', bytes: 5000 }),
      dump('e2', 'h1', 30, { status: 'receiving', bytes: 5000, lastActivityAt: NOW - 60_000 }),
      dump('a1', 'h1', 20),
    ];
    const plan = planRetention(dumps, { keepPerHost: 1, maxTotalBytes: 0, minFreeBytes: 10 ** 15 }, situation({ attached: new Set([dumps[0].dumpId]) }));
    expect(chosen(plan)).toEqual(['max-total-bytes:a1']);
    expect(plan.unmet).toEqual(['max-total-bytes', 'min-free-disk']);
    // Attached dumps still take their bytes.
    expect(plan.totalBytesAfter).toBe(10_000);
  });

  it('never chooses an attached dump of any status (a failed dump being retried, a complete one being re-sent)', () => {
    const dumps = [dump('f1', 'h1', 30, { status: 'failed' }), dump('a1', 'h1', 20), dump('a2', 'h1', 10)];
    const attached = new Set(dumps.map((d) => d.dumpId));
    expect(planRetention(dumps, { keepPerHost: 1, maxTotalBytes: 0 }, situation({ attached })).deletions).toEqual([]);
  });

  it('expires receiving dumps with no write for abandonedAfterMs, and failed ones not retried for as long', () => {
    const at = (days: number) => NOW - days * DAY;
    const dumps = [
      dump('e1', 'h1', 20, { status: 'receiving', lastActivityAt: at(8) }),
      dump('e2', 'h1', 20, { status: 'receiving', lastActivityAt: at(6) }),
      dump('e3', 'h1', 20, { status: 'receiving', lastActivityAt: NOW - DEFAULT_ABANDONED_AFTER_MS }),
      dump('f1', 'h1', 20, { status: 'failed', lastActivityAt: at(7.5) }),
      dump('f2', 'h1', 20, { status: 'failed', lastActivityAt: at(1) }),
      dump('a1', 'h1', 20),
    ];
    expect(chosen(planRetention(dumps, {}, situation()))).toEqual(['abandoned:e1', 'abandoned:e3', 'failed-expired:f1']);
    expect(chosen(planRetention(dumps, { abandonedAfterMs: DAY / 2 }, situation()))).toEqual([
      'abandoned:e1', 'abandoned:e2', 'abandoned:e3', 'failed-expired:f1', 'failed-expired:f2',
    ]);
    expect(planRetention(dumps, { abandonedAfterMs: Infinity }, situation()).deletions).toEqual([]);
    // Attached wins over abandoned: a sender that came back is resuming it.
    expect(chosen(planRetention(dumps, {}, situation({ attached: new Set([dumps[0].dumpId]) })))).toEqual(['abandoned:e3', 'failed-expired:f1']);
  });

  it('refuses a policy that makes no sense, with BAD_INPUT', () => {
    for (const policy of [{ keepPerHost: 0 }, { keepPerHost: 1.5 }, { maxTotalBytes: -1 }, { minFreeBytes: Number.NaN }, { abandonedAfterMs: 0 }]) {
      const error = catchNetdump(() => checkRetentionPolicy(policy));
      expect(error.code).toBe(ErrorCode.BAD_INPUT);
      expect(() => planRetention([], policy, situation())).toThrow(error.message);
    }
    expect(checkRetentionPolicy({ keepPerHost: 1, maxTotalBytes: 0, minFreeBytes: 0, abandonedAfterMs: Infinity })).toBeTruthy();
  });
});

describe('retention report', () => {
  it('prints a dry run as a table with totals, and as JSON', () => {
    const plan = planRetention([dump('a1', 'h1', 10, { bytes: 2e6 }), dump('a2', 'h1', 5, { bytes: 3e6 })], { keepPerHost: 1, minFreeBytes: 10 ** 15 }, situation({ freeBytes: 1e9 }));
    const text = formatRetentionPlan(plan);
    expect(text.split('\n')[0]).toMatch(/^REASON\s+DUMP ID\s+HOST\s+STATUS\s+RECEIVED \(UTC\)\s+STORED\s+PATH$/);
    expect(text).toContain('keep-per-host  a10000000000  h1    complete  2026-01-21T00:00:00Z  2.0 MB  h1/stamp-a1/vmcore');
    expect(text).toContain('1 dump(s), 2.0 MB: dumps take 5.0 MB -> 3.0 MB, disk free 1000.0 MB -> 1002.0 MB (estimated)');
    expect(text).toContain('warning: min-free-disk is still not met');
    expect(formatRetentionPlan(planRetention([], {}, situation()))).toMatch(/^nothing to delete\n/);
    const json = JSON.parse(JSON.stringify(retentionPlanJson(plan)));
    expect(json).toMatchObject({ dryRun: true, unmet: ['min-free-disk'], deletions: [{ dumpId: 'a100000000000000', reason: 'keep-per-host' }] });
  });
});

describe('RetentionScheduler', () => {
  const quiet = pino({ level: 'silent' });

  it('runs at start and on each nudge, never two passes at once, coalescing nudges made during a pass', async () => {
    let running = 0;
    let maxRunning = 0;
    let passes = 0;
    let release!: () => void;
    const scheduler = new RetentionScheduler({
      intervalMs: 3_600_000,
      logger: quiet,
      run: async () => {
        passes++;
        maxRunning = Math.max(maxRunning, ++running);
        await new Promise<void>((resolve) => { release = resolve; });
        running--;
      },
    });
    scheduler.start();
    await vi.waitFor(() => expect(passes).toBe(1));
    scheduler.nudge();
    scheduler.nudge();
    scheduler.nudge();
    release();
    await vi.waitFor(() => expect(passes).toBe(2));
    release();
    await scheduler.idle();
    expect(passes).toBe(2);
    expect(maxRunning).toBe(1);
    await scheduler.stop();
    scheduler.nudge();
    await scheduler.idle();
    expect(passes).toBe(2);
  });

  it('runs every interval and logs a failing pass instead of throwing', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line)); } });
    let passes = 0;
    const scheduler = new RetentionScheduler({ intervalMs: 20, logger, run: async () => { passes++; throw new Error('disk on fire'); } });
    scheduler.start();
    await vi.waitFor(() => expect(passes).toBeGreaterThanOrEqual(3), { timeout: 2000 });
    await scheduler.stop();
    const after = passes;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(passes).toBe(after);
    expect(lines.find((l) => l.msg === 'retention pass failed')).toMatchObject({ code: 'INTERNAL', err: 'disk on fire' });
  });
});
