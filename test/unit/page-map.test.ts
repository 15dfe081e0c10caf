import { describe, it, expect } from 'vitest';
import { NetdumpError } from '../../shared/errors.js';
import { parseElfHeader, parseProgramHeaders, type ProgramHeader } from '../../shared/elf/core.js';
import { buildPageMap, rankOfPfn, readSpansForPages, readSpansForRange, type PageMap } from '../../shared/elf/page-map.js';
import {
  X86_64_START_KERNEL_MAP, buildElfCoreDetailed, corePageBytes, sampleX86Loads, type BuiltElfCore, type ElfCoreSpec,
} from '../helpers/elf-core-builder.js';

const PAGE = 4096;

function headersOf(core: BuiltElfCore): ProgramHeader[] {
  return parseProgramHeaders(core.headers, parseElfHeader(core.headers));
}

/** Fills pages the way a sender does: zeroed buffer, then the file reads the map asks for. */
function readPages(core: BuiltElfCore, map: PageMap, startPfn: number, count: number): Buffer {
  const out = Buffer.alloc(count * map.pageSize);
  for (const span of readSpansForPages(map, startPfn, count)) {
    expect(span.length).toBeGreaterThan(0);
    expect(span.bufferOffset + span.length).toBeLessThanOrEqual(out.length);
    expect(span.fileOffset + span.length).toBeLessThanOrEqual(core.buffer.length);
    core.buffer.copy(out, span.bufferOffset, span.fileOffset, span.fileOffset + span.length);
  }
  return out;
}

function allPfns(map: PageMap): number[] {
  return map.extents.flatMap((e) => Array.from({ length: e.pageCount }, (_, i) => e.startPfn + i));
}

describe('buildPageMap on an x86_64-shaped core', () => {
  // Random pages so that any misplaced byte shows.
  const spec: ElfCoreSpec = { loads: sampleX86Loads(), page: () => 'random' };
  const core = buildElfCoreDetailed(spec);
  const phs = headersOf(core);
  const map = buildPageMap(phs, PAGE, core.buffer.length);

  it('deduplicates the kernel-text PT_LOAD mapped a second time inside RAM', () => {
    expect(phs[1].vaddr >= X86_64_START_KERNEL_MAP).toBe(true);
    expect(map.extents).toEqual([
      // 0x1000..0x9fc00: pfns 1..0x9e; the trailing partial page 0x9f is left out, as makedumpfile does.
      { startPfn: 0x1, pageCount: 0x9e, firstRank: 0 },
      { startPfn: 0x100, pageCount: 0x300, firstRank: 0x9e },
      { startPfn: 0x600, pageCount: 0x80, firstRank: 0x9e + 0x300 },
    ]);
    expect(map.totalPages).toBe(0x9e + 0x300 + 0x80);
    // Pieces are sorted, disjoint and cover each physical byte once.
    for (let i = 1; i < map.pieces.length; i++) expect(map.pieces[i].physStart).toBeGreaterThanOrEqual(map.pieces[i - 1].physEnd);
    const covered = map.pieces.reduce((n, p) => n + (p.physEnd - p.physStart), 0);
    expect(covered).toBe(0x9_ec00 + 0x30_0000 + 0x8_0000);
    expect(map.pieces).toHaveLength(3);
  });

  it('maxPfn is one past the highest pfn', () => {
    expect(map.maxPfn).toBe(0x680);
    expect(map.pageSize).toBe(PAGE);
  });

  it('every page read through the spans equals the core page', () => {
    for (const extent of map.extents) {
      const got = readPages(core, map, extent.startPfn, extent.pageCount);
      for (let i = 0; i < extent.pageCount; i++) {
        const pfn = extent.startPfn + i;
        const page = got.subarray(i * PAGE, (i + 1) * PAGE);
        if (!page.equals(corePageBytes(spec, pfn))) throw new Error(`pfn 0x${pfn.toString(16)} differs`);
      }
    }
  });

  it('unaligned segment end 0x9fc00: the partial page is outside the map but reads as 0xc00 bytes then zeroes', () => {
    expect(rankOfPfn(map, 0x9e)).toBe(0x9d);
    expect(rankOfPfn(map, 0x9f)).toBe(-1);
    const spans = readSpansForPages(map, 0x9f, 1);
    expect(spans).toEqual([{ fileOffset: core.loads[1].offset + (0x9f000 - 0x1000), bufferOffset: 0, length: 0xc00 }]);
    const page = readPages(core, map, 0x9f, 1);
    expect(page.subarray(0xc00).equals(Buffer.alloc(PAGE - 0xc00))).toBe(true);
    expect(page.subarray(0, 0xc00).equals(Buffer.alloc(0xc00))).toBe(false); // random content, not zero
  });

  it('pages of the kernel-text range are read from the first (RAM) mapping only', () => {
    const spans = readSpansForPages(map, 0x200, 0x40);
    expect(spans).toHaveLength(1);
    const ram = core.loads[2];
    expect(spans[0]).toEqual({ fileOffset: ram.offset + (0x20_0000 - 0x10_0000), bufferOffset: 0, length: 0x40 * PAGE });
  });

  it('a window spanning a hole yields spans only for present bytes', () => {
    const spans = readSpansForPages(map, 0x3ff, 0x202);
    expect(spans.map((s) => [s.bufferOffset, s.length])).toEqual([[0, PAGE], [0x201 * PAGE, PAGE]]);
    expect(readSpansForPages(map, 0x400, 0x200)).toEqual([]);
  });

  it('rankOfPfn numbers present pages densely in pfn order and gives -1 for absent ones', () => {
    const present = new Set(allPfns(map));
    let rank = 0;
    for (let pfn = 0; pfn < map.maxPfn + 16; pfn++) {
      if (present.has(pfn)) expect(rankOfPfn(map, pfn)).toBe(rank++);
      else expect(rankOfPfn(map, pfn)).toBe(-1);
    }
    expect(rank).toBe(map.totalPages);
    expect(rankOfPfn(map, 0x100)).toBe(0x9e);
    expect(rankOfPfn(map, 0x67f)).toBe(map.totalPages - 1);
  });

  it('segment order in the program headers does not matter', () => {
    const reversed = buildPageMap([...phs].reverse(), PAGE);
    expect(reversed.extents).toEqual(map.extents);
    expect(reversed.pieces.map((p) => [p.physStart, p.physEnd])).toEqual(map.pieces.map((p) => [p.physStart, p.physEnd]));
  });
});

describe('buildPageMap edge cases', () => {
  it('a partial overlap: the later segment contributes only the bytes past the earlier one', () => {
    const spec: ElfCoreSpec = {
      loads: [{ paddr: 0x3000, memsz: 0x5000 }, { paddr: 0, memsz: 0x5000 }],
      page: () => 'random',
    };
    const core = buildElfCoreDetailed(spec);
    const map = buildPageMap(headersOf(core), PAGE, core.buffer.length);
    expect(map.extents).toEqual([{ startPfn: 0, pageCount: 8, firstRank: 0 }]);
    expect(map.pieces).toEqual([
      { physStart: 0, physEnd: 0x5000, fileOffset: core.loads[1].offset },
      { physStart: 0x5000, physEnd: 0x8000, fileOffset: core.loads[0].offset + 0x2000 },
    ]);
    const pages = readPages(core, map, 0, 8);
    for (let pfn = 0; pfn < 8; pfn++) expect(pages.subarray(pfn * PAGE, (pfn + 1) * PAGE).equals(corePageBytes(spec, pfn))).toBe(true);
  });

  it('an unaligned segment start gives a first page whose leading bytes read as zero', () => {
    const spec: ElfCoreSpec = { loads: [{ paddr: 0x10_0400, memsz: 0x1c00 }], page: () => ({ fill: 0xab }) };
    const core = buildElfCoreDetailed(spec);
    const map = buildPageMap(headersOf(core), PAGE, core.buffer.length);
    // 0x100400..0x102000: the unaligned start page is kept.
    expect(map.extents).toEqual([{ startPfn: 0x100, pageCount: 2, firstRank: 0 }]);
    expect(map.maxPfn).toBe(0x102);
    const page = readPages(core, map, 0x100, 2);
    expect(page.subarray(0, 0x400).every((b) => b === 0)).toBe(true);
    expect(page.subarray(0x400).every((b) => b === 0xab)).toBe(true);
    expect(page.subarray(0, PAGE).equals(corePageBytes(spec, 0x100))).toBe(true);
  });

  it('two segments sharing one page (0x1000..0x9fc00 and 0x9fe00..0xa1000) merge into one extent', () => {
    const spec: ElfCoreSpec = {
      loads: [{ paddr: 0x1000, memsz: 0x9_ec00 }, { paddr: 0x9_fe00, memsz: 0x1200 }],
      page: () => ({ fill: 0x5a }),
    };
    const core = buildElfCoreDetailed(spec);
    const map = buildPageMap(headersOf(core), PAGE, core.buffer.length);
    expect(map.extents).toEqual([{ startPfn: 1, pageCount: 0xa0, firstRank: 0 }]);
    const page = readPages(core, map, 0x9f, 1);
    expect(page.equals(corePageBytes(spec, 0x9f))).toBe(true);
    expect(page[0xbff]).toBe(0x5a);
    expect(page[0xc00]).toBe(0);
    expect(page[0xdff]).toBe(0);
    expect(page[0xe00]).toBe(0x5a);
  });

  it('memsz beyond filesz: the pages count, the missing bytes read as zero', () => {
    const spec: ElfCoreSpec = { loads: [{ paddr: 0x4000, memsz: 0x3000, filesz: 0x1800 }], page: () => 'random' };
    const core = buildElfCoreDetailed(spec);
    const map = buildPageMap(headersOf(core), PAGE, core.buffer.length);
    expect(map.extents).toEqual([{ startPfn: 4, pageCount: 3, firstRank: 0 }]);
    expect(map.totalPages).toBe(3);
    const pages = readPages(core, map, 4, 3);
    expect(pages.subarray(0x1800).every((b) => b === 0)).toBe(true);
    expect(pages.subarray(0, PAGE).equals(corePageBytes(spec, 4))).toBe(true);
    expect(pages.subarray(PAGE, 2 * PAGE).equals(corePageBytes(spec, 5))).toBe(true);
    expect(readSpansForPages(map, 6, 1)).toEqual([]);
  });

  it('works with 64 KiB pages', () => {
    const spec: ElfCoreSpec = { pageSize: 65536, loads: [{ paddr: 0x1000, memsz: 0x2_0000 }], page: () => 'random' };
    const core = buildElfCoreDetailed(spec);
    const map = buildPageMap(headersOf(core), 65536, core.buffer.length);
    // 0x1000..0x21000: partial first page 0 kept, partial last page 2 left out.
    expect(map.extents).toEqual([{ startPfn: 0, pageCount: 2, firstRank: 0 }]);
    expect(map.maxPfn).toBe(2);
    const pages = readPages(core, map, 0, 2);
    expect(pages.subarray(0, 65536).equals(corePageBytes(spec, 0))).toBe(true);
    expect(pages.subarray(65536).equals(corePageBytes(spec, 1))).toBe(true);
    expect(pages.subarray(0, 0x1000).every((b) => b === 0)).toBe(true);
  });

  it('a segment smaller than one page and not reaching a page end holds no whole page -> CORRUPT', () => {
    const core = buildElfCoreDetailed({ loads: [{ paddr: 0x1000, memsz: 0x800 }] });
    expect(() => buildPageMap(headersOf(core), PAGE)).toThrow(expect.objectContaining({ code: 'CORRUPT' }));
  });

  it('readSpansForRange reads arbitrary physical byte ranges across pieces and holes', () => {
    const spec: ElfCoreSpec = { loads: [{ paddr: 0x1000, memsz: 0x2000 }, { paddr: 0x5000, memsz: 0x1000 }], page: () => 'random' };
    const core = buildElfCoreDetailed(spec);
    const map = buildPageMap(headersOf(core), PAGE, core.buffer.length);
    const spans = readSpansForRange(map, 0x2800, 0x3000);
    expect(spans).toEqual([
      { fileOffset: core.loads[0].offset + 0x1800, bufferOffset: 0, length: 0x800 },
      { fileOffset: core.loads[1].offset, bufferOffset: 0x2800, length: 0x800 },
    ]);
    expect(readSpansForRange(map, 0x3000, 0x2000)).toEqual([]);
  });

  it('a segment that ends past the end of the file -> CORRUPT naming the offset', () => {
    const core = buildElfCoreDetailed({ loads: sampleX86Loads() });
    const phs = headersOf(core);
    const last = core.loads[3];
    const fileSize = core.buffer.length - 1;
    let err: unknown;
    try {
      buildPageMap(phs, PAGE, fileSize);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NetdumpError);
    expect((err as NetdumpError).code).toBe('CORRUPT');
    expect((err as NetdumpError).message).toContain(`ends at file offset ${last.offset + last.filesz}`);
    expect((err as NetdumpError).message).toContain(`${fileSize} bytes`);
    expect((err as NetdumpError).context).toMatchObject({ offset: last.offset + last.filesz, segment: 4 });
    // The exact size is fine.
    expect(() => buildPageMap(phs, PAGE, core.buffer.length)).not.toThrow();
  });

  it('no PT_LOAD with memory -> CORRUPT', () => {
    const core = buildElfCoreDetailed({ loads: [{ paddr: 0x1000, memsz: 0 }] });
    expect(() => buildPageMap(headersOf(core), PAGE)).toThrow(expect.objectContaining({ code: 'CORRUPT' }));
  });
});
