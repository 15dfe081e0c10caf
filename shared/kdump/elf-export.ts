/**
 * A stored kdump-compressed dump as an ELF64 core, for gdb and other tools
 * that do not read the kdump format. Streamed: headers first, then each
 * segment's pages read and decoded one at a time, so memory stays at a page
 * or two whatever the dump's size.
 *
 * Segments: the original core's PT_LOADs (kept beside the dump at upload),
 * cut into one PT_LOAD per run of stored pages, each keeping its original
 * virtual address (what gdb looks kernel symbols up by). Pages the dump left
 * out (excluded by its dump level, or zero pages at level 1) are left out of
 * the ELF too, as makedumpfile -E does: a read there fails instead of
 * returning invented zeros. Dumps stored without the original headers get
 * one segment per run with physical addresses only (p_vaddr = p_paddr).
 */
import { badInput } from '../errors.js';
import {
  ELF_HEADER_SIZE, PROGRAM_HEADER_SIZE, PT_LOAD, PT_NOTE, ET_CORE, parseElfHeader, parseProgramHeaders,
} from '../elf/core.js';
import type { KdumpFileReader } from './reader.js';
import { loadsOutOfBounds } from '../elf/page-map.js';

export interface ElfExportSegment {
  vaddr: bigint;
  paddr: number;
  /** Bytes; filesz equals memsz: every byte of the segment is in the file. */
  size: number;
}

export interface ElfExportPlan {
  machine: number;
  pageSize: number;
  segments: ElfExportSegment[];
  notesOffset: number;
  notesSize: number;
  /** File offset of each segment's bytes, in segment order. */
  dataOffsets: number[];
  totalSize: number;
}

/** e_phnum is 16 bits and 0xffff means "look elsewhere" (PN_XNUM); we stay below it by merging runs. */
const MAX_LOAD_SEGMENTS = 65_000;

export interface LoadRange {
  vaddr: bigint;
  paddr: number;
  memsz: number;
}

export interface DumpablePages {
  pageSize: number;
  maxPfn: number;
  isDumpable(pfn: number): boolean;
  readonly dumpableBitmap: Buffer;
}

/** Maximal runs [startPfn, endPfn) of dumpable pfns inside [fromPfn, toPfn). Skips whole empty or full bytes at once. */
export function dumpableRuns(bitmap: Buffer, fromPfn: number, toPfn: number): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  let runStart = -1;
  let pfn = fromPfn;
  while (pfn < toPfn) {
    const byte = bitmap[pfn >>> 3] ?? 0;
    if ((pfn & 7) === 0 && pfn + 8 <= toPfn && (byte === 0 || byte === 0xff)) {
      if (byte === 0xff && runStart < 0) runStart = pfn;
      if (byte === 0 && runStart >= 0) { runs.push([runStart, pfn]); runStart = -1; }
      pfn += 8;
      continue;
    }
    const set = (byte >> (pfn & 7)) & 1;
    if (set && runStart < 0) runStart = pfn;
    if (!set && runStart >= 0) { runs.push([runStart, pfn]); runStart = -1; }
    pfn++;
  }
  if (runStart >= 0) runs.push([runStart, toPfn]);
  return runs;
}

/** The original core's PT_LOADs from its saved ELF headers. */
export function loadRangesFromElfHeaders(elfHeaders: Buffer): { machine: number; loads: LoadRange[] } {
  const header = parseElfHeader(elfHeaders);
  const loads = parseProgramHeaders(elfHeaders, header)
    .filter((ph) => ph.type === PT_LOAD && ph.memsz > 0)
    .map((ph) => ({ vaddr: ph.vaddr, paddr: ph.paddr, memsz: ph.memsz }));
  return { machine: header.machine, loads };
}

/** Cuts each load range into the byte ranges of stored pages it covers. */
export function planSegments(pages: DumpablePages, loads: LoadRange[] | undefined): ElfExportSegment[] {
  const { pageSize } = pages;
  const ranges = loads ?? [{ vaddr: 0n, paddr: 0, memsz: pages.maxPfn * pageSize, physicalOnly: true }];
  const segments: ElfExportSegment[] = [];
  for (const range of ranges) {
    const end = range.paddr + range.memsz;
    const firstPfn = Math.floor(range.paddr / pageSize);
    const lastPfn = Math.min(Math.ceil(end / pageSize), pages.maxPfn);
    for (const [startPfn, endPfn] of dumpableRuns(pages.dumpableBitmap, firstPfn, lastPfn)) {
      const start = Math.max(range.paddr, startPfn * pageSize);
      const stop = Math.min(end, endPfn * pageSize);
      if (stop <= start) continue;
      const vaddr = 'physicalOnly' in range ? BigInt(start) : range.vaddr + BigInt(start - range.paddr);
      segments.push({ vaddr, paddr: start, size: stop - start });
    }
  }
  return segments;
}

/**
 * Fewer segments than e_phnum can count: joins neighbours across the
 * smallest gaps first (a joined gap is written as zeros; these are pages the
 * dump left out, and only cores with tens of thousands of runs get here).
 */
export function capSegmentCount(segments: ElfExportSegment[], max = MAX_LOAD_SEGMENTS): ElfExportSegment[] {
  if (segments.length <= max) return segments;
  const gaps = segments.slice(1).map((s, i) => {
    const prev = segments[i];
    const contiguous = s.vaddr - prev.vaddr === BigInt(s.paddr - prev.paddr);
    return { i, size: contiguous && s.paddr > prev.paddr ? s.paddr - (prev.paddr + prev.size) : Infinity };
  });
  const toJoin = new Set(gaps.sort((a, b) => a.size - b.size).slice(0, segments.length - max).filter((g) => g.size !== Infinity).map((g) => g.i));
  if (segments.length - toJoin.size > max) throw badInput(`dump has ${segments.length} separate memory runs; too many for an ELF core`);
  const joined: ElfExportSegment[] = [];
  segments.forEach((s, i) => {
    if (i > 0 && toJoin.has(i - 1)) {
      const last = joined[joined.length - 1];
      last.size = s.paddr + s.size - last.paddr;
    } else {
      joined.push({ ...s });
    }
  });
  return joined;
}

export function planElfExport(machine: number, pageSize: number, segments: ElfExportSegment[], notesSize: number): ElfExportPlan {
  const phnum = segments.length + 1;
  const notesOffset = ELF_HEADER_SIZE + phnum * PROGRAM_HEADER_SIZE;
  // Page-aligned data, as the kernel's /proc/vmcore lays it out: tools may mmap it.
  let offset = Math.ceil((notesOffset + notesSize) / pageSize) * pageSize;
  const dataOffsets = segments.map((s) => {
    const at = offset;
    offset += s.size;
    return at;
  });
  return { machine, pageSize, segments, notesOffset, notesSize, dataOffsets, totalSize: offset };
}

export function encodeElfHeaders(plan: ElfExportPlan): Buffer {
  const phnum = plan.segments.length + 1;
  const out = Buffer.alloc(plan.notesOffset);
  out.writeUInt32BE(0x7f454c46, 0);
  out[4] = 2; // ELFCLASS64
  out[5] = 1; // little-endian
  out[6] = 1; // EV_CURRENT
  out.writeUInt16LE(ET_CORE, 16);
  out.writeUInt16LE(plan.machine, 18);
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(BigInt(ELF_HEADER_SIZE), 32); // e_phoff
  out.writeUInt16LE(ELF_HEADER_SIZE, 52);
  out.writeUInt16LE(PROGRAM_HEADER_SIZE, 54);
  out.writeUInt16LE(phnum, 56);
  const writePhdr = (index: number, type: number, offset: number, vaddr: bigint, paddr: number, size: number, align: number) => {
    const at = ELF_HEADER_SIZE + index * PROGRAM_HEADER_SIZE;
    out.writeUInt32LE(type, at);
    out.writeUInt32LE(type === PT_LOAD ? 7 : 0, at + 4); // RWX, as the kernel's vmcore says
    out.writeBigUInt64LE(BigInt(offset), at + 8);
    out.writeBigUInt64LE(BigInt.asUintN(64, vaddr), at + 16);
    out.writeBigUInt64LE(BigInt(paddr), at + 24);
    out.writeBigUInt64LE(BigInt(size), at + 32);
    out.writeBigUInt64LE(BigInt(size), at + 40);
    out.writeBigUInt64LE(BigInt(align), at + 48);
  };
  writePhdr(0, PT_NOTE, plan.notesOffset, 0n, 0, plan.notesSize, 0);
  plan.segments.forEach((s, i) => writePhdr(i + 1, PT_LOAD, plan.dataOffsets[i], s.vaddr, s.paddr, s.size, 0));
  return out;
}

/** Plans the export of an open stored dump; `elfHeaders` is the original core's header block, when it was kept. */
export async function planStoredDumpExport(reader: KdumpFileReader, elfHeaders: Buffer | undefined, machine = 62): Promise<ElfExportPlan> {
  const original = elfHeaders ? loadRangesFromElfHeaders(elfHeaders) : undefined;
  const pages: DumpablePages = reader;
  // Planning walks each PT_LOAD's pages: headers beyond the kernel's bounds (stored before HELLO refused them)
  // get the physical-only layout, one pass over the bitmap.
  const loads = original && !loadsOutOfBounds(original.loads) ? original.loads : undefined;
  const segments = capSegmentCount(planSegments(pages, loads));
  return planElfExport(original?.machine ?? machine, reader.pageSize, segments, reader.subHeader.sizeNote);
}

/** Pages decoded per read: 1 MiB of output at a time. */
const BATCH_PAGES = 256;

/**
 * The ELF core's bytes, in order, as `plan` lays them out. Each yielded
 * buffer is new: stream consumers may hold several before writing them.
 */
export async function* streamElfCore(reader: KdumpFileReader, plan: ElfExportPlan): AsyncGenerator<Buffer> {
  yield encodeElfHeaders(plan);
  yield await reader.readNotes();
  const firstData = plan.dataOffsets[0] ?? plan.totalSize;
  const padding = firstData - (plan.notesOffset + plan.notesSize);
  if (padding > 0) yield Buffer.alloc(padding);
  const pageSize = plan.pageSize;
  for (const segment of plan.segments) {
    const end = segment.paddr + segment.size;
    const firstPfn = Math.floor(segment.paddr / pageSize);
    const endPfn = Math.ceil(end / pageSize);
    for (let pfn = firstPfn; pfn < endPfn; pfn += BATCH_PAGES) {
      const count = Math.min(BATCH_PAGES, endPfn - pfn);
      const pages = Buffer.allocUnsafe(count * pageSize);
      // Pages inside gaps joined by capSegmentCount read as zeros.
      await reader.readPfnRange(pfn, count, pages);
      const from = Math.max(segment.paddr, pfn * pageSize) - pfn * pageSize;
      const to = Math.min(end, (pfn + count) * pageSize) - pfn * pageSize;
      yield pages.subarray(from, to);
    }
  }
}
