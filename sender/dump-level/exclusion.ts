/**
 * The pfns a dump level keeps: the core's pages, less what the struct pages
 * say nobody needs (page-rules.ts). Reads mem_map once, for the present
 * sections and the pfns in the core only (64 bytes per 4 KiB page), never the
 * pages themselves. Anything it cannot read or trust lowers the level with a
 * warning instead of excluding a page wrongly.
 */
import type { PfnRun } from '../../shared/kdump/layout.js';
import { fillBitmapWindow, isBitSet } from '../../shared/kdump/layout.js';
import { EM_X86_64 } from '../../shared/elf/core.js';
import { locateMemMap, type MemMapSection } from '../../shared/elf/mem-map.js';
import { X86_64Translator, type PhysicalMemory } from '../../shared/elf/x86-64-translate.js';
import { DUMP_LEVEL_REPORT_LIMITS, type DumpLevelReport } from '../../shared/protocol/messages.js';
import type { VmcoreSource } from '../vmcore-source.js';
import { checkVerdicts } from './guard.js';
import { DumpLevel, judgePage, needsPageScan, pageRulesFor, type PageRules, type PageVerdict } from './page-rules.js';

export interface Exclusion {
  /** The level asked for. */
  asked: number;
  /** The level applied (the asked one, lowered where it had to be). */
  level: number;
  /** The rule generation that judged the struct pages (generations.ts), '' when none did. */
  generation: string;
  /** Pfns to store, sorted and non-overlapping. */
  dumpable: PfnRun[];
  dumpablePages: number;
  /** Pfns left out, by reason (makedumpfile counts pfns cleared, these too). */
  excluded: Record<Exclude<PageVerdict, 'keep' | 'tail'>, number>;
  /** Why the level was lowered or pages kept, one line each. */
  warnings: string[];
}

const BLOCK = 4096;
/** makedumpfile reads struct pages in batches of 512 and never looks past one for a compound page's order. */
const MAKEDUMPFILE_BATCH = 512;

function runsOf(bitmap: Buffer, extents: readonly PfnRun[]): { runs: PfnRun[]; pages: number } {
  const runs: PfnRun[] = [];
  let pages = 0;
  for (const extent of extents) {
    let start = -1;
    for (let pfn = extent.startPfn; pfn <= extent.startPfn + extent.pageCount; pfn++) {
      const set = pfn < extent.startPfn + extent.pageCount && isBitSet(bitmap, pfn);
      if (set && start < 0) start = pfn;
      if (!set && start >= 0) {
        runs.push({ startPfn: start, pageCount: pfn - start });
        pages += pfn - start;
        start = -1;
      }
    }
  }
  return { runs, pages };
}

type Excluded = Exclusion['excluded'];
const noneExcluded = (): Excluded => ({ free: 0, cache: 0, cache_private: 0, user: 0, hwpoison: 0, offline: 0 });

interface Scan {
  bitmap: Buffer;
  excluded: Excluded;
  suspect: { free: number; user: number };
  unreadable: number;
}

/** The struct pages of a core's sections, read in 4 KiB blocks through the kernel's page tables. */
class StructPages {
  private blockVaddr = -1n;
  private block: Buffer | undefined;

  constructor(private readonly read: (vaddr: bigint, length: number) => Buffer | undefined, private readonly size: number) {}

  /** The struct page at `index` of `memMap`: a view that stays valid after later calls. */
  at(memMap: bigint, index: number): Buffer | undefined {
    const vaddr = memMap + BigInt(index * this.size);
    const start = vaddr & ~BigInt(BLOCK - 1);
    if (start !== this.blockVaddr) {
      this.blockVaddr = start;
      this.block = this.read(start, BLOCK);
    }
    const at = Number(vaddr - start);
    // SIZE(page) divides the block in every kernel we know; a struct page across blocks is not judged.
    return this.block && at + this.size <= BLOCK ? this.block.subarray(at, at + this.size) : undefined;
  }
}

/**
 * Judges every in-core pfn of every section by `rules`, clearing in `bitmap`
 * (refilled from the core's extents first) what the level leaves out.
 */
function scanPages(rules: PageRules, sections: MemMapSection[], pages: StructPages, extents: readonly PfnRun[], maxPfn: number, bitmap: Buffer): Scan {
  fillBitmapWindow(bitmap, 0, extents);
  const excluded = noneExcluded();
  const suspect = { free: 0, user: 0 };
  let unreadable = 0;
  for (const section of sections) {
    for (let pfn = section.startPfn; pfn < section.endPfn;) {
      if (!isBitSet(bitmap, pfn)) {
        pfn++;
        continue;
      }
      const page = pages.at(section.memMap, pfn - section.startPfn);
      if (!page) {
        unreadable++;
        pfn++;
        continue;
      }
      const next = pfn % MAKEDUMPFILE_BATCH !== MAKEDUMPFILE_BATCH - 1 && pfn + 1 < section.endPfn
        ? pages.at(section.memMap, pfn + 1 - section.startPfn)
        : undefined;
      const verdict = judgePage(rules, pfn, page, next);
      if (verdict.suspect === 'free' || verdict.suspect === 'user') suspect[verdict.suspect]++;
      if (verdict.verdict === 'keep' || verdict.verdict === 'tail') {
        pfn++;
        continue;
      }
      excluded[verdict.verdict] += verdict.pages;
      for (let p = pfn; p < pfn + verdict.pages && p < maxPfn; p++) bitmap[p >>> 3] &= ~(1 << (p & 7));
      pfn += verdict.pages;
    }
  }
  return { bitmap, excluded, suspect, unreadable };
}

export function computeExclusion(source: VmcoreSource, asked: number): Exclusion {
  const { core } = source;
  const extents = core.pageMap.extents.map(({ startPfn, pageCount }) => ({ startPfn, pageCount }));
  const rules = pageRulesFor(core.vmcoreinfo, asked);
  const everything = (level: number, generation: string, warnings: string[]): Exclusion => ({
    asked, level, generation, dumpable: extents, dumpablePages: core.pageMap.totalPages, excluded: noneExcluded(), warnings,
  });
  if (core.elf.machine !== EM_X86_64) {
    return everything(asked & DumpLevel.ZERO, '', [`dump level ${asked}: struct pages are only read on x86_64; keeping every page`]);
  }
  if (!needsPageScan(rules)) return everything(rules.level, '', rules.warnings);

  const memory: PhysicalMemory = { read: (phys, length) => source.readPhysical(Number(phys), length) };
  let sections: MemMapSection[];
  let translator: X86_64Translator;
  try {
    translator = X86_64Translator.fromVmcoreinfo(core.vmcoreinfo, core.physBase, memory);
    sections = locateMemMap(core.vmcoreinfo, translator, memory, core.pageMap.maxPfn, core.pageSize);
  } catch (error) {
    return everything(asked & DumpLevel.ZERO, '', [...rules.warnings, `dump level ${asked}: cannot find the struct pages (${(error as Error).message}); keeping every page`]);
  }
  const readKernel = (vaddr: bigint, length: number) => {
    const phys = translator.vtop(vaddr);
    return phys === undefined ? undefined : memory.read(phys, length);
  };
  const warnings = [...rules.warnings];
  let scan: Scan;
  try {
    // One bit per pfn (32 MiB for 1 TiB): the second pass, if any, reuses it.
    const bitmap = Buffer.alloc(Math.ceil(core.pageMap.maxPfn / 8 / 8) * 8);
    scan = scanPages(rules, sections, new StructPages(readKernel, rules.structPageSize), extents, core.pageMap.maxPfn, bitmap);
    const guard = checkVerdicts(core.vmcoreinfo, readKernel, rules.level, { excluded: scan.excluded, suspect: scan.suspect }, core.nrCpus);
    warnings.push(...guard.notes);
    if (guard.drop) {
      // A bit the guard distrusts is judged again without it; the other bits keep their verdicts.
      rules.level &= ~guard.drop;
      scan = scanPages(rules, sections, new StructPages(readKernel, rules.structPageSize), extents, core.pageMap.maxPfn, bitmap);
    }
  } catch (error) {
    // Whatever a damaged mem_map does to the rules, the dump still goes out whole.
    return everything(asked & DumpLevel.ZERO, '', [...warnings, `dump level ${asked}: struct pages unreadable (${(error as Error).message}); keeping every page`]);
  }
  if (scan.unreadable > 0) warnings.push(`${scan.unreadable} struct pages were not in the dump; their pages are kept`);
  const { runs, pages } = runsOf(scan.bitmap, extents);
  return { asked, level: rules.level, generation: rules.generation, dumpable: runs, dumpablePages: pages, excluded: scan.excluded, warnings };
}

/** What HELLO tells the receiver about the level, cut to the protocol's bounds (the sender's own log has it whole). */
export function dumpLevelReport(exclusion: Exclusion): DumpLevelReport {
  const { notes, noteChars, rulesChars } = DUMP_LEVEL_REPORT_LIMITS;
  const cut = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);
  return {
    asked: exclusion.asked,
    applied: exclusion.level,
    rules: cut(exclusion.generation, rulesChars),
    notes: exclusion.warnings.slice(0, notes).map((note) => cut(note, noteChars)),
  };
}
