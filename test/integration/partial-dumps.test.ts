/**
 * Partial dumps (docs/protocol.md, END stopAt and STOP_AFTER): what arrived
 * of an upload that stops for good is kept as a kdump file crash opens,
 * listed as partial with why. Three ways in: the sender asks for it
 * (--log-only), the receiver asks for it (a crash storm: STOP_AFTER after
 * LOG), and an upload goes still for too long (the stalled-upload sweeper).
 * The file keeps the first tier (and any pfn-order prefix) byte for byte;
 * a page that did not arrive is excluded in bitmap 2, never read as zeros;
 * the header says incomplete. A sender that comes back later makes it whole.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { captureKernelLog, type CapturedLog } from '../../sender/kernel-log.js';
import { parseServerUrl } from '../../sender/transport.js';
import { upload, type UploadOptions } from '../../sender/upload.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { KdumpFileReader } from '../../shared/kdump/reader.js';
import type { PfnRun } from '../../shared/kdump/layout.js';
import { ChunkPlan } from '../../shared/protocol/chunk-plan.js';
import { SendOrder } from '../../shared/protocol/send-order.js';
import { encodeControl, decodeMessage } from '../../shared/protocol/messages.js';
import { encodePfnRuns } from '../../shared/protocol/pfn-runs.js';
import { keysFor } from '../../shared/dump-folders.js';
import { keepStalledUploads } from '../../receiver/ingest/stalled-uploads.js';
import { stormAdvice } from '../../receiver/ingest/crash-storm.js';
import { coreWithLog, FOO, oopsLog } from '../helpers/crash-logs.js';
import type { ElfCoreFile } from '../helpers/elf-core-builder.js';
import { chunkMessage, helloFor } from '../helpers/protocol-messages.js';
import { RawClient } from '../helpers/raw-client.js';
import { startTestReceiver, type TestReceiver, type TestReceiverOptions } from '../helpers/receiver.js';

const CHUNK_PAGES = 16;
/** Memory beyond the kernel image: what a full dump sends and a partial one leaves out. */
const MEMORY_PAGES = 4096;

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const pagesIn = (runs: readonly PfnRun[]) => runs.reduce((n, r) => n + r.pageCount, 0);

describe('partial dumps', () => {
  let core: ElfCoreFile;
  let source: VmcoreSource;
  let log: CapturedLog;
  /** The kernel image (where the log lives) and one page far out in memory. */
  let firstTier: PfnRun[];
  let order: SendOrder;
  const receivers: TestReceiver[] = [];

  beforeAll(async () => {
    // Crashed a minute ago: crash storms count dumps by when they crashed.
    core = await coreWithLog(oopsLog(FOO, 1), Math.floor(Date.now() / 1000) - 60, MEMORY_PAGES);
    source = VmcoreSource.open(core.path);
    const captured = await captureKernelLog(source);
    if ('error' in captured) throw new Error(captured.error);
    log = captured;
    const [image, memory] = source.core.pageMap.extents;
    firstTier = [image, { startPfn: memory.startPfn + 1000, pageCount: 1 }];
    order = SendOrder.firstTierFirst(new ChunkPlan(source.core.pageMap, CHUNK_PAGES), firstTier);
  });
  afterEach(async () => {
    for (const receiver of receivers.splice(0)) await receiver.stop();
  });
  afterAll(async () => {
    source?.close();
    await core?.cleanup();
  });

  async function receiver(overrides: TestReceiverOptions = {}) {
    const started = await startTestReceiver(overrides);
    receivers.push(started);
    return started;
  }

  const options = (rx: TestReceiver, hostId: string, overrides: Partial<UploadOptions> = {}): UploadOptions => ({
    servers: [parseServerUrl(rx.tcpUrl)], hostId, chunkPages: CHUNK_PAGES, kernelLog: log, firstTier,
    connectTimeoutMs: 2000, replyTimeoutMs: 10_000, deadlineMs: 20_000, framesInFlight: 4, ...overrides,
  });

  /**
   * Opens the stored file and checks it is a partial dump as crash reads it:
   * flagged incomplete; every page bitmap 2 names is the core's own; the
   * first tier is all there; the rest is excluded. Returns the pfns kept.
   */
  async function checkPartialFile(rx: TestReceiver, relative: string): Promise<number[]> {
    const reader = await KdumpFileReader.open(path.join(rx.dataDir, relative));
    try {
      expect(reader.incomplete).toBe(true);
      const kept = reader.pfnsIn(reader.dumpableBitmap);
      const buffer = Buffer.alloc(source.core.pageSize);
      for (const pfn of kept) expect((await reader.readPfn(pfn))!.equals(source.readPages(pfn, 1, buffer)), `pfn ${pfn}`).toBe(true);
      for (const run of order.firstTierRuns()) {
        for (let pfn = run.startPfn; pfn < run.startPfn + run.pageCount; pfn++) expect(reader.isDumpable(pfn), `first-tier pfn ${pfn}`).toBe(true);
      }
      const last = source.core.pageMap.extents.at(-1)!;
      const lastPfn = last.startPfn + last.pageCount - 1;
      expect(reader.isDumpable(lastPfn)).toBe(false);
      expect(await reader.readPfn(lastPfn)).toBeUndefined();
      return kept;
    } finally {
      await reader.close();
    }
  }

  it('--log-only: the log and the first tier are kept as a partial dump crash opens, and a later full upload makes it whole', async () => {
    const rx = await receiver();
    const plain = await receiver();
    const logs: string[] = [];
    const result = await upload(source, options(rx, 'log-only', { logOnly: true, log: (l) => logs.push(l) }));
    expect(result.partial).toEqual({ chunksSent: order.firstTierChunks, why: 'log only: the kernel log and the first tier' });
    const record = (await rx.catalog.get(result.dumpId))!;
    expect(record).toMatchObject({ status: 'partial', partialReason: 'log-only', nextSeq: order.firstTierChunks });
    const kept = await checkPartialFile(rx, result.path);
    expect(kept.length).toBe(pagesIn(order.firstTierRuns()));
    const keys = keysFor(result.path);
    expect(existsSync(path.join(rx.dataDir, keys.firstTier))).toBe(false);
    expect(existsSync(path.join(rx.dataDir, keys.hello))).toBe(false);
    expect(await readFile(path.join(rx.dataDir, keys.dmesg))).toEqual(log.text);
    // Far less than the whole dump went over the wire.
    const whole = await upload(source, options(plain, 'log-only', { firstTier: undefined }));
    expect(result.bytesSent).toBeLessThan(whole.bytesSent / 3);

    // Operators see it and can download it.
    const base = `http://127.0.0.1:${rx.httpAddress!.port}/api/v1`;
    expect(await (await fetch(`${base}/dumps/${result.dumpId}`)).json()).toMatchObject({ status: 'partial', partialReason: 'log-only' });
    const download = await fetch(`${base}/dumps/${result.dumpId}/file`);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(await readFile(path.join(rx.dataDir, result.path)))).toBe(true);
    expect((await (await fetch(`${base}/dumps?status=partial`)).json()).dumps.map((d: { id: string }) => d.id)).toEqual([result.dumpId]);

    // The same crash sent again, whole: same dump, complete, the same bytes as a plain upload.
    const again = await upload(source, options(rx, 'log-only'));
    expect(again.dumpId).toBe(result.dumpId);
    expect(again.partial).toBeUndefined();
    expect(await rx.catalog.get(result.dumpId)).toMatchObject({ status: 'complete', partialReason: null });
    expect((await readFile(path.join(rx.dataDir, again.path))).equals(await readFile(path.join(plain.dataDir, whole.path)))).toBe(true);
  });

  it('refuses END stopAt inside the first tier, or where the receiver is not (PROTOCOL), and keeps nothing partial', async () => {
    const rx = await receiver();
    const client = await RawClient.connect(rx.tcpAddress!.port);
    try {
      const hello = helloFor(source, { hostId: 'early-stop', firstTier: encodePfnRuns(firstTier) });
      client.sendMessage(encodeControl(hello));
      const accept = await client.next('accept');
      expect(accept.firstTierChunks).toBe(order.firstTierChunks);
      client.sendMessage(chunkMessage(source, order.seqAt(0)));
      client.sendMessage(encodeControl({ type: 'end', totalChunks: accept.totalChunks, digest: '00'.repeat(32), stopAt: 1 }));
      const refusal = await client.next('error');
      expect(refusal).toMatchObject({ code: 'PROTOCOL' });
      expect(refusal.message).toMatch(/END stopping at 1 of \d+ chunks; the receiver has 1 of \d+, the first tier \d+/);
      expect((await rx.catalog.get(hello.dumpId))!.status).toBe('receiving');
    } finally {
      client.close();
    }
  });

  it('an upload that goes still after its first tier is kept partial (abandoned) from its last checkpoint', async () => {
    const rx = await receiver({ checkpointChunks: 1 });
    const client = await RawClient.connect(rx.tcpAddress!.port);
    const hello = helloFor(source, { hostId: 'went-still', firstTier: encodePfnRuns(firstTier) });
    const sent = order.firstTierChunks + 6;
    try {
      client.sendMessage(encodeControl(hello));
      await client.next('accept');
      // One at a time, each made durable (ACK) before the next: a checkpoint runs only when none is in flight.
      for (let p = 0; p < sent; p++) {
        client.sendMessage(chunkMessage(source, order.seqAt(p)));
        await until(`chunk ${p} durable`, async () => client.messages.some((m) => m.type === 'ack' && m.nextSeq === p + 1));
      }
    } finally {
      client.close();
    }
    await until('the dump released', async () => !rx.registry.isAttached(hello.dumpId));
    const durable = (await rx.catalog.get(hello.dumpId))!.nextSeq;
    expect(durable).toBe(sent);
    const deps = { catalog: rx.catalog, storage: rx.storage, registry: rx.registry, logger: pino({ level: 'silent' }) };
    // Not still for long enough yet: nothing happens.
    expect(await keepStalledUploads({ ...deps, afterMs: 60_000 })).toEqual([]);
    expect(await keepStalledUploads({ ...deps, afterMs: 0 })).toEqual([hello.dumpId]);
    const record = (await rx.catalog.get(hello.dumpId))!;
    expect(record).toMatchObject({ status: 'partial', partialReason: 'abandoned', nextSeq: durable });
    const kept = await checkPartialFile(rx, record.path);
    // The first tier, and the pfn-order chunks after it that were durable.
    const plan = new ChunkPlan(source.core.pageMap, CHUNK_PAGES);
    let expected = pagesIn(order.firstTierRuns());
    for (let p = order.firstTierChunks; p < durable; p++) expected += plan.chunk(order.seqAt(p)).pageCount;
    expect(kept.length).toBe(expected);
    expect(existsSync(path.join(rx.dataDir, keysFor(record.path).hello))).toBe(false);
    // A second pass finds nothing left to do.
    expect(await keepStalledUploads({ ...deps, afterMs: 0 })).toEqual([]);
  });

  it('leaves a still upload receiving when its first tier never arrived whole (nothing crash could open)', async () => {
    const rx = await receiver({ checkpointChunks: 1 });
    const client = await RawClient.connect(rx.tcpAddress!.port);
    const hello = helloFor(source, { hostId: 'cut-in-tier', firstTier: encodePfnRuns(firstTier) });
    try {
      client.sendMessage(encodeControl(hello));
      await client.next('accept');
      client.sendMessage(chunkMessage(source, order.seqAt(0)));
      await until('the chunk durable', async () => ((await rx.catalog.get(hello.dumpId))!.nextSeq === 1));
    } finally {
      client.close();
    }
    await until('the dump released', async () => !rx.registry.isAttached(hello.dumpId));
    expect(order.firstTierChunks).toBeGreaterThan(1);
    const kept = await keepStalledUploads({ catalog: rx.catalog, storage: rx.storage, registry: rx.registry, logger: pino({ level: 'silent' }), afterMs: 0 });
    expect(kept).toEqual([]);
    expect((await rx.catalog.get(hello.dumpId))!.status).toBe('receiving');
    // And the sender can still resume it.
    const result = await upload(source, options(rx, 'cut-in-tier'));
    expect(result.dumpId).toBe(hello.dumpId);
    expect((await rx.catalog.get(hello.dumpId))!.status).toBe('complete');
  });

  it('the receiver sweeps still uploads by itself (--partial-after)', async () => {
    const rx = await receiver({ checkpointChunks: 1, partialAfterMs: 300 });
    const client = await RawClient.connect(rx.tcpAddress!.port);
    const hello = helloFor(source, { hostId: 'swept', firstTier: encodePfnRuns(firstTier) });
    try {
      client.sendMessage(encodeControl(hello));
      await client.next('accept');
      for (let p = 0; p < order.firstTierChunks; p++) client.sendMessage(chunkMessage(source, order.seqAt(p)));
      await until('the first tier durable', async () => ((await rx.catalog.get(hello.dumpId))!.nextSeq === order.firstTierChunks));
    } finally {
      client.close();
    }
    const record = await until('the sweeper', async () => {
      const r = (await rx.catalog.get(hello.dumpId))!;
      return r.status === 'partial' ? r : undefined;
    });
    expect(record.partialReason).toBe('abandoned');
    // The sweeper logs and counts the dump just after the catalog says partial: waited for, not raced.
    await until('the sweeper\'s log line', async () =>
      rx.logLines.some((l) => l.msg === 'upload still for too long: what arrived is kept as a partial dump' && l.dump === hello.dumpId));
    expect(await rx.metrics.registry.getSingleMetricAsString('kdump_receiver_dumps_partial_total')).toMatch(/reason="abandoned"} 1/);
  });

  describe('crash storms', () => {
    const storm = { completeDumps: 2, windowMs: 60 * 60_000 };

    it('once a signature has enough complete dumps, a sender with it is asked for its first tier only (LOG_READ stopAfter)', async () => {
      const rx = await receiver({ storm });
      for (const host of ['storm-1', 'storm-2']) expect((await upload(source, options(rx, host))).partial).toBeUndefined();
      const record = (await rx.catalog.getWithTriage((await rx.catalog.list({ status: 'complete' }))[0].dumpId))!;
      expect(await stormAdvice(rx.catalog, storm, record.triage.signature)).toMatch(/crash storm: 2 complete dumps with signature/);

      const logs: string[] = [];
      const third = await upload(source, options(rx, 'storm-3', { log: (l) => logs.push(l) }));
      expect(third.partial?.why).toMatch(/^the receiver asked: crash storm: 2 complete dumps/);
      expect(await rx.catalog.get(third.dumpId)).toMatchObject({ status: 'partial', partialReason: 'storm' });
      await checkPartialFile(rx, third.path);
      // It still counts in its group, with its host.
      const [group] = await rx.catalog.groups({ signature: record.triage.signature! });
      expect(group).toMatchObject({ count: 3 });
      expect([...group.hosts].sort()).toEqual(['storm-1', 'storm-2', 'storm-3']);

      // A live snapshot whose log shows the same oops is an operator's request, not one more crash: whole, and in no group.
      const live = await upload(source, options(rx, 'storm-live', { live: { reason: 'after the storm', startedAtMs: Date.now() } }));
      expect(live.partial).toBeUndefined();
      expect(await rx.catalog.getWithTriage(live.dumpId)).toMatchObject({ record: { status: 'complete', kind: 'live' }, triage: { signature: null } });
      expect((await rx.catalog.groups({ signature: record.triage.signature! }))[0]).toMatchObject({ count: 3 });

      // A sender that names no first tier cannot stop early: it is not asked to, and its dump is whole.
      const older = await upload(source, options(rx, 'storm-4', { firstTier: undefined }));
      expect(older.partial).toBeUndefined();
      expect((await rx.catalog.get(older.dumpId))!.status).toBe('complete');
    });

    it('--storm-dumps 0 never asks', async () => {
      const rx = await receiver({ storm: { completeDumps: 0, windowMs: 60_000 } });
      for (const host of ['calm-1', 'calm-2', 'calm-3']) expect((await upload(source, options(rx, host))).partial).toBeUndefined();
    });

    it('a storm of 32 senders at once: each sends its first tier only, and the receiver ends with nothing attached', async () => {
      const rx = await receiver({ storm, limits: { maxUploads: 64 } });
      for (const host of ['seed-1', 'seed-2']) await upload(source, options(rx, host));
      const whole = (await upload(source, options(await receiver(), 'sizing'))).bytesSent;
      const started = Date.now();
      const results = await Promise.all(Array.from({ length: 32 }, (_, i) => upload(source, options(rx, `storm-${i}`, { framesInFlight: 2 }))));
      expect(results.every((r) => r.partial?.why.startsWith('the receiver asked: crash storm'))).toBe(true);
      const sent = results.reduce((n, r) => n + r.bytesSent, 0);
      // Bounded: together, the 32 sent less than 32 whole dumps would (each at most its first tier and the frames already in flight).
      expect(sent).toBeLessThan(32 * whole / 3);
      expect(rx.registry.activeCount).toBe(0);
      const { total } = await rx.catalog.query({ status: 'partial', limit: 1 });
      expect(total).toBe(32);
      expect(Date.now() - started).toBeLessThan(60_000);
    }, 90_000);
  });

  it('DONE partial and LOG_READ round-trip; a stop reason this sender does not know is refused', () => {
    expect(decodeMessage(encodeControl({ type: 'done', dumpId: 'd', path: 'p', storedBytes: 1, partial: true }))).toMatchObject({ partial: true });
    expect(decodeMessage(encodeControl({ type: 'log_read' }))).toEqual({ type: 'log_read' });
    const stop = encodeControl({ type: 'log_read', stopAfter: 7, reason: 'storm', message: 'm' });
    expect(decodeMessage(stop)).toEqual({ type: 'log_read', stopAfter: 7, reason: 'storm', message: 'm' });
    const renamed = Buffer.from(stop.toString('latin1').replace('storm', 'later'), 'latin1');
    expect(() => decodeMessage(renamed)).toThrow(/LOG_READ: reason "later" is not one this sender knows/);
  });
});
