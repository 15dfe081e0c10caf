/**
 * A synthetic x86_64 kernel's memory, built from a spec, as an ElfCoreSpec
 * (elf-core-builder.ts writes the core): page tables (the kernel image, the
 * direct map and vmemmap), a SPARSEMEM_EXTREME mem_section table, one
 * struct page per pfn from the spec, and one node with one zone whose
 * NR_FREE_PAGES counter the spec sets. Enough for the sender's dump-level
 * pass to run end to end on a core whose VMCOREINFO and struct pages can be
 * made to disagree.
 *
 * Physical layout (64 MiB, one PT_LOAD, phys_base 0):
 *   0x100000 init_top_pgt | 0x101000 PUD (direct map) | 0x102000 PUD (vmemmap)
 *   0x103000 PMD (vmemmap) | 0x104000 PUD (kernel image) | 0x105000 mem_section roots (16 KiB)
 *   0x109000 mem_section[0..255] | 0x10a000 node_data[] | 0x10b000 pglist_data (one zone)
 *   0x200000 struct pages (64 bytes per pfn, mapped at VMEMMAP_BASE with one 2 MiB page)
 */
import { X86_64_DIRECT_MAP_BASE, X86_64_START_KERNEL_MAP, type ElfCoreSpec } from './elf-core-builder.js';

export const SYNTHETIC_PAGES = 16384;
const PAGE = 4096;
const VMEMMAP_BASE = 0xffff_ea00_0000_0000n;
const STRUCT_PAGES_PHYS = 0x20_0000;
const PRESENT_RW = 0x3n;
const PSE = 0x80n;
const AT = { pgd: 0x10_0000, pudDirect: 0x10_1000, pudVmemmap: 0x10_2000, pmdVmemmap: 0x10_3000, pudKernel: 0x10_4000, roots: 0x10_5000, sections: 0x10_9000, nodeData: 0x10_a000, pgdat: 0x10_b000 };
/** struct pglist_data and struct zone of this kernel: node_zones first, nr_zones after 4 zones. */
const ZONE = { size: 256, spannedAt: 16, vmStatAt: 64 };
const PGDAT = { nrZonesAt: 4 * ZONE.size };

/** One struct page (6.1 x86_64 layout: flags 0, compound_head 8, mapping 24, private 40, _mapcount 48). */
export interface StructPageSpec {
  flags?: bigint;
  compoundHead?: bigint;
  /** Bytes 16 and 17 (compound dtor and order in a first tail page before 6.3). */
  dtor?: number;
  order?: number;
  mapping?: bigint;
  private?: bigint;
  /** _mapcount / page_type as a 32-bit pattern; default -1 (no type, unmapped). */
  mapcount?: number;
}

export interface SyntheticKernelSpec {
  /** The struct page of each pfn; pfns it leaves undefined are plain kernel pages (flags 0). */
  page: (pfn: number) => StructPageSpec | undefined;
  /** zone.vm_stat[NR_FREE_PAGES] of the one zone. */
  nrFreePages: number;
  /** VMCOREINFO lines about struct pages (SIZE(page), OFFSET(page.*), NUMBER(PG_*), page types, ...). */
  pageInfo: string[];
  cpus?: number;
}

/** Debian 6.1's struct page entries, as its VMCOREINFO prints them. */
export const PAGE_INFO_6_1 = [
  'SIZE(page)=64', 'OFFSET(page.flags)=0', 'OFFSET(page._refcount)=52', 'OFFSET(page.mapping)=24', 'OFFSET(page.lru)=8',
  'OFFSET(page._mapcount)=48', 'OFFSET(page.private)=40', 'OFFSET(page.compound_head)=8', 'OFFSET(page.compound_dtor)=16',
  'OFFSET(page.compound_order)=17', 'NUMBER(PG_lru)=4', 'NUMBER(PG_private)=13', 'NUMBER(PG_swapcache)=10',
  'NUMBER(PG_swapbacked)=19', 'NUMBER(PG_slab)=9', 'NUMBER(PG_hwpoison)=23', 'NUMBER(PG_head_mask)=65536',
  'NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129', 'NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-257', 'NUMBER(HUGETLB_PAGE_DTOR)=2',
  'LENGTH(zone.free_area)=11',
];

const idx = (va: bigint, shift: bigint) => Number((va >> shift) & 511n);
const kernelSymbol = (phys: number) => (X86_64_START_KERNEL_MAP + BigInt(phys)).toString(16);
const direct = (phys: number) => X86_64_DIRECT_MAP_BASE + BigInt(phys);

function structPageBytes(spec: StructPageSpec | undefined, out: Buffer, at: number): void {
  const p = spec ?? {};
  out.writeBigUInt64LE(p.flags ?? 0n, at);
  out.writeBigUInt64LE(p.compoundHead ?? 0n, at + 8);
  if (p.dtor !== undefined) out[at + 16] = p.dtor;
  if (p.order !== undefined) out[at + 17] = p.order;
  out.writeBigUInt64LE(p.mapping ?? 0n, at + 24);
  out.writeBigUInt64LE(p.private ?? 0n, at + 40);
  out.writeUInt32LE((p.mapcount ?? -1) >>> 0, at + 48);
}

/** The core's spec: its VMCOREINFO and every physical page. */
export function syntheticKernelCore(spec: SyntheticKernelSpec): ElfCoreSpec {
  const memory = new Map<number, Buffer>();
  const page = (phys: number) => {
    const pfn = Math.floor(phys / PAGE);
    let p = memory.get(pfn);
    if (!p) memory.set(pfn, (p = Buffer.alloc(PAGE)));
    return { buf: p, at: phys % PAGE };
  };
  const put64 = (phys: number, value: bigint) => {
    const { buf, at } = page(phys);
    buf.writeBigUInt64LE(BigInt.asUintN(64, value), at);
  };
  // Page tables: 1 GiB pages for the kernel image and the direct map, a 2 MiB page for vmemmap.
  put64(AT.pgd + idx(X86_64_START_KERNEL_MAP, 39n) * 8, BigInt(AT.pudKernel) | PRESENT_RW);
  put64(AT.pudKernel + idx(X86_64_START_KERNEL_MAP, 30n) * 8, 0n | PRESENT_RW | PSE);
  put64(AT.pgd + idx(X86_64_DIRECT_MAP_BASE, 39n) * 8, BigInt(AT.pudDirect) | PRESENT_RW);
  put64(AT.pudDirect + idx(X86_64_DIRECT_MAP_BASE, 30n) * 8, 0n | PRESENT_RW | PSE);
  put64(AT.pgd + idx(VMEMMAP_BASE, 39n) * 8, BigInt(AT.pudVmemmap) | PRESENT_RW);
  put64(AT.pudVmemmap + idx(VMEMMAP_BASE, 30n) * 8, BigInt(AT.pmdVmemmap) | PRESENT_RW);
  put64(AT.pmdVmemmap + idx(VMEMMAP_BASE, 21n) * 8, BigInt(STRUCT_PAGES_PHYS) | PRESENT_RW | PSE);
  // mem_section: root 0 -> a page of 16-byte sections; section 0 (pfns 0-32767) present with its mem_map.
  put64(AT.roots, direct(AT.sections));
  put64(AT.sections, VMEMMAP_BASE | 0x3n);
  // node_data[0] -> pglist_data with one populated zone.
  put64(AT.nodeData, direct(AT.pgdat));
  put64(AT.pgdat + PGDAT.nrZonesAt, 1n);
  put64(AT.pgdat + ZONE.spannedAt, BigInt(SYNTHETIC_PAGES));
  put64(AT.pgdat + ZONE.vmStatAt, BigInt(spec.nrFreePages));
  for (let pfn = 0; pfn < SYNTHETIC_PAGES; pfn++) {
    const { buf, at } = page(STRUCT_PAGES_PHYS + pfn * 64);
    structPageBytes(spec.page(pfn), buf, at);
  }
  const vmcoreinfo = [
    'OSRELEASE=6.1.0-synthetic-amd64', 'PAGESIZE=4096',
    `SYMBOL(init_top_pgt)=${kernelSymbol(AT.pgd)}`, 'NUMBER(pgtable_l5_enabled)=0', 'NUMBER(phys_base)=0',
    `SYMBOL(mem_section)=${direct(AT.roots).toString(16)}`, 'LENGTH(mem_section)=2048', 'SIZE(mem_section)=16',
    'OFFSET(mem_section.section_mem_map)=0', 'NUMBER(SECTION_SIZE_BITS)=27', 'NUMBER(MAX_PHYSMEM_BITS)=46',
    `SYMBOL(node_data)=${kernelSymbol(AT.nodeData)}`, 'LENGTH(node_data)=64',
    `SIZE(zone)=${ZONE.size}`, 'OFFSET(pglist_data.node_zones)=0', `OFFSET(pglist_data.nr_zones)=${PGDAT.nrZonesAt}`,
    `OFFSET(zone.spanned_pages)=${ZONE.spannedAt}`, `OFFSET(zone.vm_stat)=${ZONE.vmStatAt}`, 'NUMBER(NR_FREE_PAGES)=0',
    ...spec.pageInfo, 'CRASHTIME=1700000000', '',
  ].join('\n');
  return {
    loads: [{ paddr: 0, memsz: SYNTHETIC_PAGES * PAGE }],
    cpus: spec.cpus ?? 1,
    vmcoreinfo,
    page: (pfn) => memory.get(pfn) ?? { fill: pfn < 0x100 ? 0 : 0x5a },
  };
}
