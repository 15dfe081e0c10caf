import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVmcoreinfo } from '../../shared/elf/vmcoreinfo.js';
import { computeExclusion } from '../../sender/dump-level/exclusion.js';
import { DumpLevel, judgePage, pageRulesFor } from '../../sender/dump-level/page-rules.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { sampleX86Loads, writeElfCoreFile, type ElfCoreFile } from '../helpers/elf-core-builder.js';

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
