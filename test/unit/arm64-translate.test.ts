import { describe, expect, it } from 'vitest';
import { Arm64Translator } from '../../shared/elf/arm64-translate.js';
import { EM_AARCH64, EM_X86_64 } from '../../shared/elf/core.js';
import { hasKernelTranslator, kernelTranslator, type PhysicalMemory } from '../../shared/elf/translate.js';
import { parseVmcoreinfo } from '../../shared/elf/vmcoreinfo.js';
import { X86_64Translator } from '../../shared/elf/x86-64-translate.js';
import { catchNetdump } from '../helpers/errors.js';

/** Physical memory made of hand-built table pages of one granule. */
class Tables implements PhysicalMemory {
  readonly pages = new Map<bigint, Buffer>();
  private next = 0x4010_0000n;
  constructor(readonly granule: number) {}

  table(): bigint {
    const at = this.next;
    this.next += BigInt(this.granule);
    this.pages.set(at, Buffer.alloc(this.granule));
    return at;
  }

  set(table: bigint, index: bigint, value: bigint): void {
    this.pages.get(table)!.writeBigUInt64LE(value, Number(index) * 8);
  }

  read(phys: bigint, length: number): Buffer | undefined {
    const base = phys & ~BigInt(this.granule - 1);
    const page = this.pages.get(base);
    const at = Number(phys - base);
    return page && at + length <= page.length ? page.subarray(at, at + length) : undefined;
  }
}

const TABLE = 3n; // valid + table (levels 0-2) or page (level 3)
const BLOCK = 1n;
const AF_SH = 0x700n; // access flag and inner shareable: bits 10, 9:8
const UXN_PXN = 3n << 53n;
/** arm64 Debian 12: the kernel image's virtual address less its physical one. */
const KIMAGE_VOFFSET = 0xffff_8000_0000_0000n - 0x4000_0000n;

const index = (va: bigint, shift: number, bits: number) => (va >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n);

function vmcoreinfo(pageSize: number, vaBits: number, swapperPhys: bigint, extra: string[] = []) {
  return parseVmcoreinfo([
    `PAGESIZE=${pageSize}`, `NUMBER(VA_BITS)=${vaBits}`, `SYMBOL(swapper_pg_dir)=${(swapperPhys + KIMAGE_VOFFSET).toString(16)}`,
    `NUMBER(kimage_voffset)=0x${KIMAGE_VOFFSET.toString(16)}`, 'NUMBER(PHYS_OFFSET)=0x40000000', ...extra, '',
  ].join('\n'));
}

describe('arm64 page-table walk', () => {
  it('4 KiB pages, 48-bit VA: four levels, 4 KiB pages and 2 MiB / 1 GiB blocks, attribute bits ignored', () => {
    const mem = new Tables(4096);
    const [pgd, pud, pmd, pte] = [mem.table(), mem.table(), mem.table(), mem.table()];
    const linear = 0xffff_0000_1000_0000n; // the linear map after the 5.4 flip
    mem.set(pgd, index(linear, 39, 9), pud | TABLE);
    mem.set(pud, index(linear, 30, 9), pmd | TABLE);
    mem.set(pmd, index(linear, 21, 9), pte | TABLE);
    mem.set(pte, index(linear + 0x3000n, 12, 9), 0x4555_5000n | TABLE | AF_SH | UXN_PXN);
    mem.set(pmd, index(linear + 0x40_0000n, 21, 9), 0x4800_0000n | BLOCK | AF_SH);
    mem.set(pud, index(linear + 0x7000_0000n, 30, 9), 0x1_c000_0000n | BLOCK | AF_SH); // at 0xffff_0000_8000_0000
    const t = Arm64Translator.fromVmcoreinfo(vmcoreinfo(4096, 48, pgd, ['NUMBER(TCR_EL1_T1SZ)=16', 'NUMBER(MAX_PHYSMEM_BITS)=48']), mem);
    expect(t.topTable).toBe(pgd);
    expect(t.layout).toEqual({ pageSize: 4096, vaBits: 48, levels: 4, physAddress: 'pa48' });
    expect(t.vtop(linear + 0x3abcn)).toBe(0x4555_5abcn);
    expect(t.vtop(linear + 0x45_6789n)).toBe(0x4805_6789n);
    expect(t.vtop(linear + 0x7012_3456n)).toBe(0x1_c012_3456n);
    expect(t.mapping(linear + 0x3abcn)).toEqual({ phys: 0x4555_5abcn, bytes: 0x1000 - 0xabc });
    expect(t.mapping(linear + 0x45_6789n)).toEqual({ phys: 0x4805_6789n, bytes: 0x20_0000 - 0x5_6789 });
    expect(t.mapping(linear + 0x7012_3456n)).toEqual({ phys: 0x1_c012_3456n, bytes: 0x4000_0000 - 0x12_3456 });
    expect(t.vtop(linear + 0x4000n)).toBeUndefined(); // PTE not valid
    expect(t.vtop(linear + 0x20_0000n)).toBeUndefined(); // PMD not valid
    expect(t.vtop(0xffff_f000_0000_0000n)).toBeUndefined(); // PGD not valid
    expect(t.vtop(0x0000_0000_1000_0000n)).toBeUndefined(); // user space: not TTBR1's
    expect(t.kernelTablePages().sort()).toEqual([pgd, pud, pmd, pte].sort());
    expect(t.mappedPages(linear, linear + 0x5000n)).toEqual([0x4555_5000n]);
    expect(t.mappedPages(linear + 0x40_0000n, linear + 0x40_2000n)).toEqual([0x4800_0000n, 0x4800_1000n]);
  });

  it('a level 3 entry that says block (0b01) is not a page', () => {
    const mem = new Tables(4096);
    const [pgd, pud, pmd, pte] = [mem.table(), mem.table(), mem.table(), mem.table()];
    const va = 0xffff_0000_0000_0000n;
    mem.set(pgd, index(va, 39, 9), pud | TABLE);
    mem.set(pud, index(va, 30, 9), pmd | TABLE);
    mem.set(pmd, index(va, 21, 9), pte | TABLE);
    mem.set(pte, 0n, 0x4000_0000n | BLOCK);
    expect(Arm64Translator.fromVmcoreinfo(vmcoreinfo(4096, 48, pgd), mem).vtop(va)).toBeUndefined();
  });

  it('64 KiB pages, 48-bit VA: three levels, a 512 MiB block, and bits 51:48 from descriptor bits 15:12 where PA is 52-bit', () => {
    const mem = new Tables(65536);
    const [pgd, pmd, pte] = [mem.table(), mem.table(), mem.table()];
    const va = 0xffff_0000_0000_0000n;
    // Level 1 (top): 64 entries of 4 TiB; level 2: 8192 of 512 MiB; level 3: 8192 of 64 KiB.
    mem.set(pgd, index(va, 42, 6), pmd | TABLE);
    mem.set(pmd, index(va, 29, 13), pte | TABLE);
    mem.set(pte, index(va + 0x2_0000n, 16, 13), 0x5_0000n | (0x3n << 12n) | TABLE | AF_SH);
    mem.set(pmd, index(va + 0x2000_0000n, 29, 13), 0x6000_0000n | BLOCK | AF_SH);
    const info = vmcoreinfo(65536, 48, pgd, ['NUMBER(TCR_EL1_T1SZ)=16', 'NUMBER(MAX_PHYSMEM_BITS)=52']);
    const t = Arm64Translator.fromVmcoreinfo(info, mem);
    expect(t.layout).toEqual({ pageSize: 65536, vaBits: 48, levels: 3, physAddress: 'lpa' });
    expect(t.vtop(va + 0x2_1234n)).toBe((0x3n << 48n) + 0x5_1234n);
    expect(t.mapping(va + 0x2000_0010n)).toEqual({ phys: 0x6000_0010n, bytes: 0x2000_0000 - 0x10 });
    // Where PA is 48-bit the same bits are not address.
    const pa48 = Arm64Translator.fromVmcoreinfo(vmcoreinfo(65536, 48, pgd, ['NUMBER(MAX_PHYSMEM_BITS)=48']), mem);
    expect(pa48.vtop(va + 0x2_1234n)).toBe(0x5_1234n);
    expect(pa48.mappedPages(va + 0x2_0000n, va + 0x3_0000n)).toEqual([0x5_0000n]);
  });

  it('4 KiB pages, 52-bit VA (LPA2): five levels from a 16-entry top table, and bits 51:50 from descriptor bits 9:8', () => {
    const mem = new Tables(4096);
    const [pgd, p4d, pud, pmd] = [mem.table(), mem.table(), mem.table(), mem.table()];
    const va = 0xfff0_0000_0020_0000n; // the bottom of a 52-bit kernel's linear map
    mem.set(pgd, index(va, 48, 4), p4d | TABLE);
    mem.set(p4d, index(va, 39, 9), pud | TABLE);
    mem.set(pud, index(va, 30, 9), pmd | TABLE);
    mem.set(pmd, index(va, 21, 9), 0x2_0000_0000_0000n | 0x20_0000n | (1n << 8n) | BLOCK | 0x400n);
    const info = vmcoreinfo(4096, 52, pgd, ['NUMBER(TCR_EL1_T1SZ)=12', 'NUMBER(MAX_PHYSMEM_BITS)=52']);
    const t = Arm64Translator.fromVmcoreinfo(info, mem);
    expect(t.layout).toEqual({ pageSize: 4096, vaBits: 52, levels: 5, physAddress: 'lpa2' });
    expect(t.vtop(va + 0x1234n)).toBe((1n << 50n) + 0x2_0000_0000_0000n + 0x20_1234n);
    expect(t.kernelTablePages().sort()).toEqual([pgd, p4d, pud, pmd].sort());
  });

  it('a 52-bit kernel on 48-bit hardware (TCR_EL1_T1SZ=16) walks four levels and reads bits 9:8 as shareability', () => {
    const mem = new Tables(4096);
    const [pgd, pud, pmd] = [mem.table(), mem.table(), mem.table()];
    const va = 0xffff_0000_0020_0000n;
    mem.set(pgd, index(va, 39, 9), pud | TABLE);
    mem.set(pud, index(va, 30, 9), pmd | TABLE);
    mem.set(pmd, index(va, 21, 9), 0x4020_0000n | AF_SH | BLOCK);
    const t = Arm64Translator.fromVmcoreinfo(vmcoreinfo(4096, 52, pgd, ['NUMBER(TCR_EL1_T1SZ)=16', 'NUMBER(MAX_PHYSMEM_BITS)=52']), mem);
    expect(t.layout).toEqual({ pageSize: 4096, vaBits: 48, levels: 4, physAddress: 'pa48' });
    expect(t.vtop(va + 0x10n)).toBe(0x4020_0010n);
  });

  it('16 KiB pages, 48-bit VA: a two-entry top table above three full ones', () => {
    const mem = new Tables(16384);
    const [pgd, pud, pmd, pte] = [mem.table(), mem.table(), mem.table(), mem.table()];
    const va = 0xffff_8000_1000_4000n; // upper half: top entry 1
    mem.set(pgd, index(va, 47, 1), pud | TABLE);
    mem.set(pud, index(va, 36, 11), pmd | TABLE);
    mem.set(pmd, index(va, 25, 11), pte | TABLE);
    mem.set(pte, index(va, 14, 11), 0x4abc_c000n | TABLE | AF_SH);
    const t = Arm64Translator.fromVmcoreinfo(vmcoreinfo(16384, 48, pgd), mem);
    expect(t.layout.levels).toBe(4);
    expect(t.vtop(va + 0x123n)).toBe(0x4abc_c123n);
    expect(t.vtop(va - 0x8000_0000_0000n)).toBeUndefined(); // top entry 0: not valid
  });

  it('places swapper_pg_dir in the linear map with PHYS_OFFSET where there is no kimage_voffset (before 4.6)', () => {
    const info = parseVmcoreinfo(['PAGESIZE=4096', 'NUMBER(VA_BITS)=48', 'SYMBOL(swapper_pg_dir)=ffff800000a3c000', 'NUMBER(PHYS_OFFSET)=0x80000000', ''].join('\n'));
    expect(Arm64Translator.fromVmcoreinfo(info, new Tables(4096)).topTable).toBe(0x8000_0000n + 0xa3_c000n);
  });

  it('names what VMCOREINFO lacks, and a page size and VA size the kernel has no configuration for', () => {
    const mem = new Tables(4096);
    expect(catchNetdump(() => Arm64Translator.fromVmcoreinfo(parseVmcoreinfo('PAGESIZE=4096\n'), mem)).message)
      .toBe('VMCOREINFO has no NUMBER(VA_BITS): cannot walk the arm64 page tables');
    expect(catchNetdump(() => Arm64Translator.fromVmcoreinfo(parseVmcoreinfo('PAGESIZE=4096\nNUMBER(VA_BITS)=48\n'), mem)).message)
      .toBe('VMCOREINFO has no SYMBOL(swapper_pg_dir): cannot walk the arm64 page tables');
    const odd = catchNetdump(() => Arm64Translator.fromVmcoreinfo(vmcoreinfo(4096, 42, 0x4010_0000n), mem));
    expect(odd.code).toBe('BAD_INPUT');
    expect(odd.message).toBe('arm64 with 4096-byte pages and 42-bit kernel addresses is not a configuration the kernel has');
  });
});

describe('the translator of a core', () => {
  it('is chosen by e_machine; an architecture without one is named in the refusal', () => {
    const info = vmcoreinfo(4096, 48, 0x4010_0000n, ['SYMBOL(init_top_pgt)=ffffffff82a0a000']);
    const mem = new Tables(4096);
    expect(kernelTranslator({ elf: { machine: EM_AARCH64 }, vmcoreinfo: info, physBase: 0n }, mem)).toBeInstanceOf(Arm64Translator);
    expect(kernelTranslator({ elf: { machine: EM_X86_64 }, vmcoreinfo: info, physBase: 0n }, mem)).toBeInstanceOf(X86_64Translator);
    const error = catchNetdump(() => kernelTranslator({ elf: { machine: 21 }, vmcoreinfo: info, physBase: 0n }, mem));
    expect(error.code).toBe('BAD_INPUT');
    expect(error.message).toBe('kernel addresses of unknown-21 cores cannot be translated (x86_64 and aarch64 can)');
    expect([EM_X86_64, EM_AARCH64, 21].map(hasKernelTranslator)).toEqual([true, true, false]);
  });
});
