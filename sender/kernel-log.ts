/**
 * The crashed kernel's log, read from the core before any page is sent, so
 * the receiver learns what panicked in the upload's first second (LOG,
 * docs/protocol.md). Extracted by the same code the receiver's triage runs
 * on stored dumps (shared/dmesg), and bounded: a log longer than
 * MAX_LOG_BYTES is sent as its newest part, where the panic is.
 */
import { extractKernelLog } from '../shared/dmesg/extract.js';
import { openElfCoreDump } from '../shared/dmesg/elf-core-pages.js';
import { X86_64KernelMemory, type DumpPages } from '../shared/dmesg/kernel-memory.js';
import { MAX_LOG_BYTES } from '../shared/protocol/messages.js';

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
 * The log of the core at `path`, or why it could not be read: a core whose
 * log cannot be read is still sent, and the receiver reads what it can of
 * the stored dump instead.
 */
export async function captureKernelLog(path: string, maxBytes = MAX_LOG_BYTES): Promise<CapturedLog | { error: string }> {
  try {
    const dump = await openElfCoreDump(path);
    try {
      const read = new Set<number>();
      const pages: DumpPages = {
        pageSize: dump.pages.pageSize,
        readPage: (pfn) => { read.add(pfn); return dump.pages.readPage(pfn); },
      };
      const log = await extractKernelLog(new X86_64KernelMemory(pages, dump.vmcoreinfo, dump.physBase), dump.vmcoreinfo);
      return { ...newestPart(log, maxBytes), pfns: [...read].sort((a, b) => a - b) };
    } finally {
      await dump.close();
    }
  } catch (error) {
    return { error: (error as Error).message };
  }
}
