/**
 * Where each part of a kdump-compressed file goes. Everything but the page
 * data has a size known before the first page arrives (page size, pfn
 * ranges, notes), which is what lets the receiver write the file as the
 * stream comes: descriptors in place, data appended.
 */
import { KDUMP_SUB_HEADER_SIZE, PAGE_DESC_SIZE } from './format.js';

export interface PfnRun {
  startPfn: number;
  pageCount: number;
}

export interface KdumpLayout {
  blockSize: number;
  /** Sub-header plus notes, in blocks. */
  subHdrSize: number;
  notesOffset: number;
  /** Bytes of one bitmap (bitmap 1 and bitmap 2 are the same size, block aligned). */
  bitmapBytes: number;
  bitmapBlocks: number;
  bitmapOffset: number;
  descTableOffset: number;
  dumpablePages: number;
  /** First byte after the descriptor table: the shared zero page goes here. */
  dataStart: number;
}

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

export function computeLayout(blockSize: number, maxPfn: number, notesSize: number, dumpablePages: number): KdumpLayout {
  const subHdrSize = Math.ceil((KDUMP_SUB_HEADER_SIZE + notesSize) / blockSize);
  const bitmapBytes = roundUp(Math.ceil(maxPfn / 8), blockSize);
  const bitmapBlocks = (2 * bitmapBytes) / blockSize;
  const bitmapOffset = (1 + subHdrSize) * blockSize;
  const descTableOffset = bitmapOffset + bitmapBlocks * blockSize;
  return {
    blockSize,
    subHdrSize,
    notesOffset: blockSize + KDUMP_SUB_HEADER_SIZE,
    bitmapBytes,
    bitmapBlocks,
    bitmapOffset,
    descTableOffset,
    dumpablePages,
    dataStart: descTableOffset + dumpablePages * PAGE_DESC_SIZE,
  };
}

/**
 * Fills `out` with the bitmap bytes for pfns [firstPfn, firstPfn + out.length * 8)
 * that the sorted, non-overlapping runs cover (bit pfn % 8 of byte pfn / 8).
 * Costs log(runs) plus the runs inside the window: a file's bitmaps, window
 * after window, cost one pass over the runs, whatever a peer made them.
 */
export function fillBitmapWindow(out: Buffer, firstPfn: number, runs: readonly PfnRun[]): void {
  out.fill(0);
  const windowEnd = firstPfn + out.length * 8;
  let lo = 0;
  let hi = runs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (runs[mid].startPfn + runs[mid].pageCount <= firstPfn) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < runs.length && runs[i].startPfn < windowEnd; i++) {
    const run = runs[i];
    const from = Math.max(run.startPfn, firstPfn);
    const to = Math.min(run.startPfn + run.pageCount, windowEnd);
    let pfn = from;
    // Leading bits up to a byte boundary, whole bytes, then trailing bits.
    while (pfn < to && (pfn & 7) !== 0) {
      out[(pfn - firstPfn) >>> 3] |= 1 << (pfn & 7);
      pfn++;
    }
    const wholeBytes = Math.floor((to - pfn) / 8);
    if (wholeBytes > 0) {
      const at = (pfn - firstPfn) >>> 3;
      out.fill(0xff, at, at + wholeBytes);
      pfn += wholeBytes * 8;
    }
    while (pfn < to) {
      out[(pfn - firstPfn) >>> 3] |= 1 << (pfn & 7);
      pfn++;
    }
  }
}

export function isBitSet(bitmap: Buffer, pfn: number): boolean {
  return (bitmap[pfn >>> 3] & (1 << (pfn & 7))) !== 0;
}
