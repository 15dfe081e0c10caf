/**
 * What the log extractor needs from any dump: its physical pages, its
 * VMCOREINFO and phys_base. Implemented by elf-core-pages.ts (an original
 * vmcore) and kdump-file-pages.ts (a stored kdump-compressed file).
 */
import type { Vmcoreinfo } from '../elf/vmcoreinfo.js';
import type { DumpPages } from './kernel-memory.js';

export interface OpenDump {
  pages: DumpPages;
  vmcoreinfo: Vmcoreinfo;
  physBase: bigint;
  close(): Promise<void>;
}
