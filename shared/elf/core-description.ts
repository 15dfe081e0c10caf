/**
 * Everything sender and receiver need to know about a core, derived from its
 * header bytes and note segment alone: the sender reads those from the file,
 * the receiver gets the same bytes in HELLO and runs this same code on them.
 */
import { badInput, corrupt } from '../errors.js';
import {
  EM_AARCH64, EM_X86_64, PT_LOAD, PT_NOTE, countPrstatusNotes, findVmcoreinfoNote, headersLength, parseElfHeader,
  parseNotes, parseProgramHeaders, type ElfHeader, type ProgramHeader,
} from './core.js';
import { machineName } from './machines.js';
import { buildPageMap, type PageMap } from './page-map.js';
import { isValidPageSize, parseVmcoreinfo, type Vmcoreinfo } from './vmcoreinfo.js';
import { X86_64_START_KERNEL_MAP } from './x86-64-translate.js';


export interface CoreDescription {
  elf: ElfHeader;
  programHeaders: ProgramHeader[];
  machine: string;
  vmcoreinfo: Vmcoreinfo;
  /** Offset of the VMCOREINFO text inside the note segment. */
  vmcoreinfoOffsetInNotes: number;
  vmcoreinfoSize: number;
  nrCpus: number;
  pageSize: number;
  pageMap: PageMap;
  physBase: bigint;
}


/** The PT_NOTE segment's place in the file (the sender reads it from there). */
export function noteSegment(programHeaders: ProgramHeader[]): ProgramHeader {
  const notes = programHeaders.filter((ph) => ph.type === PT_NOTE);
  if (notes.length !== 1) throw corrupt(`core has ${notes.length} PT_NOTE segments, expected 1`);
  return notes[0];
}

/**
 * phys_base as makedumpfile computes it (and writes into the kdump
 * sub-header, where crash reads it):
 *   - x86_64: VMCOREINFO's NUMBER(phys_base) when present, else from the
 *     PT_LOAD that maps kernel text (at or above __START_KERNEL_map);
 *   - aarch64: NUMBER(PHYS_OFFSET), the physical address of the start of
 *     the linear map (arch/arm64.c get_phys_base_arm64), else 0;
 *   - anything else: 0.
 */
export function physBaseOf(machine: number, programHeaders: ProgramHeader[], info: Vmcoreinfo): bigint {
  if (machine === EM_AARCH64) return BigInt.asUintN(64, info.numbers.get('PHYS_OFFSET') ?? 0n);
  if (machine !== EM_X86_64) return 0n;
  const fromInfo = info.numbers.get('phys_base');
  if (fromInfo !== undefined) return BigInt.asUintN(64, fromInfo);
  const text = programHeaders.find((ph) => ph.type === PT_LOAD && ph.vaddr >= X86_64_START_KERNEL_MAP);
  if (!text) return 0n;
  return BigInt.asUintN(64, BigInt(text.paddr) - (text.vaddr - X86_64_START_KERNEL_MAP));
}

export function describeCore(headerBytes: Buffer, notes: Buffer, fileSize?: number): CoreDescription {
  const elf = parseElfHeader(headerBytes);
  if (headerBytes.length < headersLength(elf)) {
    throw corrupt(`ELF headers truncated: program headers end at ${headersLength(elf)}, have ${headerBytes.length} bytes`);
  }
  const programHeaders = parseProgramHeaders(headerBytes, elf);
  const parsedNotes = parseNotes(notes);
  const infoNote = findVmcoreinfoNote(parsedNotes);
  if (!infoNote) throw badInput('core has no VMCOREINFO note: not a kernel crash dump (/proc/vmcore)?');
  const vmcoreinfo = parseVmcoreinfo(infoNote.desc);
  const pageSize = vmcoreinfo.pageSize;
  if (pageSize === undefined || !isValidPageSize(pageSize)) {
    throw corrupt(`VMCOREINFO PAGESIZE is ${pageSize === undefined ? 'missing' : pageSize}: need a power of two from 4096 to 65536`);
  }
  const descOffset = infoNote.desc.byteOffset - notes.byteOffset;
  return {
    elf,
    programHeaders,
    machine: machineName(elf.machine),
    vmcoreinfo,
    vmcoreinfoOffsetInNotes: descOffset,
    vmcoreinfoSize: infoNote.desc.length,
    nrCpus: countPrstatusNotes(parsedNotes),
    pageSize,
    pageMap: buildPageMap(programHeaders, pageSize, fileSize),
    physBase: physBaseOf(elf.machine, programHeaders, vmcoreinfo),
  };
}
