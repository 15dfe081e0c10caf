/**
 * First tier first (shared/protocol/send-order.ts): a sender that names the
 * pages crash needs first sends their chunks before the rest; the receiver
 * keeps them in a first-tier file of their own while the rest arrives, takes
 * them into the dump in pfn order, and ends with the file it stores in pfn
 * order, byte for byte, with no first-tier file left. Cut connections resume
 * in that order; a receiver given another first tier for a started dump
 * starts it over.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KdumpFileReader } from '../../shared/kdump/reader.js';
import { ChunkPlan } from '../../shared/protocol/chunk-plan.js';
import { SendOrder } from '../../shared/protocol/send-order.js';
import { keysFor } from '../../shared/dump-folders.js';
import { encodeControl } from '../../shared/protocol/messages.js';
import { encodePfnRuns } from '../../shared/protocol/pfn-runs.js';
import { parseServerUrl } from '../../sender/transport.js';
import { upload, type UploadOptions } from '../../sender/upload.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { sampleX86Loads, writeElfCoreFile, type ElfCoreFile, type ElfCoreSpec } from '../helpers/elf-core-builder.js';
import { startCuttingProxy } from '../helpers/cutting-proxy.js';
import { chunkMessage, helloFor } from '../helpers/protocol-messages.js';
import { RawClient } from '../helpers/raw-client.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

const SPEC: ElfCoreSpec = {
  cpus: 2,
  loads: sampleX86Loads(),
  page: (pfn) => (pfn % 5 === 0 ? 'zero' : pfn % 7 === 0 ? 'random' : 'pattern'),
};

const options = (server: string, overrides: Partial<UploadOptions> = {}): UploadOptions => ({
  servers: [parseServerUrl(server)], hostId: 'tiered', chunkPages: 16,
  connectTimeoutMs: 2000, replyTimeoutMs: 10_000, deadlineMs: 20_000, framesInFlight: 4, ...overrides,
});

describe('first tier first', () => {
  let core: ElfCoreFile;
  let source: VmcoreSource;
  const receivers: TestReceiver[] = [];
  /** Pages scattered over the core: some whole chunks, some single pages, the last page. */
  let firstTier: Array<{ startPfn: number; pageCount: number }>;
  let order: SendOrder;

  beforeAll(async () => {
    core = await writeElfCoreFile(SPEC);
    source = VmcoreSource.open(core.path);
    const [a, b] = source.core.pageMap.extents;
    const last = source.core.pageMap.extents.at(-1)!;
    firstTier = [
      { startPfn: a.startPfn + 3, pageCount: 40 },
      { startPfn: b.startPfn + 5, pageCount: 1 },
      { startPfn: last.startPfn + last.pageCount - 1, pageCount: 1 },
    ];
    order = SendOrder.firstTierFirst(new ChunkPlan(source.core.pageMap, 16), firstTier);
  });
  afterEach(async () => {
    for (const receiver of receivers.splice(0)) await receiver.stop();
  });
  afterAll(async () => {
    source.close();
    await core.cleanup();
  });

  async function receiver(overrides: Parameters<typeof startTestReceiver>[0] = {}) {
    const started = await startTestReceiver(overrides);
    receivers.push(started);
    return started;
  }

  it('stores the same file, byte for byte, as an upload in pfn order, and leaves no first-tier file', async () => {
    const plain = await receiver();
    const tiered = await receiver();
    const inOrder = await upload(source, options(plain.tcpUrl));
    const firstTierFirst = await upload(source, options(tiered.tcpUrl, { firstTier }));
    const a = await readFile(path.join(plain.dataDir, inOrder.path));
    const b = await readFile(path.join(tiered.dataDir, firstTierFirst.path));
    expect(b.equals(a)).toBe(true);
    expect(existsSync(path.join(tiered.dataDir, keysFor(firstTierFirst.path).firstTier))).toBe(false);
    expect(order.firstTierChunks).toBeGreaterThan(3);
    expect(await tiered.catalog.get(firstTierFirst.dumpId)).toMatchObject({ status: 'complete', firstTierChunks: order.firstTierChunks });
    expect(await plain.catalog.get(inOrder.dumpId)).toMatchObject({ firstTierChunks: null });
  });

  it('refuses a chunk sent out of first-tier order, and resumes an upload cut soon after its first tier', async () => {
    const rx = await receiver();
    const client = await RawClient.connect(rx.tcpAddress!.port);
    try {
      const hello = helloFor(source, { hostId: 'tiered', firstTier: encodePfnRuns(firstTier) });
      client.sendMessage(encodeControl(hello));
      const accept = await client.next('accept');
      expect(accept.firstTierChunks).toBe(order.firstTierChunks);
      // The first chunk not in the first tier is out of order at position 0: the first tier's chunks come first.
      const notFirst = order.seqAt(order.firstTierChunks);
      client.sendMessage(chunkMessage(source, notFirst));
      const refusal = await client.next('error');
      expect(refusal).toMatchObject({ code: 'PROTOCOL' });
      expect(refusal.message).toBe(`chunk ${notFirst} out of order: expected chunk ${order.seqAt(0)} (position 0 of the first-tier-first order) of dump ${hello.dumpId}`);
    } finally {
      client.close();
    }
    // Let go by the receiver before the sender comes (else its first connection is refused, not cut).
    await waitFor(async () => (rx.registry.activeCount === 0 ? true : undefined));
    // The real sender, cut off right after the first tier: the first-tier file is complete and holds exactly those pages.
    const proxy = await startCuttingProxy({ targetPort: rx.tcpAddress!.port, cutAfterBytes: 40_000, cuts: 1 });
    const logs: string[] = [];
    try {
      const result = await upload(source, options(`tcp://127.0.0.1:${proxy.port}`, { firstTier, log: (l) => logs.push(l) }));
      expect(result.attempts).toBe(2);
    } finally {
      await proxy.close();
    }
    expect(logs.some((l) => /resuming at chunk [1-9]\d* of/.test(l))).toBe(true);
  });

  it('resumes across connections cut every few KB, in first-tier order, to the same bytes', async () => {
    const plain = await receiver();
    const inOrder = await upload(source, options(plain.tcpUrl));
    const rx = await receiver({ checkpointChunks: 2 });
    const proxy = await startCuttingProxy({ targetPort: rx.tcpAddress!.port, cutAfterBytes: 30_000, cuts: 8 });
    try {
      const logs: string[] = [];
      const flaky = await upload(source, options(`tcp://127.0.0.1:${proxy.port}`, { firstTier, log: (l) => logs.push(l) }));
      expect(proxy.cutsDone).toBe(8);
      expect(logs.filter((l) => /resuming at chunk [1-9]\d* of/.test(l)).length).toBeGreaterThan(2);
      const bytes = await readFile(path.join(rx.dataDir, flaky.path));
      expect(bytes.equals(await readFile(path.join(plain.dataDir, inOrder.path)))).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('keeps the first-tier file readable as a dump while the rest arrives', async () => {
    const rx = await receiver();
    const client = await RawClient.connect(rx.tcpAddress!.port);
    try {
      const hello = helloFor(source, { hostId: 'tiered', firstTier: encodePfnRuns(firstTier) });
      client.sendMessage(encodeControl(hello));
      const accept = await client.next('accept');
      const sendOrder = order;
      for (let p = 0; p < accept.firstTierChunks!; p++) client.sendMessage(chunkMessage(source, sendOrder.seqAt(p)));
      const record = await waitFor(async () => {
        const r = await rx.catalog.get(hello.dumpId);
        return r && r.nextSeq >= accept.firstTierChunks! ? r : undefined;
      });
      const reader = await KdumpFileReader.open(path.join(rx.dataDir, keysFor(record.path).firstTier));
      try {
        const pfns = reader.pfnsIn(reader.dumpableBitmap);
        expect(pfns.length).toBe(sendOrder.firstTierRuns().reduce((n, r) => n + r.pageCount, 0));
        for (const run of firstTier) expect(pfns).toContain(run.startPfn);
        const buffer = Buffer.alloc(source.core.pageSize);
        for (const pfn of [firstTier[0].startPfn, firstTier[1].startPfn, firstTier[2].startPfn]) {
          expect((await reader.readPfn(pfn))!.equals(source.readPages(pfn, 1, buffer)), `pfn ${pfn}`).toBe(true);
        }
      } finally {
        await reader.close();
      }
    } finally {
      client.close();
    }
  });

  it('starts a dump over when it comes back with another first tier (positions would not match)', async () => {
    const rx = await receiver({ checkpointChunks: 2 });
    const client = await RawClient.connect(rx.tcpAddress!.port);
    const hello = helloFor(source, { hostId: 'tiered', firstTier: encodePfnRuns(firstTier) });
    try {
      client.sendMessage(encodeControl(hello));
      await client.next('accept');
      // The first tier and a few more chunks, until a checkpoint says they are durable.
      for (let p = 0; p < order.firstTierChunks + 4; p++) client.sendMessage(chunkMessage(source, order.seqAt(p)));
      await client.next('ack');
    } finally {
      client.close();
    }
    await waitFor(async () => (rx.registry.isAttached(hello.dumpId) ? undefined : true));
    expect((await rx.catalog.get(hello.dumpId))!.nextSeq).toBeGreaterThan(0);
    const other = [{ startPfn: firstTier[0].startPfn, pageCount: 1 }];
    const logs: string[] = [];
    const result = await upload(source, options(rx.tcpUrl, { firstTier: other, log: (l) => logs.push(l) }));
    expect(result.dumpId).toBe(hello.dumpId);
    expect(logs.some((l) => /resuming/.test(l))).toBe(false);
    expect(await rx.catalog.get(result.dumpId)).toMatchObject({ status: 'complete', firstTierChunks: 1 });
  });

  it('resumes inside the first tier: a link that drops more often than the first tier is long still gets through', async () => {
    const plain = await receiver();
    const inOrder = await upload(source, options(plain.tcpUrl));
    const rx = await receiver({ checkpointChunks: 1 });
    // Shorter than the first tier on the wire: without resume points inside it, no attempt would get past it.
    const proxy = await startCuttingProxy({ targetPort: rx.tcpAddress!.port, cutAfterBytes: 12_000, cuts: 30 });
    try {
      const logs: string[] = [];
      const result = await upload(source, options(`tcp://127.0.0.1:${proxy.port}`, { firstTier, log: (l) => logs.push(l), framesInFlight: 1 }));
      const resumedInTier = logs.map((l) => /resuming at chunk (\d+) of/.exec(l)).filter((m) => m && Number(m[1]) < order.firstTierChunks);
      expect(resumedInTier.length).toBeGreaterThan(0);
      expect((await readFile(path.join(rx.dataDir, result.path))).equals(await readFile(path.join(plain.dataDir, inOrder.path)))).toBe(true);
    } finally {
      await proxy.close();
    }
  });
});

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
