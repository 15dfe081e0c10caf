/**
 * Sets of pfns as sorted runs (PfnRun), for choosing the first tier: made
 * from pfns, merged, intersected with the pages kept, and less some pages.
 */
import type { PfnRun } from '../shared/kdump/layout.js';

/** Pfns in any order, repeats allowed, as sorted runs. */
export function toRuns(pfns: number[]): PfnRun[] {
  const sorted = [...new Set(pfns)].sort((a, b) => a - b);
  const runs: PfnRun[] = [];
  for (const pfn of sorted) {
    const last = runs[runs.length - 1];
    if (last && last.startPfn + last.pageCount === pfn) last.pageCount++;
    else runs.push({ startPfn: pfn, pageCount: 1 });
  }
  return runs;
}

/** The part of sorted `runs` inside sorted `kept`. */
export function intersectRuns(runs: readonly PfnRun[], kept: readonly PfnRun[]): PfnRun[] {
  const out: PfnRun[] = [];
  let k = 0;
  for (const run of runs) {
    const end = run.startPfn + run.pageCount;
    while (k < kept.length && kept[k].startPfn + kept[k].pageCount <= run.startPfn) k++;
    for (let i = k; i < kept.length && kept[i].startPfn < end; i++) {
      const from = Math.max(run.startPfn, kept[i].startPfn);
      const to = Math.min(end, kept[i].startPfn + kept[i].pageCount);
      if (to <= from) continue;
      const last = out[out.length - 1];
      if (last && last.startPfn + last.pageCount === from) last.pageCount += to - from;
      else out.push({ startPfn: from, pageCount: to - from });
    }
  }
  return out;
}

/** Sorted `lists` merged, overlapping and touching runs joined. */
export function mergeRuns(lists: PfnRun[][]): PfnRun[] {
  const all = lists.flat().sort((a, b) => a.startPfn - b.startPfn);
  const out: PfnRun[] = [];
  for (const run of all) {
    const last = out[out.length - 1];
    const end = run.startPfn + run.pageCount;
    if (last && run.startPfn <= last.startPfn + last.pageCount) last.pageCount = Math.max(last.pageCount, end - last.startPfn);
    else out.push({ ...run });
  }
  return out;
}

/** Sorted `runs` less sorted `minus`. */
export function subtractRuns(runs: readonly PfnRun[], minus: readonly PfnRun[]): PfnRun[] {
  const out: PfnRun[] = [];
  let m = 0;
  for (const run of runs) {
    let start = run.startPfn;
    const end = run.startPfn + run.pageCount;
    while (m < minus.length && minus[m].startPfn + minus[m].pageCount <= start) m++;
    for (let i = m; i < minus.length && minus[i].startPfn < end && start < end; i++) {
      if (minus[i].startPfn > start) out.push({ startPfn: start, pageCount: minus[i].startPfn - start });
      start = Math.max(start, minus[i].startPfn + minus[i].pageCount);
    }
    if (start < end) out.push({ startPfn: start, pageCount: end - start });
  }
  return out;
}
