/**
 * An ELF core file (an original /proc/vmcore) as DumpPages. The same page
 * map the sender streams from says which pfns the core holds and where their
 * bytes are; a pfn outside every PT_LOAD is missing, and the unbacked edges
 * of a partial page read as zero, as the sender sends them.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { hasKernelTranslator } from '../elf/translate.js';
import { badInput, corrupt } from '../errors.js';
import { ELF_HEADER_SIZE, headersLength, parseElfHeader, parseProgramHeaders } from '../elf/core.js';
import { describeCore, noteSegment, type CoreDescription } from '../elf/core-description.js';
import { rankOfPfn, readSpansForPages } from '../elf/page-map.js';
import type { DumpPages, PageRead } from './kernel-memory.js';
import type { OpenDump } from './dump-source.js';

/** Real note segments are a few KiB per CPU plus VMCOREINFO. */
const MAX_NOTES_BYTES = 64 * 1024 * 1024;

async function readAt(file: FileHandle, length: number, position: number, path: string): Promise<Buffer> {
  const out = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(out, done, length - done, position + done);
    if (bytesRead === 0) throw badInput(`${path} ends at offset ${position + done}, expected ${length - done} more bytes: truncated vmcore`, { offset: position + done });
    done += bytesRead;
  }
  return out;
}

class ElfCorePages implements DumpPages {
  constructor(private readonly file: FileHandle, private readonly path: string, private readonly core: CoreDescription) {}

  get pageSize(): number {
    return this.core.pageSize;
  }

  async readPage(pfn: number): Promise<PageRead> {
    const map = this.core.pageMap;
    if (rankOfPfn(map, pfn) < 0) return { missing: `not in any PT_LOAD of ${this.path}` };
    const page = Buffer.alloc(this.pageSize);
    for (const span of readSpansForPages(map, pfn, 1)) {
      const bytes = await readAt(this.file, span.length, span.fileOffset, this.path);
      bytes.copy(page, span.bufferOffset);
    }
    return { page };
  }
}

export async function openElfCoreDump(path: string): Promise<OpenDump> {
  const file = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    throw badInput(`cannot open vmcore ${path}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`, { path });
  });
  try {
    const { size } = await file.stat();
    const elf = parseElfHeader(await readAt(file, ELF_HEADER_SIZE, 0, path));
    const headerBytes = await readAt(file, headersLength(elf), 0, path);
    const notes = noteSegment(parseProgramHeaders(headerBytes, elf));
    if (notes.filesz > MAX_NOTES_BYTES) throw corrupt(`${path}: PT_NOTE segment of ${notes.filesz} bytes is implausibly large`, { offset: notes.offset });
    const core = describeCore(headerBytes, await readAt(file, notes.filesz, notes.offset, path), size);
    if (!hasKernelTranslator(core.elf.machine)) throw badInput(`${path}: kernel log extraction supports x86_64 and aarch64 cores, this one is ${core.machine}`);
    return {
      pages: new ElfCorePages(file, path, core),
      elf: { machine: core.elf.machine },
      vmcoreinfo: core.vmcoreinfo,
      physBase: core.physBase,
      close: () => file.close(),
    };
  } catch (error) {
    await file.close();
    throw error;
  }
}
