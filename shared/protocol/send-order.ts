/**
 * The order chunks travel in. The chunk plan numbers chunks by pfn
 * (chunk-plan.ts); a sender that names a first tier (HELLO firstTier: the
 * pages crash needs to open the dump and answer sys, bt, log) sends the
 * chunks holding them first, in seq order, then every other chunk in seq
 * order. A dump cut off after the first tier is then still a dump.
 *
 * Both ends derive the same order from HELLO, so nothing more is sent. A
 * position is an index into this order: ACCEPT's nextSeq, the resume point
 * and the digest count positions (in pfn order a position is the seq).
 */
import type { PfnRun } from '../kdump/layout.js';
import type { ChunkPlan } from './chunk-plan.js';

/** Index of the first element of sorted `values` that is >= `value`. */
function lowerBound(values: Uint32Array, value: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class SendOrder {
  /** Seqs of the first tier's chunks, ascending: positions [0, firstTierChunks). */
  private readonly tier: Uint32Array;

  private constructor(readonly plan: ChunkPlan, tier: Uint32Array) {
    this.tier = tier;
  }

  /** Every chunk in seq order: what senders without a first tier, and receivers before it, use. */
  static pfnOrder(plan: ChunkPlan): SendOrder {
    return new SendOrder(plan, new Uint32Array(0));
  }

  /** The chunks that hold any pfn of `firstTier` (sorted runs of dumpable pfns) first. */
  static firstTierFirst(plan: ChunkPlan, firstTier: readonly PfnRun[]): SendOrder {
    return new SendOrder(plan, Uint32Array.from(plan.seqsCovering(firstTier)));
  }

  get firstTierChunks(): number {
    return this.tier.length;
  }

  get totalChunks(): number {
    return this.plan.totalChunks;
  }

  isFirstTier(seq: number): boolean {
    const at = lowerBound(this.tier, seq);
    return at < this.tier.length && this.tier[at] === seq;
  }

  /** The seq sent at `position` (0 <= position < totalChunks). */
  seqAt(position: number): number {
    if (!Number.isInteger(position) || position < 0 || position >= this.plan.totalChunks) {
      throw new RangeError(`position ${position} outside the order of ${this.plan.totalChunks} chunks`);
    }
    const tiers = this.tier.length;
    if (position < tiers) return this.tier[position];
    // The r-th seq not in the first tier: the smallest s with (s + 1) - |tier <= s| > r.
    const r = position - tiers;
    let lo = r;
    let hi = r + tiers;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (mid + 1 - lowerBound(this.tier, mid + 1) > r) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** The first tier's chunks as pfn runs (adjacent chunks merged): the pages a first-tier file holds. */
  firstTierRuns(): PfnRun[] {
    const runs: PfnRun[] = [];
    for (const seq of this.tier) {
      const span = this.plan.chunk(seq);
      const last = runs[runs.length - 1];
      if (last && last.startPfn + last.pageCount === span.startPfn) last.pageCount += span.pageCount;
      else runs.push({ startPfn: span.startPfn, pageCount: span.pageCount });
    }
    return runs;
  }
}
