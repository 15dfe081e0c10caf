/**
 * The guard against a wrong exclusion on a kernel the rules misread
 * (docs/research/dump-levels.md section 7). VMCOREINFO can keep a name and
 * change its meaning (6.12 did), so an entry being present proves nothing.
 * After a scan, the verdicts are held against evidence the rules did not
 * use, and a bit whose verdicts disagree beyond the tolerance below is
 * dropped, with a note, and the pages judged again without it:
 *
 * - free (16): the pages judged free may exceed the kernel's own
 *   NR_FREE_PAGES (kernel-counters.ts) by at most 125 pages per CPU and zone
 *   (unfolded per-CPU counter deltas) plus 1% of the count. Fewer is safe
 *   (pages on per-CPU lists are not buddy pages and are kept).
 * - free (16) and user (8): pages whose own bytes contradict their verdict
 *   (a buddy block not aligned to its order; an "anon" page whose mapping is
 *   not a kernel pointer, as a slab's object count is) are always kept; more
 *   than 16 of them, or 0.1% of the pages the bit left out, means the rule
 *   misreads this kernel and the bit goes.
 */
import type { Vmcoreinfo } from '../../shared/elf/vmcoreinfo.js';
import { readFreePageCount, type KernelRead } from './kernel-counters.js';
import { DumpLevel } from './page-rules.js';

export interface ScanCounts {
  /** Pfns cleared per verdict. */
  excluded: { free: number; user: number };
  /** Pages kept because their bytes contradicted a verdict. */
  suspect: { free: number; user: number };
}

export interface GuardVerdict {
  /** Bits to drop from the level. */
  drop: number;
  /** One line per check that found something worth saying. */
  notes: string[];
}

export const GUARD_TOLERANCE = {
  /** Slack on NR_FREE_PAGES per CPU and zone: mm/vmstat.c caps a per-CPU delta at 125. */
  perCpuZonePages: 125,
  /** Relative slack on NR_FREE_PAGES. */
  freeFraction: 0.01,
  /** Contradicted verdicts tolerated: at most this many, or this fraction of the bit's exclusions. */
  suspectPages: 16,
  suspectFraction: 0.001,
} as const;

export function checkVerdicts(info: Vmcoreinfo, read: KernelRead, level: number, counts: ScanCounts, cpus: number): GuardVerdict {
  const notes: string[] = [];
  let drop = 0;
  const t = GUARD_TOLERANCE;
  const tooMany = (suspect: number, excluded: number) => suspect > Math.max(t.suspectPages, t.suspectFraction * excluded);
  if (level & DumpLevel.USER && counts.suspect.user > 0) {
    const what = `${counts.suspect.user} pages looked anonymous but their mapping is not a kernel pointer (kept)`;
    if (tooMany(counts.suspect.user, counts.excluded.user)) {
      drop |= DumpLevel.USER;
      notes.push(`dump level guard: ${what}, beyond the tolerance of ${t.suspectPages} or ${t.suspectFraction * 100}%: the user-page rule misreads this kernel; leaving out ${DumpLevel.USER} from the level`);
    } else {
      notes.push(`dump level guard: ${what}`);
    }
  }
  if (level & DumpLevel.FREE) {
    if (counts.suspect.free > 0) {
      const what = `${counts.suspect.free} pages looked free but their block is not aligned to its order (kept)`;
      if (tooMany(counts.suspect.free, counts.excluded.free)) {
        drop |= DumpLevel.FREE;
        notes.push(`dump level guard: ${what}, beyond the tolerance of ${t.suspectPages} or ${t.suspectFraction * 100}%: the free-page rule misreads this kernel; leaving out ${DumpLevel.FREE} from the level`);
      } else {
        notes.push(`dump level guard: ${what}`);
      }
    }
    const kernel = readFreePageCount(info, read);
    if (typeof kernel === 'string') {
      notes.push(`dump level guard: free pages not checked against the kernel's count (${kernel})`);
    } else {
      const allowed = kernel.free + t.perCpuZonePages * Math.max(1, cpus) * kernel.zones + Math.ceil(t.freeFraction * kernel.free);
      if (counts.excluded.free > allowed) {
        drop |= DumpLevel.FREE;
        notes.push(`dump level guard: ${counts.excluded.free} pages judged free, the kernel counted ${kernel.free} (NR_FREE_PAGES over ${kernel.zones} zones; at most ${allowed} tolerated): the free-page rule misreads this kernel; leaving out ${DumpLevel.FREE} from the level`);
      }
    }
  }
  return { drop, notes };
}
