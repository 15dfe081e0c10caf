/**
 * How a dump is cut into chunks. Deterministic from the page map and the
 * chunk size, so both ends know chunk N's pfn range without sending a table,
 * a resumed upload restarts at a chunk boundary, and a chunk whose header
 * disagrees with the plan is caught as out of order.
 */
import type { PageMap } from '../elf/page-map.js';

export interface ChunkSpan {
  seq: number;
  startPfn: number;
  pageCount: number;
  /** Rank of the chunk's first page: its first page descriptor's index. */
  firstRank: number;
}

export class ChunkPlan {
  readonly totalChunks: number;
  /** Sequence number of each extent's first chunk. */
  private readonly firstSeq: number[];

  constructor(readonly map: PageMap, readonly chunkPages: number) {
    if (!Number.isInteger(chunkPages) || chunkPages < 1) throw new RangeError(`chunkPages must be a positive integer, got ${chunkPages}`);
    this.firstSeq = [];
    let seq = 0;
    for (const extent of map.extents) {
      this.firstSeq.push(seq);
      seq += Math.ceil(extent.pageCount / chunkPages);
    }
    this.totalChunks = seq;
  }

  chunk(seq: number): ChunkSpan {
    if (!Number.isInteger(seq) || seq < 0 || seq >= this.totalChunks) {
      throw new RangeError(`chunk ${seq} outside plan of ${this.totalChunks} chunks`);
    }
    let lo = 0;
    let hi = this.firstSeq.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.firstSeq[mid] <= seq) lo = mid;
      else hi = mid - 1;
    }
    const extent = this.map.extents[lo];
    const pageOffset = (seq - this.firstSeq[lo]) * this.chunkPages;
    return {
      seq,
      startPfn: extent.startPfn + pageOffset,
      pageCount: Math.min(this.chunkPages, extent.pageCount - pageOffset),
      firstRank: extent.firstRank + pageOffset,
    };
  }
}
