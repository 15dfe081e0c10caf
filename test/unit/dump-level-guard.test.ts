/**
 * The dump-level guard (sender/dump-level/guard.ts) end to end on synthetic
 * cores whose VMCOREINFO says one thing and whose struct pages another: the
 * sender must keep every page it cannot prove unneeded, lower the level and
 * say why.
 */
import { describe, expect, it } from 'vitest';
import { computeExclusion } from '../../sender/dump-level/exclusion.js';
import { DumpLevel } from '../../sender/dump-level/page-rules.js';
import { X86_64_START_KERNEL_MAP, type ElfCoreSpec, type PageFill } from '../helpers/elf-core-builder.js';
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

/**
 * The synthetic kernel as arm64's VMCOREINFO has it: no SYMBOL(node_data), which the guard then finds in
 * kallsyms, with the nodes in node_online_map. The tables (scripts/kallsyms.c's layout, a token per
 * character, one-byte lengths, offsets from kallsyms_relative_base) sit in unused pages of the kernel image.
 */
function withoutNodeDataInVmcoreinfo(spec: ElfCoreSpec): ElfCoreSpec {
  const PAGE = 4096;
  const TABLES_PHYS = 0x40_0000;
  const ONLINE_MAP_PHYS = 0x3f_f000;
  const image = (phys: number) => X86_64_START_KERNEL_MAP + BigInt(phys);
  const lines = (spec.vmcoreinfo as string).split('\n');
  const nodeData = BigInt(`0x${lines.find((l) => l.startsWith('SYMBOL(node_data)='))!.split('=')[1]}`);
  const stext = image(0x10_0000); // below node_data: kallsyms_relative_base is the lowest address
  const symbols = [{ name: '_stext', type: 'T', address: stext }, { name: 'schedule', type: 'T', address: stext + 0x100n }, { name: 'node_data', type: 'D', address: nodeData }];
  const chars = [...new Set(symbols.flatMap((s) => [...s.type + s.name]))];
  const names = symbols.flatMap((s) => [s.name.length + 1, ...[...s.type + s.name].map((c) => chars.indexOf(c))]);
  const tokens = Buffer.from([...chars, ...Array(256 - chars.length).fill('')].map((t) => `${t}\0`).join(''), 'latin1');
  const at = { offsets: 0, base: 16, count: 24, names: 32, markers: 32 + Math.ceil(names.length / 8) * 8 };
  const tokenTable = at.markers + 8;
  const tokenIndex = tokenTable + Math.ceil(tokens.length / 8) * 8;
  const tables = Buffer.alloc(PAGE * 2);
  symbols.forEach((s, i) => tables.writeUInt32LE(Number(s.address - stext), 4 * i));
  tables.writeBigUInt64LE(stext, at.base);
  tables.writeUInt32LE(symbols.length, at.count);
  Buffer.from(names).copy(tables, at.names); // kallsyms_markers: [0], already zero
  tokens.copy(tables, tokenTable);
  let start = 0;
  for (let t = 0; t < 256; t++) {
    tables.writeUInt16LE(start, tokenIndex + 2 * t);
    start += t < chars.length ? 2 : 1;
  }
  const onlineMap = Buffer.alloc(PAGE);
  onlineMap[0] = 1; // node 0
  const pages = new Map<number, PageFill>([
    [TABLES_PHYS / PAGE, tables.subarray(0, PAGE)], [TABLES_PHYS / PAGE + 1, tables.subarray(PAGE)], [ONLINE_MAP_PHYS / PAGE, onlineMap],
  ]);
  const symbol = (name: string, offset: number) => `SYMBOL(${name})=${(image(TABLES_PHYS) + BigInt(offset)).toString(16)}`;
  const vmcoreinfo = [
    ...lines.filter((l) => !/^(SYMBOL|LENGTH)\(node_data\)=/.test(l) && l !== ''),
    `SYMBOL(_stext)=${stext.toString(16)}`, `SYMBOL(node_online_map)=${image(ONLINE_MAP_PHYS).toString(16)}`, 'SIZE(nodemask_t)=128',
    symbol('kallsyms_offsets', at.offsets), symbol('kallsyms_relative_base', at.base), symbol('kallsyms_num_syms', at.count),
    symbol('kallsyms_names', at.names), symbol('kallsyms_token_table', tokenTable), symbol('kallsyms_token_index', tokenIndex), '',
  ].join('\n');
  return { ...spec, vmcoreinfo, page: (pfn) => pages.get(pfn) ?? spec.page!(pfn) };
}

describe('free pages held against NR_FREE_PAGES of nodes found through kallsyms (arm64\'s VMCOREINFO)', () => {
  const freeBlocks = pagesOf(() => ({ mapcount: BUDDY, private: 0n }));
  const agreeing = useSyntheticCore(withoutNodeDataInVmcoreinfo(syntheticKernelCore({ page: freeBlocks, nrFreePages: HALF, pageInfo: PAGE_INFO_6_1 })));
  const contradicting = useSyntheticCore(withoutNodeDataInVmcoreinfo(syntheticKernelCore({ page: freeBlocks, nrFreePages: 100, pageInfo: PAGE_INFO_6_1 })));

  it('checks them, and says nothing when the kernel counted them free', () => {
    const exclusion = computeExclusion(agreeing.source, 31);
    expect(exclusion.level).toBe(31);
    expect(exclusion.excluded.free).toBe(HALF);
    expect(exclusion.warnings).toEqual([]);
  });

  it('drops bit 16 when the struct pages claim far more than the kernel counted', () => {
    const exclusion = computeExclusion(contradicting.source, 31);
    expect(exclusion.level).toBe(31 & ~DumpLevel.FREE);
    expect(exclusion.excluded.free).toBe(0);
    expect(exclusion.warnings.join('\n')).toMatch(/8192 pages judged free, the kernel counted 100 .*leaving out 16/);
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
