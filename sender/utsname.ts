/**
 * The crashed kernel's struct new_utsname (init_uts_ns.name), read from the
 * core so the stored dump's header carries the real node name and version
 * string as makedumpfile's does. On x86_64 kernel-image symbols translate
 * to physical addresses linearly (vaddr - __START_KERNEL_map + phys_base);
 * on aarch64 through the page tables (shared/elf/arm64-translate.ts).
 * Where VMCOREINFO lacks OFFSET(uts_namespace.name) (before 5.11), the name
 * is found where makedumpfile looks for it.
 * Anything implausible yields undefined and the receiver falls back to
 * what VMCOREINFO says.
 */
import { EM_X86_64 } from '../shared/elf/core.js';
import { hasKernelTranslator, kernelTranslator } from '../shared/elf/translate.js';
import { decodeUtsname, UTSNAME_SIZE } from '../shared/kdump/format.js';
import { X86_64_START_KERNEL_MAP } from '../shared/elf/x86-64-translate.js';
import type { VmcoreSource } from './vmcore-source.js';

/** Where init_uts_ns.name is when VMCOREINFO does not say: after struct kref (one int). */
const UTS_NAME_AFTER_KREF = 4;
/** The kernel image lives in the top 2 GiB of the address space. */
const KERNEL_IMAGE_SPAN = 0x8000_0000n;

export function readUtsname(source: VmcoreSource): Buffer | undefined {
  const { core } = source;
  const info = core.vmcoreinfo;
  if (!hasKernelTranslator(core.elf.machine)) return undefined;
  const symbol = info.symbols.get('init_uts_ns');
  if (symbol === undefined) return undefined;
  // OFFSET(uts_namespace.name) came with 5.11; before it, name followed the 4-byte struct kref, as makedumpfile assumes.
  const offset = info.offsets.get('uts_namespace.name') ?? UTS_NAME_AFTER_KREF;
  const vaddr = symbol + BigInt(offset);
  const phys = physicalOf(source, vaddr);
  if (phys === undefined || phys > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  const bytes = source.readPhysical(Number(phys), UTSNAME_SIZE);
  const uts = decodeUtsname(bytes);
  return uts.sysname === 'Linux' && uts.release === info.osRelease ? bytes : undefined;
}

function physicalOf(source: VmcoreSource, vaddr: bigint): bigint | undefined {
  const { core } = source;
  if (core.elf.machine === EM_X86_64) {
    if (vaddr < X86_64_START_KERNEL_MAP || vaddr - X86_64_START_KERNEL_MAP >= KERNEL_IMAGE_SPAN) return undefined;
    return BigInt.asUintN(64, vaddr - X86_64_START_KERNEL_MAP + core.physBase);
  }
  try {
    return kernelTranslator(core, { read: (phys, length) => source.readPhysical(Number(phys), length) }).vtop(vaddr);
  } catch {
    return undefined;
  }
}
