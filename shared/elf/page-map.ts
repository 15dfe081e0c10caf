/**
 * Which physical pages a core holds and where their bytes live in the file.
 *
 * /proc/vmcore's PT_LOAD segments overlap (x86_64 maps the kernel text a
 * second time, inside a System RAM range) and need not be page aligned
 * (e820 ranges such as 0x1000-0x9fbff); an unaligned start page is kept,
 * its missing bytes read as zero. Sender and receiver both derive the
 * same map from the same program headers, so they agree on every pfn and on
 * the order pages are numbered in the stored dump.
 */
import { corrupt } from '../errors.js';
import { PT_LOAD, type ProgramHeader } from './core.js';

/** A byte range of physical memory backed by file bytes; pieces never overlap. */
export interface PhysPiece {
  physStart: number;
  physEnd: number;
  fileOffset: number;
}

/** A run of consecutive pfns present in the core. */
export interface PageExtent {
  startPfn: number;
  pageCount: number;
  /** Number of pages in all earlier extents: this extent's first page's rank. */
  firstRank: number;
}

export interface PageMap {
  pageSize: number;
  pieces: PhysPiece[];
  extents: PageExtent[];
  totalPages: number;
  /** One past the highest pfn: the kdump header's max_mapnr. */
  maxPfn: number;
}

export function buildPageMap(programHeaders: ProgramHeader[], pageSize: number, fileSize?: number): PageMap {
  const loads = programHeaders
    .map((ph, index) => ({ ph, index }))
    .filter(({ ph }) => ph.type === PT_LOAD && ph.memsz > 0);
  if (loads.length === 0) throw corrupt('core has no PT_LOAD segments with memory');
  for (const { ph, index } of loads) {
    if (fileSize !== undefined && ph.offset + ph.filesz > fileSize) {
      throw corrupt(
        `PT_LOAD ${index} ends at file offset ${ph.offset + ph.filesz} but the file is ${fileSize} bytes (truncated vmcore?)`,
        { offset: ph.offset + ph.filesz, segment: index },
      );
    }
  }
  loads.sort((a, b) => a.ph.paddr - b.ph.paddr);

  // Pieces: first segment to cover a byte wins; overlapping copies hold the same memory.
  const pieces: PhysPiece[] = [];
  let coveredEnd = 0;
  for (const { ph } of loads) {
    const end = ph.paddr + ph.filesz;
    const start = Math.max(ph.paddr, coveredEnd);
    if (start < end) pieces.push({ physStart: start, physEnd: end, fileOffset: ph.offset + (start - ph.paddr) });
    coveredEnd = Math.max(coveredEnd, end);
  }

  // Extents: the union of each segment's pages, counted as makedumpfile's
  // first bitmap does (pfn of the start up to, not including, the pfn of the
  // end): a trailing partial page (e820's 0x9fc00) is not part of the dump,
  // so both tools describe the same set of pfns to crash.
  const extents: PageExtent[] = [];
  let totalPages = 0;
  for (const { ph } of loads) {
    const first = Math.floor(ph.paddr / pageSize);
    const end = Math.floor((ph.paddr + ph.memsz) / pageSize);
    if (end <= first) continue;
    const last = extents[extents.length - 1];
    if (last && first <= last.startPfn + last.pageCount) {
      const lastEnd = last.startPfn + last.pageCount;
      if (end > lastEnd) {
        totalPages += end - lastEnd;
        last.pageCount = end - last.startPfn;
      }
    } else {
      extents.push({ startPfn: first, pageCount: end - first, firstRank: totalPages });
      totalPages += end - first;
    }
  }
  if (extents.length === 0) throw corrupt('core has no whole page in any PT_LOAD segment');
  const tail = extents[extents.length - 1];
  return { pageSize, pieces, extents, totalPages, maxPfn: tail.startPfn + tail.pageCount };
}

/** Index of the first piece whose range ends after `phys`. */
function firstPieceAfter(pieces: PhysPiece[], phys: number): number {
  let lo = 0;
  let hi = pieces.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pieces[mid].physEnd <= phys) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A file read: `length` bytes at `fileOffset` go to `bufferOffset` of the page buffer. */
export interface ReadSpan {
  fileOffset: number;
  bufferOffset: number;
  length: number;
}

/**
 * The file reads that fill physical bytes [phys, phys + length). Bytes no
 * span covers (holes, memsz beyond filesz, unaligned edges) must read as zero.
 */
export function readSpansForRange(map: PageMap, phys: number, length: number): ReadSpan[] {
  const end = phys + length;
  const spans: ReadSpan[] = [];
  for (let i = firstPieceAfter(map.pieces, phys); i < map.pieces.length; i++) {
    const piece = map.pieces[i];
    if (piece.physStart >= end) break;
    const from = Math.max(phys, piece.physStart);
    const to = Math.min(end, piece.physEnd);
    spans.push({ fileOffset: piece.fileOffset + (from - piece.physStart), bufferOffset: from - phys, length: to - from });
  }
  return spans;
}

/** The file reads that fill pages [startPfn, startPfn + count). */
export function readSpansForPages(map: PageMap, startPfn: number, count: number): ReadSpan[] {
  return readSpansForRange(map, startPfn * map.pageSize, count * map.pageSize);
}

/** The rank of a pfn among all pages of the map (its page descriptor's index), or -1 if absent. */
export function rankOfPfn(map: PageMap, pfn: number): number {
  let lo = 0;
  let hi = map.extents.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const extent = map.extents[mid];
    if (pfn < extent.startPfn) hi = mid - 1;
    else if (pfn >= extent.startPfn + extent.pageCount) lo = mid + 1;
    else return extent.firstRank + (pfn - extent.startPfn);
  }
  return -1;
}

/**
 * Bounds on a core's PT_LOADs that the kernel's own cores keep far inside:
 * one per memory range (tens, hundreds on large machines), overlapping only
 * where x86_64 and arm64 map the kernel image a second time (tens of MiB).
 * Work that walks each PT_LOAD (the ELF export) stays linear in the memory
 * described within them; a core beyond them was made to cost something else.
 */
export const MAX_PT_LOADS = 16_384;
export const MAX_PT_LOAD_OVERLAP_BYTES = 2 * 2 ** 30;

/** Bytes that more than one of `loads` covers, counted once per extra cover (sum of sizes minus their union). */
export function loadOverlapBytes(loads: ReadonlyArray<{ paddr: number; memsz: number }>): number {
  const sorted = [...loads].sort((a, b) => a.paddr - b.paddr);
  let total = 0;
  let union = 0;
  let coveredEnd = 0;
  for (const { paddr, memsz } of sorted) {
    total += memsz;
    const end = paddr + memsz;
    union += Math.max(0, end - Math.max(paddr, coveredEnd));
    coveredEnd = Math.max(coveredEnd, end);
  }
  return total - union;
}

/** Why `loads` are beyond those bounds, or undefined when they are within them. */
export function loadsOutOfBounds(loads: ReadonlyArray<{ paddr: number; memsz: number }>): string | undefined {
  if (loads.length > MAX_PT_LOADS) return `${loads.length} PT_LOAD segments (at most ${MAX_PT_LOADS})`;
  const overlap = loadOverlapBytes(loads);
  if (overlap > MAX_PT_LOAD_OVERLAP_BYTES) return `PT_LOAD segments covering ${overlap} bytes more than once (at most ${MAX_PT_LOAD_OVERLAP_BYTES})`;
  return undefined;
}
