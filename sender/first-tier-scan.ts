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
 * page-rules.ts judges PageBuddy. One pass over mem_map of the in-core pfns,
 * read in windows of at most 1 MiB into one buffer.
 */
import type { MemMapSection } from '../shared/elf/mem-map.js';
import type { Vmcoreinfo } from '../shared/elf/vmcoreinfo.js';
import type { X86_64Translator } from '../shared/elf/x86-64-translate.js';
import type { PfnRun } from '../shared/kdump/layout.js';
import { pageTypesInTopByte } from './dump-level/generations.js';
import { subtractRuns, toRuns } from './pfn-run-sets.js';

const PAGE = 4096;
const WINDOW = 1 << 20;

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

interface FlagRules {
  size: number;
  reservedBit: number;
  /** PG_slab as a flag bit (up to 6.9), or -1. */
  slabBit: number;
  /** The slab page type (from 6.10) as _mapcount reads it, or undefined. */
  slabType?: { offset: number; value: number; topByte: boolean };
  headBit: number;
  /** Where a compound head's order byte is, from the head's struct page (in its first tail). */
  orderAt: number;
}

function rulesOf(info: Vmcoreinfo): FlagRules | string {
  const size = info.sizes.get('page');
  const privateBit = info.numbers.get('PG_private');
  const headMask = info.numbers.get('PG_head_mask');
  // Up to 6.2 the order is a byte of the first tail's struct page, OFFSET(page.compound_order); from
  // 6.6 it is the low byte of the first tail's flags (folio._flags_1), which VMCOREINFO does not name.
  const compoundOrder = info.offsets.get('page.compound_order');
  const flags = info.offsets.get('page.flags') ?? 0;
  const flags1 = info.offsets.get('folio._flags_1');
  const orderAt = size === undefined ? undefined
    : compoundOrder !== undefined ? size + compoundOrder : flags1 !== undefined ? flags1 : size + flags;
  if (!size || privateBit === undefined || headMask === undefined || orderAt === undefined) {
    return 'VMCOREINFO lacks SIZE(page), NUMBER(PG_private) or NUMBER(PG_head_mask)';
  }
  const slab = info.numbers.get('PG_slab');
  const slabValue = info.numbers.get('PAGE_SLAB_MAPCOUNT_VALUE');
  const mapcount = info.offsets.get('page._mapcount');
  const rules: FlagRules = {
    size, reservedBit: Number(privateBit) - 1, slabBit: slab === undefined ? -1 : Number(slab),
    headBit: Math.log2(Number(headMask)), orderAt,
  };
  if (slab === undefined && slabValue !== undefined && mapcount !== undefined) {
    rules.slabType = { offset: mapcount, value: Number(BigInt.asIntN(32, slabValue)), topByte: pageTypesInTopByte(info) };
  }
  return rules;
}

/** Whether bit `bit` of the 64-bit little-endian word at `at` is set. */
function bitSet(buffer: Buffer, at: number, bit: number): boolean {
  return bit < 32 ? ((buffer.readUInt32LE(at) >>> bit) & 1) === 1 : ((buffer.readUInt32LE(at + 4) >>> (bit - 32)) & 1) === 1;
}

function isSlabType(buffer: Buffer, at: number, type: NonNullable<FlagRules['slabType']>): boolean {
  const word = buffer.readInt32LE(at + type.offset);
  // From 6.12 the type sits in the top byte (the value's top byte), the rest is per-type data.
  return type.topByte ? (word >>> 24) === (type.value >>> 24) : word === type.value;
}

/**
 * The reserved and slab pfns among `extents` (the core's), from mem_map.
 * Undefined, with why, when the struct pages cannot be judged so.
 */
export function scanStructPageTier(
  info: Vmcoreinfo, translator: X86_64Translator, sections: readonly MemMapSection[], extents: readonly PfnRun[],
  readPhysicalInto: (phys: number, into: Buffer) => Buffer,
): StructPageTier | string {
  const rules = rulesOf(info);
  if (typeof rules === 'string') return rules;
  const { size } = rules;
  const reserved = new RunBuilder();
  const slab = new RunBuilder();
  /** The pfns holding mem_map itself (not ascending: sections' struct pages lie anywhere). */
  const memMapPfns: number[] = [];
  const window = Buffer.alloc(WINDOW + size);
  for (const section of sections) {
    for (const extent of extents) {
      const from = Math.max(section.startPfn, extent.startPfn);
      const to = Math.min(section.endPfn, extent.startPfn + extent.pageCount);
      let pfn = from;
      while (pfn < to) {
        // The window: struct pages of [pfn, end) in one physically contiguous read, plus the next one (a head's first tail).
        const vaddr = section.memMap + BigInt((pfn - section.startPfn) * size);
        const first = translator.mapping(vaddr);
        if (!first) {
          // An unmapped 4 KiB of mem_map: skip its struct pages.
          pfn += Math.max(1, Math.floor((PAGE - Number(vaddr % BigInt(PAGE))) / size));
          continue;
        }
        const pages = Math.max(1, Math.min(to - pfn, Math.floor(Math.min(first.bytes, WINDOW) / size)));
        const bytes = pages * size;
        const lookahead = pfn + pages < to && first.bytes >= bytes + size;
        readPhysicalInto(Number(first.phys), window.subarray(0, bytes + (lookahead ? size : 0)));
        for (let p = Math.floor(Number(first.phys) / PAGE); p * PAGE < Number(first.phys) + bytes; p++) memMapPfns.push(p);
        for (let i = 0; i < pages; i++) {
          const at = i * size;
          if (bitSet(window, at, rules.reservedBit)) reserved.add(pfn + i, 1);
          const isSlab = rules.slabBit >= 0 ? bitSet(window, at, rules.slabBit) : rules.slabType !== undefined && isSlabType(window, at, rules.slabType);
          if (!isSlab) continue;
          let count = 1;
          if (bitSet(window, at, rules.headBit) && (i + 1 < pages || lookahead)) {
            const order = window[at + rules.orderAt];
            if (order > 0 && order <= 10) count = 2 ** order;
          }
          slab.add(pfn + i, Math.min(count, to - (pfn + i)));
        }
        pfn += pages;
      }
    }
  }
  return { reserved: subtractRuns(reserved.runs, toRuns(memMapPfns)), slab: slab.runs };
}
