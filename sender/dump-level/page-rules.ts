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

/** The verdicts a judge (pageJudge) returns, by code (its low 3 bits). */
export const VERDICTS: readonly PageVerdict[] = ['keep', 'tail', 'free', 'cache', 'cache_private', 'user', 'hwpoison', 'offline'];
const KEEP = 0, TAIL = 1, FREE = 2, CACHE = 3, CACHE_PRIVATE = 4, USER = 5, HWPOISON = 6, OFFLINE = 7;
/** Codes up to this one keep the page: keep and tail. */
export const LAST_KEPT = TAIL;
/** Ored into a keep code: the page's own bytes contradicted a free (8) or user (16) verdict. */
export const SUSPECT_FREE = 8;
export const SUSPECT_USER = 16;
/** The code's verdict, an index into VERDICTS. */
export const VERDICT_MASK = 7;
/**
 * Ored into a keep code: the page is one of the first tier's (MarkTest,
 * sender/first-tier-scan.ts), a PG_reserved page (32) or a slab page (64,
 * covering `result.pages` pfns when it heads a compound page).
 */
export const MARK_RESERVED = 32;
export const MARK_SLAB = 64;

/**
 * Which struct pages the judge marks for the first tier, as word offsets
 * in a struct page and masks (first-tier-scan.ts makes one from
 * VMCOREINFO): reserved when `words[reservedW] & reservedMask`, slab when
 * `words[slabW] & slabMask`, or `typed` and `(words[typeW] & typeMask) === typeValue`.
 */
export interface MarkTest {
  reservedW: number;
  reservedMask: number;
  slabW: number;
  slabMask: number;
  typed: boolean;
  typeW: number;
  typeMask: number;
  typeValue: number;
}

/** Marks nothing. */
export const NO_MARKS: MarkTest = { reservedW: 0, reservedMask: 0, slabW: 0, slabMask: 0, typed: false, typeW: 0, typeMask: 0, typeValue: 0 };

/** A judge reads struct pages as little-endian 32-bit words through an Int32Array: a big-endian host swaps them first (Buffer.swap32). */
export const HOST_BIG_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 0;

const NO_COMPOUND = 0, TAIL_BYTES = 1, FLAGS1_BIT = 2, FLAGS1_TYPE = 3;
/**
 * _mapcount is compared as the int32 it is read as (a uint32 would be a
 * boxed number per page until V8 optimizes): page types too. These stand for
 * _mapcount when the rules have no offset for it, and for a page type
 * VMCOREINFO lacks; no int32 equals either. The buddy type alone stands in
 * as NO_MAPCOUNT when absent, so that a missing type "equals" a missing
 * _mapcount exactly when undefined === undefined did.
 */
const NO_MAPCOUNT = 2 ** 32;
const NO_TYPE = 2 ** 32 + 1;
const int32 = (type: number | undefined, absent: number) => (type === undefined ? absent : type | 0);
/** The low and high 32 bits of a 64-bit mask (two's complement for a negative NUMBER), as int32s; 0 for none. */
const maskLo = (mask: bigint | undefined) => (mask === undefined ? 0 : Number(BigInt.asIntN(32, mask)));
const maskHi = (mask: bigint | undefined) => (mask === undefined ? 0 : Number(BigInt.asIntN(32, mask >> 32n)));

/** Judges one struct page: see pageJudge. */
export type JudgeFn = (pfn: number, words: Int32Array, at: number, next: number) => number;

export interface PageJudge {
  /**
   * The verdict code (VERDICTS[code & VERDICT_MASK], ored with a SUSPECT_
   * bit on a keep the page's bytes contradict) on `pfn` from its struct page
   * at word `at` of `words` and the next one at word `next` (-1 when
   * makedumpfile would not read it).
   */
  judge: JudgeFn;
  /** How many pfns the last verdict covers, when it leaves pages out (a kept page is one pfn; this is not set for it). */
  readonly result: { pages: number };
  /** SIZE(page) in words. */
  words: number;
}

/**
 * The rules of one scan, made once into a judge of a struct page where it
 * lies in a caller's buffer, seen as 32-bit words: 64-bit fields are read as
 * two halves against masks split once here, with no BigInt and no object per
 * page. A scan judges one struct page per 4 KiB of memory, 256 million on a
 * 1 TiB host and a few hundred thousand on a small one, mostly before V8 has
 * optimized anything: the rules are constants of a closure (cheaper to read
 * than an object's fields until then). The same decisions as makedumpfile's
 * __exclude_unnecessary_pages, in the order it takes them; judgePage below
 * wraps it for single pages.
 */
export function pageJudge(rules: PageRules, marks: MarkTest = NO_MARKS): PageJudge {
  const size = rules.structPageSize;
  const level = rules.level;
  // Words, not bytes: every struct page member the rules read is a long or an int, so no real layout is refused here.
  if (size <= 0 || size % 4 !== 0) throw new Error(`SIZE(page)=${size} is not a whole number of 32-bit words`);
  // A field past SIZE(page) would be read from the next struct page in a shared buffer: refuse the rules instead.
  const word = (at: number, width: number, name: string) => {
    if (at < 0 || at + width > size || at % 4 !== 0) throw new Error(`${name}=${at} is not a ${width * 8}-bit field inside SIZE(page)=${size}`);
    return at / 4;
  };
  const flagsW = word(rules.flagsAt, 8, 'OFFSET(page.flags)');
  const compoundHeadW = word(rules.compoundHeadAt, 8, 'OFFSET(page.compound_head)');
  const mappingW = rules.mappingAt < 0 ? -1 : word(rules.mappingAt, 8, 'OFFSET(page.mapping)');
  const mapcountW = rules.mapcountAt < 0 ? -1 : word(rules.mapcountAt, 4, 'OFFSET(page._mapcount)');
  const privateW = level & DumpLevel.FREE ? word(rules.privateAt, 8, 'OFFSET(page.private)') : -1;
  // Below 1 a free block would be a fraction of a page: no kernel has fewer than one free-list order.
  if (level & DumpLevel.FREE && !(rules.maxOrder! >= 1)) throw new Error(`dump level 16 with LENGTH(zone.free_area)=${rules.maxOrder}`);
  const maxOrder = rules.maxOrder ?? 0;
  const c = rules.compound;
  const compound = c === undefined ? NO_COMPOUND : c.kind === 'tail-bytes' ? TAIL_BYTES : c.kind === 'flags1-bit' ? FLAGS1_BIT : FLAGS1_TYPE;
  // Tail-bytes order and destructor bytes of the first tail page, as word and shift. A byte past the first
  // tail's struct page read as undefined: order 0 (2 ** undefined aligns nothing), never hugetlb.
  const orderAt = c?.kind === 'tail-bytes' && c.orderAt < size ? c.orderAt : -1;
  const dtorAt = c?.kind === 'tail-bytes' && c.dtorAt < size && c.hugetlbDtor !== undefined ? c.dtorAt : -1;
  const orderW = orderAt < 0 ? -1 : orderAt >> 2;
  const orderShift = (orderAt & 3) * 8;
  const dtorW = dtorAt < 0 ? -1 : dtorAt >> 2;
  const dtorShift = (dtorAt & 3) * 8;
  const hugetlbDtor = c?.kind === 'tail-bytes' ? c.hugetlbDtor ?? -1 : -1;
  const hugetlbMask = c?.kind === 'flags1-bit' ? c.hugetlbMask : undefined;
  const hugetlbLo = maskLo(hugetlbMask), hugetlbHi = maskHi(hugetlbMask);
  const hugetlbType = int32(c?.kind === 'flags1-type' ? c.hugetlbType : undefined, NO_TYPE);
  const headLo = maskLo(rules.pgHeadMask), headHi = maskHi(rules.pgHeadMask);
  const lruLo = maskLo(rules.pgLru), lruHi = maskHi(rules.pgLru);
  const privateLo = maskLo(rules.pgPrivate), privateHi = maskHi(rules.pgPrivate);
  const swapcacheLo = maskLo(rules.pgSwapcache), swapcacheHi = maskHi(rules.pgSwapcache);
  const swapbackedKnown = rules.pgSwapbacked !== undefined;
  const swapbackedLo = maskLo(rules.pgSwapbacked), swapbackedHi = maskHi(rules.pgSwapbacked);
  const slabLo = maskLo(rules.pgSlab), slabHi = maskHi(rules.pgSlab);
  const hwpoisonLo = maskLo(rules.pgHwpoison), hwpoisonHi = maskHi(rules.pgHwpoison);
  const slabType = int32(rules.slabType, NO_TYPE);
  const buddyType = int32(rules.buddyType, NO_MAPCOUNT);
  const offlineType = int32(rules.offlineType, NO_TYPE);
  const unacceptedType = int32(rules.unacceptedType, NO_TYPE);
  const result = { pages: 1 };
  for (const w of [marks.reservedW, marks.slabW, marks.typeW]) {
    if (w < 0 || (w + 1) * 4 > size) throw new Error(`a first-tier mark reads word ${w}, outside SIZE(page)=${size}`);
  }
  const { reservedW, reservedMask, slabW, slabMask, typed, typeW, typeMask, typeValue } = marks;

  /** A buddy page: free for its whole block (page.private holds the order) if the block is real. */
  const free = (pfn: number, orderLo: number, orderHi: number): number => {
    // An order past MAX_ORDER is not a real free block: keep it rather than guess.
    let order = orderLo;
    if (orderHi === 0) {
      if (orderLo >= maxOrder) return KEEP;
    } else {
      // An order of 2^32 or more is garbage, compared exactly all the same.
      const wide = (BigInt(orderHi >>> 0) << 32n) | BigInt(orderLo);
      if (wide >= BigInt(maxOrder)) return KEEP;
      order = Number(wide);
    }
    const pages = 2 ** order;
    // Buddy blocks are aligned to their size; one that is not was not made by the buddy allocator.
    if (pfn % pages !== 0) return KEEP | SUSPECT_FREE;
    result.pages = pages;
    return FREE;
  };

  const judge: JudgeFn = (pfn, words, at, next) => {
    const flagsLo = words[at + flagsW];
    const flagsHi = words[at + flagsW + 1];
    if (words[at + compoundHeadW] & 1) return TAIL;
    const mapcount = mapcountW >= 0 ? words[at + mapcountW] : NO_MAPCOUNT;
    // A compound head's order and hugetlb mark, from its first tail. Worked out for every page (from the page
    // itself when there is no next one) and dropped for the rest: see "Every operation runs" in exclusion.ts.
    const tail = next >= 0 ? next : at;
    let order = 0;
    let hugetlb = false;
    if (compound === TAIL_BYTES) {
      order = orderW >= 0 ? (words[tail + orderW] >>> orderShift) & 0xff : 0;
      hugetlb = dtorW >= 0 && ((words[tail + dtorW] >>> dtorShift) & 0xff) === hugetlbDtor;
    } else if (compound !== NO_COMPOUND) {
      const flags1Lo = words[tail + flagsW];
      order = flags1Lo & 0xff;
      hugetlb = compound === FLAGS1_BIT ? ((flags1Lo & hugetlbLo) | (words[tail + flagsW + 1] & hugetlbHi)) !== 0 : mapcount === hugetlbType;
    }
    if (next < 0 || ((flagsLo & headLo) | (flagsHi & headHi)) === 0) {
      order = 0;
      hugetlb = false;
    }
    if (order >= 64 || pfn % 2 ** order !== 0) order = 0;
    const slab = mapcount === slabType || ((flagsLo & slabLo) | (flagsHi & slabHi)) !== 0;

    if (level & DumpLevel.FREE && !slab && mapcount === buddyType) return free(pfn, words[at + privateW] >>> 0, words[at + privateW + 1]);
    if (level & DumpLevel.FREE && mapcount === unacceptedType) {
      result.pages = 2 ** (maxOrder - 1);
      return FREE;
    }
    // Read whether needed or not: an operation V8 first meets after optimizing this throws the optimized code away.
    const mappingLo = mappingW >= 0 ? words[at + mappingW] : 0;
    const mappingHi = mappingW >= 0 ? words[at + mappingW + 1] : 0;
    const anon = (mappingLo & 1) !== 0 && !slab;
    const kernelPointer = mappingHi < 0;
    const isPrivate = ((flagsLo & privateLo) | (flagsHi & privateHi)) !== 0;
    const cachePage = ((flagsLo & lruLo) | (flagsHi & lruHi)) !== 0 ||
      (((flagsLo & swapcacheLo) | (flagsHi & swapcacheHi)) !== 0 && (!swapbackedKnown || ((flagsLo & swapbackedLo) | (flagsHi & swapbackedHi)) !== 0));
    let verdict = KEEP;
    if (level & DumpLevel.CACHE && cachePage && !isPrivate && !anon) verdict = CACHE;
    else if (level & DumpLevel.CACHE_PRIVATE && cachePage && !anon) verdict = isPrivate ? CACHE_PRIVATE : CACHE;
    else if (level & DumpLevel.USER && (anon || hugetlb)) {
      // An anon page's mapping is its anon_vma (or KSM node): a kernel pointer, top bit set. Anything else is a rule misreading the page.
      if (anon && !hugetlb && !kernelPointer) return KEEP | SUSPECT_USER;
      verdict = USER;
    } else if (((flagsLo & hwpoisonLo) | (flagsHi & hwpoisonHi)) !== 0) verdict = HWPOISON;
    else if (!slab && mapcount === offlineType) verdict = OFFLINE;
    result.pages = 2 ** order;
    // The first tier's marks, on pages kept: the words are at hand here.
    const reservedMark = (words[at + reservedW] & reservedMask) !== 0 ? MARK_RESERVED : 0;
    const typeMatches = (words[at + typeW] & typeMask) === typeValue;
    const slabMark = (words[at + slabW] & slabMask) !== 0 || (typed && typeMatches) ? MARK_SLAB : 0;
    return verdict === KEEP ? verdict | reservedMark | slabMark : verdict;
  };
  return { judge, result, words: size / 4 };
}

/**
 * The verdict on `pfn` from its struct page (`page`, SIZE(page) bytes) and
 * the next one (`next`, undefined when makedumpfile would not read it), and
 * how many pfns from `pfn` the verdict covers. 'suspect' marks a verdict
 * that the page's own bytes contradict (guard.ts counts them); such a page
 * is kept. One page at a time, through pageJudge (the scan uses that directly).
 */
export function judgePage(rules: PageRules, pfn: number, page: Buffer, next: Buffer | undefined): { verdict: PageVerdict; pages: number; suspect?: PageVerdict } {
  const { judge, result, words } = pageJudge(rules);
  const size = rules.structPageSize;
  const both = Buffer.alloc(2 * size);
  page.copy(both, 0, 0, size);
  next?.copy(both, size, 0, size);
  if (HOST_BIG_ENDIAN) both.swap32();
  const code = judge(pfn, new Int32Array(both.buffer, both.byteOffset, both.length / 4), 0, next ? words : -1);
  const verdict = VERDICTS[code & VERDICT_MASK];
  const pages = (code & VERDICT_MASK) <= LAST_KEPT ? 1 : result.pages;
  const suspect: PageVerdict | undefined = code & SUSPECT_FREE ? 'free' : code & SUSPECT_USER ? 'user' : undefined;
  return suspect ? { verdict, pages, suspect } : { verdict, pages };
}
