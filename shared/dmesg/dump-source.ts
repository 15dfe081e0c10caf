/**
 * What the log extractor needs from any dump: its physical pages, its
 * architecture (e_machine), VMCOREINFO and phys_base. Implemented by elf-core-pages.ts (an original
 * vmcore) and kdump-file-pages.ts (a stored kdump-compressed file).
 */
import type { Vmcoreinfo } from '../elf/vmcoreinfo.js';
import type { DumpPages } from './kernel-memory.js';

export interface OpenDump {
  pages: DumpPages;
  elf: { machine: number };
  vmcoreinfo: Vmcoreinfo;
  physBase: bigint;
  close(): Promise<void>;
}
