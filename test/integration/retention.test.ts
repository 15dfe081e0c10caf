/**
 * The retention executor on a real data directory (temp), with an in-memory
 * catalog: what it deletes, what it refuses, what it leaves to a later run.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { Catalog } from '../../receiver/catalog/catalog.js';
import type { PlannedDeletion } from '../../receiver/retention/policy.js';
import {
  applyRetention, loadRetentionDumps, ownKeyOf, planRetentionNow, runRetention,
  type RetentionCatalog, type RetentionDeps, type RetentionRecord, type UploadGuard,
} from '../../receiver/retention/apply.js';
import { formatRetentionOutcome } from '../../receiver/retention/report.js';
import { LocalDumpStorage } from '../../receiver/storage/local-storage.js';

// The real Catalog must keep fitting the part of RetentionCatalog it has already.
const catalogFits: Catalog extends RetentionCatalog ? true : never = true;
void catalogFits;

const DAY = 24 * 3600 * 1000;

class MemoryCatalog implements RetentionCatalog {
  readonly rows = new Map<string, RetentionRecord>();
  /** Called with each deleted id, to check what the disk looked like at that moment. */
  onDelete: (dumpId: string) => void = () => {};
  async list() { return [...this.rows.values()]; }
  async get(dumpId: string) { return this.rows.get(dumpId); }
  async delete(dumpId: string) { this.onDelete(dumpId); this.rows.delete(dumpId); }
}

let root: string;
let dataDir: string;
let catalog: MemoryCatalog;
let attached: Set<string>;
let logLines: Array<Record<string, unknown>>;
let deps: RetentionDeps;
const uploads: UploadGuard = { isAttached: (id) => attached.has(id) };

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'netdump-retention-'));
  dataDir = path.join(root, 'data');
  await mkdir(dataDir);
  catalog = new MemoryCatalog();
  attached = new Set();
  logLines = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => { logLines.push(JSON.parse(line)); } });
  deps = { storage: new LocalDumpStorage(dataDir), catalog, uploads, logger };
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A dump folder with the files a real one has, and its catalog row. */
async function addDump(id: string, hostId: string, ageDays: number, status: RetentionRecord['status'] = 'complete', bytes = 1000): Promise<RetentionRecord> {
  const dumpId = id.padEnd(16, '0');
  const relative = `${hostId}/2026-01-${String(31 - ageDays).padStart(2, '0')}-00:00:00.${id}/vmcore`;
  const folder = path.join(dataDir, path.dirname(relative));
  await mkdir(folder, { recursive: true });
  const receivedAt = Date.now() - ageDays * DAY;
  if (status === 'complete') {
    await writeFile(path.join(folder, 'vmcore'), Buffer.alloc(bytes));
    await writeFile(path.join(folder, 'dmesg.txt'), 'Kernel panic - not syncing: sysrq triggered crash\n');
  } else {
    await writeFile(path.join(folder, 'vmcore.incomplete'), Buffer.alloc(bytes));
    const when = new Date(receivedAt);
    await utimes(path.join(folder, 'vmcore.incomplete'), when, when);
  }
  const record: RetentionRecord = { dumpId, hostId, status, path: relative, bytesStored: status === 'complete' ? bytes : 0, receivedAt, finishedAt: null };
  catalog.rows.set(dumpId, record);
  return record;
}

const folderOf = (record: RetentionRecord) => path.join(dataDir, path.dirname(record.path));

function deletionOf(record: RetentionRecord, reason: PlannedDeletion['reason'] = 'keep-per-host'): PlannedDeletion {
  return { dumpId: record.dumpId, hostId: record.hostId, status: record.status, path: record.path, bytes: record.bytesStored, receivedAt: record.receivedAt, reason };
}

describe('applyRetention', () => {
  it('deletes each planned dump\'s whole folder, then its row, and nothing else', async () => {
    const old = await addDump('a1', 'web-1', 20);
    const kept = await addDump('a2', 'web-1', 2);
    const other = await addDump('b1', 'db-1', 30);
    catalog.onDelete = (id) => {
      // Folder first: when the row goes, the folder is gone already.
      expect(existsSync(folderOf(catalog.rows.get(id)!))).toBe(false);
    };
    const { plan, outcome } = await runRetention({ keepPerHost: 1 }, deps);
    expect(plan.deletions.map((d) => d.dumpId)).toEqual([old.dumpId]);
    expect(outcome).toMatchObject({ deleted: [{ dumpId: old.dumpId, reason: 'keep-per-host' }], skipped: [], failed: [] });
    expect(existsSync(folderOf(old))).toBe(false);
    expect(await catalog.get(old.dumpId)).toBeUndefined();
    for (const record of [kept, other]) {
      expect(existsSync(path.join(folderOf(record), 'vmcore'))).toBe(true);
      expect(await catalog.get(record.dumpId)).toBeDefined();
    }
    // The host folder stays: an upload may be allocating a folder in it right now.
    expect(await readdir(path.join(dataDir, 'web-1'))).toEqual([path.basename(folderOf(kept))]);
    expect(logLines.find((l) => l.msg === 'dump deleted by retention')).toMatchObject({ dump: old.dumpId, reason: 'keep-per-host', bytes: 1000 });
    expect(formatRetentionOutcome(outcome)).toBe('deleted 1 dump(s), 0.0 MB; skipped 0; failed 0');
  });

  it('judges a receiving dump by its files\' last write, not by when it started', async () => {
    const stale = await addDump('e1', 'web-1', 20, 'receiving');
    const live = await addDump('e2', 'web-1', 20, 'receiving');
    await utimes(path.join(folderOf(live), 'vmcore.incomplete'), new Date(), new Date());
    const dumps = await loadRetentionDumps(catalog, deps.storage);
    expect(dumps.find((d) => d.dumpId === live.dumpId)).toMatchObject({ bytes: 1000 });
    const { outcome } = await runRetention({}, deps);
    expect(outcome.deleted.map((d) => [d.dumpId, d.reason])).toEqual([[stale.dumpId, 'abandoned']]);
    expect(existsSync(folderOf(stale))).toBe(false);
    expect(existsSync(path.join(folderOf(live), 'vmcore.incomplete'))).toBe(true);
  });

  it('skips a dump that a connection attached after the plan was made', async () => {
    const record = await addDump('e1', 'web-1', 20, 'receiving');
    const plan = await planRetentionNow({}, deps);
    expect(plan.deletions.map((d) => d.reason)).toEqual(['abandoned']);
    attached.add(record.dumpId); // the sender came back between plan and apply
    const outcome = await applyRetention(plan, deps);
    expect(outcome).toMatchObject({ deleted: [], skipped: [{ why: 'attached', deletion: { dumpId: record.dumpId } }], failed: [] });
    expect(existsSync(path.join(folderOf(record), 'vmcore.incomplete'))).toBe(true);
    expect(await catalog.get(record.dumpId)).toBeDefined();
  });

  it('holds the dump against new connections while deleting it, when the guard can', async () => {
    const gone = await addDump('a1', 'web-1', 20);
    const busy = await addDump('a2', 'web-1', 10);
    const held: string[] = [];
    const released: string[] = [];
    const guard: UploadGuard = {
      isAttached: () => { throw new Error('hold() is there: isAttached() must not be needed'); },
      hold: async (id) => {
        if (id === busy.dumpId) return undefined;
        held.push(id);
        return async () => { released.push(id); };
      },
    };
    catalog.onDelete = (id) => expect(released).not.toContain(id);
    const outcome = await applyRetention({ deletions: [deletionOf(gone), deletionOf(busy)] }, { ...deps, uploads: guard });
    expect(outcome.deleted.map((d) => d.dumpId)).toEqual([gone.dumpId]);
    expect(outcome.skipped).toMatchObject([{ why: 'attached', deletion: { dumpId: busy.dumpId } }]);
    expect(held).toEqual([gone.dumpId]);
    expect(released).toEqual([gone.dumpId]);
    expect(existsSync(folderOf(busy))).toBe(true);
  });

  it('skips a dump whose row is gone or changed since the plan', async () => {
    const finished = await addDump('e1', 'web-1', 20, 'receiving');
    const deleted = await addDump('a1', 'web-1', 10);
    const plan = { deletions: [deletionOf(finished, 'abandoned'), deletionOf(deleted)] };
    catalog.rows.set(finished.dumpId, { ...finished, status: 'complete' }); // resumed and finished meanwhile
    catalog.rows.delete(deleted.dumpId);
    const outcome = await applyRetention(plan, deps);
    expect(outcome.skipped.map((s) => s.why)).toEqual(['changed', 'gone']);
    expect(existsSync(folderOf(finished))).toBe(true);
    expect(existsSync(folderOf(deleted))).toBe(true);
  });

  it('finishes the job of a run that crashed between folder and row: a missing folder just loses its row', async () => {
    const record = await addDump('a1', 'web-1', 20);
    await addDump('a2', 'web-1', 10);
    await rm(folderOf(record), { recursive: true });
    const { outcome } = await runRetention({ keepPerHost: 1 }, deps);
    expect(outcome.deleted.map((d) => d.dumpId)).toEqual([record.dumpId]);
    expect(await catalog.get(record.dumpId)).toBeUndefined();
  });

  it('refuses catalog paths that leave the dump\'s folder or the data directory, deleting nothing, and goes on', async () => {
    const outside = path.join(root, 'outside');
    await mkdir(path.join(outside, 'precious'), { recursive: true });
    await writeFile(path.join(outside, 'precious', 'vmcore'), 'keep me');
    await mkdir(path.join(dataDir, 'web-1', 'stamp'), { recursive: true });
    await mkdir(path.join(dataDir, 'db-1', 'stamp'), { recursive: true });
    await writeFile(path.join(dataDir, 'db-1', 'stamp', 'vmcore'), 'not web-1\'s');
    // A host folder, and a dump folder, that are symlinks leading out.
    await symlink(outside, path.join(dataDir, 'evil'));
    await symlink(path.join(outside, 'precious'), path.join(dataDir, 'web-1', 'linked'));
    const bad: Array<[hostId: string, relative: string]> = [
      ['web-1', '../outside/precious/vmcore'],
      ['web-1', 'web-1/../../outside/vmcore'],
      ['web-1', `${outside}/precious/vmcore`],
      ['web-1', 'db-1/stamp/vmcore'],
      ['web-1', 'web-1/vmcore'],
      ['web-1', 'web-1/stamp/deeper/vmcore'],
      ['web-1', 'web-1/./vmcore'],
      ['evil', 'evil/precious/vmcore'],
      ['web-1', 'web-1/linked/vmcore'],
      ['bad host', 'bad host/stamp/vmcore'],
    ];
    const deletions = bad.map(([hostId, relative], i) => {
      const record: RetentionRecord = { dumpId: `bad${i}`.padEnd(16, '0'), hostId, status: 'complete', path: relative, bytesStored: 1, receivedAt: 0, finishedAt: null };
      catalog.rows.set(record.dumpId, record);
      return deletionOf(record);
    });
    const good = await addDump('a1', 'web-1', 20);
    const outcome = await applyRetention({ deletions: [...deletions, deletionOf(good)] }, deps);
    expect(outcome.failed.map((f) => [f.deletion.path, f.code])).toEqual(bad.map(([, relative]) => [relative, 'BAD_INPUT']));
    expect(outcome.failed.every((f) => f.message.startsWith('refusing to delete') || f.message.includes('host id'))).toBe(true);
    expect(outcome.deleted.map((d) => d.dumpId)).toEqual([good.dumpId]);
    expect(catalog.rows.size).toBe(bad.length);
    expect(existsSync(path.join(outside, 'precious', 'vmcore'))).toBe(true);
    expect(existsSync(path.join(dataDir, 'db-1', 'stamp', 'vmcore'))).toBe(true);
    expect(existsSync(path.join(dataDir, 'web-1', 'stamp'))).toBe(true);
    expect(existsSync(path.join(dataDir, 'web-1', 'linked'))).toBe(true);
    expect(logLines.filter((l) => l.msg === 'retention could not delete dump')).toHaveLength(bad.length);
  });

  it('ownKeyOf takes a catalog path <host>/<folder>/<file> under the dump\'s own host, and nothing else', () => {
    expect(ownKeyOf('web-1', 'web-1/2026-01-02-03:04:05.2/vmcore')).toBe('web-1/2026-01-02-03:04:05.2/vmcore');
    expect(() => ownKeyOf('web-1', 'web-2/2026-01-02-03:04:05.2/vmcore')).toThrow(/not under the host's folder "web-1"/);
  });
});
