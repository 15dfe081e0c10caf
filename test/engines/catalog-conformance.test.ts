/**
 * One catalog, two engines: the same suite against SQLite (a temporary file)
 * and a real PostgreSQL started by scripts/postgres.sh on loopback. What one
 * engine answers, the other must answer the same.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Catalog, isPostgresUrl, type DumpLevelRecord, type DumpRecord, type TriageRecord } from '../../receiver/catalog/catalog.js';
import type { SqlDriver } from '../../receiver/catalog/sql/driver.js';
import { sqlDialect } from '../../receiver/catalog/sql/dialect.js';
import { PostgresDriver } from '../../receiver/catalog/sql/postgres.js';
import { SqliteDriver } from '../../receiver/catalog/sql/sqlite.js';
import { ErrorCode } from '../../shared/errors.js';
import { createDatabase, POSTGRES_SKIP_HINT, usePostgres, havePostgres } from '../helpers/postgres.js';

const HOUR = 3600_000;

/** A sender's report with text a terminal or a page must not trust (quotes, markup, ESC, non-ASCII). */
const LOWERED: DumpLevelRecord = {
  asked: 31, applied: 1, rules: '6.12',
  notes: ['bit 16 (free pages) dropped: "buddy" flag unknown to rules 6.12', 'kept <b>slab</b> pages \u001b[31m±'],
};
/** What an older sender's HELLO gives: the level it applied, nothing else. */
const OLDER_SENDER: DumpLevelRecord = { asked: 1, applied: 1, rules: null, notes: [] };
const T0 = Date.UTC(2026, 0, 1);

function record(n: number, overrides: Partial<DumpRecord> = {}): DumpRecord {
  return {
    dumpId: `${n.toString(16).padStart(4, '0')}aaaabbbbccccdddd`,
    hostId: `host-${n % 3}`,
    osRelease: n % 2 ? '6.1.0-56-amd64' : '6.12.9-amd64',
    buildId: 'feedface',
    crashTime: (T0 + n * HOUR) / 1000,
    receivedAt: T0 + n * HOUR + 60_000,
    finishedAt: null,
    bytesIn: 0,
    bytesStored: 0,
    pagesTotal: 1000,
    pagesZero: 0,
    pagesStored: 0,
    durationMs: null,
    status: 'receiving',
    failure: null,
    path: `host-${n % 3}/stamp-${n}/vmcore`,
    vmcoreSize: 5 * 2 ** 32, // past 32 bits: BIGINT in PostgreSQL, a number back
    pageCodec: 'lzo',
    nextSeq: 0,
    dataEnd: 0,
    digest: null,
    chunkPages: 64,
    dumpLevel: n % 2 ? LOWERED : OLDER_SENDER,
    // Sent first tier first (positions in that order), or in pfn order.
    firstTierChunks: n === 2 ? 7 : null,
    partialReason: null,
    checkpointAt: null,
    kind: 'crash',
    liveReason: null,
    ...overrides,
  };
}

function triage(signature: string | null, panicLine: string | null, error: string | null = null): TriageRecord {
  return {
    panicLine, bugLine: null, ripSymbol: null, reason: panicLine, signature, signatureText: signature && `text of ${signature}`,
    callTrace: signature ? ['f1', 'f2'] : null, error, triagedAt: T0, logSource: error ? null : 'dump',
  };
}

const progress = { nextSeq: 10, dataEnd: 123_456, bytesIn: 3 * 2 ** 32, bytesStored: 2 ** 33, pagesZero: 400, pagesStored: 600 };

/** The catalog's database without the catalog, to put it back the way an older release left it. */
function openDriver(location: string): SqlDriver {
  return isPostgresUrl(location) ? PostgresDriver.open(location) : SqliteDriver.open(location);
}

function catalogSuite(engine: string, location: () => Promise<string>, skipReason?: string) {
  const open = async () => Catalog.open(await location());
  describe.skipIf(skipReason !== undefined)(`catalog on ${engine}${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
    let catalog: Catalog;
    beforeAll(async () => {
      catalog = await open();
      for (let n = 1; n <= 6; n++) await catalog.insert(record(n));
    });
    afterAll(async () => {
      await catalog?.close();
    });

    it('stores and finds dumps by id, unique prefix and host; numbers past 2^32 come back as numbers', async () => {
      expect(await catalog.get(record(2).dumpId)).toEqual(record(2));
      expect(await catalog.get('ffffffffffffffff')).toBeUndefined();
      expect((await catalog.find('0003')).map((r) => r.dumpId)).toEqual([record(3).dumpId]);
      expect(await catalog.find('00')).toHaveLength(2); // ambiguous: two shown, the caller says so
      expect(await catalog.find('0_')).toEqual([]); // LIKE wildcards are escaped
      expect((await catalog.list({ hostId: 'host-1' })).map((r) => r.dumpId)).toEqual([record(4).dumpId, record(1).dumpId]);
      const again = await catalog.get(record(2).dumpId);
      expect(typeof again!.vmcoreSize).toBe('number');
    });

    it('records progress, completion, failure and restart', async () => {
      const id = record(1).dumpId;
      await catalog.saveResumePoint(id, progress, { firstSeq: 0, crcs: Buffer.alloc(40), storageState: '{}' });
      expect(await catalog.get(id)).toMatchObject({ ...progress, status: 'receiving' });
      await catalog.markComplete(id, { ...progress, finishedAt: record(1).receivedAt + 2500, digest: 'd1' });
      expect(await catalog.get(id)).toMatchObject({ status: 'complete', durationMs: 2500, digest: 'd1', bytesStored: 2 ** 33 });
      await catalog.markFailed(id, 'CORRUPT: late'); // a complete dump is never marked failed
      expect((await catalog.get(id))!.status).toBe('complete');

      const other = record(5).dumpId;
      await catalog.markFailed(other, 'PROTOCOL: bad');
      expect(await catalog.get(other)).toMatchObject({ status: 'failed', failure: 'PROTOCOL: bad' });
      await catalog.restart(other, { receivedAt: T0, chunkPages: 32, dumpLevel: LOWERED, firstTierChunks: 12 });
      expect(await catalog.get(other)).toMatchObject({ status: 'receiving', failure: null, nextSeq: 0, chunkPages: 32, receivedAt: T0, firstTierChunks: 12 });
      for (const n of [2, 3, 4, 6]) {
        await catalog.markComplete(record(n).dumpId, { ...progress, finishedAt: record(n).receivedAt + 1000, digest: `d${n}` });
      }
    });

    it('queries with filters, newest crash first, paged, with the total', async () => {
      const all = await catalog.query({});
      expect(all.total).toBe(6);
      expect(all.dumps.map((d) => d.record.dumpId)).toEqual([6, 5, 4, 3, 2, 1].map((n) => record(n).dumpId));
      expect((await catalog.query({ status: 'complete' })).total).toBe(5);
      expect((await catalog.query({ osRelease: '6.12.9-amd64' })).dumps.map((d) => d.record.dumpId)).toEqual([6, 4, 2].map((n) => record(n).dumpId));
      const window = await catalog.query({ sinceMs: T0 + 2 * HOUR, untilMs: T0 + 4 * HOUR });
      expect(window.dumps.map((d) => d.record.dumpId)).toEqual([4, 3, 2].map((n) => record(n).dumpId));
      const page = await catalog.query({ limit: 2, offset: 2 });
      expect(page.total).toBe(6);
      expect(page.dumps.map((d) => d.record.dumpId)).toEqual([4, 3].map((n) => record(n).dumpId));
    });

    it('saves triage, lists what is untriaged, and groups dumps by signature across hosts', async () => {
      expect((await catalog.untriaged()).map((r) => r.dumpId).sort()).toEqual([1, 2, 3, 4, 6].map((n) => record(n).dumpId).sort());
      await catalog.saveTriage(record(1).dumpId, triage('aaaa', 'Kernel panic - not syncing: A'));
      await catalog.saveTriage(record(2).dumpId, triage('aaaa', 'Kernel panic - not syncing: A (latest)'));
      await catalog.saveTriage(record(3).dumpId, triage('bbbb', 'Kernel panic - not syncing: B'));
      await catalog.saveTriage(record(4).dumpId, triage(null, null, 'kernel log not readable: no prb'));
      expect((await catalog.untriaged()).map((r) => r.dumpId)).toEqual([record(6).dumpId]);
      expect((await catalog.getWithTriage(record(2).dumpId))!.triage).toEqual(triage('aaaa', 'Kernel panic - not syncing: A (latest)'));
      expect((await catalog.getWithTriage(record(4).dumpId))!.triage.error).toBe('kernel log not readable: no prb');
      expect((await catalog.query({ signature: 'aaaa' })).total).toBe(2);

      const groups = await catalog.groups();
      expect(groups.map((g) => g.signature)).toEqual(['bbbb', 'aaaa']);
      expect(groups[1]).toEqual({
        signature: 'aaaa', signatureText: 'text of aaaa', reason: 'Kernel panic - not syncing: A (latest)',
        panicLine: 'Kernel panic - not syncing: A (latest)', count: 2, hosts: ['host-1', 'host-2'],
        kernels: ['6.1.0-56-amd64', '6.12.9-amd64'], firstSeenMs: T0 + HOUR, lastSeenMs: T0 + 2 * HOUR, latestDumpId: record(2).dumpId,
      });
      expect((await catalog.groups({ hostId: 'host-1' })).map((g) => [g.signature, g.count])).toEqual([['aaaa', 1]]);
      // The kept summary (no filter) and grouping the dumps themselves (any filter) agree.
      expect(await catalog.groups()).toEqual(await catalog.groups({ sinceMs: 0 }));
      expect(await catalog.groups({ signature: 'bbbb' })).toHaveLength(1);

      // A dump still receiving whose log came first (LOG) counts in its group at once, in the summary and live alike.
      const early = record(5).dumpId;
      await catalog.saveTriage(early, { ...triage('bbbb', 'Kernel panic - not syncing: B'), logSource: 'sender' });
      expect((await catalog.getWithTriage(early))!).toMatchObject({ record: { status: 'receiving' }, triage: { logSource: 'sender' } });
      const [withEarly] = await catalog.groups({ signature: 'bbbb' });
      expect(withEarly).toMatchObject({ count: 2, hosts: ['host-0', 'host-2'] });
      expect(await catalog.groups()).toEqual(await catalog.groups({ sinceMs: 0 }));
      await catalog.saveTriage(early, triage(null, null));
      expect((await catalog.groups({ signature: 'bbbb' }))[0].count).toBe(1);
    });

    it('counts by status and deletes', async () => {
      expect(await catalog.countsByStatus()).toEqual({
        receiving: { count: 1, bytes: 0 }, complete: { count: 5, bytes: 5 * 2 ** 33 }, partial: { count: 0, bytes: 0 }, failed: { count: 0, bytes: 0 },
      });
      expect(await catalog.delete(record(5).dumpId)).toBe(true);
      expect(await catalog.delete(record(5).dumpId)).toBe(false);
      expect(await catalog.get(record(5).dumpId)).toBeUndefined();
      expect(await catalog.delete(record(3).dumpId)).toBe(true); // the only dump of group bbbb: the group goes too
      expect((await catalog.groups()).map((g) => g.signature)).toEqual(['aaaa']);
      expect(await catalog.groups()).toEqual(await catalog.groups({ sinceMs: 0 }));
    });

    it('keeps host tokens: verify, wrong, revoked, unknown', async () => {
      const token = await catalog.hostTokens.add('web-1');
      await catalog.hostTokens.verify('web-1', token);
      const refusal = (hostId: string, t: string | undefined) => catalog.hostTokens.verify(hostId, t).then(() => undefined, (e) => e);
      expect(await refusal('web-1', 'x'.repeat(43))).toMatchObject({ code: ErrorCode.AUTH, message: 'token not accepted for host web-1', context: { reason: 'wrong token' } });
      expect(await refusal('web-9', token)).toMatchObject({ message: 'token not accepted for host web-9', context: { reason: 'not enrolled' } });
      expect(await catalog.hostTokens.revoke('web-1')).toBe(true);
      expect(await catalog.hostTokens.revoke('web-1')).toBe(false);
      expect(await refusal('web-1', token)).toMatchObject({ message: 'token not accepted for host web-1', context: { reason: 'token revoked' } });
      const replaced = await catalog.hostTokens.add('web-1');
      await catalog.hostTokens.verify('web-1', replaced);
      expect((await catalog.hostTokens.list()).map((h) => [h.hostId, h.revokedAt])).toEqual([['web-1', null]]);
    });

    it('keeps operator tokens with roles', async () => {
      const admin = await catalog.operatorTokens.add('alice', 'admin');
      const reader = await catalog.operatorTokens.add('bob', 'read');
      expect(await catalog.operatorTokens.lookup(admin)).toEqual({ name: 'alice', role: 'admin' });
      expect(await catalog.operatorTokens.lookup(reader)).toEqual({ name: 'bob', role: 'read' });
      expect(await catalog.operatorTokens.lookup('nope')).toBeUndefined();
      await catalog.operatorTokens.revoke('bob');
      expect(await catalog.operatorTokens.lookup(reader)).toBeUndefined();
      expect((await catalog.operatorTokens.list()).map((o) => [o.name, o.role, o.revokedAt === null])).toEqual([['alice', 'admin', true], ['bob', 'read', false]]);
    });

    it('gives a dump\'s lease to one owner at a time, to another once it expires', async () => {
      const id = record(6).dumpId;
      expect(await catalog.acquireLease(id, 'rx-a', 10_000, T0)).toBe(true);
      expect(await catalog.acquireLease(id, 'rx-b', 10_000, T0 + 1)).toBe(false);
      expect(await catalog.acquireLease(id, 'rx-a', 10_000, T0 + 5_000)).toBe(true); // renewal
      expect(await catalog.leaseHolder(id, T0 + 14_000)).toBe('rx-a');
      expect(await catalog.acquireLease(id, 'rx-b', 10_000, T0 + 14_000)).toBe(false);
      expect(await catalog.acquireLease(id, 'rx-b', 10_000, T0 + 15_001)).toBe(true); // rx-a went quiet
      await catalog.releaseLease(id, 'rx-a'); // not the holder: nothing happens
      expect(await catalog.leaseHolder(id, T0 + 15_002)).toBe('rx-b');
      await catalog.releaseLease(id, 'rx-b');
      expect(await catalog.leaseHolder(id, T0 + 15_003)).toBeUndefined();
    });

    it('reopens with everything kept, and opening again does not disturb the schema', async () => {
      const [first, second] = await Promise.all([open(), open()]);
      try {
        expect((await first.query({})).total).toBe(4);
        expect((await second.groups()).map((g) => g.signature)).toEqual(['aaaa']);
      } finally {
        await Promise.all([first.close(), second.close()]);
      }
    });

    it('keeps an upload\'s resume point: storage state and chunk checksums, usable only when they cover every chunk', async () => {
      const id = record(7).dumpId;
      await catalog.insert(record(7));
      const crcs = (from: number, count: number) => Buffer.from(Array.from({ length: count * 4 }, (_, i) => (from * 4 + i) & 0xff));
      expect(await catalog.resumePoint(id, 0)).toBeUndefined(); // no state yet
      await catalog.saveResumePoint(id, { ...progress, nextSeq: 8 }, { firstSeq: 0, crcs: crcs(0, 8), storageState: '{"backend":"s3","n":1}' });
      await catalog.saveResumePoint(id, { ...progress, nextSeq: 16 }, { firstSeq: 8, crcs: crcs(8, 8), storageState: '{"backend":"s3","n":2}' });
      expect(await catalog.get(id)).toMatchObject({ nextSeq: 16, dataEnd: progress.dataEnd });
      expect(await catalog.resumePoint(id, 16)).toEqual({ storageState: '{"backend":"s3","n":2}', crcs: crcs(0, 16) });
      // Checksums written by a checkpoint whose row update never landed are not read past nextSeq...
      await catalog.saveResumePoint(id, { ...progress, nextSeq: 24 }, { firstSeq: 16, crcs: crcs(16, 8), storageState: '{"n":3}' });
      expect((await catalog.resumePoint(id, 12))!.crcs).toEqual(crcs(0, 12));
      // ...and a gap (a row lost) makes the point unusable rather than wrong.
      expect(await catalog.resumePoint(id, 40)).toBeUndefined();
      expect(await catalog.storageState(id)).toBe('{"n":3}');
      await catalog.restart(id, { receivedAt: T0, chunkPages: 16, dumpLevel: OLDER_SENDER, firstTierChunks: null });
      expect(await catalog.resumePoint(id, 0)).toBeUndefined();
      expect(await catalog.storageState(id)).toBeUndefined();
      await catalog.saveResumePoint(id, { ...progress, nextSeq: 4 }, { firstSeq: 0, crcs: crcs(0, 4), storageState: '{"n":4}' });
      await catalog.markComplete(id, { ...progress, nextSeq: 4, finishedAt: T0 + 1, digest: 'd7' });
      expect(await catalog.storageState(id)).toBeUndefined();
      expect(await catalog.pathInUse(record(7).path)).toBe(true);
      await catalog.delete(id);
      expect(await catalog.pathInUse(record(7).path)).toBe(false);
    });

    it('keeps each dump\'s level asked and applied, its rules and notes (text as sent); progress leaves them, a restart records the new HELLO\'s', async () => {
      const id = record(8).dumpId;
      await catalog.insert(record(8, { dumpLevel: OLDER_SENDER }));
      expect((await catalog.get(id))!.dumpLevel).toEqual(OLDER_SENDER);
      await catalog.restart(id, { receivedAt: T0, chunkPages: 64, dumpLevel: LOWERED, firstTierChunks: null });
      expect((await catalog.get(id))!.dumpLevel).toEqual(LOWERED);
      await catalog.saveResumePoint(id, progress, { firstSeq: 0, crcs: Buffer.alloc(40), storageState: '{}' });
      await catalog.markComplete(id, { ...progress, finishedAt: T0 + 1, digest: 'd8' });
      const [listed] = (await catalog.query({ hostId: record(8).hostId, status: 'complete' })).dumps.filter((d) => d.record.dumpId === id);
      expect(listed.record.dumpLevel).toEqual(LOWERED);
      expect((await catalog.find(id))[0].dumpLevel).toEqual(LOWERED);
      const none = { asked: 0, applied: 0, rules: '', notes: [] };
      await catalog.insert(record(9, { dumpLevel: none })); // '' (no rules judged pages) is not null (unknown)
      expect((await catalog.get(record(9).dumpId))!.dumpLevel).toEqual(none);
    });

    // Last: it takes the columns away and lets the catalog add them back.
    it('keeps a live snapshot apart from crashes: kind and reason as sent, a filter by kind, and no crash group for what its log shows', async () => {
      const live = record(21, { kind: 'live', liveReason: 'leak in "svc" <b>' });
      await catalog.insert(live);
      expect(await catalog.get(live.dumpId)).toEqual(live);
      expect((await catalog.query({ kind: 'live' })).dumps.map((d) => d.record.dumpId)).toEqual([live.dumpId]);
      const crashes = await catalog.query({ kind: 'crash' });
      expect(crashes.dumps.every((d) => d.record.kind === 'crash')).toBe(true);
      expect(crashes.total).toBe((await catalog.query({})).total - 1);
      // An oops in a running kernel's log (an earlier WARN or BUG) is shown, but counts in no crash's group.
      const before = await catalog.groups();
      await catalog.saveTriage(live.dumpId, triage('aaaa', 'Kernel panic - not syncing: A'));
      const { triage: saved } = (await catalog.getWithTriage(live.dumpId))!;
      expect(saved).toMatchObject({ signature: null, signatureText: null, panicLine: 'Kernel panic - not syncing: A' });
      expect(await catalog.groups()).toEqual(before);
      expect(await catalog.groups()).toEqual(await catalog.groups({ sinceMs: 0 }));
      expect(await catalog.delete(live.dumpId)).toBe(true);
    });

    it('upgrades a catalog from before dump levels were recorded: its rows read as unknown, new rows keep theirs', async () => {
      await catalog.close();
      const db = openDriver(await location());
      try {
        for (const column of ['dump_level_asked', 'dump_level_applied', 'dump_level_rules', 'dump_level_notes']) {
          await db.exec(`ALTER TABLE dumps DROP COLUMN ${column}`);
        }
      } finally {
        await db.close();
      }
      catalog = await open();
      expect((await catalog.get(record(8).dumpId))!.dumpLevel).toEqual({ asked: null, applied: null, rules: null, notes: [] });
      await catalog.insert(record(11));
      expect((await catalog.get(record(11).dumpId))!.dumpLevel).toEqual(LOWERED);
    });

    it('upgrades a catalog from before partial dumps: its rows stay, and a dump can be kept partial', async () => {
      const before = (await catalog.query({})).total;
      await catalog.close();
      const NOW = "status IN ('receiving', 'complete', 'partial', 'failed')";
      const FIRST = "status IN ('receiving', 'complete', 'failed')";
      const db = openDriver(await location());
      try {
        // Back to the first release's CHECK, which refuses the status.
        await sqlDialect(db.dialect).replaceCheck(db, 'dumps', NOW, FIRST);
        await expect(db.run("UPDATE dumps SET status = 'partial' WHERE dump_id = ?", [record(11).dumpId])).rejects.toThrow(/check/i);
      } finally {
        await db.close();
      }
      catalog = await open();
      expect((await catalog.query({})).total).toBe(before);
      await catalog.markPartial(record(11).dumpId, { ...progress, finishedAt: T0 + 12 * HOUR, reason: 'abandoned' });
      expect(await catalog.get(record(11).dumpId)).toMatchObject({ status: 'partial', partialReason: 'abandoned', pagesStored: progress.pagesStored });
      expect((await catalog.countsByStatus()).partial.count).toBe(1);
      // Opening again finds the new CHECK in place and leaves it.
      await catalog.close();
      catalog = await open();
      expect((await catalog.query({ status: 'partial' })).total).toBe(1);
    });
  });
}

let sqliteDir: string;
beforeAll(async () => {
  sqliteDir = await mkdtemp(path.join(tmpdir(), 'catalog-sqlite-'));
});
afterAll(async () => {
  await rm(sqliteDir, { recursive: true, force: true });
});
catalogSuite('SQLite', async () => path.join(sqliteDir, 'index.db'));

const postgres = usePostgres();
let databaseUrl: string | undefined;
catalogSuite('PostgreSQL', async () => {
  // Installed but not startable is a failure, not a skip: say why.
  if (!postgres.server) throw new Error(`PostgreSQL did not start: ${postgres.reason}`);
  databaseUrl ??= (await createDatabase(postgres.server, 'catalog')).url;
  return databaseUrl;
}, havePostgres ? undefined : POSTGRES_SKIP_HINT);
