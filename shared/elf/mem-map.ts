/**
 * Where each pfn's struct page lives (SPARSEMEM_EXTREME, with or without
 * VMEMMAP), decoded from VMCOREINFO and the crashed kernel's mem_section
 * table as makedumpfile's get_mm_sparsemem does (docs/research/dump-levels.md
 * section 2). Needed to judge pages by their flags for dump levels.
 */
import { badInput, corrupt } from '../errors.js';
import type { Vmcoreinfo } from './vmcoreinfo.js';
import type { KernelTranslator, PhysicalMemory } from './translate.js';

export interface MemMapSection {
  startPfn: number;
  /** One past the last pfn of the section (or of memory). */
  endPfn: number;
  /** Virtual address of startPfn's struct page. */
  memMap: bigint;
}

/** Flag bits below SECTION_MAP_LAST_BIT (5 in 6.1) ride in section_mem_map's low bits. */
const SECTION_MAP_MASK = ~0x1fn;
const SECTION_MARKED_PRESENT = 1n;

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw badInput(`VMCOREINFO has no ${what}: cannot find the struct pages`);
  return value;
}

export function locateMemMap(info: Vmcoreinfo, translator: KernelTranslator, memory: PhysicalMemory, maxPfn: number, pageSize: number): MemMapSection[] {
  const root = need(info.symbols.get('mem_section'), 'SYMBOL(mem_section)');
  const sectionSize = need(info.sizes.get('mem_section'), 'SIZE(mem_section)');
  const mapOffset = need(info.offsets.get('mem_section.section_mem_map'), 'OFFSET(mem_section.section_mem_map)');
  const pageStructSize = BigInt(need(info.sizes.get('page'), 'SIZE(page)'));
  const roots = need(info.lengths.get('mem_section'), 'LENGTH(mem_section)');
  const sectionBits = Number(info.numbers.get('SECTION_SIZE_BITS') ?? 27n);
  const physBits = Number(info.numbers.get('MAX_PHYSMEM_BITS') ?? ((info.numbers.get('pgtable_l5_enabled') ?? 0n) !== 0n ? 52n : 46n));
  const pageBits = Math.log2(pageSize);
  const sectionsPerRoot = pageSize / sectionSize;
  if (!Number.isInteger(sectionsPerRoot) || sectionBits <= pageBits || physBits <= sectionBits) {
    throw corrupt(`implausible SIZE(mem_section)=${sectionSize}, SECTION_SIZE_BITS=${sectionBits}, MAX_PHYSMEM_BITS=${physBits}`);
  }
  // SPARSEMEM_EXTREME: LENGTH is the number of root pointers.
  if (roots !== 2 ** (physBits - sectionBits) / sectionsPerRoot) {
    throw badInput(`LENGTH(mem_section)=${roots} is not NR_SECTION_ROOTS: only SPARSEMEM_EXTREME kernels are supported`);
  }
  const pagesPerSection = 2 ** (sectionBits - pageBits);
  const sectionCount = Math.ceil(maxPfn / pagesPerSection);
  const rootCount = Math.ceil(sectionCount / sectionsPerRoot);
  const read64 = (vaddr: bigint, what: string): bigint => {
    const phys = translator.vtop(vaddr);
    const bytes = phys === undefined ? undefined : memory.read(phys, 8);
    if (!bytes) throw corrupt(`${what} at ${vaddr.toString(16)} is not in the dump`);
    return bytes.readBigUInt64LE(0);
  };
  const sections: MemMapSection[] = [];
  for (let r = 0; r < rootCount; r++) {
    const rootArray = read64(root + BigInt(r * 8), `mem_section root ${r}`);
    if (rootArray === 0n) continue;
    for (let i = 0; i < sectionsPerRoot; i++) {
      const nr = r * sectionsPerRoot + i;
      if (nr >= sectionCount) break;
      const coded = read64(rootArray + BigInt(i * sectionSize + mapOffset), `mem_section ${nr}`);
      if ((coded & SECTION_MARKED_PRESENT) === 0n) continue;
      const startPfn = nr * pagesPerSection;
      // The kernel stores mem_map minus the section's first pfn (mm/sparse.c): add it back.
      const memMap = BigInt.asUintN(64, (coded & SECTION_MAP_MASK) + BigInt(startPfn) * pageStructSize);
      sections.push({ startPfn, endPfn: Math.min(startPfn + pagesPerSection, maxPfn), memMap });
    }
  }
  if (sections.length === 0) throw corrupt('no present memory section in mem_section');
  return sections;
}
