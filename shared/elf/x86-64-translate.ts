/**
 * x86_64 kernel virtual-to-physical translation from VMCOREINFO alone, by
 * walking the crashed kernel's own page tables as makedumpfile's
 * __vtop4_x86_64 does (docs/research/dump-levels.md section 1). Works for
 * every kernel mapping: the image, the KASLR-randomised direct map and
 * vmemmap, whose bases VMCOREINFO does not give. The memory it reads is
 * behind a small interface, so tests can hand it hand-built tables.
 */
import { badInput } from '../errors.js';
import type { KernelTranslator, PhysicalMemory } from './translate.js';
import type { Vmcoreinfo } from './vmcoreinfo.js';

/** x86_64 __START_KERNEL_map: the kernel image is mapped here plus phys_base. */
export const X86_64_START_KERNEL_MAP = 0xffff_ffff_8000_0000n;
const PRESENT = 1n;
const PSE = 0x80n;
/** Bits 12-51 of an entry: the next table's or the page's physical address. */
const ENTRY_ADDRESS_MASK = 0x000f_ffff_ffff_f000n;
const PAGE_4K = 12n;
const PAGE_2M = 21n;
const PAGE_1G = 30n;

const low = (shift: bigint) => (1n << shift) - 1n;

export class X86_64Translator implements KernelTranslator {
  private readonly tableCache = new Map<bigint, Buffer>();
  /** The page shift of the last successful walk's mapping (mapping() reads it). */
  private lastShift = PAGE_4K;

  private constructor(
    private readonly memory: PhysicalMemory,
    /** Physical address of the top-level table (init_top_pgt). */
    readonly topTable: bigint,
    readonly levels: 4 | 5,
    private readonly entryMask: bigint,
  ) {}

  /**
   * From VMCOREINFO: SYMBOL(init_top_pgt) (or init_level4_pgt before 4.13),
   * NUMBER(pgtable_l5_enabled), NUMBER(sme_mask), and phys_base.
   */
  static fromVmcoreinfo(info: Vmcoreinfo, physBase: bigint, memory: PhysicalMemory): X86_64Translator {
    const top = info.symbols.get('init_top_pgt') ?? info.symbols.get('init_level4_pgt');
    if (top === undefined) throw badInput('VMCOREINFO has no SYMBOL(init_top_pgt): cannot walk the page tables');
    if (top < X86_64_START_KERNEL_MAP) throw badInput(`SYMBOL(init_top_pgt)=${top.toString(16)} is not a kernel-image address`);
    const smeMask = BigInt.asUintN(64, info.numbers.get('sme_mask') ?? 0n);
    const levels = (info.numbers.get('pgtable_l5_enabled') ?? 0n) !== 0n ? 5 : 4;
    const topTable = BigInt.asUintN(64, top - X86_64_START_KERNEL_MAP + physBase);
    return new X86_64Translator(memory, topTable, levels, ENTRY_ADDRESS_MASK & ~smeMask);
  }

  private entry(table: bigint, index: bigint): bigint | undefined {
    let page = this.tableCache.get(table);
    if (!page) {
      page = this.memory.read(table, 4096);
      if (!page) return undefined;
      if (this.tableCache.size >= 64) this.tableCache.delete(this.tableCache.keys().next().value!);
      this.tableCache.set(table, page);
    }
    return page.readBigUInt64LE(Number(index) * 8);
  }

  /** The physical address of a kernel virtual address, or undefined when it is not mapped (or the tables are not in the dump). */
  vtop(vaddr: bigint): bigint | undefined {
    return this.walk(BigInt.asUintN(64, vaddr));
  }

  /**
   * Like vtop, with how many bytes from `vaddr` on the same page-table entry
   * maps (to the end of its 4 KiB, 2 MiB or 1 GiB page): physically
   * contiguous, so a caller reading a long virtual range walks the tables
   * once per mapping page instead of once per 4 KiB.
   */
  mapping(vaddr: bigint): { phys: bigint; bytes: number } | undefined {
    const va = BigInt.asUintN(64, vaddr);
    const phys = this.walk(va);
    if (phys === undefined) return undefined;
    const shift = this.lastShift;
    return { phys, bytes: 2 ** Number(shift) - Number(va & low(shift)) };
  }

  /**
   * The physical addresses of the page-table pages that map the kernel half
   * of the address space (the top table included): what a reader of the dump
   * needs to translate any kernel address. Tables the dump does not hold are
   * not descended into; at most `limit` are returned (a walk over garbage
   * entries must end).
   */
  kernelTablePages(limit = 1 << 20): bigint[] {
    const found: bigint[] = [this.topTable];
    const seen = new Set<bigint>(found);
    const descend = (table: bigint, level: number, from: number) => {
      // level: 5 p4d-or-pgd above 4, 4 = PGD (512 GiB entries), 3 = PUD, 2 = PMD; level 1 tables (PTE) hold pages.
      const page = this.memory.read(table, 4096);
      if (!page) return;
      for (let i = from; i < 512 && found.length < limit; i++) {
        const e = page.readBigUInt64LE(i * 8);
        if ((e & PRESENT) === 0n) continue;
        // A leaf (1 GiB at the PUD, 2 MiB at the PMD) maps memory, not a table.
        if ((level === 3 || level === 2) && (e & PSE) !== 0n) continue;
        const next = e & this.entryMask;
        if (seen.has(next)) continue;
        seen.add(next);
        found.push(next);
        if (level > 2) descend(next, level - 1, 0);
      }
    };
    // The kernel half: the upper 256 entries of the top table.
    descend(this.topTable, this.levels === 5 ? 5 : 4, 256);
    return found;
  }

  /**
   * The physical pages (4 KiB each) that the kernel virtual range [from, to)
   * maps, in virtual order: one descent of the tables over the range, not a
   * walk per page. Tables the dump does not hold are skipped; at most
   * `limit` pages are returned.
   */
  mappedPages(from: bigint, to: bigint, limit = 1 << 20): bigint[] {
    const found: bigint[] = [];
    const descend = (table: bigint, shift: bigint, base: bigint) => {
      const page = this.memory.read(table, 4096);
      if (!page) return;
      const span = 1n << shift;
      for (let i = 0; i < 512 && found.length < limit; i++) {
        const start = base + BigInt(i) * span;
        if (start + span <= from || start >= to) continue;
        const e = page.readBigUInt64LE(i * 8);
        if ((e & PRESENT) === 0n) continue;
        const next = e & this.entryMask;
        if (shift === PAGE_4K || ((shift === PAGE_2M || shift === PAGE_1G) && (e & PSE) !== 0n)) {
          const leaf = shift === PAGE_4K ? next : next & ~low(shift);
          for (let at = 0n; at < span && found.length < limit; at += 4096n) {
            if (start + at >= from && start + at < to) found.push(leaf + at);
          }
          continue;
        }
        descend(next, shift - 9n, start);
      }
    };
    const topShift = this.levels === 5 ? 48n : 39n;
    // Kernel addresses are sign-extended: the top table's base is the lowest canonical kernel address's.
    const top = BigInt.asUintN(64, -(1n << (topShift + 9n)));
    descend(this.topTable, topShift, top);
    return found;
  }

  private walk(va: bigint): bigint | undefined {
    const shifts = this.levels === 5 ? [48n, 39n] : [39n];
    let table = this.topTable;
    for (const shift of shifts) {
      const e = this.entry(table, (va >> shift) & 511n);
      if (e === undefined || (e & PRESENT) === 0n) return undefined;
      table = e & this.entryMask;
    }
    const pud = this.entry(table, (va >> PAGE_1G) & 511n);
    if (pud === undefined || (pud & PRESENT) === 0n) return undefined;
    if (pud & PSE) return this.mapped(PAGE_1G, (pud & this.entryMask & ~low(PAGE_1G)) + (va & low(PAGE_1G)));
    const pmd = this.entry(pud & this.entryMask, (va >> PAGE_2M) & 511n);
    if (pmd === undefined || (pmd & PRESENT) === 0n) return undefined;
    if (pmd & PSE) return this.mapped(PAGE_2M, (pmd & this.entryMask & ~low(PAGE_2M)) + (va & low(PAGE_2M)));
    const pte = this.entry(pmd & this.entryMask, (va >> PAGE_4K) & 511n);
    if (pte === undefined || (pte & PRESENT) === 0n) return undefined;
    return this.mapped(PAGE_4K, (pte & this.entryMask) + (va & low(PAGE_4K)));
  }

  private mapped(shift: bigint, phys: bigint): bigint {
    this.lastShift = shift;
    return phys;
  }
}
