/**
 * The first tier's pages found through the struct pages (sender/first-tier.ts
 * names the rest): what crash reads before its prompt, besides the kernel
 * image, the page tables, the log and the stacks.
 *
 *   reserved   PG_reserved pages: memblock allocations made at boot, among
 *              them the per-cpu areas (current_task, the TSS and its IST
 *              stacks, runqueues) and the early page tables; the pages
 *              holding mem_map itself are left out (crash needs few struct
 *              pages to start, and they are 1.5% of memory)
 *   slab       slab pages, whole compound pages: task_struct, pid, mm_struct,
 *              kmem_cache, radix-tree and xarray nodes (crash walks the task
 *              list and the pid tables at start-up)
 *
 * PG_reserved is not in VMCOREINFO: it is the bit just below PG_private in
 * every kernel from 2.6 to 7.x (enum pageflags). Slab pages are PG_slab heads
 * up to 6.9; from 6.10 a page type (PAGE_SLAB_MAPCOUNT_VALUE), judged as
 * page-rules.ts judges PageBuddy. No pass of its own: the dump-level judge
 * (dump-level/page-rules.ts) marks these pages by this module's MarkTest as
 * it judges each struct page it keeps, and the scan (dump-level/exclusion.ts)
 * hands the marks to the marker, so mem_map is read once for both.
 */
import type { Vmcoreinfo } from '../shared/elf/vmcoreinfo.js';
import type { MemMapSection } from '../shared/elf/mem-map.js';
import type { PfnRun } from '../shared/kdump/layout.js';
import { pageTypesInTopByte } from './dump-level/generations.js';
import { MARK_RESERVED, MARK_SLAB, type MarkTest } from './dump-level/page-rules.js';
import { mergeRuns, subtractRuns } from './pfn-run-sets.js';

const PAGE = 4096;
/** The largest slab allocation is an order-10 compound page (MAX_ORDER); a larger count is no slab's. */
const MAX_SLAB_PAGES = 1024;

/**
 * The physical pages holding the sections' struct pages, as runs: one
 * table walk per mapping page of vmemmap (2 MiB on x86_64), so a few
 * thousand even at 1 TiB. `mapping` is the translator's.
 */
export function memMapRuns(
  sections: readonly MemMapSection[], structPageSize: number,
  mapping: (vaddr: bigint) => { phys: bigint; bytes: number } | undefined,
): PfnRun[] {
  const runs: PfnRun[] = [];
  for (const section of sections) {
    const end = section.memMap + BigInt((section.endPfn - section.startPfn) * structPageSize);
    for (let va = section.memMap - (section.memMap % BigInt(PAGE)); va < end;) {
      const mapped = mapping(va);
      const bytes = mapped ? Math.min(mapped.bytes, Number(end - va)) : PAGE - Number(va % BigInt(PAGE));
      if (mapped) {
        const first = Math.floor(Number(mapped.phys) / PAGE);
        runs.push({ startPfn: first, pageCount: Math.ceil((Number(mapped.phys) + bytes) / PAGE) - first });
      }
      va += BigInt(bytes);
    }
  }
  return mergeRuns([runs]);
}

export interface StructPageTier {
  reserved: PfnRun[];
  slab: PfnRun[];
}

/** Builds sorted runs from pfns added in ascending order (a page may be added twice). */
class RunBuilder {
  readonly runs: PfnRun[] = [];
  add(startPfn: number, pageCount: number): void {
    const last = this.runs[this.runs.length - 1];
    if (last && startPfn <= last.startPfn + last.pageCount) {
      last.pageCount = Math.max(last.pageCount, startPfn + pageCount - last.startPfn);
    } else {
      this.runs.push({ startPfn, pageCount });
    }
  }
}

/**
 * The first tier's pages as the dump-level scan (dump-level/exclusion.ts)
 * finds them: its judge tests `test` on every struct page it keeps (the
 * words are at hand there, and a call per page would cost more than the
 * test) and the scan calls mark() with the judge's code for the few marked,
 * in ascending pfn order.
 */
export interface StructPageMarker {
  readonly test: MarkTest;
  /** `code` has MARK_RESERVED or MARK_SLAB; a slab head covers `pages` pfns. */
  mark(pfn: number, code: number, pages: number): void;
  /** The pfns marked, less `memMap` (the pages holding mem_map itself: crash needs few struct pages to start). */
  tier(memMap: readonly PfnRun[]): StructPageTier;
}

/**
 * A marker for the struct pages `info` describes, or why there is none. Its
 * test reads the words the dump-level judge has just read: no read of its
 * own, no allocation per page.
 */
export function structPageMarker(info: Vmcoreinfo): StructPageMarker | string {
  const size = info.sizes.get('page');
  const privateBit = info.numbers.get('PG_private');
  const flags = info.offsets.get('page.flags') ?? 0;
  // A compound head's order is the judge's (page-rules.ts reads it from the first tail, per generation).
  if (!size || size % 4 !== 0 || flags % 4 !== 0 || flags + 8 > size || privateBit === undefined) {
    return 'VMCOREINFO lacks SIZE(page), OFFSET(page.flags) inside it or NUMBER(PG_private)';
  }
  const flagsW = flags >> 2;
  const bitOf = (bit: number) => ({ word: flagsW + (bit >> 5), mask: 1 << (bit & 31) });
  const reserved = bitOf(Number(privateBit) - 1);
  const slabFlag = info.numbers.get('PG_slab');
  const slab = slabFlag === undefined ? { word: flagsW, mask: 0 } : bitOf(Number(slabFlag));
  // From 6.10 slab is a page type in _mapcount (from 6.12 in its top byte); an int32 never equals 2 ** 32.
  const slabValue = info.numbers.get('PAGE_SLAB_MAPCOUNT_VALUE');
  const mapcount = info.offsets.get('page._mapcount');
  const typed = slabFlag === undefined && slabValue !== undefined && mapcount !== undefined && mapcount % 4 === 0;
  const mapcountW = typed ? mapcount >> 2 : flagsW;
  const topByte = typed && pageTypesInTopByte(info);
  const typeMask = topByte ? 0xff00_0000 | 0 : -1;
  const slabType = typed ? Number(BigInt.asIntN(32, slabValue)) & typeMask : 0;

  const reservedRuns = new RunBuilder();
  const slabRuns = new RunBuilder();
  return {
    test: {
      reservedW: reserved.word, reservedMask: reserved.mask, slabW: slab.word, slabMask: slab.mask,
      typed, typeW: mapcountW, typeMask, typeValue: slabType,
    },
    mark(pfn, code, pages) {
      if (code & MARK_RESERVED) reservedRuns.add(pfn, 1);
      // The judge's count: 2 ** order for a compound head whose first tail it read, else 1.
      if (code & MARK_SLAB) slabRuns.add(pfn, Math.min(pages, MAX_SLAB_PAGES));
    },
    tier: (memMap) => ({ reserved: subtractRuns(reservedRuns.runs, memMap), slab: slabRuns.runs }),
  };
}
