/**
 * arm64 kernel virtual-to-physical translation from VMCOREINFO alone, by
 * walking the crashed kernel's swapper_pg_dir the way makedumpfile's
 * arch/arm64.c does (vaddr_to_paddr_arm64):
 *
 *   - the granule is PAGESIZE (4, 16 or 64 KiB), the kernel's VA size is
 *     64 - NUMBER(TCR_EL1_T1SZ) (5.9+; NUMBER(VA_BITS) before), and the two
 *     give the number of levels (2 to 5) as arch/arm64/Kconfig does;
 *   - swapper_pg_dir is a kernel-image symbol: its physical address is
 *     vaddr - NUMBER(kimage_voffset). Before 4.6 (no kimage_voffset) the
 *     image lived in the linear map, at (vaddr & ~PAGE_OFFSET) + PHYS_OFFSET;
 *   - block mappings at levels 1 and 2 (1 GiB / 2 MiB with 4 KiB pages,
 *     32 MiB with 16 KiB, 512 MiB with 64 KiB) end the walk early;
 *   - 52-bit physical addresses: with 64 KiB pages (FEAT_LPA) bits 51:48 of
 *     an output address ride in descriptor bits 15:12; with 4/16 KiB pages
 *     and a 52-bit VA (FEAT_LPA2) bits 51:50 ride in bits 9:8, which are
 *     shareability bits otherwise and must not be read as address.
 *
 * Every kernel address goes through the tables, the linear map and vmemmap
 * included: their bases move with KASLR and the VA layout flip of 5.4, and
 * the tables already know where everything is.
 */
import { badInput, corrupt } from '../errors.js';
import type { KernelTranslator, PhysicalMemory } from './translate.js';
import type { Vmcoreinfo } from './vmcoreinfo.js';

const VALID = 1n;
const TYPE_MASK = 3n;
/** Bits 1:0 of a descriptor: a table (levels 0-2) or a page (level 3). */
const TYPE_TABLE_OR_PAGE = 3n;
const TYPE_BLOCK = 1n;

const low = (bits: number) => (1n << BigInt(bits)) - 1n;
const KiB = 1024;

/** arch/arm64/Kconfig's (page size, VA bits) pairs and their table levels. */
function levelsFor(pageSize: number, vaBits: number): 2 | 3 | 4 | 5 | undefined {
  const key = `${pageSize / KiB}K/${vaBits}`;
  switch (key) {
    case '16K/36': case '64K/42': return 2;
    case '4K/39': case '16K/47': case '64K/48': case '64K/52': return 3;
    case '4K/48': case '16K/48': case '16K/52': return 4;
    case '4K/52': return 5;
    default: return undefined;
  }
}

export interface Arm64Layout {
  pageSize: number;
  /** The kernel's VA size as the hardware runs it (TTBR1 covers [-(1 << vaBits), 2^64)). */
  vaBits: number;
  levels: 2 | 3 | 4 | 5;
  /** How output addresses above 48 bits are encoded, if any. */
  physAddress: 'pa48' | 'lpa' | 'lpa2';
}

export class Arm64Translator implements KernelTranslator {
  private readonly tableCache = new Map<bigint, Buffer>();
  private readonly pageShift: number;
  /** Level of the top table: 4 - levels (-1 for five levels). */
  private readonly topLevel: number;
  private readonly topEntries: number;
  private readonly entryBits: number;
  private readonly addressMask: bigint;
  /** The shift of the last successful walk's mapping (mapping() reads it). */
  private lastShift: number;

  constructor(
    private readonly memory: PhysicalMemory,
    /** Physical address of swapper_pg_dir. */
    readonly topTable: bigint,
    readonly layout: Arm64Layout,
  ) {
    this.pageShift = Math.log2(layout.pageSize);
    this.lastShift = this.pageShift;
    this.entryBits = this.pageShift - 3;
    this.topLevel = 4 - layout.levels;
    this.topEntries = 2 ** (layout.vaBits - this.shiftOf(this.topLevel));
    const highBit = layout.physAddress === 'lpa2' ? 50 : 48;
    this.addressMask = low(highBit) & ~low(this.pageShift);
  }

  /**
   * From VMCOREINFO: PAGESIZE, NUMBER(VA_BITS), NUMBER(TCR_EL1_T1SZ),
   * NUMBER(MAX_PHYSMEM_BITS), SYMBOL(swapper_pg_dir), NUMBER(kimage_voffset)
   * and, for kernels without kimage_voffset, NUMBER(PHYS_OFFSET).
   */
  static fromVmcoreinfo(info: Vmcoreinfo, memory: PhysicalMemory): Arm64Translator {
    const pageSize = info.pageSize;
    const configuredVaBits = info.numbers.get('VA_BITS');
    if (configuredVaBits === undefined) throw badInput('VMCOREINFO has no NUMBER(VA_BITS): cannot walk the arm64 page tables');
    const swapper = info.symbols.get('swapper_pg_dir');
    if (swapper === undefined) throw badInput('VMCOREINFO has no SYMBOL(swapper_pg_dir): cannot walk the arm64 page tables');
    const t1sz = info.numbers.get('TCR_EL1_T1SZ');
    let vaBits = Number(configuredVaBits);
    if (t1sz !== undefined) vaBits = 64 - Number(t1sz);
    else if (vaBits === 52) {
      // 5.4 to 5.8 say neither; there mem_section (a linear-map address) tells a 52-bit kernel on 48-bit hardware.
      const memSection = info.symbols.get('mem_section');
      if (memSection !== undefined && (memSection & (1n << 51n)) !== 0n) vaBits = 48;
    }
    const levels = pageSize === undefined ? undefined : levelsFor(pageSize, vaBits);
    if (pageSize === undefined || levels === undefined) {
      throw badInput(`arm64 with ${pageSize ?? '?'}-byte pages and ${vaBits}-bit kernel addresses is not a configuration the kernel has`);
    }
    const physBits = Number(info.numbers.get('MAX_PHYSMEM_BITS') ?? (Number(configuredVaBits) === 52 ? 52n : 48n));
    const physAddress = physBits < 52 ? 'pa48' : pageSize === 64 * KiB ? 'lpa' : vaBits === 52 ? 'lpa2' : 'pa48';
    const top = swapperPhysical(info, swapper, Number(configuredVaBits), vaBits);
    return new Arm64Translator(memory, top, { pageSize, vaBits, levels, physAddress });
  }

  /** How much address one entry at `level` maps: (granule bits - 3) per level below it, plus the page. */
  private shiftOf(level: number): number {
    return this.entryBits * (3 - level) + this.pageShift;
  }

  /** The output address a descriptor holds (a table's, a page's or a block's base). */
  private outputAddress(entry: bigint): bigint {
    let address = entry & this.addressMask;
    if (this.layout.physAddress === 'lpa') address |= ((entry >> 12n) & 0xfn) << 48n;
    else if (this.layout.physAddress === 'lpa2') address |= ((entry >> 8n) & 3n) << 50n;
    return address;
  }

  private table(phys: bigint, entries: number): Buffer | undefined {
    let table = this.tableCache.get(phys);
    if (!table) {
      table = this.memory.read(phys, entries * 8);
      if (!table) return undefined;
      if (this.tableCache.size >= 64) this.tableCache.delete(this.tableCache.keys().next().value!);
      this.tableCache.set(phys, table);
    }
    return table;
  }

  private entriesAt(level: number): number {
    return level === this.topLevel ? this.topEntries : 2 ** this.entryBits;
  }

  /** Whether a kernel address is in TTBR1's range at all: anything below it is user space or not canonical. */
  private inRange(va: bigint): boolean {
    return va >= BigInt.asUintN(64, -(1n << BigInt(this.layout.vaBits)));
  }

  vtop(vaddr: bigint): bigint | undefined {
    return this.walk(BigInt.asUintN(64, vaddr));
  }

  mapping(vaddr: bigint): { phys: bigint; bytes: number } | undefined {
    const va = BigInt.asUintN(64, vaddr);
    const phys = this.walk(va);
    if (phys === undefined) return undefined;
    return { phys, bytes: 2 ** this.lastShift - Number(va & low(this.lastShift)) };
  }

  private walk(va: bigint): bigint | undefined {
    if (!this.inRange(va)) return undefined;
    let table = this.topTable;
    for (let level = this.topLevel; level <= 3; level++) {
      const shift = this.shiftOf(level);
      const entries = this.entriesAt(level);
      const index = Number((va >> BigInt(shift)) & BigInt(entries - 1));
      const page = this.table(table, entries);
      if (!page) return undefined;
      const entry = page.readBigUInt64LE(index * 8);
      if ((entry & VALID) === 0n) return undefined;
      const type = entry & TYPE_MASK;
      if (level === 3) {
        if (type !== TYPE_TABLE_OR_PAGE) return undefined;
        this.lastShift = shift;
        return this.outputAddress(entry) + (va & low(shift));
      }
      if (type === TYPE_BLOCK) {
        if (level < 0) return undefined;
        this.lastShift = shift;
        return (this.outputAddress(entry) & ~low(shift)) + (va & low(shift));
      }
      table = this.outputAddress(entry);
    }
    return undefined;
  }

  kernelTablePages(limit = 1 << 20): bigint[] {
    const found: bigint[] = [this.topTable];
    const seen = new Set<bigint>(found);
    const descend = (table: bigint, level: number) => {
      const page = this.memory.read(table, this.entriesAt(level) * 8);
      if (!page) return;
      for (let i = 0; i < page.length / 8 && found.length < limit; i++) {
        const entry = page.readBigUInt64LE(i * 8);
        // Level 2 tables point at level 3 tables, which hold pages: those are the last tables.
        if ((entry & TYPE_MASK) !== TYPE_TABLE_OR_PAGE) continue;
        const next = this.outputAddress(entry);
        if (seen.has(next)) continue;
        seen.add(next);
        found.push(next);
        if (level < 2) descend(next, level + 1);
      }
    };
    descend(this.topTable, this.topLevel);
    return found;
  }

  mappedPages(from: bigint, to: bigint, limit = 1 << 20): bigint[] {
    const found: bigint[] = [];
    const pageSize = BigInt(this.layout.pageSize);
    const descend = (table: bigint, level: number, base: bigint) => {
      const page = this.memory.read(table, this.entriesAt(level) * 8);
      if (!page) return;
      const shift = this.shiftOf(level);
      const span = 1n << BigInt(shift);
      for (let i = 0; i < page.length / 8 && found.length < limit; i++) {
        const start = base + BigInt(i) * span;
        if (start + span <= from || start >= to) continue;
        const entry = page.readBigUInt64LE(i * 8);
        if ((entry & VALID) === 0n) continue;
        const type = entry & TYPE_MASK;
        if (level === 3 ? type !== TYPE_TABLE_OR_PAGE : type === TYPE_TABLE_OR_PAGE) {
          if (level < 3) descend(this.outputAddress(entry), level + 1, start);
          continue;
        }
        if (level < 0) continue;
        const leaf = this.outputAddress(entry) & ~low(shift);
        for (let at = 0n; at < span && found.length < limit; at += pageSize) {
          if (start + at >= from && start + at < to) found.push(leaf + at);
        }
      }
    };
    descend(this.topTable, this.topLevel, BigInt.asUintN(64, -(1n << BigInt(this.layout.vaBits))));
    return found;
  }
}

/**
 * swapper_pg_dir's physical address, as makedumpfile's __pa: an image
 * address less kimage_voffset, or, where the image is in the linear map
 * (before 4.6, no kimage_voffset), its offset there plus PHYS_OFFSET.
 */
function swapperPhysical(info: Vmcoreinfo, swapper: bigint, configuredVaBits: number, vaBits: number): bigint {
  const voffset = info.numbers.get('kimage_voffset');
  if (voffset !== undefined) return BigInt.asUintN(64, swapper - BigInt.asUintN(64, voffset));
  const physOffset = info.numbers.get('PHYS_OFFSET');
  if (physOffset === undefined) throw badInput('VMCOREINFO has neither NUMBER(kimage_voffset) nor NUMBER(PHYS_OFFSET): cannot place swapper_pg_dir');
  // Before 4.6 the linear map was the upper half of the kernel's VA: PAGE_OFFSET = -(1 << (VA_BITS - 1)).
  const pageOffset = BigInt.asUintN(64, -(1n << BigInt(Math.min(configuredVaBits, vaBits) - 1)));
  if (swapper < pageOffset) throw corrupt(`SYMBOL(swapper_pg_dir)=${swapper.toString(16)} is not in the linear map and there is no kimage_voffset`);
  return BigInt.asUintN(64, (swapper & ~pageOffset) + BigInt.asUintN(64, physOffset));
}
