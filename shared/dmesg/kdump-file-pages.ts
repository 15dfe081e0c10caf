/**
 * A stored kdump-compressed file as DumpPages. A pfn is there only when
 * bitmap 2 (dumpable) has it: pages a dump level left out are missing, not
 * zero, because "excluded as free" and "was zero" cannot be told apart.
 * Zero pages a file does store (dump level 0 or 1: one shared zero page)
 * read as the zeros they are.
 */
import { badInput } from '../errors.js';
import { isBitSet } from '../kdump/layout.js';
import { KdumpFileReader } from '../kdump/reader.js';
import { EM_X86_64 } from '../elf/core.js';
import { machineOfUtsname } from '../elf/machines.js';
import { hasKernelTranslator } from '../elf/translate.js';
import { parseVmcoreinfo } from '../elf/vmcoreinfo.js';
import type { DumpPages, PageRead } from './kernel-memory.js';
import type { OpenDump } from './dump-source.js';

class KdumpFilePages implements DumpPages {
  constructor(private readonly reader: KdumpFileReader) {}

  get pageSize(): number {
    return this.reader.pageSize;
  }

  async readPage(pfn: number): Promise<PageRead> {
    const { reader } = this;
    if (pfn >= reader.maxPfn) return { missing: `beyond the dump's last pfn ${reader.maxPfn - 1}` };
    if (!isBitSet(reader.presentBitmap, pfn)) return { missing: 'not RAM of the crashed machine (not in bitmap 1)' };
    if (!reader.isDumpable(pfn)) return { missing: `excluded by dump level ${reader.subHeader.dumpLevel}` };
    const [descriptor] = await reader.readDescriptors(reader.rankOf(pfn), 1);
    // An unfinished upload's file has descriptors not yet written (all zero).
    if (descriptor.size === 0 && reader.incomplete) return { missing: 'not yet received (the dump is incomplete)' };
    return { page: await reader.readPage(descriptor) };
  }
}

export async function openKdumpFileDump(path: string): Promise<OpenDump> {
  const reader = await KdumpFileReader.open(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw badInput(`cannot open kdump file ${path}: no such file`, { path });
    throw error;
  });
  return openKdumpDump(reader, path);
}

/** A dump already open for reading (any source); `name` says which in errors. Closing the dump closes the reader. */
export async function openKdumpDump(reader: KdumpFileReader, name: string): Promise<OpenDump> {
  try {
    const machineText = reader.header.utsname.machine;
    // makedumpfile and our receiver both record the crashed kernel's utsname.machine.
    const machine = machineOfUtsname(machineText);
    if (machine === undefined || !hasKernelTranslator(machine)) throw badInput(`${name}: kernel log extraction supports x86_64 and aarch64 dumps, this one is ${machineText}`);
    const vmcoreinfo = parseVmcoreinfo(await reader.readVmcoreinfo());
    // NUMBER(phys_base) is the kernel's own word; the sub-header's copy serves kernels that do not export it.
    const fromInfo = machine === EM_X86_64 ? vmcoreinfo.numbers.get('phys_base') : undefined;
    const physBase = fromInfo !== undefined ? BigInt.asUintN(64, fromInfo) : reader.subHeader.physBase;
    return { pages: new KdumpFilePages(reader), elf: { machine }, vmcoreinfo, physBase, close: () => reader.close() };
  } catch (error) {
    await reader.close();
    throw error;
  }
}
