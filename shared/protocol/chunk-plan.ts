/**
 * How a dump is cut into chunks. Deterministic from the runs of pfns the dump
 * holds (the page map's extents, or what a dump level keeps) and the chunk
 * size, so both ends know chunk N's pfn range without sending a table, a
 * resumed upload restarts at a chunk boundary, and a chunk whose header
 * disagrees with the plan is caught as out of order.
 */
import type { PfnRun } from '../kdump/layout.js';

export interface ChunkSpan {
  seq: number;
  startPfn: number;
  pageCount: number;
  /** Rank of the chunk's first page among the dump's pages: its first page descriptor's index. */
  firstRank: number;
}

export class ChunkPlan {
  readonly totalChunks: number;
  readonly totalPages: number;
  private readonly runs: readonly PfnRun[];
  /** Sequence number of each run's first chunk. */
  private readonly firstSeq: number[] = [];
  /** Rank of each run's first page. */
  private readonly firstRank: number[] = [];

  /** `dump.extents`: sorted, non-overlapping runs of the pfns the dump holds (a PageMap fits). */
  constructor(dump: { readonly extents: readonly PfnRun[] }, readonly chunkPages: number) {
    if (!Number.isInteger(chunkPages) || chunkPages < 1) throw new RangeError(`chunkPages must be a positive integer, got ${chunkPages}`);
    this.runs = dump.extents;
    let seq = 0;
    let rank = 0;
    for (const run of this.runs) {
      this.firstSeq.push(seq);
      this.firstRank.push(rank);
      seq += Math.ceil(run.pageCount / chunkPages);
      rank += run.pageCount;
    }
    this.totalChunks = seq;
    this.totalPages = rank;
  }

  /**
   * Seqs of the chunks holding any pfn of `runs` (sorted, non-overlapping),
   * ascending and each once. Pfns the plan does not hold are skipped.
   */
  seqsCovering(runs: readonly PfnRun[]): number[] {
    const seqs: number[] = [];
    let at = 0;
    for (const want of runs) {
      const wantEnd = want.startPfn + want.pageCount;
      while (at < this.runs.length && this.runs[at].startPfn + this.runs[at].pageCount <= want.startPfn) at++;
      for (let i = at; i < this.runs.length && this.runs[i].startPfn < wantEnd; i++) {
        const run = this.runs[i];
        const from = Math.max(want.startPfn, run.startPfn) - run.startPfn;
        const to = Math.min(wantEnd, run.startPfn + run.pageCount) - run.startPfn;
        if (to <= from) continue;
        const first = this.firstSeq[i] + Math.floor(from / this.chunkPages);
        const last = this.firstSeq[i] + Math.floor((to - 1) / this.chunkPages);
        for (let seq = Math.max(first, (seqs[seqs.length - 1] ?? -1) + 1); seq <= last; seq++) seqs.push(seq);
      }
    }
    return seqs;
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
    const run = this.runs[lo];
    const pageOffset = (seq - this.firstSeq[lo]) * this.chunkPages;
    return {
      seq,
      startPfn: run.startPfn + pageOffset,
      pageCount: Math.min(this.chunkPages, run.pageCount - pageOffset),
      firstRank: this.firstRank[lo] + pageOffset,
    };
  }
}
