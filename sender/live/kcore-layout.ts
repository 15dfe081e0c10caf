/**
 * /proc/kcore seen as a /proc/vmcore, for live snapshots.
 *
 * kcore is an ELF core of the running kernel's *virtual* address space
 * (fs/proc/kcore.c): a PT_LOAD per System RAM range of the direct map
 * (KCORE_RAM, p_paddr = __pa(vaddr)), one for the kernel image (KCORE_TEXT,
 * p_paddr = __pa_symbol), and others for vmalloc, modules and vmemmap that
 * have no single physical address (p_paddr = -1). Its file offsets follow
 * the virtual addresses, so the "file" is tens of TiB long and mostly holes.
 *
 * A dump is physical memory, as /proc/vmcore gives it. So the layout keeps
 * the PT_LOADs that name a physical address (the direct map's RAM and the
 * kernel image, which maps part of that RAM a second time, as vmcore's own
 * text segment does) and the note segment, and lays them out as a vmcore
 * file would be laid out: headers, notes, then each segment's bytes one
 * after another. That vmcore-shaped file is what the receiver is told of
 * (HELLO's headers and size), so it stores, checks and bounds a snapshot
 * exactly as a crash dump; `kcoreOffsetOf` says where each of its bytes is
 * read from in /proc/kcore.
 */
import { badInput } from '../../shared/errors.js';
import { ELF_HEADER_SIZE, PROGRAM_HEADER_SIZE, PT_LOAD, PT_NOTE } from '../../shared/elf/core.js';

/** p_paddr of a kcore segment that has no physical address (vmalloc, modules, vmemmap). */
const NO_PHYSICAL_ADDRESS = 0xffff_ffff_ffff_ffffn;

/** A byte range of the vmcore-shaped file and where it starts in /proc/kcore. */
export interface KcoreWindow {
  start: number;
  end: number;
  kcoreOffset: number;
}

export interface KcoreLayout {
  /** ELF header and program headers of the vmcore-shaped file: PT_NOTE, then the physical PT_LOADs. */
  headerBytes: Buffer;
  /** Size of the vmcore-shaped file. */
  size: number;
  /** Its byte ranges backed by /proc/kcore, in file order. */
  windows: KcoreWindow[];
  /** The PT_LOADs kcore has that name no physical address, left out (for the sender's line). */
  virtualOnly: number;
}

interface RawHeader {
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  paddr: bigint;
  filesz: bigint;
  memsz: bigint;
  align: bigint;
}

const safe = (value: bigint, what: string): number => {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw badInput(`/proc/kcore: ${what} ${value} is too large`);
  return Number(value);
};

/**
 * The vmcore-shaped layout of a kcore, from kcore's ELF header and program
 * header table (`kcoreHeaders`, at least headersLength bytes). Throws
 * BAD_INPUT naming what is missing: no note segment, or no segment with a
 * physical address (a kernel too old to say p_paddr).
 */
export function vmcoreLayoutOfKcore(kcoreHeaders: Buffer, source = '/proc/kcore'): KcoreLayout {
  const phoff = safe(kcoreHeaders.readBigUInt64LE(32), 'e_phoff');
  const phnum = kcoreHeaders.readUInt16LE(56);
  const raw: RawHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * PROGRAM_HEADER_SIZE;
    raw.push({
      type: kcoreHeaders.readUInt32LE(at),
      flags: kcoreHeaders.readUInt32LE(at + 4),
      offset: kcoreHeaders.readBigUInt64LE(at + 8),
      vaddr: kcoreHeaders.readBigUInt64LE(at + 16),
      paddr: kcoreHeaders.readBigUInt64LE(at + 24),
      filesz: kcoreHeaders.readBigUInt64LE(at + 32),
      memsz: kcoreHeaders.readBigUInt64LE(at + 40),
      align: kcoreHeaders.readBigUInt64LE(at + 48),
    });
  }
  const notes = raw.filter((ph) => ph.type === PT_NOTE);
  if (notes.length !== 1) throw badInput(`${source} has ${notes.length} PT_NOTE segments, expected 1`);
  const loads = raw.filter((ph) => ph.type === PT_LOAD && ph.memsz > 0n);
  const physical = loads.filter((ph) => ph.paddr !== NO_PHYSICAL_ADDRESS && ph.filesz > 0n);
  if (physical.length === 0) {
    throw badInput(`${source} has no segment with a physical address (p_paddr): this kernel's kcore cannot be read as physical memory`);
  }
  const kept = [notes[0], ...physical];
  const headersEnd = ELF_HEADER_SIZE + kept.length * PROGRAM_HEADER_SIZE;
  const headerBytes = Buffer.alloc(headersEnd);
  kcoreHeaders.copy(headerBytes, 0, 0, ELF_HEADER_SIZE);
  headerBytes.writeBigUInt64LE(BigInt(ELF_HEADER_SIZE), 32); // e_phoff
  headerBytes.writeBigUInt64LE(0n, 40); // e_shoff: no section headers
  headerBytes.writeUInt16LE(0, 60); // e_shnum
  headerBytes.writeUInt16LE(0, 62); // e_shstrndx
  headerBytes.writeUInt16LE(kept.length, 56);
  const windows: KcoreWindow[] = [];
  let at = headersEnd;
  kept.forEach((ph, i) => {
    const length = safe(ph.filesz, `p_filesz of a ${ph.type === PT_NOTE ? 'note' : 'memory'} segment`);
    const h = ELF_HEADER_SIZE + i * PROGRAM_HEADER_SIZE;
    headerBytes.writeUInt32LE(ph.type, h);
    headerBytes.writeUInt32LE(ph.flags, h + 4);
    headerBytes.writeBigUInt64LE(BigInt(at), h + 8);
    headerBytes.writeBigUInt64LE(ph.vaddr, h + 16);
    headerBytes.writeBigUInt64LE(ph.type === PT_NOTE ? 0n : ph.paddr, h + 24);
    headerBytes.writeBigUInt64LE(ph.filesz, h + 32);
    headerBytes.writeBigUInt64LE(ph.type === PT_NOTE ? ph.filesz : ph.memsz, h + 40);
    headerBytes.writeBigUInt64LE(ph.type === PT_NOTE ? 0n : ph.align, h + 48);
    windows.push({ start: at, end: at + length, kcoreOffset: safe(ph.offset, 'p_offset') });
    at += length;
  });
  return { headerBytes, size: at, windows, virtualOnly: loads.length - physical.length };
}

/**
 * Where byte `offset` of the vmcore-shaped file is in /proc/kcore, for a
 * read of `length` bytes that must lie in one window (a page map's pieces
 * never straddle segments). Undefined outside every window: the headers,
 * which were made here, not read.
 */
export function kcoreOffsetOf(layout: KcoreLayout, offset: number, length: number): number | undefined {
  const { windows } = layout;
  let lo = 0;
  let hi = windows.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const w = windows[mid];
    if (offset < w.start) hi = mid - 1;
    else if (offset >= w.end) lo = mid + 1;
    else return offset + length <= w.end ? w.kcoreOffset + (offset - w.start) : undefined;
  }
  return undefined;
}
