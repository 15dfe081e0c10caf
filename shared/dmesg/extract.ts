/**
 * The crashed kernel's log, as the bytes vmcore-dmesg (kexec-tools 2.0.25)
 * prints, from any dump. The format is chosen as vmcore-dmesg chooses it:
 * SYMBOL(prb) means the lockless ringbuffer (5.10+), SYMBOL(log_first_idx)
 * the structured log_buf (3.5-5.9), SYMBOL(log_buf) with SYMBOL(log_end)
 * the plain character buffer of older kernels.
 */
import { badInput } from '../errors.js';
import type { Vmcoreinfo } from '../elf/vmcoreinfo.js';
import { TranslatedKernelMemory, type KernelMemory } from './kernel-memory.js';
import type { OpenDump } from './dump-source.js';
import { openElfCoreDump } from './elf-core-pages.js';
import { openKdumpDump, openKdumpFileDump } from './kdump-file-pages.js';
import { KdumpFileReader, type RandomAccessSource } from '../kdump/reader.js';
import { formatKernelLog } from './log-format.js';
import { readLegacyLog } from './printk-legacy.js';
import { readLocklessRecords } from './printk-lockless.js';
import { readStructuredRecords } from './printk-structured.js';

export type KernelLogFormat = 'lockless' | 'structured' | 'legacy';

export function kernelLogFormat(info: Vmcoreinfo): KernelLogFormat {
  if (info.symbols.has('prb')) return 'lockless';
  if (info.symbols.has('log_first_idx')) return 'structured';
  if (info.symbols.has('log_buf') && info.symbols.has('log_end')) return 'legacy';
  throw badInput('VMCOREINFO has no SYMBOL(prb), SYMBOL(log_first_idx) or SYMBOL(log_buf) with SYMBOL(log_end): cannot find the kernel log');
}

export async function extractKernelLog(memory: KernelMemory, vmcoreinfo: Vmcoreinfo): Promise<Buffer> {
  switch (kernelLogFormat(vmcoreinfo)) {
    case 'lockless': return formatKernelLog(await readLocklessRecords(memory, vmcoreinfo));
    case 'structured': return formatKernelLog(await readStructuredRecords(memory, vmcoreinfo));
    case 'legacy': return readLegacyLog(memory, vmcoreinfo);
  }
}

async function extractFrom(dump: OpenDump): Promise<Buffer> {
  try {
    return await extractKernelLog(new TranslatedKernelMemory(dump.pages, dump), dump.vmcoreinfo);
  } finally {
    await dump.close();
  }
}

/** The log of a stored kdump-compressed file (ours or makedumpfile's). */
export async function extractKernelLogFromKdumpFile(path: string): Promise<Buffer> {
  return extractFrom(await openKdumpFileDump(path));
}

/** The log of a kdump-compressed dump read from any source (a stored object); `name` says which in errors. */
export async function extractKernelLogFromKdumpSource(source: RandomAccessSource, name: string): Promise<Buffer> {
  return extractFrom(await openKdumpDump(await KdumpFileReader.fromSource(source), name));
}

/** The log of an ELF vmcore (/proc/vmcore or a copy of it). */
export async function extractKernelLogFromElfCore(path: string): Promise<Buffer> {
  return extractFrom(await openElfCoreDump(path));
}
