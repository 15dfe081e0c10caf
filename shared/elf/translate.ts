/**
 * Kernel virtual-to-physical translation, for whichever architecture the
 * core is of: the dump-level pass, the kernel log and the stored dump's
 * utsname all read the crashed kernel's memory by virtual address, and none
 * of them needs to know how the page tables of its machine are laid out.
 * The architecture comes from the ELF header's e_machine; an architecture
 * without a translator is refused with a message that names it, and callers
 * fall back to what they can do without struct pages (zero pages only).
 */
import { badInput } from '../errors.js';
import { Arm64Translator } from './arm64-translate.js';
import { EM_AARCH64, EM_X86_64 } from './core.js';
import { machineName } from './machines.js';
import type { Vmcoreinfo } from './vmcoreinfo.js';
import { X86_64Translator } from './x86-64-translate.js';

/** Physical memory of the crashed machine; undefined for bytes the dump does not hold. */
export interface PhysicalMemory {
  read(phys: bigint, length: number): Buffer | undefined;
}

export interface KernelTranslator {
  /** The physical address of a kernel virtual address, or undefined when it is not mapped (or the tables are not in the dump). */
  vtop(vaddr: bigint): bigint | undefined;
  /**
   * Like vtop, with how many bytes from `vaddr` on the same page-table entry
   * maps (to the end of its page or block): physically contiguous, so a
   * caller reading a long virtual range walks the tables once per mapping.
   */
  mapping(vaddr: bigint): { phys: bigint; bytes: number } | undefined;
  /**
   * The physical addresses of the page-table pages that map the kernel's
   * addresses (the top table included). Tables the dump does not hold are
   * not descended into; at most `limit` are returned.
   */
  kernelTablePages(limit?: number): bigint[];
  /** The physical pages (4 KiB each) that the kernel virtual range [from, to) maps, in virtual order; at most `limit`. */
  mappedPages(from: bigint, to: bigint, limit?: number): bigint[];
}

/** What a translator is made from: the core's e_machine, its VMCOREINFO and phys_base (x86_64's; unused elsewhere). */
export interface TranslatedCore {
  elf: { machine: number };
  vmcoreinfo: Vmcoreinfo;
  physBase: bigint;
}

/** Whether cores of this e_machine can be read by virtual address at all. */
export function hasKernelTranslator(machine: number): boolean {
  return machine === EM_X86_64 || machine === EM_AARCH64;
}

/**
 * The translator for `core`, reading tables through `memory`. Throws a
 * NetdumpError (BAD_INPUT) that says what is missing when VMCOREINFO lacks
 * what the walk needs, or when the architecture has no translator.
 */
export function kernelTranslator(core: TranslatedCore, memory: PhysicalMemory): KernelTranslator {
  switch (core.elf.machine) {
    case EM_X86_64: return X86_64Translator.fromVmcoreinfo(core.vmcoreinfo, core.physBase, memory);
    case EM_AARCH64: return Arm64Translator.fromVmcoreinfo(core.vmcoreinfo, memory);
    default: throw badInput(`kernel addresses of ${machineName(core.elf.machine)} cores cannot be translated (x86_64 and aarch64 can)`);
  }
}
