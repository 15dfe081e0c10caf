/**
 * The pfns a dump holds, as they travel in HELLO when a dump level left some
 * out: runs as unsigned LEB128 pairs (gap since the previous run's end,
 * length). A -d 31 dump of a 1 GiB machine is a few KiB this way.
 */
import { corrupt } from '../errors.js';
import type { PfnRun } from '../kdump/layout.js';

export function encodePfnRuns(runs: readonly PfnRun[]): Buffer {
  const bytes: number[] = [];
  const push = (value: number) => {
    let v = value;
    while (v >= 0x80) {
      bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    bytes.push(v);
  };
  let end = 0;
  for (const run of runs) {
    push(run.startPfn - end);
    push(run.pageCount);
    end = run.startPfn + run.pageCount;
  }
  return Buffer.from(bytes);
}

/** Decodes and checks: runs sorted, apart, non-empty, below `maxPfn`. */
export function decodePfnRuns(encoded: Buffer, maxPfn: number): PfnRun[] {
  const runs: PfnRun[] = [];
  let at = 0;
  const next = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (at >= encoded.length) throw corrupt(`pfn runs end in the middle of a number at byte ${at}`, { offset: at });
      const byte = encoded[at++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
      if (scale > 2 ** 49) throw corrupt(`pfn runs hold a number too large at byte ${at}`, { offset: at });
    }
  };
  let end = 0;
  while (at < encoded.length) {
    const gap = next();
    const pageCount = next();
    const startPfn = end + gap;
    if (pageCount === 0 || (runs.length > 0 && gap === 0)) throw corrupt(`pfn run ${runs.length} is empty or touches the one before`);
    if (startPfn + pageCount > maxPfn) throw corrupt(`pfn run ${runs.length} ends at pfn ${startPfn + pageCount}, past max_mapnr ${maxPfn}`);
    runs.push({ startPfn, pageCount });
    end = startPfn + pageCount;
  }
  return runs;
}
