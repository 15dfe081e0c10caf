/**
 * The crashed kernel's struct new_utsname (init_uts_ns.name), read from the
 * core so the stored dump's header carries the real node name and version
 * string as makedumpfile's does. x86_64 only: kernel-image symbols translate
 * to physical addresses linearly (vaddr - __START_KERNEL_map + phys_base).
 * Where VMCOREINFO lacks OFFSET(uts_namespace.name) (before 5.11), the name
 * is found where makedumpfile looks for it.
 * Anything implausible yields undefined and the receiver falls back to
 * what VMCOREINFO says.
 */
import { EM_X86_64 } from '../shared/elf/core.js';
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
  if (core.elf.machine !== EM_X86_64) return undefined;
  const symbol = info.symbols.get('init_uts_ns');
  if (symbol === undefined) return undefined;
  // OFFSET(uts_namespace.name) came with 5.11; before it, name followed the 4-byte struct kref, as makedumpfile assumes.
  const offset = info.offsets.get('uts_namespace.name') ?? UTS_NAME_AFTER_KREF;
  const vaddr = symbol + BigInt(offset);
  if (vaddr < X86_64_START_KERNEL_MAP || vaddr - X86_64_START_KERNEL_MAP >= KERNEL_IMAGE_SPAN) return undefined;
  const phys = BigInt.asUintN(64, vaddr - X86_64_START_KERNEL_MAP + core.physBase);
  if (phys > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  const bytes = source.readPhysical(Number(phys), UTSNAME_SIZE);
  const uts = decodeUtsname(bytes);
  return uts.sysname === 'Linux' && uts.release === info.osRelease ? bytes : undefined;
}
