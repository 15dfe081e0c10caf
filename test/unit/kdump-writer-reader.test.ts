import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeCore, type CoreDescription } from '../../shared/elf/core-description.js';
import { readSpansForPages } from '../../shared/elf/page-map.js';
import { ChunkPlan } from '../../shared/protocol/chunk-plan.js';
import { zeroBitmapLength } from '../../shared/protocol/messages.js';
import { Chunker } from '../../sender/chunker.js';
import { KdumpFileWriter, type KdumpFileSpec } from '../../shared/kdump/writer.js';
import { KdumpFileReader } from '../../shared/kdump/reader.js';
import { decodeSubHeader, DUMP_DH_COMPRESSED_INCOMPLETE, KDUMP_SUB_HEADER_SIZE, type PageDescriptor } from '../../shared/kdump/format.js';
import { isBitSet } from '../../shared/kdump/layout.js';
import { pageCodecByName, type PageCodecName } from '../../shared/kdump/page-codec.js';
import {
  X86_64_START_KERNEL_MAP, buildElfCoreDetailed, corePageBytes, defaultVmcoreinfo, pageFromFill, type BuiltElfCore, type ElfCoreSpec, type PageFill,
} from '../helpers/elf-core-builder.js';

const PAGE = 4096;
const CHUNK_PAGES = 8;

/** Page kinds chosen per pfn: zero, incompressible and compressible pages interleaved. */
function fillFor(pfn: number): PageFill {
  if (pfn % 5 === 0 || (pfn >= 0x44 && pfn < 0x4c)) return 'zero';
  if (pfn % 7 === 0) return 'random';
  return 'pattern';
}

const coreSpec: ElfCoreSpec = {
  cpus: 2,
  vmcoreinfo: defaultVmcoreinfo({ osRelease: '6.1.0-rt', crashTime: 1_732_000_999, physBase: -677380096 }),
  loads: [
    { paddr: 0x48000, vaddr: X86_64_START_KERNEL_MAP + 0x100_0000n, memsz: 0x4000 }, // kernel text, inside RAM below
    { paddr: 0x1000, memsz: 0x1_ec00 }, // ends unaligned at 0x1fc00
    { paddr: 0x40000, memsz: 0x1_8000 },
    { paddr: 0x8_0000, memsz: 0x3000 },
  ],
  page: fillFor,
};

const utsname = { sysname: 'Linux', nodename: 'victim', release: '6.1.0-rt', version: '#1 SMP', machine: 'x86_64', domainname: '(none)' };

let dir: string;
let core: BuiltElfCore;
let desc: CoreDescription;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netdump-kdump-'));
  core = buildElfCoreDetailed(coreSpec);
  desc = describeCore(core.headers, core.notes, core.buffer.length);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function fileSpec(codec: PageCodecName): KdumpFileSpec {
  const runs = desc.pageMap.extents.map((e) => ({ startPfn: e.startPfn, pageCount: e.pageCount }));
  return {
    pageSize: desc.pageSize,
    maxPfn: desc.pageMap.maxPfn,
    presentRuns: runs,
    dumpableRuns: runs,
    notes: core.notes,
    vmcoreinfoOffsetInNotes: desc.vmcoreinfoOffsetInNotes,
    vmcoreinfoSize: desc.vmcoreinfoSize,
    physBase: desc.physBase,
    dumpLevel: 1,
    utsname,
    crashTimeSec: desc.vmcoreinfo.crashTime!,
    nrCpus: desc.nrCpus,
    codec: pageCodecByName(codec),
    maxRunPages: CHUNK_PAGES,
  };
}

/** Chunk `seq` as the sender cuts it: zero bitmap and packed non-zero pages. */
function chunkPages(plan: ChunkPlan, seq: number) {
  const span = plan.chunk(seq);
  const pages = Buffer.alloc(span.pageCount * PAGE);
  for (const s of readSpansForPages(desc.pageMap, span.startPfn, span.pageCount)) {
    core.buffer.copy(pages, s.bufferOffset, s.fileOffset, s.fileOffset + s.length);
  }
  const bitmap = Buffer.alloc(zeroBitmapLength(span.pageCount));
  const { packed } = new Chunker(PAGE).pack(span.pageCount, pages, bitmap);
  return { span, bitmap, raw: pages.subarray(0, packed) };
}

async function writeChunks(writer: KdumpFileWriter, plan: ChunkPlan, from: number, to: number): Promise<void> {
  for (let seq = from; seq < to; seq++) {
    const { span, bitmap, raw } = chunkPages(plan, seq);
    const result = await writer.writePages(span.firstRank, span.pageCount, bitmap, raw);
    let zeroes = 0;
    for (let i = 0; i < span.pageCount; i++) if (bitmap[i >>> 3] & (1 << (i & 7))) zeroes++;
    expect(result.zeroPages).toBe(zeroes);
    expect(result.storedBytes).toBeLessThanOrEqual(raw.length);
  }
}

async function withReader<T>(path: string, fn: (r: KdumpFileReader) => Promise<T>): Promise<T> {
  const reader = await KdumpFileReader.open(path);
  try {
    return await fn(reader);
  } finally {
    await reader.close();
  }
}

function expectedPfns(): number[] {
  return desc.pageMap.extents.flatMap((e) => Array.from({ length: e.pageCount }, (_, i) => e.startPfn + i));
}

/** Rank of a pfn the way crash finds it: set bits of bitmap 2 below it. */
function rankByBitmap(bitmap: Buffer, pfn: number): number {
  let rank = 0;
  for (let p = 0; p < pfn; p++) if (isBitSet(bitmap, p)) rank++;
  return rank;
}

describe('the synthetic core used here', () => {
  it('has zero, random and patterned pages, and overlapping / unaligned segments', () => {
    const pfns = expectedPfns();
    expect(desc.pageMap.extents.length).toBe(3);
    expect(desc.physBase).toBe(0xffff_ffff_d7a0_0000n);
    const kinds = new Set(pfns.map((p) => JSON.stringify(fillFor(p))));
    expect(kinds).toEqual(new Set(['"zero"', '"random"', '"pattern"']));
    expect(new ChunkPlan(desc.pageMap, CHUNK_PAGES).totalChunks).toBeGreaterThan(5);
  });
});

describe.each(['lzo', 'zlib', 'none'] as PageCodecName[])('KdumpFileWriter + KdumpFileReader round trip (%s)', (codecName) => {
  const name = () => join(dir, `dump-${codecName}.kdump`);

  it('writes a dump that reads back page for page', async () => {
    const path = name();
    const spec = fileSpec(codecName);
    const plan = new ChunkPlan(desc.pageMap, CHUNK_PAGES);
    const writer = await KdumpFileWriter.create(path, spec);

    // Before finish(): INCOMPLETE in the header, right after create and halfway through.
    await withReader(path, async (r) => {
      expect(r.header.status & DUMP_DH_COMPRESSED_INCOMPLETE).toBe(DUMP_DH_COMPRESSED_INCOMPLETE);
      expect(r.incomplete).toBe(true);
    });
    const half = Math.floor(plan.totalChunks / 2);
    await writeChunks(writer, plan, 0, half);
    await withReader(path, async (r) => {
      expect(r.header.status & DUMP_DH_COMPRESSED_INCOMPLETE).toBe(DUMP_DH_COMPRESSED_INCOMPLETE);
      expect(r.incomplete).toBe(true);
    });
    await writeChunks(writer, plan, half, plan.totalChunks);
    const end = await writer.finish();
    expect((await stat(path)).size).toBe(end);

    const raw = await readFile(path);
    // Sub-header at block 1, max_mapnr_64 at its offset 96.
    expect(raw.readBigUInt64LE(PAGE + 96)).toBe(BigInt(desc.pageMap.maxPfn));
    const sub = decodeSubHeader(raw.subarray(PAGE, PAGE + KDUMP_SUB_HEADER_SIZE));
    expect(sub.physBase).toBe(0xffff_ffff_d7a0_0000n);
    expect(sub.dumpLevel).toBe(1);
    expect(raw.toString('latin1', 0, 8)).toBe('KDUMP   ');

    await withReader(path, async (r) => {
      // Header after finish(): complete, codec bit only.
      expect(r.incomplete).toBe(false);
      expect(r.header.status & DUMP_DH_COMPRESSED_INCOMPLETE).toBe(0);
      expect(r.header.status).toBe(spec.codec.flag);
      expect(r.header.headerVersion).toBe(6);
      expect(r.pageSize).toBe(PAGE);
      expect(r.maxPfn).toBe(desc.pageMap.maxPfn);
      expect(r.header.maxMapnr32).toBe(desc.pageMap.maxPfn);
      expect(r.header.nrCpus).toBe(2);
      expect(r.header.utsname).toEqual(utsname);
      expect(r.header.timestampSec).toBe(1_732_000_999);
      expect(r.subHeader.maxMapnr64).toBe(desc.pageMap.maxPfn);

      // Notes and VMCOREINFO, byte for byte.
      expect((await r.readNotes()).equals(core.notes)).toBe(true);
      expect(await r.readVmcoreinfo()).toBe(coreSpec.vmcoreinfo);

      // Bitmaps: exactly the map's pfns, in both.
      const pfns = expectedPfns();
      expect(r.pfnsIn(r.presentBitmap)).toEqual(pfns);
      expect(r.pfnsIn(r.dumpableBitmap)).toEqual(pfns);
      expect(r.isDumpable(0x1f)).toBe(false); // trailing partial page of 0x1000..0x1fc00
      expect(r.isDumpable(0x1e)).toBe(true);

      const descriptors = await r.readDescriptors(0, pfns.length);
      const zeroOffsets = new Set<number>();
      const dataRanges: Array<[number, number]> = [];
      let compressed = 0;
      let rawStored = 0;
      for (let i = 0; i < pfns.length; i++) {
        const pfn = pfns[i];
        expect(rankByBitmap(r.dumpableBitmap, pfn)).toBe(i);
        const d: PageDescriptor = descriptors[i];
        const want = corePageBytes(coreSpec, pfn);
        const got = await r.readPage(d);
        if (!got.equals(want)) throw new Error(`pfn 0x${pfn.toString(16)} (rank ${i}) differs after the round trip`);
        if (fillFor(pfn) === 'zero') {
          zeroOffsets.add(d.offset);
          expect(d).toMatchObject({ size: PAGE, flags: 0 });
          continue;
        }
        dataRanges.push([d.offset, d.offset + d.size]);
        if (d.flags === 0) {
          expect(d.size).toBe(PAGE);
          rawStored++;
        } else {
          expect(d.flags).toBe(spec.codec.flag);
          expect(d.size).toBeLessThan(PAGE);
          compressed++;
        }
      }
      // Every zero page shares one stored page.
      expect(zeroOffsets.size).toBe(1);
      const [zeroOffset] = [...zeroOffsets];
      // Non-zero pages each have their own bytes, after the shared zero page, inside the file.
      dataRanges.sort((a, b) => a[0] - b[0]);
      expect(dataRanges[0][0]).toBeGreaterThanOrEqual(zeroOffset + PAGE);
      for (let i = 1; i < dataRanges.length; i++) expect(dataRanges[i][0]).toBeGreaterThanOrEqual(dataRanges[i - 1][1]);
      expect(dataRanges.at(-1)![1]).toBeLessThanOrEqual(end);
      if (codecName === 'none') {
        expect(compressed).toBe(0);
      } else {
        expect(compressed).toBeGreaterThan(0); // patterned pages shrink
        expect(rawStored).toBeGreaterThan(0); // random pages do not
      }
    });
  });
});

describe('KdumpFileWriter.reopen', () => {
  it('continuing after reopen gives the same file as writing in one go', async () => {
    const plan = new ChunkPlan(desc.pageMap, CHUNK_PAGES);
    const straight = join(dir, 'straight.kdump');
    const w1 = await KdumpFileWriter.create(straight, fileSpec('lzo'));
    await writeChunks(w1, plan, 0, plan.totalChunks);
    await w1.finish();

    const resumed = join(dir, 'resumed.kdump');
    const w2 = await KdumpFileWriter.create(resumed, fileSpec('lzo'));
    const cut = 3;
    await writeChunks(w2, plan, 0, cut);
    const dataEnd = w2.dataEnd;
    await w2.close();
    const w3 = await KdumpFileWriter.reopen(resumed, fileSpec('lzo'), dataEnd);
    expect(w3.dataEnd).toBe(dataEnd);
    await writeChunks(w3, plan, cut, plan.totalChunks);
    await w3.finish();

    expect((await readFile(resumed)).equals(await readFile(straight))).toBe(true);
  });
});

describe('KdumpFileWriter with bitmaps larger than its 64 KiB window', () => {
  it('marks runs that cross a window boundary and reads sparse pages back', async () => {
    const path = join(dir, 'sparse.kdump');
    // 524288 = 65536 * 8: the first pfn of the second bitmap window.
    const runs = [{ startPfn: 5, pageCount: 3 }, { startPfn: 524_285, pageCount: 6 }, { startPfn: 599_990, pageCount: 10 }];
    const maxPfn = 600_000;
    const pfns = runs.flatMap((r) => Array.from({ length: r.pageCount }, (_, i) => r.startPfn + i));
    const pageFor = (pfn: number) => pageFromFill(pfn % 4 === 0 ? 'zero' : pfn % 4 === 1 ? 'random' : 'pattern', pfn, PAGE);
    const writer = await KdumpFileWriter.create(path, {
      ...fileSpec('zlib'), maxPfn, presentRuns: runs, dumpableRuns: runs, maxRunPages: 16,
    });
    let rank = 0;
    for (const run of runs) {
      const bitmap = Buffer.alloc(zeroBitmapLength(run.pageCount));
      const raw: Buffer[] = [];
      for (let i = 0; i < run.pageCount; i++) {
        const page = pageFor(run.startPfn + i);
        if (page.every((b) => b === 0)) bitmap[i >>> 3] |= 1 << (i & 7);
        else raw.push(page);
      }
      await writer.writePages(rank, run.pageCount, bitmap, Buffer.concat(raw));
      rank += run.pageCount;
    }
    await writer.finish();

    await withReader(path, async (r) => {
      expect(r.header.bitmapBlocks).toBe(2 * Math.ceil(Math.ceil(maxPfn / 8) / PAGE));
      expect(r.presentBitmap.length).toBeGreaterThan(65536);
      expect(r.maxPfn).toBe(maxPfn);
      expect(r.pfnsIn(r.presentBitmap)).toEqual(pfns);
      expect(r.pfnsIn(r.dumpableBitmap)).toEqual(pfns);
      const descriptors = await r.readDescriptors(0, pfns.length);
      for (let i = 0; i < pfns.length; i++) {
        expect((await r.readPage(descriptors[i])).equals(pageFor(pfns[i]))).toBe(true);
      }
    });
  });
});
