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
