import { describe, expect, it } from 'vitest';
import { parseVmcoreinfo } from '../../shared/elf/vmcoreinfo.js';
import type { PhysicalMemory } from '../../shared/elf/translate.js';
import { X86_64Translator, X86_64_START_KERNEL_MAP } from '../../shared/elf/x86-64-translate.js';
import { catchNetdump } from '../helpers/errors.js';
import { locateMemMap } from '../../shared/elf/mem-map.js';

/** Physical memory made of hand-built 4 KiB table pages. */
class Tables implements PhysicalMemory {
  readonly pages = new Map<bigint, Buffer>();
  private next = 0x10_0000n;

  table(): bigint {
    const at = this.next;
    this.next += 0x1000n;
    this.pages.set(at, Buffer.alloc(4096));
    return at;
  }

  set(table: bigint, index: bigint, value: bigint): void {
    this.pages.get(table)!.writeBigUInt64LE(value, Number(index) * 8);
  }

  read(phys: bigint, length: number): Buffer | undefined {
    const page = this.pages.get(phys & ~0xfffn);
    return page?.subarray(Number(phys & 0xfffn), Number(phys & 0xfffn) + length);
  }
}

const idx = (va: bigint, shift: bigint) => (va >> shift) & 511n;
const PRESENT = 1n;
const PSE = 0x80n;
const NX = 1n << 63n;

/** A VMCOREINFO whose init_top_pgt lands at `top` with phys_base 0. */
function info(top: bigint, extra: string[] = []) {
  return parseVmcoreinfo([`SYMBOL(init_top_pgt)=${(X86_64_START_KERNEL_MAP + top).toString(16)}`, ...extra, ''].join('\n'));
}

describe('x86_64 page-table walk', () => {
  it('translates 4 KiB, 2 MiB and 1 GiB mappings, ignoring flag bits, and says undefined for holes', () => {
    const mem = new Tables();
    const pgd = mem.table();
    const pud = mem.table();
    const pmd = mem.table();
    const pte = mem.table();
    const base = 0xffff_8880_0000_0000n; // direct map without KASLR
    mem.set(pgd, idx(base, 39n), pud | PRESENT | 0x63n);
    // 4 KiB: base + 0x123000 -> 0x5555000
    mem.set(pud, idx(base, 30n), pmd | PRESENT);
    mem.set(pmd, idx(base + 0x12_3000n, 21n), pte | PRESENT);
    mem.set(pte, idx(base + 0x12_3000n, 12n), 0x555_5000n | PRESENT | NX);
    // 2 MiB: base + 0x40_0000 -> 0x8000_0000
    mem.set(pmd, idx(base + 0x40_0000n, 21n), 0x8000_0000n | PRESENT | PSE | NX);
    // 1 GiB: base + 0x4000_0000 -> 0x1_c000_0000
    mem.set(pud, idx(base + 0x4000_0000n, 30n), 0x1_c000_0000n | PRESENT | PSE);
    const t = X86_64Translator.fromVmcoreinfo(info(pgd), 0n, mem);
    expect(t.levels).toBe(4);
    expect(t.vtop(base + 0x12_3abcn)).toBe(0x555_5abcn);
    expect(t.vtop(base + 0x45_6789n)).toBe(0x8005_6789n);
    expect(t.vtop(base + 0x4123_4567n)).toBe(0x1_c123_4567n);
    expect(t.vtop(base + 0x12_4000n)).toBeUndefined(); // PTE not present
    expect(t.vtop(base + 0x20_0000n)).toBeUndefined(); // PMD not present
    expect(t.vtop(0xffff_9000_0000_0000n)).toBeUndefined(); // PGD not present
    // mapping(): the same address, and how far the entry that maps it goes on (to the end of its page).
    expect(t.mapping(base + 0x12_3abcn)).toEqual({ phys: 0x555_5abcn, bytes: 0x1000 - 0xabc });
    expect(t.mapping(base + 0x40_0000n)).toEqual({ phys: 0x8000_0000n, bytes: 0x20_0000 });
    expect(t.mapping(base + 0x45_6789n)).toEqual({ phys: 0x8005_6789n, bytes: 0x20_0000 - 0x5_6789 });
    expect(t.mapping(base + 0x4123_4567n)).toEqual({ phys: 0x1_c123_4567n, bytes: 0x4000_0000 - 0x123_4567 });
    expect(t.mapping(base + 0x12_4000n)).toBeUndefined();
  });

  it('walks five levels when pgtable_l5_enabled, and clears sme_mask from entries', () => {
    const mem = new Tables();
    const [pgd, p4d, pud, pmd] = [mem.table(), mem.table(), mem.table(), mem.table()];
    const sme = 1n << 47n;
    const va = 0xff11_0000_0020_0000n;
    mem.set(pgd, idx(va, 48n), p4d | sme | PRESENT);
    mem.set(p4d, idx(va, 39n), pud | sme | PRESENT);
    mem.set(pud, idx(va, 30n), pmd | sme | PRESENT);
    mem.set(pmd, idx(va, 21n), 0x20_0000n | sme | PRESENT | PSE);
    const t = X86_64Translator.fromVmcoreinfo(info(pgd, ['NUMBER(pgtable_l5_enabled)=1', `NUMBER(sme_mask)=${sme}`]), 0n, mem);
    expect(t.levels).toBe(5);
    expect(t.vtop(va + 0x1234n)).toBe(0x20_1234n);
  });

  it('places the top table with phys_base, negative ones included', () => {
    const mem = new Tables();
    const t = X86_64Translator.fromVmcoreinfo(info(0x3000_0000n), BigInt.asUintN(64, -0x2860_0000n), mem);
    expect(t.topTable).toBe(0x3000_0000n - 0x2860_0000n);
  });

  it('refuses a VMCOREINFO without init_top_pgt', () => {
    const error = catchNetdump(() => X86_64Translator.fromVmcoreinfo(parseVmcoreinfo('OSRELEASE=x\n'), 0n, new Tables()));
    expect(error.code).toBe('BAD_INPUT');
    expect(error.message).toMatch(/no SYMBOL\(init_top_pgt\)/);
  });
});

describe('mem_map locator', () => {
  const translator = X86_64Translator.fromVmcoreinfo(info(0x1000n), 0n, new Tables());

  it('names the VMCOREINFO entry it lacks', () => {
    const error = catchNetdump(() => locateMemMap(parseVmcoreinfo('SYMBOL(mem_section)=ffff888000001000\n'), translator, new Tables(), 1024, 4096));
    expect(error.code).toBe('BAD_INPUT');
    expect(error.message).toBe('VMCOREINFO has no SIZE(mem_section): cannot find the struct pages');
  });

  it('refuses a kernel that is not SPARSEMEM_EXTREME rather than guess', () => {
    const text = ['SYMBOL(mem_section)=ffff888000001000', 'SIZE(mem_section)=32', 'OFFSET(mem_section.section_mem_map)=0',
      'SIZE(page)=64', 'LENGTH(mem_section)=1', 'NUMBER(SECTION_SIZE_BITS)=27', 'NUMBER(MAX_PHYSMEM_BITS)=46', ''].join('\n');
    const error = catchNetdump(() => locateMemMap(parseVmcoreinfo(text), translator, new Tables(), 1024, 4096));
    expect(error.code).toBe('BAD_INPUT');
    expect(error.message).toMatch(/LENGTH\(mem_section\)=1 is not NR_SECTION_ROOTS/);
  });
});
