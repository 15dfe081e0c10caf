/**
 * The crashed kernel's log, read from the core before any page is sent, so
 * the receiver learns what panicked in the upload's first second (LOG,
 * docs/protocol.md). Extracted by the same code the receiver's triage runs
 * on stored dumps (shared/dmesg), and bounded: a log longer than
 * MAX_LOG_BYTES is sent as its newest part, where the panic is.
 */
import { extractKernelLog } from '../shared/dmesg/extract.js';
import { TranslatedKernelMemory, type DumpPages } from '../shared/dmesg/kernel-memory.js';
import { hasKernelTranslator } from '../shared/elf/translate.js';
import { rankOfPfn } from '../shared/elf/page-map.js';
import { MAX_LOG_BYTES } from '../shared/protocol/messages.js';
import type { VmcoreSource } from './vmcore-source.js';

export interface CapturedLog {
  text: Buffer;
  /** The oldest lines were cut to stay within the bound. */
  truncated: boolean;
  /** The pages the extraction read (page tables and the printk ring): crash reads them for `log` too. */
  pfns?: number[];
}

/** The newest `maxBytes` of `log`, starting at a line: a record cut in half would read as garbage. */
export function newestPart(log: Buffer, maxBytes: number): CapturedLog {
  if (log.length <= maxBytes) return { text: log, truncated: false };
  const from = log.length - maxBytes;
  const lineStart = log.indexOf(0x0a, from - 1);
  return { text: log.subarray(lineStart < 0 ? from : lineStart + 1), truncated: true };
}

/**
 * The log of the core `source` reads, or why it could not be read: a core
 * whose log cannot be read is still sent, and the receiver reads what it can
 * of the stored dump instead. Pages come through the source's synchronous
 * reads (a thread-pool hop per page would cost more than the extraction).
 */
export async function captureKernelLog(source: VmcoreSource, maxBytes = MAX_LOG_BYTES): Promise<CapturedLog | { error: string }> {
  const { core } = source;
  try {
    if (!hasKernelTranslator(core.elf.machine)) throw new Error(`${source.path}: kernel log extraction supports x86_64 and aarch64 cores, this one is ${core.machine}`);
    const read = new Set<number>();
    const pages: DumpPages = {
      pageSize: core.pageSize,
      readPage: async (pfn) => {
        if (rankOfPfn(core.pageMap, pfn) < 0) return { missing: `not in any PT_LOAD of ${source.path}` };
        read.add(pfn);
        return { page: source.readPages(pfn, 1, Buffer.alloc(core.pageSize)) };
      },
    };
    const log = await extractKernelLog(new TranslatedKernelMemory(pages, core), core.vmcoreinfo);
    return { ...newestPart(log, maxBytes), pfns: [...read].sort((a, b) => a - b) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}
