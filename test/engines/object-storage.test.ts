/**
 * One conformance suite for every dump storage backend: the local filesystem
 * (a temp directory) and S3 on a real engine (OpenStack Swift from Debian with
 * its s3api middleware, started by scripts/object-store.sh on loopback; the S3
 * tests skip, saying what lifts the skip, when it cannot start).
 *
 * Every test writes dump-shaped objects the way the receiver writes a dump:
 * header (INCOMPLETE), sub-header, notes and bitmaps into the front, the
 * shared zero page and then page data appended run by run with each run's
 * descriptors written into the front's table, the final header last. They
 * are read back through the backend (whole, by ranges, as streams) and
 * checked with our kdump reader, page by page.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import {
  GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, ListPartsCommand, S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { ErrorCode, NetdumpError } from '../../shared/errors.js';
import {
  DUMP_DH_COMPRESSED_INCOMPLETE, KDUMP_HEADER_VERSION, PAGE_DESC_SIZE, encodeDiskDumpHeader, encodeSubHeader, writePageDescriptor,
} from '../../shared/kdump/format.js';
import { computeLayout, fillBitmapWindow, type KdumpLayout, type PfnRun } from '../../shared/kdump/layout.js';
import { pageCodecByName } from '../../shared/kdump/page-codec.js';
import { KdumpFileReader } from '../../shared/kdump/reader.js';
import type { DumpObjectPlan, DumpObjectWriter, DumpStorage, S3WriterState, WriterState } from '../../receiver/storage/dump-storage.js';
import { LocalDumpStorage } from '../../receiver/storage/local-storage.js';
import { S3DumpStorage, S3_MIN_PART_BYTES } from '../../receiver/storage/s3-storage.js';
import { useObjectStore, type ObjectStoreServer } from '../helpers/object-store.js';
import { freePort } from '../helpers/ports.js';

const PAGE = 4096;
const RUN_PAGES = 64;
const MiB = 1024 * 1024;
/** The S3 backend's part size here: the engine's minimum, so a dump of a few MiB spans several parts. */
const TEST_PART_BYTES = 5 * MiB;

// ---- dump-shaped objects ------------------------------------------------------

type Kind = 'zero' | 'text' | 'random';

interface DumpShape {
  maxPfn: number;
  /** Present and dumpable pfns alike. */
  runs: PfnRun[];
  kind(pfn: number): Kind;
}

/** ~6,000 pages, half incompressible: ~12 MiB of page data, two full parts and a last one on S3. */
const MEDIUM: DumpShape = {
  maxPfn: 8192,
  runs: [{ startPfn: 0, pageCount: 3000 }, { startPfn: 4096, pageCount: 3000 }],
  kind: (pfn) => (pfn % 10 < 3 ? 'zero' : pfn % 10 < 5 ? 'text' : 'random'),
};
/** Worst case (every page raw) under 5 MiB: one PutObject on S3. */
const SMALL: DumpShape = {
  maxPfn: 512,
  runs: [{ startPfn: 16, pageCount: 100 }],
  kind: (pfn) => (pfn % 3 === 0 ? 'zero' : pfn % 3 === 1 ? 'text' : 'random'),
};
/** 230,000 mostly zero pages: a 5.5 MiB descriptor table, a front past the minimum part size. */
const BIG_FRONT: DumpShape = {
  maxPfn: 262_144,
  runs: [{ startPfn: 0, pageCount: 230_000 }],
  kind: (pfn) => (pfn % 200 === 7 ? 'random' : pfn % 200 === 8 ? 'text' : 'zero'),
};

const NOTES = Buffer.from('CORE\0\0\0\0 notes of a dump-shaped object; VMCOREINFO follows\nOSRELEASE=6.1.0-test\nPAGESIZE=4096\n');

function pageOf(pfn: number, kind: Kind): Buffer {
  const page = Buffer.alloc(PAGE);
  if (kind === 'text') page.write(`page ${pfn} of a dump-shaped object. `.repeat(200).slice(0, PAGE), 'latin1');
  if (kind === 'random') {
    let x = (Math.imul(pfn + 1, 2654435761) >>> 0) || 1;
    for (let i = 0; i < PAGE; i += 4) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      page.writeUInt32LE(x, i);
    }
  }
  return page;
}

/** Drives a DumpObjectWriter as the receiver's kdump writer does. */
class DumpProducer {
  readonly layout: KdumpLayout;
  readonly plan: DumpObjectPlan;
  /** Dumpable pfns in descriptor (rank) order. */
  readonly pfns: number[];
  private readonly codec = pageCodecByName('lzo');

  constructor(readonly shape: DumpShape) {
    this.pfns = shape.runs.flatMap((r) => Array.from({ length: r.pageCount }, (_, i) => r.startPfn + i));
    this.layout = computeLayout(PAGE, shape.maxPfn, NOTES.length, this.pfns.length);
    this.plan = { frontBytes: this.layout.dataStart, maxDataBytes: (this.pfns.length + 1) * PAGE };
  }

  get runCount(): number {
    return Math.ceil(this.pfns.length / RUN_PAGES);
  }

  private header(incomplete: boolean): Buffer {
    return encodeDiskDumpHeader({
      signature: 'KDUMP   ', headerVersion: KDUMP_HEADER_VERSION,
      utsname: { sysname: 'Linux', nodename: 'victim', release: '6.1.0-test', version: '#1 SMP', machine: 'x86_64', domainname: '(none)' },
      timestampSec: 1_795_000_000, timestampUsec: 0,
      status: this.codec.flag | (incomplete ? DUMP_DH_COMPRESSED_INCOMPLETE : 0),
      blockSize: PAGE, subHdrSize: this.layout.subHdrSize, bitmapBlocks: this.layout.bitmapBlocks,
      maxMapnr32: this.shape.maxPfn, totalRamBlocks: 0, deviceBlocks: 0, writtenBlocks: 0, currentCpu: 0, nrCpus: 2,
    });
  }

  /** Header (INCOMPLETE), sub-header, notes, bitmaps; then the shared zero page, the first page data. */
  async begin(w: DumpObjectWriter): Promise<void> {
    const { layout } = this;
    w.writeFront(0, this.header(true));
    w.writeFront(PAGE, encodeSubHeader({
      physBase: 0n, dumpLevel: 31, split: 0, startPfn: 0, endPfn: 0,
      offsetVmcoreinfo: layout.notesOffset + 8, sizeVmcoreinfo: NOTES.length - 8, offsetNote: layout.notesOffset, sizeNote: NOTES.length,
      offsetEraseinfo: 0, sizeEraseinfo: 0, startPfn64: 0, endPfn64: 0, maxMapnr64: this.shape.maxPfn,
    }));
    w.writeFront(layout.notesOffset, NOTES);
    const bitmap = Buffer.alloc(layout.bitmapBytes);
    fillBitmapWindow(bitmap, 0, this.shape.runs);
    w.writeFront(layout.bitmapOffset, bitmap);
    w.writeFront(layout.bitmapOffset + layout.bitmapBytes, bitmap);
    expect(w.dataEnd).toBe(w.dataStart);
    await w.append(Buffer.alloc(PAGE));
  }

  /** Runs [from, to) of RUN_PAGES pages: data appended, then the run's descriptors into the table. */
  async writeRuns(w: DumpObjectWriter, from: number, to: number): Promise<void> {
    for (let r = from; r < Math.min(to, this.runCount); r++) {
      const first = r * RUN_PAGES;
      const count = Math.min(RUN_PAGES, this.pfns.length - first);
      const descriptors = Buffer.alloc(count * PAGE_DESC_SIZE);
      const stored: Buffer[] = [];
      const runStart = w.dataEnd;
      let length = 0;
      for (let i = 0; i < count; i++) {
        const pfn = this.pfns[first + i];
        const kind = this.shape.kind(pfn);
        if (kind === 'zero') {
          writePageDescriptor(descriptors, i * PAGE_DESC_SIZE, { offset: w.dataStart, size: PAGE, flags: 0, pageFlags: 0n });
          continue;
        }
        const page = pageOf(pfn, kind);
        const packed = this.codec.compress(page);
        const bytes = packed ? Buffer.from(packed) : page;
        writePageDescriptor(descriptors, i * PAGE_DESC_SIZE, { offset: runStart + length, size: bytes.length, flags: packed ? this.codec.flag : 0, pageFlags: 0n });
        stored.push(bytes);
        length += bytes.length;
      }
      await w.append(Buffer.concat(stored));
      w.writeFront(this.layout.descTableOffset + first * PAGE_DESC_SIZE, descriptors);
    }
  }

  /** The final header: no longer INCOMPLETE. */
  end(w: DumpObjectWriter): void {
    w.writeFront(0, this.header(false));
  }

  /** Writes runs [from, to) with a checkpoint every `every` runs; returns the states. */
  async writeWithCheckpoints(w: DumpObjectWriter, from: number, to: number, every: number): Promise<WriterState[]> {
    const states: WriterState[] = [];
    for (let r = from; r < to; r += every) {
      await this.writeRuns(w, r, Math.min(to, r + every));
      states.push(await w.checkpoint());
    }
    return states;
  }
}

/** A state as it comes back from the catalog: through JSON. */
function viaJson(state: WriterState): WriterState {
  return JSON.parse(JSON.stringify(state)) as WriterState;
}

// ---- backends ---------------------------------------------------------------------

interface Backend {
  name: string;
  /** Skips the test when the backend is not there. */
  available(ctx: TestContext): void;
  /** A new storage instance on the same store: another receiver. */
  open(): DumpStorage;
  /** Everything the store holds under `key` (the object, unfinished uploads, resume data). */
  leftovers(key: string): Promise<string[]>;
}

const store = useObjectStore();
let work: string;
let raw: S3Client | undefined;
const opened: DumpStorage[] = [];
let serial = 0;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'kdump-storage-'));
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  raw?.destroy();
  await rm(work, { recursive: true, force: true });
});

function s3Options(server: ObjectStoreServer) {
  return {
    endpoint: server.endpoint, region: server.region, bucket: server.bucket, forcePathStyle: true,
    accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey,
    partBytes: TEST_PART_BYTES, journalCompactAfter: 3,
  };
}

function rawClient(server: ObjectStoreServer): S3Client {
  raw ??= new S3Client({
    endpoint: server.endpoint, region: server.region, forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  });
  return raw;
}

const local: Backend = {
  name: 'local filesystem',
  available() {},
  open() {
    const storage = new LocalDumpStorage(path.join(work, 'local'));
    opened.push(storage);
    return storage;
  },
  async leftovers(key) {
    const folder = path.join(work, 'local', path.dirname(key));
    const names = await readdir(folder).catch(() => [] as string[]);
    return names.map((n) => path.posix.join(path.dirname(key), n));
  },
};

const s3: Backend = {
  name: 'S3 (OpenStack Swift s3api)',
  available(ctx) {
    store.require(ctx);
  },
  open() {
    const storage = new S3DumpStorage(s3Options(store.server!));
    opened.push(storage);
    return storage;
  },
  async leftovers(key) {
    const server = store.server!;
    const client = rawClient(server);
    const objects = await client.send(new ListObjectsV2Command({ Bucket: server.bucket, Prefix: key }));
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: key }));
    return [
      ...(objects.Contents ?? []).map((c) => c.Key!),
      ...(uploads.Uploads ?? []).map((u) => `upload ${u.Key} ${u.UploadId}`),
    ];
  },
};

/** Where page data must start: unpadded locally; on S3 padded to 5 MiB unless the dump is small enough for one PutObject. */
function expectedDataStart(backend: Backend, plan: DumpObjectPlan): number {
  if (backend === local || plan.frontBytes + plan.maxDataBytes <= S3_MIN_PART_BYTES) return plan.frontBytes;
  return Math.max(plan.frontBytes, S3_MIN_PART_BYTES);
}

function newKey(backend: Backend): string {
  return `host-${backend === local ? 'local' : 's3'}/2026-11-26-14:05:${String(serial++).padStart(2, '0')}/vmcore`;
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(Buffer.from(part as Buffer));
  return Buffer.concat(parts);
}

function expectCode(error: unknown, code: string): NetdumpError {
  expect(error).toBeInstanceOf(NetdumpError);
  expect((error as NetdumpError).code).toBe(code);
  return error as NetdumpError;
}

/**
 * Reads the complete object back through the backend and checks it: whole (a
 * stream into a file our kdump reader opens, every stored page compared),
 * by ranges (across the front, the padding and part boundaries) and as a
 * ranged stream.
 */
async function verifyDump(storage: DumpStorage, key: string, producer: DumpProducer, dataStart: number, size: number): Promise<void> {
  const reader = await storage.openReader(key);
  expect(reader, `no complete object under ${key}`).toBeDefined();
  expect(reader!.size).toBe(size);
  const file = path.join(work, `read-${serial++}.kdump`);
  try {
    await pipeline(await reader!.createReadStream(), createWriteStream(file));
    expect((await stat(file)).size).toBe(size);
    const kdump = await KdumpFileReader.open(file);
    try {
      expect(kdump.incomplete).toBe(false);
      expect(kdump.maxPfn).toBe(producer.shape.maxPfn);
      expect((await kdump.readNotes()).equals(NOTES)).toBe(true);
      const sample = producer.pfns.length > 20_000 ? producer.pfns.filter((pfn, i) => producer.shape.kind(pfn) !== 'zero' || i % 997 === 0) : producer.pfns;
      let lowest = Infinity;
      for (const pfn of sample) {
        const [descriptor] = await kdump.readDescriptors(kdump.rankOf(pfn), 1);
        lowest = Math.min(lowest, descriptor.offset);
        const page = await kdump.readPage(descriptor);
        expect(page.equals(pageOf(pfn, producer.shape.kind(pfn))), `page ${pfn}`).toBe(true);
      }
      expect(lowest).toBe(dataStart); // the shared zero page opens the page data
      expect(await kdump.readPfn(producer.shape.maxPfn - 1)).toBeUndefined();
    } finally {
      await kdump.close();
    }
    const whole = await readFile(file);
    // The padding between the descriptor table and the page data reads as zeros.
    expect(whole.subarray(producer.plan.frontBytes, dataStart).every((b) => b === 0)).toBe(true);
    const ranges: Array<[number, number]> = [[0, 600], [PAGE - 10, 20], [dataStart - 100, 300], [size - 1, 1], [size - 5000, 5000]];
    for (let boundary = dataStart + TEST_PART_BYTES; boundary < size; boundary += TEST_PART_BYTES) ranges.push([boundary - 4000, 9000]);
    for (const [offset, length] of ranges) {
      const at = Math.max(0, Math.min(offset, size - 1));
      const len = Math.min(length, size - at);
      expect((await reader!.read(at, len)).equals(whole.subarray(at, at + len)), `read(${at}, ${len})`).toBe(true);
    }
    await expect(reader!.read(size - 10, 20)).rejects.toMatchObject({ code: ErrorCode.CORRUPT });
    const start = Math.max(0, dataStart - 1000);
    const end = Math.min(size - 1, start + 3 * MiB);
    expect((await collect(await reader!.createReadStream({ start, end }))).equals(whole.subarray(start, end + 1))).toBe(true);
  } finally {
    await reader!.close();
    await rm(file, { force: true });
  }
}

// ---- the suite ------------------------------------------------------------------

describe.each([local, s3])('dump storage: $name', (backend) => {
  it('stores a dump-shaped object with its front written last, and reads it back whole, by ranges and as streams', async (ctx) => {
    backend.available(ctx);
    const storage = backend.open();
    const producer = new DumpProducer(MEDIUM);
    const key = newKey(backend);
    const w = await storage.createWriter(key, producer.plan);
    expect(w.dataStart).toBe(expectedDataStart(backend, producer.plan));
    await producer.begin(w);
    await producer.writeWithCheckpoints(w, 0, producer.runCount, 12);
    expect(await storage.exists(key)).toBe(false); // nothing visible before finish
    producer.end(w);
    const { size } = await w.finish();
    expect(size).toBe(w.dataEnd);
    expect(await storage.exists(key)).toBe(true);
    await verifyDump(storage, key, producer, w.dataStart, size);
    expect(await backend.leftovers(key)).toEqual([key]);
  });

  it('resumes from its serialised state in another storage instance, twice, losing what came after the checkpoint', async (ctx) => {
    backend.available(ctx);
    const producer = new DumpProducer(MEDIUM);
    const key = newKey(backend);
    // Receiver A: 30 runs, checkpoints at 15 and 30 (stored); 4 more runs and a checkpoint whose state it
    // dies before storing (its resume objects are in the store, newer than the stored state); 21 more
    // runs (parts uploaded past its state); then it dies.
    const a = await backend.open().createWriter(key, producer.plan);
    await producer.begin(a);
    const statesA = await producer.writeWithCheckpoints(a, 0, 30, 15);
    await producer.writeRuns(a, 30, 34);
    await a.checkpoint();
    await producer.writeRuns(a, 34, 55);
    await a.close();
    const stateA = viaJson(statesA.at(-1)!);
    // Receiver B picks up at run 30, checkpoints every 6 runs (the S3 front journal compacts), dies after run 70.
    const b = await backend.open().resumeWriter(key, producer.plan, stateA);
    expect(b.dataStart).toBe(expectedDataStart(backend, producer.plan));
    expect(b.dataEnd).toBe(stateA.dataEnd);
    const statesB = await producer.writeWithCheckpoints(b, 30, 66, 6);
    await producer.writeRuns(b, 66, 70);
    await b.close();
    const stateB = viaJson(statesB.at(-1)!);
    if (stateB.backend === 's3') expect(stateB.frontJournal.length).toBeLessThanOrEqual(3);
    // Receiver C finishes from B's last state (run 66).
    const c = await backend.open().resumeWriter(key, producer.plan, stateB);
    expect(c.dataEnd).toBe(stateB.dataEnd);
    await producer.writeRuns(c, 66, producer.runCount);
    producer.end(c);
    const { size } = await c.finish();
    await verifyDump(backend.open(), key, producer, c.dataStart, size);
    expect(await backend.leftovers(key)).toEqual([key]);
  });

  it('a checkpoint describes the point where it started while appends go on', async (ctx) => {
    backend.available(ctx);
    const producer = new DumpProducer(MEDIUM);
    const key = newKey(backend);
    const w = await backend.open().createWriter(key, producer.plan);
    await producer.begin(w);
    await producer.writeRuns(w, 0, 10);
    const at = w.dataEnd;
    const pending = w.checkpoint();
    await producer.writeRuns(w, 10, 50); // cuts parts on S3 while the checkpoint runs
    const state = await pending;
    expect(state.dataEnd).toBe(at);
    await w.close();
    const resumed = await backend.open().resumeWriter(key, producer.plan, viaJson(state));
    expect(resumed.dataEnd).toBe(at);
    await producer.writeRuns(resumed, 10, producer.runCount);
    producer.end(resumed);
    const { size } = await resumed.finish();
    await verifyDump(backend.open(), key, producer, resumed.dataStart, size);
  });

  it('a small dump (worst case under 5 MiB) is stored unpadded, and resumes too', async (ctx) => {
    backend.available(ctx);
    const producer = new DumpProducer(SMALL);
    const key = newKey(backend);
    const w = await backend.open().createWriter(key, producer.plan);
    expect(w.dataStart).toBe(producer.plan.frontBytes);
    await producer.begin(w);
    const [state] = await producer.writeWithCheckpoints(w, 0, 1, 1);
    if (state.backend === 's3') expect(state.mode).toBe('single');
    await w.close();
    const resumed = await backend.open().resumeWriter(key, producer.plan, viaJson(state));
    await producer.writeRuns(resumed, 1, producer.runCount);
    producer.end(resumed);
    const { size } = await resumed.finish();
    await verifyDump(backend.open(), key, producer, producer.plan.frontBytes, size);
    expect(await backend.leftovers(key)).toEqual([key]);
  });

  it('a front larger than the minimum part size needs no padding', async (ctx) => {
    backend.available(ctx);
    const producer = new DumpProducer(BIG_FRONT);
    expect(producer.plan.frontBytes).toBeGreaterThan(S3_MIN_PART_BYTES);
    const key = newKey(backend);
    const w = await backend.open().createWriter(key, producer.plan);
    expect(w.dataStart).toBe(producer.plan.frontBytes);
    await producer.begin(w);
    await producer.writeWithCheckpoints(w, 0, producer.runCount, 1000);
    producer.end(w);
    const { size } = await w.finish();
    await verifyDump(backend.open(), key, producer, producer.plan.frontBytes, size);
  });

  it('abort leaves nothing, and its last state no longer resumes (CORRUPT)', async (ctx) => {
    backend.available(ctx);
    const producer = new DumpProducer(MEDIUM);
    const key = newKey(backend);
    const w = await backend.open().createWriter(key, producer.plan);
    await producer.begin(w);
    const [state] = await producer.writeWithCheckpoints(w, 0, 40, 40);
    await producer.writeRuns(w, 40, 60);
    await w.abort();
    expect(await backend.leftovers(key)).toEqual([]);
    const storage = backend.open();
    expect(await storage.exists(key)).toBe(false);
    expect(await storage.openReader(key)).toBeUndefined();
    expectCode(await storage.resumeWriter(key, producer.plan, viaJson(state)).catch((e) => e), ErrorCode.CORRUPT);
  });

  it('discard drops an abandoned upload without its writer', async (ctx) => {
    backend.available(ctx);
    const producer = new DumpProducer(MEDIUM);
    const key = newKey(backend);
    const w = await backend.open().createWriter(key, producer.plan);
    await producer.begin(w);
    const [state] = await producer.writeWithCheckpoints(w, 0, 40, 40);
    await producer.writeRuns(w, 40, 45);
    await w.close();
    expect((await backend.leftovers(key)).length).toBeGreaterThan(0);
    await backend.open().discard(key, viaJson(state));
    expect(await backend.leftovers(key)).toEqual([]);
  });

  it('a new writer replaces an unfinished object under the same key', async (ctx) => {
    backend.available(ctx);
    const producer = new DumpProducer(MEDIUM);
    const key = newKey(backend);
    const first = await backend.open().createWriter(key, producer.plan);
    await producer.begin(first);
    await producer.writeWithCheckpoints(first, 0, 40, 20);
    await first.close();
    const second = await backend.open().createWriter(key, producer.plan);
    await producer.begin(second);
    await producer.writeRuns(second, 0, producer.runCount);
    producer.end(second);
    const { size } = await second.finish();
    await verifyDump(backend.open(), key, producer, second.dataStart, size);
    expect(await backend.leftovers(key)).toEqual([key]);
  });

  it('delete removes a complete dump; deleting what is not there is no error', async (ctx) => {
    backend.available(ctx);
    const storage = backend.open();
    const producer = new DumpProducer(SMALL);
    const key = newKey(backend);
    const w = await storage.createWriter(key, producer.plan);
    await producer.begin(w);
    await producer.writeRuns(w, 0, producer.runCount);
    producer.end(w);
    await w.finish();
    expect(await storage.exists(key)).toBe(true);
    await storage.delete(key);
    expect(await storage.exists(key)).toBe(false);
    expect(await storage.openReader(key)).toBeUndefined();
    expect(await backend.leftovers(key)).toEqual([]);
    await storage.delete(key);
  });

  it('keeps small whole objects beside a dump (ELF headers, dmesg)', async (ctx) => {
    backend.available(ctx);
    const storage = backend.open();
    const key = `${newKey(backend)}.elf-headers`;
    expect(await storage.get(key)).toBeUndefined();
    await storage.put(key, Buffer.from('ELF headers'));
    await storage.put(key, Buffer.from('\x7fELF headers, replaced'));
    expect((await storage.get(key))?.toString()).toBe('\x7fELF headers, replaced');
    await storage.delete(key);
    expect(await storage.get(key)).toBeUndefined();
  });

  it('removeDump takes a dump, unfinished or complete, with its resume data and what is beside it; again is no error', async (ctx) => {
    backend.available(ctx);
    const storage = backend.open();
    const companions = (key: string) => [`${key}.elf-headers`, `${path.posix.dirname(key)}/dmesg.txt`];
    const unfinished = newKey(backend);
    const producer = new DumpProducer(MEDIUM);
    const w = await storage.createWriter(unfinished, producer.plan);
    await producer.begin(w);
    const [state] = await producer.writeWithCheckpoints(w, 0, 40, 40);
    await w.close();
    const complete = newKey(backend);
    const small = new DumpProducer(SMALL);
    const done = await storage.createWriter(complete, small.plan);
    await small.begin(done);
    await small.writeRuns(done, 0, small.runCount);
    small.end(done);
    await done.finish();
    for (const key of [unfinished, complete]) for (const companion of companions(key)) await storage.put(companion, Buffer.from(companion));
    expect((await backend.leftovers(unfinished)).length).toBeGreaterThan(0);

    await storage.removeDump(unfinished, viaJson(state));
    await storage.removeDump(complete);
    for (const key of [unfinished, complete]) {
      expect(await backend.leftovers(key)).toEqual([]);
      expect(await storage.exists(key)).toBe(false);
      for (const companion of companions(key)) expect(await storage.get(companion), companion).toBeUndefined();
      await storage.removeDump(key);
    }
  });

  it('claim takes a fresh key, and never one that holds a complete dump', async (ctx) => {
    backend.available(ctx);
    const storage = backend.open();
    const key = newKey(backend);
    const producer = new DumpProducer(SMALL);
    const w = await storage.createWriter(key, producer.plan);
    await producer.begin(w);
    await producer.writeRuns(w, 0, producer.runCount);
    producer.end(w);
    await w.finish();
    expect(await storage.claim(key)).toBe(false);
    expect(await storage.claim(newKey(backend))).toBe(true);
  });

  it('says what it can see of free space, files and a live upload, or that it cannot', async (ctx) => {
    backend.available(ctx);
    const storage = backend.open();
    const key = newKey(backend);
    const producer = new DumpProducer(MEDIUM);
    const w = await storage.createWriter(key, producer.plan);
    await producer.begin(w);
    await producer.writeWithCheckpoints(w, 0, 40, 40);
    const activity = await storage.unfinishedActivity(key);
    const free = await storage.freeBytes();
    const file = storage.filePath(key, { finished: false });
    await w.close();
    if (backend === local) {
      // The file is there, and it is bigger than the last checkpoint while appends go on.
      expect(activity!.bytes).toBe(w.dataEnd);
      expect(Date.now() - activity!.lastWriteMs).toBeLessThan(60_000);
      expect(free).toBeGreaterThan(0);
      expect((await stat(file!)).size).toBe(w.dataEnd);
      expect(storage.filePath(key, { finished: true })).toBe(storage.locationOf(key));
    } else {
      // A bucket shows neither free space nor an upload between checkpoints, and keeps no file crash could open.
      expect([activity, free, file]).toEqual([undefined, undefined, undefined]);
    }
  });

  it('refuses keys that are not relative paths of plain names', async (ctx) => {
    backend.available(ctx);
    const storage = backend.open();
    for (const key of ['../etc/passwd', '/abs/vmcore', 'host//vmcore', 'host/vmcore.resume/tail-2', '']) {
      expectCode(await storage.exists(key).then(() => undefined, (e) => e), ErrorCode.BAD_INPUT);
    }
  });
});

describe('dump storage: S3 specifics', () => {
  it('uploads page data in parts of at least 5 MiB as it streams, and the front as part 1 last', async (ctx) => {
    const server = store.require(ctx);
    const client = rawClient(server);
    const producer = new DumpProducer(MEDIUM);
    const key = newKey(s3);
    const w = await s3.open().createWriter(key, producer.plan);
    await producer.begin(w);
    const [state] = (await producer.writeWithCheckpoints(w, 0, producer.runCount, producer.runCount)) as S3WriterState[];
    expect(state.mode).toBe('multipart');
    const listed = await client.send(new ListPartsCommand({ Bucket: server.bucket, Key: key, UploadId: state.uploadId }));
    const numbers = (listed.Parts ?? []).map((p) => p.PartNumber);
    expect(numbers).toEqual(state.parts.map((p) => p.partNumber));
    expect(numbers[0]).toBe(2); // no front yet
    expect(numbers.length).toBeGreaterThanOrEqual(2);
    for (const p of listed.Parts ?? []) expect(p.Size).toBeGreaterThanOrEqual(S3_MIN_PART_BYTES);
    producer.end(w);
    const { size } = await w.finish();
    const head = await client.send(new HeadObjectCommand({ Bucket: server.bucket, Key: key }));
    expect(head.ContentLength).toBe(size);
    // A multipart object's ETag counts its parts: front + data parts + the last (tail) part.
    expect(head.ETag).toMatch(new RegExp(`-${numbers.length + 2}"$`));
    const front = await client.send(new GetObjectCommand({ Bucket: server.bucket, Key: key, Range: 'bytes=0-7' }));
    expect(Buffer.from(await front.Body!.transformToByteArray()).toString('latin1')).toBe('KDUMP   ');
  });

  it('an unreachable store is UNAVAILABLE (the sender tries another receiver)', async (ctx) => {
    const server = store.require(ctx);
    const dead = new S3DumpStorage({ ...s3Options(server), endpoint: `http://127.0.0.1:${await freePort()}` });
    opened.push(dead);
    const t0 = performance.now();
    const error = expectCode(await dead.createWriter(newKey(s3), new DumpProducer(MEDIUM).plan).catch((e) => e), ErrorCode.UNAVAILABLE);
    expect(error.message).toMatch(/ListMultipartUploads|CreateMultipartUpload/);
    expect(performance.now() - t0).toBeLessThan(15_000);
  });

  it('a wrong secret key is INTERNAL, naming the S3 error', async (ctx) => {
    const server = store.require(ctx);
    const wrong = new S3DumpStorage({ ...s3Options(server), secretAccessKey: 'not-the-secret' });
    opened.push(wrong);
    const error = expectCode(await wrong.exists(newKey(s3)).catch((e) => e), ErrorCode.INTERNAL);
    expect(error.context.httpStatus).toBe(403);
  });
});
