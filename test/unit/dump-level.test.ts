import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVmcoreinfo } from '../../shared/elf/vmcoreinfo.js';
import { computeExclusion } from '../../sender/dump-level/exclusion.js';
import { DumpLevel, judgePage, pageJudge, pageRulesFor } from '../../sender/dump-level/page-rules.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { X86_64Translator } from '../../shared/elf/x86-64-translate.js';
import { locateMemMap } from '../../shared/elf/mem-map.js';
import { sampleX86Loads, writeElfCoreFile, type ElfCoreFile, type ElfCoreSpec } from '../helpers/elf-core-builder.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';

/** The 6.1 VMCOREINFO entries the rules read (values of Debian's 6.1.0-56-amd64). */
const INFO_6_1 = parseVmcoreinfo([
  'SIZE(page)=64', 'OFFSET(page.flags)=0', 'OFFSET(page._refcount)=52', 'OFFSET(page.mapping)=24', 'OFFSET(page.lru)=8',
  'OFFSET(page._mapcount)=48', 'OFFSET(page.private)=40', 'OFFSET(page.compound_head)=8', 'OFFSET(page.compound_dtor)=16',
  'OFFSET(page.compound_order)=17', 'NUMBER(PG_lru)=4', 'NUMBER(PG_private)=13', 'NUMBER(PG_swapcache)=10',
  'NUMBER(PG_swapbacked)=19', 'NUMBER(PG_slab)=9', 'NUMBER(PG_hwpoison)=23', 'NUMBER(PG_head_mask)=65536',
  'NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129', 'NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-257', 'NUMBER(HUGETLB_PAGE_DTOR)=2',
  'LENGTH(zone.free_area)=11', '',
].join('\n'));

interface StructPage { flags?: number[]; mapping?: bigint; mapcount?: number; private?: bigint; tail?: boolean }
function structPage(p: StructPage): Buffer {
  const b = Buffer.alloc(64);
  b.writeBigUInt64LE((p.flags ?? []).reduce((f, bit) => f | (1n << BigInt(bit)), 0n), 0);
  if (p.tail) b.writeBigUInt64LE(0xffffea0000001001n, 8);
  b.writeBigUInt64LE(p.mapping ?? 0n, 24);
  b.writeBigUInt64LE(p.private ?? 0n, 40);
  b.writeInt32LE(p.mapcount ?? -1, 48);
  return b;
}
/** The first tail page of a compound page: order and destructor live there. */
function firstTail(order: number, dtor: number): Buffer {
  const b = structPage({ tail: true });
  b[16] = dtor;
  b[17] = order;
  return b;
}

const FILE_MAPPING = 0xffff888012345678n; // an address_space: bit 0 clear
const ANON_MAPPING = 0xffff888012345679n; // an anon_vma: bit 0 set
const LRU = 4, PRIVATE = 13, SWAPCACHE = 10, SWAPBACKED = 19, SLAB = 9, HWPOISON = 23, HEAD = 16;

describe('page rules (makedumpfile 1.7.2 on 6.1)', () => {
  const at = (level: number) => pageRulesFor(INFO_6_1, level);

  it('free pages: the buddy page type with its order, never slab, never past MAX_ORDER', () => {
    expect(judgePage(at(16), 512, structPage({ mapcount: -129, private: 9n }), undefined)).toEqual({ verdict: 'free', pages: 512 });
    expect(judgePage(at(16), 512, structPage({ mapcount: -129, private: 11n }), undefined)).toEqual({ verdict: 'keep', pages: 1 });
    expect(judgePage(at(16), 512, structPage({ flags: [SLAB], mapcount: -129 }), undefined).verdict).toBe('keep');
    expect(judgePage(at(15), 512, structPage({ mapcount: -129, private: 0n }), undefined).verdict).toBe('keep');
  });

  it('cache pages: LRU or swap-backed swap cache, not anon; private ones only at level 4', () => {
    expect(judgePage(at(2), 7, structPage({ flags: [LRU], mapping: FILE_MAPPING }), undefined).verdict).toBe('cache');
    expect(judgePage(at(2), 7, structPage({ flags: [LRU, PRIVATE], mapping: FILE_MAPPING }), undefined).verdict).toBe('keep');
    expect(judgePage(at(4), 7, structPage({ flags: [LRU, PRIVATE], mapping: FILE_MAPPING }), undefined).verdict).toBe('cache_private');
    expect(judgePage(at(4), 7, structPage({ flags: [LRU], mapping: FILE_MAPPING }), undefined).verdict).toBe('cache');
    expect(judgePage(at(2), 7, structPage({ flags: [SWAPCACHE, SWAPBACKED], mapping: FILE_MAPPING }), undefined).verdict).toBe('cache');
    expect(judgePage(at(2), 7, structPage({ flags: [SWAPCACHE], mapping: FILE_MAPPING }), undefined).verdict).toBe('keep');
    expect(judgePage(at(6), 7, structPage({ flags: [LRU], mapping: ANON_MAPPING }), undefined).verdict).toBe('keep');
  });

  it('user pages: anon mappings and hugetlb heads with their whole compound range', () => {
    expect(judgePage(at(8), 7, structPage({ flags: [LRU], mapping: ANON_MAPPING }), undefined).verdict).toBe('user');
    expect(judgePage(at(8), 1024, structPage({ flags: [HEAD], mapping: ANON_MAPPING }), firstTail(9, 3))).toEqual({ verdict: 'user', pages: 512 });
    expect(judgePage(at(8), 1024, structPage({ flags: [HEAD] }), firstTail(9, 2))).toEqual({ verdict: 'user', pages: 512 });
    // A head whose order does not fit its pfn is taken as a single page.
    expect(judgePage(at(8), 1000, structPage({ flags: [HEAD], mapping: ANON_MAPPING }), firstTail(9, 3)).pages).toBe(1);
    expect(judgePage(at(8), 1025, structPage({ tail: true, mapping: ANON_MAPPING }), undefined).verdict).toBe('tail');
  });

  it('hwpoison and offline pages go at every level, slab pages never count as offline', () => {
    expect(judgePage(at(1), 3, structPage({ flags: [HWPOISON] }), undefined).verdict).toBe('hwpoison');
    expect(judgePage(at(0), 3, structPage({ mapcount: -257 }), undefined).verdict).toBe('offline');
    expect(judgePage(at(1), 3, structPage({ flags: [SLAB], mapcount: -257 }), undefined).verdict).toBe('keep');
  });

  it('lowers the level, saying why, when VMCOREINFO lacks what a bit needs', () => {
    const rules = pageRulesFor(parseVmcoreinfo('SIZE(page)=64\nOFFSET(page.compound_head)=8\nOFFSET(page.mapping)=24\n'), 31);
    // No PG_slab nor slab page type: since 6.2 a slab can look anonymous, so no page is provably a user page.
    expect(rules.level).toBe(DumpLevel.ZERO);
    expect(rules.warnings.join('\n')).toMatch(/NUMBER\(PG_slab\) and NUMBER\(PAGE_SLAB_MAPCOUNT_VALUE\)/);
    expect(rules.warnings.join('\n')).toMatch(/NUMBER\(PG_lru\/PG_private\/PG_swapcache\)/);
    expect(rules.warnings.join('\n')).toMatch(/PAGE_BUDDY_MAPCOUNT_VALUE/);
  });
});

/** A VMCOREINFO of generation `lines`: the 6.1 entries with some replaced. */
function infoWith(drop: RegExp, add: string[]) {
  const base = INFO_6_1.raw.split('\n').filter((l) => l && !drop.test(l));
  return parseVmcoreinfo([...base, ...add, ''].join('\n'));
}
/** 6.12's page types: PGTY_* << 24, printed with %ld. */
const PGTY = (type: number) => (type << 24) | 0;
const INFO_6_12 = infoWith(/PG_slab|PAGE_|HUGETLB_PAGE_DTOR|compound_(dtor|order)/, [
  `NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=${PGTY(0xf0)}`, `NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=${PGTY(0xf1)}`,
  `NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)=${PGTY(0xf4)}`, `NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)=${PGTY(0xf5)}`,
]);
/** A first tail page from 6.6 on: the order in the low byte of its flags. */
function firstTailFlags(order: number, extraFlags = 0n): Buffer {
  const b = structPage({ tail: true });
  b.writeBigUInt64LE(BigInt(order) | extraFlags, 0);
  return b;
}

describe('page rules across kernel generations (makedumpfile 1.7.9++)', () => {
  it('each generation is told by what VMCOREINFO holds', () => {
    expect(pageRulesFor(INFO_6_1, 31).generation).toBe('<=6.2');
    const info63 = infoWith(/compound_(dtor|order)/, ['OFFSET(folio._folio_dtor)=80', 'OFFSET(folio._folio_order)=81']);
    expect(pageRulesFor(info63, 31)).toMatchObject({ generation: '6.3', level: 31, compound: { kind: 'tail-bytes', dtorAt: 16, orderAt: 17 } });
    const info66 = infoWith(/compound_(dtor|order)|HUGETLB_PAGE_DTOR/, ['NUMBER(PG_hugetlb)=22']);
    expect(pageRulesFor(info66, 31)).toMatchObject({ generation: '6.6', level: 31, compound: { kind: 'flags1-bit' } });
    expect(pageRulesFor(INFO_6_12, 31)).toMatchObject({ generation: '6.12', level: 31, pgSlab: 1n << 7n });
    const info71 = parseVmcoreinfo(INFO_6_12.raw.replace('OFFSET(page.compound_head)=8', 'OFFSET(page.compound_info)=8'));
    expect(pageRulesFor(info71, 31)).toMatchObject({ generation: '7.1', level: 31, compoundHeadAt: 8 });
  });

  it('6.2 on: an odd slab count where page.mapping is does not make a slab page anonymous', () => {
    expect(judgePage(pageRulesFor(INFO_6_1, 8), 7, structPage({ flags: [SLAB], mapping: 0x25n }), undefined).verdict).toBe('keep');
  });

  it('6.6: order from the first tail page\'s flags, hugetlb from its PG_hugetlb bit', () => {
    const rules = pageRulesFor(infoWith(/compound_(dtor|order)|HUGETLB_PAGE_DTOR/, ['NUMBER(PG_hugetlb)=22']), 8);
    expect(judgePage(rules, 1024, structPage({ flags: [HEAD] }), firstTailFlags(9, 1n << 22n))).toEqual({ verdict: 'user', pages: 512 });
    expect(judgePage(rules, 1024, structPage({ flags: [HEAD] }), firstTailFlags(9))).toEqual({ verdict: 'keep', pages: 1 });
  });

  it('6.12: page types compared whole; slab, buddy, offline and hugetlb each by its own value', () => {
    const at = (level: number) => pageRulesFor(INFO_6_12, level);
    expect(judgePage(at(16), 512, structPage({ mapcount: PGTY(0xf0), private: 9n }), undefined)).toEqual({ verdict: 'free', pages: 512 });
    // Another type with the buddy's bits in it is not free (1.7.6's masks took it for one).
    expect(judgePage(at(16), 512, structPage({ mapcount: PGTY(0xf5), private: 9n }), undefined).verdict).toBe('keep');
    expect(judgePage(at(8), 7, structPage({ mapping: 0x25n, mapcount: PGTY(0xf5) }), undefined).verdict).toBe('keep');
    expect(judgePage(at(8), 7, structPage({ flags: [LRU], mapping: ANON_MAPPING, mapcount: 0 }), undefined).verdict).toBe('user');
    expect(judgePage(at(8), 1024, structPage({ flags: [HEAD], mapcount: PGTY(0xf4) }), firstTailFlags(9))).toEqual({ verdict: 'user', pages: 512 });
    expect(judgePage(at(0), 3, structPage({ mapcount: PGTY(0xf1) }), undefined).verdict).toBe('offline');
    // makedumpfile's stand-in for PG_slab on 6.10+ is bit 7: such a page is never free or anon (kept).
    expect(judgePage(at(8), 7, structPage({ flags: [7, LRU], mapping: ANON_MAPPING, mapcount: 0 }), undefined).verdict).toBe('keep');
  });

  it('6.16: unaccepted memory is free in blocks of MAX_PAGE_ORDER', () => {
    const info = parseVmcoreinfo(`${INFO_6_12.raw}NUMBER(PAGE_UNACCEPTED_MAPCOUNT_VALUE)=${PGTY(0xf7)}\n`);
    expect(pageRulesFor(info, 31).generation).toBe('6.16');
    expect(judgePage(pageRulesFor(info, 16), 1024, structPage({ mapcount: PGTY(0xf7) }), undefined)).toEqual({ verdict: 'free', pages: 1024 });
  });

  it('refuses a struct page layout it cannot read as 32-bit words, or with a field outside SIZE(page), rather than misread it', () => {
    expect(() => pageJudge({ ...pageRulesFor(INFO_6_1, 31), structPageSize: 66 })).toThrow(/SIZE\(page\)=66 is not a whole number of 32-bit words/);
    expect(() => pageJudge({ ...pageRulesFor(INFO_6_1, 31), mappingAt: 26 })).toThrow(/OFFSET\(page.mapping\)=26 is not a 64-bit field/);
    expect(() => pageJudge({ ...pageRulesFor(INFO_6_1, 31), mapcountAt: 64 })).toThrow(/OFFSET\(page._mapcount\)=64 is not a 32-bit field inside SIZE\(page\)=64/);
    // A first tail's order byte past SIZE(page) read as undefined: order 0, as makedumpfile's rules had it.
    const rules = pageRulesFor(INFO_6_1, 8);
    const far = { ...rules, compound: { kind: 'tail-bytes' as const, orderAt: 64, dtorAt: 16, hugetlbDtor: 2 } };
    expect(judgePage(far, 1024, structPage({ flags: [HEAD] }), firstTail(9, 2))).toEqual({ verdict: 'user', pages: 1 });
  });

  it('a rule never sees an anon page whose mapping is not a kernel pointer: kept, and counted', () => {
    expect(judgePage(pageRulesFor(INFO_6_1, 8), 7, structPage({ flags: [LRU], mapping: 0x25n }), undefined)).toEqual({ verdict: 'keep', pages: 1, suspect: 'user' });
  });
});

describe('exclusion on a core whose struct pages cannot be found', () => {
  let core: ElfCoreFile;
  let source: VmcoreSource;
  beforeAll(async () => {
    core = await writeElfCoreFile({ loads: sampleX86Loads() });
    source = VmcoreSource.open(core.path);
  });
  afterAll(async () => {
    source.close();
    await core.cleanup();
  });

  it('falls back to zero pages only, says what it found, and keeps every page', () => {
    const exclusion = computeExclusion(source, 31);
    expect(exclusion.level).toBe(1);
    expect(exclusion.warnings.join('\n')).toMatch(/cannot find the struct pages \(.+\); keeping every page/);
    expect(exclusion.dumpablePages).toBe(source.core.pageMap.totalPages);
  });
});

describe('exclusion on a core of an architecture without a translator', () => {
  // e_machine 21 (ppc64): nothing in the sender reads its page tables.
  const ppc64 = useSyntheticCore({ machine: 21, loads: sampleX86Loads() });

  it('keeps every page but zero pages, and the warning names the architecture', () => {
    const exclusion = computeExclusion(ppc64.source, 31);
    expect(exclusion.level).toBe(1);
    expect(exclusion.warnings).toEqual(['dump level 31: struct pages are only read on x86_64 and aarch64, this core is unknown-21; keeping every page']);
    expect(exclusion.dumpablePages).toBe(ppc64.source.core.pageMap.totalPages);
  });
});

/**
 * The scan's reading of mem_map (large windows through the page tables, a
 * lookahead page outside the window, struct pages across 4 KiB pages) held
 * against the plainest reading there is: each struct page from its own
 * 4 KiB page, translated and read alone, as the sender did before it read
 * windows. The synthetic kernel's vmemmap is mapped by 4 KiB pages that are
 * out of order, swapped, missing, in a run longer than a window, then by a
 * 2 MiB page; a present section and a whole hole are out of the core, one
 * section is absent; every 64th pfn is a compound head whose first tail is
 * in the next 4 KiB of vmemmap, so lookaheads cross windows, batch ends and
 * the core's end.
 */
describe('the struct page scan on a scrambled vmemmap', () => {
  const PAGE = 4096;
  const MIB = 1 << 20;
  const VMEMMAP = 0xffff_ea00_0000_0000n;
  const KERNEL_MAP = 0xffff_ffff_8000_0000n;
  const DIRECT_MAP = 0xffff_8880_0000_0000n;
  const T = { pgd: 0x10_0000, pudKernel: 0x10_1000, pudDirect: 0x10_2000, pudVmemmap: 0x10_3000, pmd: 0x10_4000, pte: 0x10_5000, roots: 0x10_6000, sections: 0x10_7000 };
  /** The first 2 MiB of vmemmap in 4 KiB pages here, scrambled; the next 2 MiB in one 2 MiB page. */
  const PTE_PAGES = 0x20_0000;
  const HUGE_PAGE = 0x40_0000;
  const PFNS = 40960;
  /** SECTION_SIZE_BITS 24: 4096 pfns a section. Section 4 lies in the hole between the PT_LOADs; section 7 is absent. */
  const SECTION_PFNS = 4096;
  const ABSENT_SECTION = 7;
  /** PT_LOADs: pfns 0-15359 (file bytes for the first 8 MiB only), then 20480-40959 (none). */
  const IN_CORE = [[0, 15360], [20480, 40960]];
  const idx = (va: bigint, shift: bigint) => Number((va >> shift) & 511n);

  /** Where vmemmap's 4 KiB page `v` of the first 2 MiB is: reversed 8-15, pairs swapped 40-47, 20 and 350 unmapped. */
  function vmemmapPage(v: number): number | undefined {
    if (v === 20 || v === 350) return undefined;
    if (v >= 8 && v < 16) return PTE_PAGES + (23 - v) * PAGE;
    if (v >= 40 && v < 48) return PTE_PAGES + (v ^ 1) * PAGE;
    return PTE_PAGES + v * PAGE;
  }

  /**
   * A reproducible mix of every kind of struct page the rules tell apart, and garbage; with enough
   * contradicted verdicts of one kind (anon pages whose mapping is no kernel pointer, or buddy blocks
   * not aligned to their order) for the guard to drop that bit and judge again.
   */
  function memMap(size: number, contradicted: 'user' | 'free'): Buffer {
    const bytes = Buffer.alloc(PFNS * size);
    let seed = 0x2545f491;
    const rand = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const put = (pfn: number, p: StructPage & { head?: boolean; dtor?: number; order?: number; raw?: boolean }) => {
      const at = pfn * size;
      if (p.raw) {
        for (let i = 0; i < 64; i += 4) bytes.writeUInt32LE(rand(2 ** 32), at + i);
        // A kernel pointer where page.mapping is: garbage that looks anonymous is not a contradicted verdict.
        bytes[at + 31] |= 0x80;
        return;
      }
      structPage(p).copy(bytes, at);
      if (p.head) bytes.writeBigUInt64LE(bytes.readBigUInt64LE(at) | (1n << BigInt(HEAD)), at);
      if (p.dtor !== undefined) bytes[at + 16] = p.dtor;
      if (p.order !== undefined) bytes[at + 17] = p.order;
    };
    const aligned = (pfn: number, order: number) => {
      while (order > 0 && pfn % 2 ** order !== 0) order--;
      return order;
    };
    for (let pfn = 0; pfn < PFNS;) {
      const r = rand(1000);
      if (r < 60) {
        // Free blocks, some of an order past MAX_ORDER, a few not aligned to theirs.
        const order = contradicted === 'free' && rand(10) === 0 && pfn % 2 ? 1 : aligned(pfn, rand(12));
        put(pfn, { mapcount: -129, private: rand(50) === 0 ? 2n ** 32n + 3n : BigInt(order) });
        pfn += 2 ** Math.min(order, 10);
      } else if (r < 110) {
        const order = aligned(pfn, 1 + rand(9));
        const anon = rand(2) === 0;
        put(pfn, { head: true, flags: [LRU], mapping: anon ? ANON_MAPPING : FILE_MAPPING });
        for (let t = 1; t < 2 ** order && pfn + t < PFNS; t++) put(pfn + t, { tail: true, ...(t === 1 ? { dtor: rand(3), order: rand(30) === 0 ? 70 : order } : {}) });
        pfn += 2 ** order;
      } else {
        if (r < 400) put(pfn, { flags: rand(4) ? [LRU] : [LRU, PRIVATE], mapping: FILE_MAPPING });
        else if (r < 420) put(pfn, { flags: [SWAPCACHE, ...(rand(2) ? [SWAPBACKED] : [])], mapping: FILE_MAPPING });
        else if (r < 560) put(pfn, { flags: [LRU], mapping: contradicted === 'user' && rand(50) === 0 ? 0x25n : ANON_MAPPING });
        else if (r < 610) put(pfn, { flags: [SLAB], mapping: rand(2) ? 0x25n : 0n });
        else if (r < 614) put(pfn, { flags: [HWPOISON] });
        else if (r < 618) put(pfn, { mapcount: -257 });
        else if (r < 630) put(pfn, { raw: true });
        else put(pfn, {});
        pfn++;
      }
    }
    // Every 64th pfn a (misaligned) head whose first tail, in the next 4 KiB of vmemmap at SIZE(page) 64, says hugetlb
    // or not; hugetlb at every batch end (pfn 511 of 512), where makedumpfile does not look at the next page.
    for (let pfn = 63; pfn + 1 < PFNS; pfn += 64) {
      put(pfn, { head: true });
      put(pfn + 1, { tail: true, dtor: (pfn >> 6) % 3 ? 2 : 0, order: 1 });
    }
    return bytes;
  }

  function kernel(size: number, contradicted: 'user' | 'free'): ElfCoreSpec {
    const memory = new Map<number, Buffer>();
    const pageAt = (phys: number) => {
      let p = memory.get(Math.floor(phys / PAGE));
      if (!p) memory.set(Math.floor(phys / PAGE), (p = Buffer.alloc(PAGE)));
      return p;
    };
    const put64 = (phys: number, value: bigint) => pageAt(phys).writeBigUInt64LE(value, phys % PAGE);
    const entry = (table: number, index: number, value: bigint) => put64(table + index * 8, value);
    entry(T.pgd, idx(KERNEL_MAP, 39n), BigInt(T.pudKernel) | 3n);
    entry(T.pudKernel, idx(KERNEL_MAP, 30n), 0x83n);
    entry(T.pgd, idx(DIRECT_MAP, 39n), BigInt(T.pudDirect) | 3n);
    entry(T.pudDirect, idx(DIRECT_MAP, 30n), 0x83n);
    entry(T.pgd, idx(VMEMMAP, 39n), BigInt(T.pudVmemmap) | 3n);
    entry(T.pudVmemmap, idx(VMEMMAP, 30n), BigInt(T.pmd) | 3n);
    entry(T.pmd, 0, BigInt(T.pte) | 3n);
    entry(T.pmd, 1, BigInt(HUGE_PAGE) | 0x83n);
    for (let v = 0; v < 512; v++) {
      const phys = vmemmapPage(v);
      if (phys !== undefined) entry(T.pte, v, BigInt(phys) | 3n);
    }
    put64(T.roots, DIRECT_MAP + BigInt(T.sections));
    for (let nr = 0; nr < PFNS / SECTION_PFNS; nr++) if (nr !== ABSENT_SECTION) put64(T.sections + nr * 16, VMEMMAP | 3n);
    const map = memMap(size, contradicted);
    for (let v = 0; v * PAGE < map.length; v++) {
      const phys = v < 512 ? vmemmapPage(v) : HUGE_PAGE + (v - 512) * PAGE;
      if (phys !== undefined) map.copy(pageAt(phys), 0, v * PAGE, Math.min(map.length, (v + 1) * PAGE));
    }
    const vmcoreinfo = [
      'OSRELEASE=6.1.0-scan-test', 'PAGESIZE=4096', `SYMBOL(init_top_pgt)=${(KERNEL_MAP + BigInt(T.pgd)).toString(16)}`,
      'NUMBER(pgtable_l5_enabled)=0', 'NUMBER(phys_base)=0', `SYMBOL(mem_section)=${(DIRECT_MAP + BigInt(T.roots)).toString(16)}`,
      'LENGTH(mem_section)=16384', 'SIZE(mem_section)=16', 'OFFSET(mem_section.section_mem_map)=0', 'NUMBER(SECTION_SIZE_BITS)=24',
      'NUMBER(MAX_PHYSMEM_BITS)=46', ...INFO_6_1.raw.split('\n').filter((l) => l && !l.startsWith('SIZE(page)')), `SIZE(page)=${size}`,
      'CRASHTIME=1700000000', '',
    ].join('\n');
    return {
      loads: [{ paddr: 0, memsz: IN_CORE[0][1] * PAGE, filesz: 8 * MIB }, { paddr: IN_CORE[1][0] * PAGE, memsz: (IN_CORE[1][1] - IN_CORE[1][0]) * PAGE, filesz: 0 }],
      vmcoreinfo,
      page: (pfn: number) => memory.get(pfn) ?? 'zero',
    };
  }

  /** The scan as it was: every struct page read from its own 4 KiB page, judged one by one. */
  function reference(source: VmcoreSource, level: number) {
    const { core } = source;
    const rules = pageRulesFor(core.vmcoreinfo, level);
    const memory = { read: (phys: bigint, length: number) => source.readPhysical(Number(phys), length) };
    const translator = X86_64Translator.fromVmcoreinfo(core.vmcoreinfo, core.physBase, memory);
    const sections = locateMemMap(core.vmcoreinfo, translator, memory, core.pageMap.maxPfn, core.pageSize);
    const size = rules.structPageSize;
    const kept = new Uint8Array(core.pageMap.maxPfn);
    for (const e of core.pageMap.extents) kept.fill(1, e.startPfn, e.startPfn + e.pageCount);
    const structPage = (memMap: bigint, index: number) => {
      const vaddr = memMap + BigInt(index * size);
      const start = vaddr & ~4095n;
      const at = Number(vaddr - start);
      const phys = translator.vtop(start);
      return phys === undefined || at + size > 4096 ? undefined : source.readPhysical(Number(phys), 4096).subarray(at, at + size);
    };
    const excluded: Record<string, number> = { free: 0, cache: 0, cache_private: 0, user: 0, hwpoison: 0, offline: 0 };
    let unreadable = 0;
    for (const section of sections) {
      for (let pfn = section.startPfn; pfn < section.endPfn;) {
        if (!kept[pfn]) {
          pfn++;
          continue;
        }
        const page = structPage(section.memMap, pfn - section.startPfn);
        if (!page) {
          unreadable++;
          pfn++;
          continue;
        }
        const next = pfn % 512 !== 511 && pfn + 1 < section.endPfn ? structPage(section.memMap, pfn + 1 - section.startPfn) : undefined;
        const { verdict, pages } = judgePage(rules, pfn, page, next);
        if (verdict === 'keep' || verdict === 'tail') {
          pfn++;
          continue;
        }
        excluded[verdict] += pages;
        kept.fill(0, pfn, Math.min(pfn + pages, kept.length));
        pfn += pages;
      }
    }
    const dumpable: { startPfn: number; pageCount: number }[] = [];
    for (const e of core.pageMap.extents) {
      for (let pfn = e.startPfn; pfn < e.startPfn + e.pageCount; pfn++) {
        if (!kept[pfn]) continue;
        const last = dumpable[dumpable.length - 1];
        if (last && last.startPfn + last.pageCount === pfn && pfn !== e.startPfn) last.pageCount++;
        else dumpable.push({ startPfn: pfn, pageCount: 1 });
      }
    }
    return { dumpable, excluded, unreadable, pages: dumpable.reduce((n, r) => n + r.pageCount, 0) };
  }

  const unreadableIn = (warnings: string[]) => Number(warnings.join('\n').match(/(\d+) struct pages were not in the dump/)?.[1] ?? 0);

  const cases = [
    { size: 64, contradicted: 'free', lowered: [31, 17, 16] },
    { size: 72, contradicted: 'user', lowered: [31, 8] },
  ] as const;
  for (const { size, contradicted, lowered } of cases) {
    describe(`SIZE(page)=${size}, ${contradicted} verdicts contradicted`, () => {
      const synthetic = useSyntheticCore(kernel(size, contradicted));

      it('keeps and leaves out the same pages, at every level, as reading each struct page alone', () => {
        const left: Record<string, number> = {};
        const lowers: number[] = [];
        for (const level of [1, 31, 17, 2, 4, 8, 16]) {
          const exclusion = computeExclusion(synthetic.source, level);
          if (exclusion.level !== level) lowers.push(level);
          const expected = reference(synthetic.source, exclusion.level);
          expect(exclusion.dumpable, `-d ${level}`).toEqual(expected.dumpable);
          expect(exclusion.dumpablePages, `-d ${level}`).toBe(expected.pages);
          expect(exclusion.excluded, `-d ${level}`).toEqual(expected.excluded);
          expect(unreadableIn(exclusion.warnings), `-d ${level}`).toBe(expected.unreadable);
          expect(expected.unreadable, `-d ${level}`).toBeGreaterThanOrEqual(64);
          for (const [why, n] of Object.entries(exclusion.excluded)) left[why] = Math.max(left[why] ?? 0, n);
        }
        // What the case is for: the guard judged again without the contradicted bit, and every other verdict left pages out.
        expect(lowers).toEqual(lowered);
        for (const why of ['free', 'cache', 'cache_private', 'user', 'hwpoison', 'offline']) {
          if (why !== contradicted) expect(left[why], why).toBeGreaterThan(0);
        }
      });
    });
  }
});
