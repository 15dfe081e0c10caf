/**
 * Which pages a dump level leaves out, judged from one struct page, as
 * makedumpfile 1.7.2's __exclude_unnecessary_pages does on 6.1 kernels
 * (docs/research/dump-levels.md section 3). Pure: the struct page bytes and
 * the numbers VMCOREINFO gives in, a verdict out. A level whose inputs
 * VMCOREINFO lacks is lowered with a warning, never guessed at.
 */
import type { Vmcoreinfo } from '../../shared/elf/vmcoreinfo.js';

/** makedumpfile -d bits. */
export const DumpLevel = { ZERO: 1, CACHE: 2, CACHE_PRIVATE: 4, USER: 8, FREE: 16 } as const;

export type PageVerdict = 'keep' | 'tail' | 'free' | 'cache' | 'cache_private' | 'user' | 'hwpoison' | 'offline';

export interface PageRules {
  /** The level these rules apply: the asked one, less the bits VMCOREINFO cannot support. */
  level: number;
  warnings: string[];
  structPageSize: number;
  flagsAt: number;
  mappingAt: number;
  mapcountAt: number;
  privateAt: number;
  compoundHeadAt: number;
  compoundDtorAt?: number;
  compoundOrderAt?: number;
  pgLru?: bigint;
  pgPrivate?: bigint;
  pgSwapcache?: bigint;
  pgSwapbacked?: bigint;
  pgSlab?: bigint;
  pgHwpoison?: bigint;
  pgHeadMask?: bigint;
  buddyMapcount?: number;
  offlineMapcount?: number;
  hugetlbDtor?: number;
  maxOrder?: number;
}

const u32 = (n: bigint) => Number(BigInt.asUintN(32, n));

/** Builds the rules for `asked`, lowering it where VMCOREINFO lacks what a bit needs. */
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
  const rules: PageRules = {
    level,
    warnings,
    structPageSize: info.sizes.get('page') ?? 0,
    flagsAt: offset('page.flags') ?? 0,
    mappingAt: offset('page.mapping') ?? -1,
    mapcountAt: offset('page._mapcount') ?? -1,
    privateAt: offset('page.private') ?? -1,
    compoundHeadAt: offset('page.compound_head') ?? offset('page.lru') ?? -1,
    compoundDtorAt: offset('page.compound_dtor'),
    compoundOrderAt: offset('page.compound_order'),
    pgLru: bit('PG_lru'),
    pgPrivate: bit('PG_private'),
    pgSwapcache: bit('PG_swapcache'),
    pgSwapbacked: bit('PG_swapbacked'),
    pgSlab: bit('PG_slab'),
    pgHwpoison: bit('PG_hwpoison'),
    pgHeadMask: number('PG_head_mask'),
    buddyMapcount: number('PAGE_BUDDY_MAPCOUNT_VALUE') === undefined ? undefined : u32(number('PAGE_BUDDY_MAPCOUNT_VALUE')!),
    offlineMapcount: number('PAGE_OFFLINE_MAPCOUNT_VALUE') === undefined ? undefined : u32(number('PAGE_OFFLINE_MAPCOUNT_VALUE')!),
    hugetlbDtor: number('HUGETLB_PAGE_DTOR') === undefined ? undefined : Number(number('HUGETLB_PAGE_DTOR')),
    maxOrder: info.lengths.get('zone.free_area'),
  };
  if (!rules.structPageSize || rules.compoundHeadAt < 0) {
    drop(DumpLevel.CACHE | DumpLevel.CACHE_PRIVATE | DumpLevel.USER | DumpLevel.FREE, 'VMCOREINFO lacks SIZE(page) or OFFSET(page.compound_head)');
  }
  if (rules.mappingAt < 0 || rules.pgLru === undefined || rules.pgPrivate === undefined || rules.pgSwapcache === undefined) {
    drop(DumpLevel.CACHE | DumpLevel.CACHE_PRIVATE, 'VMCOREINFO lacks OFFSET(page.mapping) or NUMBER(PG_lru/PG_private/PG_swapcache)');
  }
  if (rules.mappingAt < 0) drop(DumpLevel.USER, 'VMCOREINFO lacks OFFSET(page.mapping)');
  if (rules.buddyMapcount === undefined || rules.mapcountAt < 0 || rules.privateAt < 0 || rules.pgSlab === undefined || rules.maxOrder === undefined) {
    drop(DumpLevel.FREE, 'VMCOREINFO lacks NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE), NUMBER(PG_slab), LENGTH(zone.free_area) or the _mapcount/private offsets');
  }
  rules.level = level;
  return rules;
}

/** Whether the scan of struct pages has anything to do at this level (it also drops hwpoison and offline pages). */
export function needsPageScan(rules: PageRules): boolean {
  // Without the struct page's size and flags word there is nothing to judge by.
  if (!rules.structPageSize || rules.compoundHeadAt < 0) return false;
  return (rules.level & (DumpLevel.CACHE | DumpLevel.CACHE_PRIVATE | DumpLevel.USER | DumpLevel.FREE)) !== 0 ||
    rules.pgHwpoison !== undefined || rules.offlineMapcount !== undefined;
}

/**
 * The verdict on `pfn` from its struct page (`page`, SIZE(page) bytes) and
 * the next one (`next`, undefined when makedumpfile would not read it), and
 * how many pfns from `pfn` the verdict covers.
 */
export function judgePage(rules: PageRules, pfn: number, page: Buffer, next: Buffer | undefined): { verdict: PageVerdict; pages: number } {
  const flags = page.readBigUInt64LE(rules.flagsAt);
  if (page.readBigUInt64LE(rules.compoundHeadAt) & 1n) return { verdict: 'tail', pages: 1 };
  let order = 0;
  let dtor = 0;
  if (rules.pgHeadMask !== undefined && (flags & rules.pgHeadMask) && next && rules.compoundOrderAt !== undefined && rules.compoundDtorAt !== undefined) {
    order = next[rules.compoundOrderAt];
    dtor = next[rules.compoundDtorAt];
    if (order >= 64 || pfn % 2 ** order !== 0) order = 0;
  }
  const pages = 2 ** order;
  const has = (mask: bigint | undefined) => mask !== undefined && (flags & mask) !== 0n;
  const mapcount = rules.mapcountAt >= 0 ? page.readUInt32LE(rules.mapcountAt) : undefined;
  const level = rules.level;

  if (level & DumpLevel.FREE && !has(rules.pgSlab) && mapcount === rules.buddyMapcount) {
    const freeOrder = page.readBigUInt64LE(rules.privateAt);
    // An order past MAX_ORDER is not a real free block: keep it rather than guess.
    if (freeOrder < BigInt(rules.maxOrder!)) return { verdict: 'free', pages: 2 ** Number(freeOrder) };
    return { verdict: 'keep', pages: 1 };
  }
  const mapping = rules.mappingAt >= 0 ? page.readBigUInt64LE(rules.mappingAt) : 0n;
  const anon = (mapping & 1n) !== 0n;
  const cachePage = has(rules.pgLru) || (has(rules.pgSwapcache) && (rules.pgSwapbacked === undefined || has(rules.pgSwapbacked)));
  if (level & DumpLevel.CACHE && cachePage && !has(rules.pgPrivate) && !anon) return { verdict: 'cache', pages };
  if (level & DumpLevel.CACHE_PRIVATE && cachePage && !anon) return { verdict: has(rules.pgPrivate) ? 'cache_private' : 'cache', pages };
  if (level & DumpLevel.USER && (anon || (rules.hugetlbDtor !== undefined && dtor === rules.hugetlbDtor))) return { verdict: 'user', pages };
  if (has(rules.pgHwpoison)) return { verdict: 'hwpoison', pages };
  if (rules.offlineMapcount !== undefined && !has(rules.pgSlab) && mapcount === rules.offlineMapcount) return { verdict: 'offline', pages };
  return { verdict: 'keep', pages: 1 };
}
