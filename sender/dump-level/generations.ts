/**
 * The kernel changes that altered how a struct page must be read to judge
 * it, one row each, oldest first, with the kernel commit that made the
 * change and the makedumpfile release that followed it
 * (docs/research/dump-levels.md section 6). page-rules.ts turns the rows a
 * core shows into the rules that judge its pages.
 *
 * A row is recognised by what VMCOREINFO holds, never by the version
 * string: distributions backport mm changes, and the entries are what the
 * rules read. The first row is every kernel: 6.2's change left no trace in
 * VMCOREINFO, and its rule is harmless on the kernels before it.
 *
 * The next kernel is one row here, plus its VMCOREINFO keys in
 * KNOWN_PAGE_KEYS: a core whose page keys include one no row knows is from a
 * kernel newer than these rules, and its level is lowered (page-rules.ts).
 */
import type { Vmcoreinfo } from '../../shared/elf/vmcoreinfo.js';

export interface RuleGeneration {
  /** Short id shown to operators: the first mainline release with the change. */
  id: string;
  /** The kernel commit that made the change. */
  commit: string;
  /** What changed for a reader of struct pages. */
  change: string;
  /** The makedumpfile release that first judged such kernels right. */
  makedumpfile: string;
  /** Whether this core's VMCOREINFO shows the change. */
  present(info: Vmcoreinfo): boolean;
}

const hasNumber = (name: string) => (info: Vmcoreinfo) => info.numbers.has(name);
const hasOffset = (name: string) => (info: Vmcoreinfo) => info.offsets.has(name);

/**
 * 6.12 stores one page type per page in the top byte of page_type
 * (PGTY_* << 24, the low 24 bits free), where 6.10 and 6.11 cleared one bit
 * of an all-ones word. Same VMCOREINFO names, new values: the encoding shows
 * in the buddy value.
 */
export function pageTypesInTopByte(info: Vmcoreinfo): boolean {
  const buddy = info.numbers.get('PAGE_BUDDY_MAPCOUNT_VALUE');
  return buddy !== undefined && (Number(BigInt.asUintN(32, buddy)) & 0x00ff_ffff) === 0;
}

export const GENERATIONS: readonly RuleGeneration[] = [
  {
    // 5.10 through 6.2 look the same in VMCOREINFO.
    id: '<=6.2',
    commit: '130d4df57390 ("mm/sl[au]b: rearrange struct slab fields to allow larger rcu_head", 6.2)',
    change: 'page types in _mapcount, PG_slab, compound order and dtor bytes in the first tail page; from 6.2 slab.slabs overlays page.mapping, so an odd slab count looks anonymous: anon requires !slab (harmless before 6.2)',
    makedumpfile: '1.7.3',
    present: () => true,
  },
  {
    id: '6.3',
    commit: '1c5509be58f6 ("mm: remove \'First tail page\' members from struct page")',
    change: 'compound order and dtor move to struct folio: OFFSET(folio._folio_order/_folio_dtor)',
    makedumpfile: '1.7.3',
    present: hasOffset('folio._folio_order'),
  },
  {
    id: '6.6',
    commit: '9c5ccf2db04b ("mm: remove HUGETLB_PAGE_DTOR")',
    change: 'no compound dtor: the order is the low byte of folio._flags_1, hugetlb is NUMBER(PG_hugetlb) there',
    makedumpfile: '1.7.4',
    present: hasNumber('PG_hugetlb'),
  },
  {
    id: '6.9',
    commit: 'd99e3140a4d3 ("mm: turn folio_test_hugetlb into a PageType")',
    change: 'hugetlb becomes a page type: NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE) in the head\'s _mapcount',
    makedumpfile: '1.7.6',
    present: hasNumber('PAGE_HUGETLB_MAPCOUNT_VALUE'),
  },
  {
    id: '6.10',
    commit: '46df8e73a4a3 ("mm: free up PG_slab")',
    change: 'slab becomes a page type: NUMBER(PAGE_SLAB_MAPCOUNT_VALUE); NUMBER(PG_slab) is gone',
    makedumpfile: '1.7.6',
    present: hasNumber('PAGE_SLAB_MAPCOUNT_VALUE'),
  },
  {
    id: '6.12',
    commit: '4ffca5a96678c ("mm: support only one page_type per page")',
    change: 'one page type per page in the top byte of _mapcount (PGTY_* << 24): same names, new values; compare them whole',
    makedumpfile: '1.7.7',
    present: pageTypesInTopByte,
  },
  {
    id: '6.16',
    commit: 'lore.kernel.org/all/20250405060610.860465-1-zhiquan1.li@intel.com ("export PAGE_UNACCEPTED_MAPCOUNT_VALUE")',
    change: 'unaccepted memory of TDX/SNP guests is a page type: NUMBER(PAGE_UNACCEPTED_MAPCOUNT_VALUE), free at MAX_PAGE_ORDER',
    makedumpfile: '1.7.8',
    present: hasNumber('PAGE_UNACCEPTED_MAPCOUNT_VALUE'),
  },
  {
    id: '7.1',
    commit: 'd50569612c29 ("mm: rename the \'compound_head\' field in the \'struct page\' to \'compound_info\'")',
    change: 'page.compound_head is renamed compound_info: OFFSET(page.compound_info)',
    makedumpfile: '1.7.9++ (unreleased)',
    present: hasOffset('page.compound_info'),
  },
];

/** The newest generation this core shows: the one that judges its pages. */
export function generationOf(info: Vmcoreinfo): RuleGeneration {
  return GENERATIONS.filter((g) => g.present(info)).at(-1)!;
}

/**
 * Every VMCOREINFO key about struct pages that some generation above reads
 * or knows to be irrelevant to judging pages.
 */
const KNOWN_PAGE_KEYS = new Set([
  'SIZE(page)', 'OFFSET(page.flags)', 'OFFSET(page._refcount)', 'OFFSET(page.mapping)', 'OFFSET(page.lru)',
  'OFFSET(page._mapcount)', 'OFFSET(page.private)', 'OFFSET(page.compound_head)', 'OFFSET(page.compound_info)',
  'OFFSET(page.compound_dtor)', 'OFFSET(page.compound_order)', 'OFFSET(folio._folio_dtor)', 'OFFSET(folio._folio_order)',
  'NUMBER(PG_lru)', 'NUMBER(PG_private)', 'NUMBER(PG_swapcache)', 'NUMBER(PG_swapbacked)', 'NUMBER(PG_slab)',
  'NUMBER(PG_hwpoison)', 'NUMBER(PG_head_mask)', 'NUMBER(PG_hugetlb)', 'NUMBER(HUGETLB_PAGE_DTOR)',
  'NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)', 'NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)', 'NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)',
  'NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)', 'NUMBER(PAGE_UNACCEPTED_MAPCOUNT_VALUE)',
  // PG_buddy was a flag before 2.6.38; kernels from 6.10 print the enum value. Never read, known harmless.
  'NUMBER(PG_buddy)',
]);

/** Whether a VMCOREINFO key describes how to read a struct page (or a folio, its successor). */
function isPageKey(key: string): boolean {
  return /^(SIZE\((page|folio)\)|OFFSET\((page|folio)\.[^)]+\)|NUMBER\((PG_[^)]+|PAGE_[A-Z_]+_MAPCOUNT_VALUE|[A-Z_]*PAGE_DTOR)\))$/.test(key);
}

/** The page-judging keys of this VMCOREINFO that no generation knows: a kernel newer than the rules. */
export function unknownPageKeys(info: Vmcoreinfo): string[] {
  const keys = [
    ...[...info.sizes.keys()].map((k) => `SIZE(${k})`),
    ...[...info.offsets.keys()].map((k) => `OFFSET(${k})`),
    ...[...info.numbers.keys()].map((k) => `NUMBER(${k})`),
  ];
  return keys.filter((key) => isPageKey(key) && !KNOWN_PAGE_KEYS.has(key));
}
