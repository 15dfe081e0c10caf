/**
 * Which pages a dump level leaves out, judged from one struct page, as the
 * newest makedumpfile's __exclude_unnecessary_pages does, for every kernel
 * generation of generations.ts (docs/research/dump-levels.md sections 3 and 6).
 * Pure: the struct page bytes and the numbers VMCOREINFO gives in, a verdict
 * out. A level whose inputs VMCOREINFO lacks, or whose inputs are from a
 * kernel newer than the rules, is lowered with a note, never guessed at.
 */
import type { Vmcoreinfo } from '../../shared/elf/vmcoreinfo.js';
import { generationOf, unknownPageKeys } from './generations.js';

/** makedumpfile -d bits. */
export const DumpLevel = { ZERO: 1, CACHE: 2, CACHE_PRIVATE: 4, USER: 8, FREE: 16 } as const;
const PAGE_BITS = DumpLevel.CACHE | DumpLevel.CACHE_PRIVATE | DumpLevel.USER | DumpLevel.FREE;

export type PageVerdict = 'keep' | 'tail' | 'free' | 'cache' | 'cache_private' | 'user' | 'hwpoison' | 'offline';

/** Where a compound head's order and hugetlb mark are, by generation. */
export type CompoundRule =
  /** Before 6.6: bytes in the first tail page; hugetlb when the dtor byte is HUGETLB_PAGE_DTOR. */
  | { kind: 'tail-bytes'; orderAt: number; dtorAt: number; hugetlbDtor?: number }
  /** 6.6 to 6.8: the order is the low byte of the first tail's flags, hugetlb a bit there. */
  | { kind: 'flags1-bit'; hugetlbMask: bigint }
  /** 6.9 on: the order is the low byte of the first tail's flags, hugetlb a page type of the head. */
  | { kind: 'flags1-type'; hugetlbType: number };

export interface PageRules {
  /** The level these rules apply: the asked one, less the bits VMCOREINFO cannot support. */
  level: number;
  /** The generation (generations.ts) that judges the pages. */
  generation: string;
  /** Why bits were dropped, one line each. */
  warnings: string[];
  structPageSize: number;
  flagsAt: number;
  mappingAt: number;
  mapcountAt: number;
  privateAt: number;
  compoundHeadAt: number;
  compound?: CompoundRule;
  pgLru?: bigint;
  pgPrivate?: bigint;
  pgSwapcache?: bigint;
  pgSwapbacked?: bigint;
  /** The flag bit that says slab (PG_slab, or makedumpfile's fallback bit 7 from 6.10 on). */
  pgSlab?: bigint;
  pgHwpoison?: bigint;
  pgHeadMask?: bigint;
  /** Page-type values of _mapcount, as unsigned 32-bit words, compared whole (makedumpfile 1.7.7). */
  slabType?: number;
  buddyType?: number;
  offlineType?: number;
  unacceptedType?: number;
  /** LENGTH(zone.free_area): NR_PAGE_ORDERS. */
  maxOrder?: number;
}

/** VMCOREINFO prints page types with %ld, so they are negative: compare 32-bit patterns. */
const u32 = (n: bigint | undefined) => (n === undefined ? undefined : Number(BigInt.asUintN(32, n)));
/** makedumpfile's PG_slab when NUMBER(PG_slab) is absent (6.10 on): bit 7, PG_waiters there. Keeps more, never fewer. */
const PG_SLAB_FALLBACK = 7n;

/**
 * Page-type values in an encoding no generation knows are a kernel newer
 * than the rules. Known: one bit cleared in an all-ones word with the
 * 0xf0000000 base (5.x to 6.11), or PGTY_* (0xf0-0xfe) in the top byte with
 * the low 24 bits clear (6.12 on). All must differ from each other.
 */
function pageTypeProblem(types: Record<string, number | undefined>): string | undefined {
  const present = Object.entries(types).filter(([, v]) => v !== undefined) as [string, number][];
  const oneBitCleared = (v: number) => {
    const cleared = ~v >>> 0;
    return v >>> 28 === 0xf && cleared !== 0 && (cleared & (cleared - 1)) === 0;
  };
  const topByte = (v: number) => (v & 0x00ff_ffff) === 0 && v >>> 24 >= 0xf0 && v >>> 24 < 0xff;
  const bad = present.filter(([, v]) => !oneBitCleared(v) && !topByte(v));
  if (bad.length) return `page-type values in an unknown encoding (${bad.map(([k, v]) => `${k}=0x${v.toString(16)}`).join(', ')})`;
  if (new Set(present.map(([, v]) => v)).size !== present.length) return 'two page types with the same value';
  if (present.some(([, v]) => oneBitCleared(v)) && present.some(([, v]) => topByte(v))) return 'page-type values in two encodings at once';
  return undefined;
}

/** Builds the rules for `asked`, lowering it where VMCOREINFO lacks what a bit needs or is newer than every rule. */
export function pageRulesFor(info: Vmcoreinfo, asked: number): PageRules {
  const warnings: string[] = [];
  const offset = (name: string) => info.offsets.get(name);
  const number = (name: string) => info.numbers.get(name);
  const bit = (name: string) => {
    const n = number(name);
    return n === undefined ? undefined : 1n << n;
  };
  let level = asked;
  const drop = (bits: number, why: string) => {
    if (level & bits) {
      warnings.push(`dump level ${asked}: ${why}; leaving out ${bits & level} from the level`);
      level &= ~bits;
    }
  };
  const structPageSize = info.sizes.get('page') ?? 0;
  const slabType = u32(number('PAGE_SLAB_MAPCOUNT_VALUE'));
  const rules: PageRules = {
    level,
    generation: generationOf(info).id,
    warnings,
    structPageSize,
    flagsAt: offset('page.flags') ?? 0,
    mappingAt: offset('page.mapping') ?? -1,
    mapcountAt: offset('page._mapcount') ?? -1,
    privateAt: offset('page.private') ?? -1,
    // 7.1 renamed compound_head; before VMCOREINFO had it, it sat at page.lru.
    compoundHeadAt: offset('page.compound_head') ?? offset('page.compound_info') ?? offset('page.lru') ?? -1,
    compound: compoundRule(info, structPageSize),
    pgLru: bit('PG_lru'),
    pgPrivate: bit('PG_private'),
    pgSwapcache: bit('PG_swapcache'),
    pgSwapbacked: bit('PG_swapbacked'),
    pgSlab: bit('PG_slab') ?? (slabType !== undefined ? 1n << PG_SLAB_FALLBACK : undefined),
    pgHwpoison: bit('PG_hwpoison'),
    pgHeadMask: number('PG_head_mask'),
    slabType,
    buddyType: u32(number('PAGE_BUDDY_MAPCOUNT_VALUE')),
    offlineType: u32(number('PAGE_OFFLINE_MAPCOUNT_VALUE')),
    unacceptedType: u32(number('PAGE_UNACCEPTED_MAPCOUNT_VALUE')),
    maxOrder: info.lengths.get('zone.free_area'),
  };
  const unknown = unknownPageKeys(info);
  if (unknown.length) {
    drop(PAGE_BITS, `VMCOREINFO has struct page entries no rule knows (${unknown.join(', ')}): a kernel newer than these rules`);
  }
  const typeProblem = pageTypeProblem({
    PAGE_SLAB_MAPCOUNT_VALUE: rules.slabType, PAGE_BUDDY_MAPCOUNT_VALUE: rules.buddyType,
    PAGE_OFFLINE_MAPCOUNT_VALUE: rules.offlineType, PAGE_UNACCEPTED_MAPCOUNT_VALUE: rules.unacceptedType,
    PAGE_HUGETLB_MAPCOUNT_VALUE: rules.compound?.kind === 'flags1-type' ? rules.compound.hugetlbType : undefined,
  });
  if (typeProblem) {
    // Slab, buddy and hugetlb are told by these values; none of them can be trusted.
    drop(PAGE_BITS, `VMCOREINFO has ${typeProblem}`);
    rules.buddyType = rules.offlineType = rules.unacceptedType = undefined;
  }
  if (!structPageSize || rules.compoundHeadAt < 0) {
    drop(PAGE_BITS, 'VMCOREINFO lacks SIZE(page) or OFFSET(page.compound_head)');
  }
  if (rules.mappingAt < 0 || rules.pgLru === undefined || rules.pgPrivate === undefined || rules.pgSwapcache === undefined) {
    drop(DumpLevel.CACHE | DumpLevel.CACHE_PRIVATE, 'VMCOREINFO lacks OFFSET(page.mapping) or NUMBER(PG_lru/PG_private/PG_swapcache)');
  }
  // Anon means "mapping & 1 and not slab" since 6.2: without a way to tell slab, no page is provably anon.
  if (rules.mappingAt < 0 || rules.pgSlab === undefined) drop(DumpLevel.USER, 'VMCOREINFO lacks OFFSET(page.mapping), or NUMBER(PG_slab) and NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)');
  if (level & (DumpLevel.USER | DumpLevel.CACHE | DumpLevel.CACHE_PRIVATE) && (rules.pgHeadMask === undefined || rules.compound === undefined)) {
    // Without a compound page's order each head is judged alone and its tails are kept: more kept, never fewer.
    warnings.push(`dump level ${asked}: VMCOREINFO lacks NUMBER(PG_head_mask) or where a compound page's order is; huge pages are kept but for their first page`);
  }
  if (rules.buddyType === undefined || rules.mapcountAt < 0 || rules.privateAt < 0 || rules.pgSlab === undefined || rules.maxOrder === undefined) {
    drop(DumpLevel.FREE, 'VMCOREINFO lacks NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE), NUMBER(PG_slab) or NUMBER(PAGE_SLAB_MAPCOUNT_VALUE), LENGTH(zone.free_area) or the _mapcount/private offsets');
  }
  rules.level = level;
  return rules;
}

function compoundRule(info: Vmcoreinfo, structPageSize: number): CompoundRule | undefined {
  const hugetlbType = u32(info.numbers.get('PAGE_HUGETLB_MAPCOUNT_VALUE'));
  if (hugetlbType !== undefined) return { kind: 'flags1-type', hugetlbType };
  const pgHugetlb = info.numbers.get('PG_hugetlb');
  if (pgHugetlb !== undefined) return { kind: 'flags1-bit', hugetlbMask: 1n << pgHugetlb };
  const folioOrder = info.offsets.get('folio._folio_order');
  const folioDtor = info.offsets.get('folio._folio_dtor');
  // struct folio spans the head and first tail pages: its offsets count from the head.
  const orderAt = folioOrder !== undefined ? folioOrder - structPageSize : info.offsets.get('page.compound_order');
  const dtorAt = folioDtor !== undefined ? folioDtor - structPageSize : info.offsets.get('page.compound_dtor');
  if (orderAt === undefined || dtorAt === undefined || orderAt < 0 || dtorAt < 0) return undefined;
  const dtor = info.numbers.get('HUGETLB_PAGE_DTOR');
  return { kind: 'tail-bytes', orderAt, dtorAt, hugetlbDtor: dtor === undefined ? undefined : Number(dtor) };
}

/** Whether the scan of struct pages has anything to do at this level (it also drops hwpoison and offline pages). */
export function needsPageScan(rules: PageRules): boolean {
  // Without the struct page's size and flags word there is nothing to judge by.
  if (!rules.structPageSize || rules.compoundHeadAt < 0) return false;
  return (rules.level & PAGE_BITS) !== 0 || rules.pgHwpoison !== undefined || rules.offlineType !== undefined;
}

/** Kernel pointers have the top bit set on x86-64 and arm64: an anon_vma is one, a slab count is not. */
const KERNEL_HALF = 1n << 63n;

/**
 * The verdict on `pfn` from its struct page (`page`, SIZE(page) bytes) and
 * the next one (`next`, undefined when makedumpfile would not read it), and
 * how many pfns from `pfn` the verdict covers. 'suspect' marks a verdict
 * that the page's own bytes contradict (guard.ts counts them); such a page
 * is kept.
 */
export function judgePage(rules: PageRules, pfn: number, page: Buffer, next: Buffer | undefined): { verdict: PageVerdict; pages: number; suspect?: PageVerdict } {
  const flags = page.readBigUInt64LE(rules.flagsAt);
  if (page.readBigUInt64LE(rules.compoundHeadAt) & 1n) return { verdict: 'tail', pages: 1 };
  const mapcount = rules.mapcountAt >= 0 ? page.readUInt32LE(rules.mapcountAt) : undefined;
  let order = 0;
  let hugetlb = false;
  const compound = rules.compound;
  if (rules.pgHeadMask !== undefined && (flags & rules.pgHeadMask) && next && compound) {
    if (compound.kind === 'tail-bytes') {
      order = next[compound.orderAt];
      hugetlb = compound.hugetlbDtor !== undefined && next[compound.dtorAt] === compound.hugetlbDtor;
    } else {
      const flags1 = next.readBigUInt64LE(rules.flagsAt);
      order = Number(flags1 & 0xffn);
      hugetlb = compound.kind === 'flags1-bit' ? (flags1 & compound.hugetlbMask) !== 0n : mapcount === compound.hugetlbType;
    }
    if (order >= 64 || pfn % 2 ** order !== 0) order = 0;
  }
  const pages = 2 ** order;
  const has = (mask: bigint | undefined) => mask !== undefined && (flags & mask) !== 0n;
  const slab = (rules.slabType !== undefined && mapcount === rules.slabType) || has(rules.pgSlab);
  const level = rules.level;

  if (level & DumpLevel.FREE && !slab && mapcount === rules.buddyType) {
    const freeOrder = page.readBigUInt64LE(rules.privateAt);
    // An order past MAX_ORDER is not a real free block: keep it rather than guess.
    if (freeOrder >= BigInt(rules.maxOrder!)) return { verdict: 'keep', pages: 1 };
    const freePages = 2 ** Number(freeOrder);
    // Buddy blocks are aligned to their size; one that is not was not made by the buddy allocator.
    if (pfn % freePages !== 0) return { verdict: 'keep', pages: 1, suspect: 'free' };
    return { verdict: 'free', pages: freePages };
  }
  if (level & DumpLevel.FREE && rules.unacceptedType !== undefined && mapcount === rules.unacceptedType) {
    return { verdict: 'free', pages: 2 ** (rules.maxOrder! - 1) };
  }
  const mapping = rules.mappingAt >= 0 ? page.readBigUInt64LE(rules.mappingAt) : 0n;
  const anon = (mapping & 1n) !== 0n && !slab;
  const cachePage = has(rules.pgLru) || (has(rules.pgSwapcache) && (rules.pgSwapbacked === undefined || has(rules.pgSwapbacked)));
  if (level & DumpLevel.CACHE && cachePage && !has(rules.pgPrivate) && !anon) return { verdict: 'cache', pages };
  if (level & DumpLevel.CACHE_PRIVATE && cachePage && !anon) return { verdict: has(rules.pgPrivate) ? 'cache_private' : 'cache', pages };
  if (level & DumpLevel.USER && (anon || hugetlb)) {
    // An anon page's mapping is its anon_vma (or KSM node): a kernel pointer. Anything else is a rule misreading the page.
    if (anon && !hugetlb && mapping < KERNEL_HALF) return { verdict: 'keep', pages: 1, suspect: 'user' };
    return { verdict: 'user', pages };
  }
  if (has(rules.pgHwpoison)) return { verdict: 'hwpoison', pages };
  if (rules.offlineType !== undefined && !slab && mapcount === rules.offlineType) return { verdict: 'offline', pages };
  return { verdict: 'keep', pages: 1 };
}
