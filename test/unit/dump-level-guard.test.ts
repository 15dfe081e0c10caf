/**
 * The dump-level guard (sender/dump-level/guard.ts) end to end on synthetic
 * cores whose VMCOREINFO says one thing and whose struct pages another: the
 * sender must keep every page it cannot prove unneeded, lower the level and
 * say why.
 */
import { describe, expect, it } from 'vitest';
import { computeExclusion } from '../../sender/dump-level/exclusion.js';
import { DumpLevel } from '../../sender/dump-level/page-rules.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';
import { PAGE_INFO_6_1, SYNTHETIC_PAGES, syntheticKernelCore, type StructPageSpec } from '../helpers/synthetic-kernel.js';

const BUDDY = -129;
const LRU = 1n << 4n;
const ANON_VMA = 0xffff_8880_0123_4561n;
/** The upper half of memory is what each case fills with one kind of page. */
const HALF = SYNTHETIC_PAGES / 2;
const pagesOf = (kind: (pfn: number) => StructPageSpec) => (pfn: number) => (pfn >= HALF ? kind(pfn) : undefined);
const kept = (exclusion: ReturnType<typeof computeExclusion>, pfn: number) =>
  exclusion.dumpable.some((r) => pfn >= r.startPfn && pfn < r.startPfn + r.pageCount);

describe('free pages held against the kernel\'s NR_FREE_PAGES', () => {
  const freeBlocks = pagesOf(() => ({ mapcount: BUDDY, private: 0n }));
  const agreeing = useSyntheticCore(syntheticKernelCore({ page: freeBlocks, nrFreePages: HALF, pageInfo: PAGE_INFO_6_1 }));
  const contradicting = useSyntheticCore(syntheticKernelCore({ page: freeBlocks, nrFreePages: 100, pageInfo: PAGE_INFO_6_1 }));

  it('leaves free pages out when the kernel counted them free', () => {
    const exclusion = computeExclusion(agreeing.source, 31);
    expect(exclusion.level).toBe(31);
    expect(exclusion.excluded.free).toBe(HALF);
    expect(kept(exclusion, HALF)).toBe(false);
    expect(exclusion.warnings).toEqual([]);
  });

  it('keeps them, drops bit 16 and says why when the struct pages claim far more than the kernel counted', () => {
    const exclusion = computeExclusion(contradicting.source, 31);
    expect(exclusion.level).toBe(31 & ~DumpLevel.FREE);
    expect(exclusion.excluded.free).toBe(0);
    expect(kept(exclusion, HALF)).toBe(true);
    expect(exclusion.dumpablePages).toBe(SYNTHETIC_PAGES);
    expect(exclusion.warnings.join('\n')).toMatch(/8192 pages judged free, the kernel counted 100 .*at most 226 tolerated.*leaving out 16/);
  });
});

describe('buddy blocks that are not aligned to their order', () => {
  // Order-1 "free" blocks starting at odd pfns: no buddy allocator made these.
  const core = useSyntheticCore(syntheticKernelCore({
    page: pagesOf((pfn) => (pfn % 2 ? { mapcount: BUDDY, private: 1n } : {})), nrFreePages: HALF, pageInfo: PAGE_INFO_6_1,
  }));

  it('are kept, and so many of them drop bit 16', () => {
    const exclusion = computeExclusion(core.source, 16);
    expect(exclusion.level).toBe(0);
    expect(exclusion.excluded.free).toBe(0);
    expect(exclusion.dumpablePages).toBe(SYNTHETIC_PAGES);
    expect(exclusion.warnings.join('\n')).toMatch(/4096 pages looked free but their block is not aligned.*leaving out 16/);
  });
});

describe('slab pages a rule takes for anonymous ones (6.12 read with the 6.1 rules)', () => {
  // VMCOREINFO says PG_slab is bit 9, but these slab pages do not carry it (their kernel made slab a page
  // type), and slab.slabs, an odd count, sits where page.mapping is.
  const slabs = (pfn: number): StructPageSpec => ({ mapping: BigInt(2 * (pfn % 7) + 1) });
  const anon = (): StructPageSpec => ({ flags: LRU, mapping: ANON_VMA, mapcount: 0 });
  const core = useSyntheticCore(syntheticKernelCore({
    page: pagesOf((pfn) => (pfn < HALF + 16 ? anon() : slabs(pfn))), nrFreePages: 0, pageInfo: PAGE_INFO_6_1,
  }));

  it('are kept, and the user-page bit is dropped for the whole dump', () => {
    const exclusion = computeExclusion(core.source, 31);
    expect(exclusion.level).toBe(31 & ~DumpLevel.USER);
    expect(exclusion.excluded.user).toBe(0);
    // Every page, the real anon ones too: a rule caught misreading this kernel is trusted for no page.
    expect(exclusion.dumpablePages).toBe(SYNTHETIC_PAGES);
    expect(exclusion.warnings.join('\n')).toMatch(/8176 pages looked anonymous but their mapping is not a kernel pointer.*leaving out 8/);
  });

  it('a few such pages are kept without dropping the bit', async () => {
    const few = syntheticKernelCore({
      page: pagesOf((pfn) => (pfn < SYNTHETIC_PAGES - 4 ? anon() : slabs(pfn))), nrFreePages: 0, pageInfo: PAGE_INFO_6_1,
    });
    const { writeElfCoreFile } = await import('../helpers/elf-core-builder.js');
    const { VmcoreSource } = await import('../../sender/vmcore-source.js');
    const file = await writeElfCoreFile(few);
    const source = VmcoreSource.open(file.path);
    try {
      const exclusion = computeExclusion(source, 8);
      expect(exclusion.level).toBe(8);
      expect(exclusion.excluded.user).toBe(HALF - 4);
      for (let pfn = SYNTHETIC_PAGES - 4; pfn < SYNTHETIC_PAGES; pfn++) expect(kept(exclusion, pfn)).toBe(true);
      expect(exclusion.warnings.join('\n')).toMatch(/^dump level guard: 4 pages looked anonymous/);
    } finally {
      source.close();
      await file.cleanup();
    }
  });
});

describe('VMCOREINFO from a kernel newer than every rule', () => {
  const unknownKey = useSyntheticCore(syntheticKernelCore({
    page: pagesOf(() => ({ mapcount: BUDDY, private: 0n })), nrFreePages: HALF,
    pageInfo: [...PAGE_INFO_6_1, 'OFFSET(page.memdesc)=8'],
  }));
  const unknownEncoding = useSyntheticCore(syntheticKernelCore({
    page: pagesOf(() => ({ mapcount: 0x1234 })), nrFreePages: HALF,
    pageInfo: [...PAGE_INFO_6_1.filter((l) => !l.startsWith('NUMBER(PAGE_BUDDY')), 'NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=4660'],
  }));

  it('a struct page entry no rule knows lowers the level to zero pages, naming the entry', () => {
    const exclusion = computeExclusion(unknownKey.source, 31);
    expect(exclusion.level).toBe(DumpLevel.ZERO);
    expect(exclusion.dumpablePages).toBe(SYNTHETIC_PAGES);
    expect(exclusion.warnings.join('\n')).toMatch(/OFFSET\(page\.memdesc\).*a kernel newer than these rules/);
  });

  it('page-type values in an unknown encoding do too, and no page is judged by them', () => {
    const exclusion = computeExclusion(unknownEncoding.source, 31);
    expect(exclusion.level).toBe(DumpLevel.ZERO);
    expect(exclusion.excluded.free).toBe(0);
    expect(exclusion.dumpablePages).toBe(SYNTHETIC_PAGES);
    expect(exclusion.warnings.join('\n')).toMatch(/unknown encoding \(PAGE_BUDDY_MAPCOUNT_VALUE=0x1234\)/);
  });
});
