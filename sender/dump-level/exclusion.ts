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
import { locateMemMap } from '../../shared/elf/mem-map.js';
import { X86_64Translator, type PhysicalMemory } from '../../shared/elf/x86-64-translate.js';
import type { VmcoreSource } from '../vmcore-source.js';
import { DumpLevel, judgePage, needsPageScan, pageRulesFor, type PageVerdict } from './page-rules.js';

export interface Exclusion {
  /** The level applied (the asked one, lowered where it had to be). */
  level: number;
  /** Pfns to store, sorted and non-overlapping. */
  dumpable: PfnRun[];
  dumpablePages: number;
  /** Pfns left out, by reason (makedumpfile counts pfns cleared, these too). */
  excluded: Record<Exclude<PageVerdict, 'keep' | 'tail'>, number>;
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

export function computeExclusion(source: VmcoreSource, asked: number): Exclusion {
  const { core } = source;
  const extents = core.pageMap.extents.map(({ startPfn, pageCount }) => ({ startPfn, pageCount }));
  const noneExcluded = () => ({ free: 0, cache: 0, cache_private: 0, user: 0, hwpoison: 0, offline: 0 });
  const excluded = noneExcluded();
  const everything = (level: number, warnings: string[]): Exclusion => ({
    level, dumpable: extents, dumpablePages: core.pageMap.totalPages, excluded: noneExcluded(), warnings,
  });
  const rules = pageRulesFor(core.vmcoreinfo, asked);
  if (core.elf.machine !== EM_X86_64) {
    return everything(asked & DumpLevel.ZERO, [`dump level ${asked}: struct pages are only read on x86_64; keeping every page`]);
  }
  if (!needsPageScan(rules)) return everything(rules.level, rules.warnings);

  const memory: PhysicalMemory = { read: (phys, length) => source.readPhysical(Number(phys), length) };
  let sections;
  let translator: X86_64Translator;
  try {
    translator = X86_64Translator.fromVmcoreinfo(core.vmcoreinfo, core.physBase, memory);
    sections = locateMemMap(core.vmcoreinfo, translator, memory, core.pageMap.maxPfn, core.pageSize);
  } catch (error) {
    return everything(asked & DumpLevel.ZERO, [...rules.warnings, `dump level ${asked}: cannot find the struct pages (${(error as Error).message}); keeping every page`]);
  }

  const bitmap = Buffer.alloc(Math.ceil(core.pageMap.maxPfn / 8 / 8) * 8);
  fillBitmapWindow(bitmap, 0, extents);
  const size = rules.structPageSize;
  let blockVaddr = -1n;
  let block: Buffer | undefined;
  const structPage = (memMap: bigint, index: number): Buffer | undefined => {
    const vaddr = memMap + BigInt(index * size);
    const start = vaddr & ~BigInt(BLOCK - 1);
    if (start !== blockVaddr) {
      blockVaddr = start;
      const phys = translator.vtop(start);
      block = phys === undefined ? undefined : memory.read(phys, BLOCK);
    }
    const at = Number(vaddr - start);
    // SIZE(page) divides the block in every kernel we know; a struct page across blocks is not judged.
    return block && at + size <= BLOCK ? block.subarray(at, at + size) : undefined;
  };
  let unreadable = 0;
  /** Judges every in-core pfn of every section, clearing what the level leaves out. */
  const scan = () => {
    for (const section of sections) {
      for (let pfn = section.startPfn; pfn < section.endPfn;) {
        if (!isBitSet(bitmap, pfn)) {
          pfn++;
          continue;
        }
        const page = structPage(section.memMap, pfn - section.startPfn);
        if (!page) {
          unreadable++;
          pfn++;
          continue;
        }
        const next = pfn % MAKEDUMPFILE_BATCH !== MAKEDUMPFILE_BATCH - 1 && pfn + 1 < section.endPfn
          ? Buffer.from(structPage(section.memMap, pfn + 1 - section.startPfn) ?? Buffer.alloc(0))
          : undefined;
        // `next` may have moved the block cache; `page` stays valid as a view of the old block.
        const { verdict, pages } = judgePage(rules, pfn, page, next && next.length === size ? next : undefined);
        if (verdict === 'keep' || verdict === 'tail') {
          pfn++;
          continue;
        }
        excluded[verdict] += pages;
        for (let p = pfn; p < pfn + pages && p < core.pageMap.maxPfn; p++) bitmap[p >>> 3] &= ~(1 << (p & 7));
        pfn += pages;
      }
    }
  };
  try {
    scan();
  } catch (error) {
    // Whatever a damaged mem_map does to the rules, the dump still goes out whole.
    return everything(asked & DumpLevel.ZERO, [...rules.warnings, `dump level ${asked}: struct pages unreadable (${(error as Error).message}); keeping every page`]);
  }
  const warnings = [...rules.warnings];
  if (unreadable > 0) warnings.push(`${unreadable} struct pages were not in the dump; their pages are kept`);
  const { runs, pages } = runsOf(bitmap, extents);
  return { level: rules.level, dumpable: runs, dumpablePages: pages, excluded, warnings };
}
