/**
 * The pfns a dump level keeps: the core's pages, less what the struct pages
 * say nobody needs (page-rules.ts). Reads mem_map once, for the present
 * sections and the pfns in the core only (64 bytes per 4 KiB page), never the
 * pages themselves. Anything it cannot read or trust lowers the level with a
 * warning instead of excluding a page wrongly.
 */
import type { PfnRun } from '../../shared/kdump/layout.js';
import { fillBitmapWindow } from '../../shared/kdump/layout.js';
import { locateMemMap, type MemMapSection } from '../../shared/elf/mem-map.js';
import { hasKernelTranslator, kernelTranslator, type KernelTranslator, type PhysicalMemory } from '../../shared/elf/translate.js';
import { DUMP_LEVEL_REPORT_LIMITS, type DumpLevelReport } from '../../shared/protocol/messages.js';
import type { VmcoreSource } from '../vmcore-source.js';
import { checkVerdicts } from './guard.js';
import type { KernelRead } from './kernel-counters.js';
import {
  DumpLevel, HOST_BIG_ENDIAN, LAST_KEPT, MARK_RESERVED, MARK_SLAB, needsPageScan, NO_MARKS, pageJudge, pageRulesFor, type JudgeFn, type PageJudge,
  SUSPECT_FREE, SUSPECT_USER, VERDICT_MASK, VERDICTS, type PageVerdict,
} from './page-rules.js';
import { memMapRuns, structPageMarker, type StructPageMarker, type StructPageTier } from '../first-tier-scan.js';

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
  /**
   * The first tier's struct-page part (PG_reserved and slab pages, first-tier-scan.ts),
   * marked by the same pass over mem_map; absent where mem_map could not be read.
   */
  structPageTier?: StructPageTier;
}

/** Struct pages are judged where one 4 KiB virtual page holds them whole (see StructPages). */
const PAGE = 4096;
/** mem_map bytes read at once, into one buffer reused for the whole scan: 16 windows per GiB of memory. */
const WINDOW = 1 << 20;
/** makedumpfile reads struct pages in batches of 512 and never looks past one for a compound page's order. */
const MAKEDUMPFILE_BATCH = 512;

/*
 * Every operation runs: the scan below judges one struct page per 4 KiB of
 * memory, and on a small machine most of it runs before V8 has optimized
 * it. V8 compiles a hot function from the type feedback its operations have
 * recorded so far; one that had not yet run when it compiled (a branch the
 * first pages never took) throws the compiled code away the first time it
 * runs, and compiling again costs as much as scanning a few hundred MiB.
 * So the hot functions work out both ways of a rare branch and pick one,
 * rather than compute inside the branch.
 */

/**
 * The first pfn in [from, to) whose bit is `bit`, or `to`; whole bytes of the
 * other value at a time (a byte is flipped so the bits looked for read as 1).
 */
function nextWith(bit: 0 | 1, bitmap: Buffer, from: number, to: number): number {
  const flip = bit === 1 ? 0 : 0xff;
  let pfn = from;
  while (pfn < to) {
    const bits = (bitmap[pfn >>> 3] ^ flip) >>> (pfn & 7);
    const found = pfn + 31 - Math.clz32(bits & -bits);
    const skip = pfn + 8 - (pfn & 7);
    if (bits !== 0) return found < to ? found : to;
    pfn = skip;
  }
  return to;
}

/**
 * Clears the bits of [from, to), from < to: the first and last bytes by
 * mask (the same byte when they are one: clearing twice is harmless), whole
 * bytes between; the same operations whatever the range.
 */
function clearBits(bitmap: Buffer, from: number, to: number): void {
  const first = from >>> 3;
  const last = (to - 1) >>> 3;
  const head = (0xff << (from & 7)) & 0xff;
  const tail = 0xff >>> (7 - ((to - 1) & 7));
  const one = first === last;
  bitmap[first] &= ~(head & (one ? tail : 0xff));
  for (let i = first + 1; i < last; i++) bitmap[i] = 0;
  bitmap[last] &= ~(tail & (one ? head : 0xff));
}

function runsOf(bitmap: Buffer, extents: readonly PfnRun[]): { runs: PfnRun[]; pages: number } {
  const runs: PfnRun[] = [];
  let pages = 0;
  for (const extent of extents) {
    const end = extent.startPfn + extent.pageCount;
    for (let pfn = nextWith(1, bitmap, extent.startPfn, end); pfn < end;) {
      const stop = nextWith(0, bitmap, pfn, end);
      runs.push({ startPfn: pfn, pageCount: stop - pfn });
      pages += stop - pfn;
      pfn = nextWith(1, bitmap, stop, end);
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

/**
 * The struct pages of a core's sections, read through the kernel's page
 * tables in windows of up to WINDOW bytes: vmemmap is virtually contiguous
 * and mapped by 2 MiB pages, so a window is one table walk per mapping page
 * and one pread, as far as consecutive mappings stay physically contiguous,
 * and no further than the core's extent and the section (it reads the
 * struct pages of in-core pfns only, rounded out to 4 KiB). A struct page
 * that crosses a 4 KiB virtual page is not judged (SIZE(page) divides 4 KiB
 * in every kernel we know), nor one in an unmapped 4 KiB page: both count as
 * unreadable, as when mem_map was read one 4 KiB page at a time.
 *
 * scanBatch reads the window's bounds itself: offsets are bytes past the
 * 4 KiB page below the section's mem_map, the struct page of the section's
 * pfn `startPfn + i` at `lead + i * size`.
 */
class StructPages {
  /** The window, then SIZE(page) spare bytes for a lookahead page outside it, as 32-bit words (the judge reads those). */
  readonly words: Int32Array;
  private readonly bytes: Buffer;
  /** The section's mem_map, as how far past the 4 KiB page `base` below it it starts. */
  lead = 0;
  /** Whether a struct page of the section can cross a 4 KiB page (never, for a size dividing 4 KiB). */
  straddles = false;
  private base = 0n;
  private startPfn = 0;
  private endPfn = 0;
  /** The window: offsets [from, to); not `mapped` for a 4 KiB page the tables do not map. */
  from = 0;
  to = 0;
  mapped = false;
  /**
   * The word where the struct page right after the window (at offset `to`) is, read with it into the
   * spare bytes, or -1 when it cannot be read: a lookahead never needs a read of its own.
   */
  spare = -1;

  constructor(
    private readonly translator: KernelTranslator,
    private readonly readInto: (phys: number, into: Buffer) => void,
    private readonly size: number,
    private readonly extents: readonly PfnRun[],
  ) {
    // The judge has refused a SIZE(page) that is not whole words, so mem_map (section_mem_map's low bits are flags, cleared) starts on a word.
    this.bytes = Buffer.alloc(WINDOW + size);
    this.words = new Int32Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length >>> 2);
  }

  enter(section: MemMapSection): void {
    this.lead = Number(section.memMap & BigInt(PAGE - 1));
    this.base = section.memMap - BigInt(this.lead);
    this.startPfn = section.startPfn;
    this.endPfn = section.endPfn;
    this.straddles = PAGE % this.size !== 0 || this.lead % this.size !== 0;
    this.from = this.to = 0;
    this.mapped = false;
    this.spare = -1;
  }

  /** Whether the struct page at offset `at` crosses a 4 KiB page. */
  crosses(at: number): boolean {
    return this.straddles && (at % PAGE) + this.size > PAGE;
  }

  /** Makes the window hold the struct page at offset `at` (the section's pfn `pfn`), or the unmapped 4 KiB page it is in. */
  load(at: number, pfn: number): void {
    const from = at - (at % PAGE);
    this.from = from;
    const first = this.translator.mapping(this.base + BigInt(from));
    if (!first) {
      this.to = from + PAGE;
      this.mapped = false;
      return;
    }
    const last = Math.min(this.endPfn, this.extentEnd(pfn));
    const limit = Math.ceil((this.lead + (last - this.startPfn) * this.size) / PAGE) * PAGE;
    const phys = Number(first.phys);
    let length = Math.min(first.bytes, WINDOW, limit - from);
    while (length < WINDOW && from + length < limit) {
      const more = this.translator.mapping(this.base + BigInt(from + length));
      if (!more || Number(more.phys) !== phys + length) break;
      length = Math.min(length + more.bytes, WINDOW, limit - from);
    }
    this.read(phys, 0, length);
    this.to = from + length;
    this.mapped = true;
    this.spare = this.straddles ? -1 : this.readSpare(this.to);
  }

  /**
   * The word where the lookahead struct page at offset `at` is, -1 when it cannot be read: in the window,
   * or read alone into the spare bytes. scanBatch needs it only where struct pages can cross 4 KiB pages.
   */
  next(at: number): number {
    if (this.crosses(at)) return -1;
    if (at >= this.from && at + this.size <= this.to) return this.mapped ? (at - this.from) / 4 : -1;
    return this.readSpare(at);
  }

  private readSpare(at: number): number {
    const page = this.translator.mapping(this.base + BigInt(at - (at % PAGE)));
    if (!page) return -1;
    this.read(Number(page.phys) + (at % PAGE), WINDOW, this.size);
    return WINDOW / 4;
  }

  private read(phys: number, offset: number, length: number): void {
    const into = this.bytes.subarray(offset, offset + length);
    this.readInto(phys, into);
    if (HOST_BIG_ENDIAN) into.swap32();
  }

  /** One past the last pfn of the core's extent holding `pfn` (pfn + 1 if none does). */
  private extentEnd(pfn: number): number {
    let lo = 0;
    let hi = this.extents.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.extents[mid].startPfn + this.extents[mid].pageCount <= pfn) lo = mid + 1;
      else hi = mid;
    }
    const extent = this.extents[lo];
    return extent && extent.startPfn <= pfn ? extent.startPfn + extent.pageCount : pfn + 1;
  }
}

/** Where scanBatch's tally counts SUSPECT_FREE and SUSPECT_USER keeps and unreadable struct pages, after the pfns cleared per verdict code. */
const SUSPECT_FREE_AT = 8;
const SUSPECT_USER_AT = 9;
const UNREADABLE_AT = 10;

/**
 * Judges every in-core pfn of every section by `pageJudge`, clearing in
 * `bitmap` (refilled from the core's extents first) what the level leaves
 * out, and hands the pfns the judge marked for the first tier to `marker`.
 */
function scanPages(
  pageJudge: PageJudge, marker: StructPageMarker, sections: MemMapSection[], pages: StructPages, extents: readonly PfnRun[], maxPfn: number, bitmap: Buffer,
): Scan {
  fillBitmapWindow(bitmap, 0, extents);
  const { judge, result, words: sizeWords } = pageJudge;
  // Summed in the order one counter per verdict would be.
  const tally = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  // The batch's first-tier marks (pfn, code, pages), handed to the marker after it: a call from scanBatch
  // would be inlined into it, and compiling scanBatch with it cost as much as the marks save.
  const marks = new Float64Array(1 + 3 * MAKEDUMPFILE_BATCH);
  marks[0] = 1;
  for (let s = 0; s < sections.length; s++) {
    const { startPfn, endPfn } = sections[s];
    pages.enter(sections[s]);
    for (let pfn = startPfn; pfn < endPfn;) {
      const batchEnd = Math.min(endPfn, pfn - (pfn % MAKEDUMPFILE_BATCH) + MAKEDUMPFILE_BATCH);
      pfn = scanBatch(judge, result, sizeWords, marks, pages, startPfn, pfn, batchEnd, maxPfn, bitmap, tally);
      for (let m = 1; m < marks[0]; m += 3) marker.mark(marks[m], marks[m + 1], marks[m + 2]);
      marks[0] = 1;
    }
  }
  const excluded = noneExcluded();
  for (const key of Object.keys(excluded) as (keyof Excluded)[]) excluded[key] = tally[VERDICTS.indexOf(key)];
  return { bitmap, excluded, suspect: { free: tally[SUSPECT_FREE_AT], user: tally[SUSPECT_USER_AT] }, unreadable: tally[UNREADABLE_AT] };
}

/**
 * The pfns from `first` up to `batchEnd` (the end of its makedumpfile batch
 * or of the section) of the section entered in `pages`, whose first pfn is
 * `startPfn`: the loop that runs once per in-core pfn.
 * Returns the pfn to go on from (a verdict may cover pfns past batchEnd).
 *
 * Most of a scan runs before V8 has optimized anything, so the common cases
 * are inline, in locals. And it is called once per makedumpfile batch of 512
 * pfns rather than looping over a whole section: V8 then compiles it once,
 * as a hot function, with type feedback from many calls; one long call would
 * be compiled mid-loop as well (twice the compile work), from feedback that
 * lacks whatever that call ran before V8 began recording.
 */
function scanBatch(
  judge: JudgeFn, result: { pages: number }, sizeWords: number, marks: Float64Array, pages: StructPages,
  startPfn: number, first: number, batchEnd: number, maxPfn: number, bitmap: Buffer, tally: number[],
): number {
  const words = pages.words;
  const lead = pages.lead;
  const straddles = pages.straddles;
  const size = sizeWords * 4;
  let from = pages.from;
  let to = pages.to;
  let mapped = pages.mapped;
  let spare = pages.spare;
  // Bits ahead of pfn are never cleared before pfn gets there (a verdict clears from its own pfn on), so
  // [pfn, runEnd) stays set once found: one compare per pfn instead of a bitmap lookup.
  let runEnd = first;
  let pfn = first;
  while (pfn < batchEnd) {
    if (pfn >= runEnd) {
      pfn = nextWith(1, bitmap, pfn, batchEnd);
      if (pfn >= batchEnd) break;
      runEnd = nextWith(0, bitmap, pfn, batchEnd);
    }
    const offset = lead + (pfn - startPfn) * size;
    const crosses = straddles && pages.crosses(offset);
    // Pfns only grow within a section: the window is behind a struct page only when it ends before it.
    if (offset + size > to && !crosses) {
      pages.load(offset, pfn);
      from = pages.from;
      to = pages.to;
      mapped = pages.mapped;
      spare = pages.spare;
    }
    if (!mapped || crosses) {
      tally[UNREADABLE_AT]++;
      pfn++;
      continue;
    }
    const at = (offset - from) >> 2;
    // The batch is makedumpfile's, cut at the section's end: the last pfn of either has no lookahead.
    let next = -1;
    if (pfn + 1 < batchEnd) next = straddles ? pages.next(offset + size) : offset + 2 * size <= to ? at + sizeWords : spare;
    const code = judge(pfn, words, at, next);
    if (code <= LAST_KEPT) {
      pfn++;
    } else if ((code & VERDICT_MASK) <= LAST_KEPT) {
      if (code & SUSPECT_FREE) tally[SUSPECT_FREE_AT]++;
      if (code & SUSPECT_USER) tally[SUSPECT_USER_AT]++;
      if (code & (MARK_RESERVED | MARK_SLAB)) {
        const m = marks[0];
        marks[m] = pfn;
        marks[m + 1] = code;
        marks[m + 2] = result.pages;
        marks[0] = m + 3;
      }
      pfn++;
    } else {
      const count = result.pages;
      tally[code & VERDICT_MASK] += count;
      clearBits(bitmap, pfn, Math.min(pfn + count, maxPfn));
      pfn += count;
    }
  }
  return pfn;
}

/**
 * Reads kernel memory for the guard through the 4 KiB pages it last read,
 * each translated and read once: kernel-counters.ts reads node_data[] one
 * pointer at a time (1024 of them on Debian's kernels), each a table walk
 * and a pread otherwise. Views of a page stay valid: a page dropped from the
 * cache is never reused.
 */
function kernelReader(translator: KernelTranslator, memory: PhysicalMemory): KernelRead {
  const pages = new Map<bigint, Buffer | undefined>();
  return (vaddr, length) => {
    const va = BigInt.asUintN(64, vaddr);
    const page = va & ~BigInt(PAGE - 1);
    const at = Number(va - page);
    if (at + length > PAGE) {
      const phys = translator.vtop(va);
      return phys === undefined ? undefined : memory.read(phys, length);
    }
    if (!pages.has(page)) {
      const phys = translator.vtop(page);
      if (pages.size >= 16) pages.delete(pages.keys().next().value!);
      pages.set(page, phys === undefined ? undefined : memory.read(phys, PAGE));
    }
    return pages.get(page)?.subarray(at, at + length);
  };
}

/** Marks nothing: for cores whose struct pages the first tier cannot read. */
const UNMARKED: StructPageMarker = { test: NO_MARKS, mark: () => {}, tier: () => ({ reserved: [], slab: [] }) };

export function computeExclusion(source: VmcoreSource, asked: number): Exclusion {
  const { core } = source;
  const extents = core.pageMap.extents.map(({ startPfn, pageCount }) => ({ startPfn, pageCount }));
  const rules = pageRulesFor(core.vmcoreinfo, asked);
  const everything = (level: number, generation: string, warnings: string[]): Exclusion => ({
    asked, level, generation, dumpable: extents, dumpablePages: core.pageMap.totalPages, excluded: noneExcluded(), warnings,
  });
  if (!hasKernelTranslator(core.elf.machine)) {
    return everything(asked & DumpLevel.ZERO, '', [`dump level ${asked}: struct pages are only read on x86_64 and aarch64, this core is ${core.machine}; keeping every page`]);
  }
  const judged = needsPageScan(rules);
  const found = structPageMarker(core.vmcoreinfo);
  const marker = typeof found === 'string' ? undefined : found;
  // Nothing to judge: mem_map is still read once for the first tier, by a judge that keeps every page.
  if (!judged && (!marker || !(rules.structPageSize > 0))) return everything(rules.level, '', rules.warnings);
  // What the level does when mem_map cannot be read: judged, it falls to zero pages alone; not judged, it stands.
  const unjudged = (warning: string): Exclusion => (judged
    ? everything(asked & DumpLevel.ZERO, '', [...rules.warnings, warning])
    : everything(rules.level, '', rules.warnings));

  const memory: PhysicalMemory = { read: (phys, length) => source.readPhysical(Number(phys), length) };
  let sections: MemMapSection[];
  let translator: KernelTranslator;
  try {
    translator = kernelTranslator(core, memory);
    sections = locateMemMap(core.vmcoreinfo, translator, memory, core.pageMap.maxPfn, core.pageSize);
  } catch (error) {
    return unjudged(`dump level ${asked}: cannot find the struct pages (${(error as Error).message}); keeping every page`);
  }
  const readKernel = kernelReader(translator, memory);
  const warnings = [...rules.warnings];
  let scan: Scan;
  let tierMarks = marker ?? UNMARKED;
  try {
    // One bit per pfn (32 MiB for 1 TiB): the second pass, if any, reuses it.
    const bitmap = Buffer.alloc(Math.ceil(core.pageMap.maxPfn / 8 / 8) * 8);
    const structPages = new StructPages(translator, (phys, into) => source.readPhysicalInto(phys, into), rules.structPageSize, extents);
    // Not judged, the rules' level reads no bit of a struct page and needsPageScan found no hwpoison or offline
    // rule to apply: the judge keeps every page and marks the first tier's.
    scan = scanPages(pageJudge(rules, tierMarks.test), tierMarks, sections, structPages, extents, core.pageMap.maxPfn, bitmap);
    if (judged) {
      const guard = checkVerdicts(core.vmcoreinfo, readKernel, rules.level, { excluded: scan.excluded, suspect: scan.suspect }, core.nrCpus);
      warnings.push(...guard.notes);
      if (guard.drop) {
        // A bit the guard distrusts is judged again without it; the other bits keep their verdicts. The marks start over with it.
        rules.level &= ~guard.drop;
        const again = structPageMarker(core.vmcoreinfo);
        tierMarks = typeof again === 'string' ? UNMARKED : again;
        scan = scanPages(pageJudge(rules, tierMarks.test), tierMarks, sections, structPages, extents, core.pageMap.maxPfn, bitmap);
      }
    }
  } catch (error) {
    // Whatever a damaged mem_map does to the rules, the dump still goes out whole.
    return judged
      ? everything(asked & DumpLevel.ZERO, '', [...warnings, `dump level ${asked}: struct pages unreadable (${(error as Error).message}); keeping every page`])
      : everything(rules.level, '', rules.warnings);
  }
  const structPageTier = marker ? tierMarks.tier(memMapRuns(sections, rules.structPageSize, (va) => translator.mapping(va))) : undefined;
  if (!judged) return { ...everything(rules.level, '', rules.warnings), structPageTier };
  if (scan.unreadable > 0) warnings.push(`${scan.unreadable} struct pages were not in the dump; their pages are kept`);
  const { runs, pages } = runsOf(scan.bitmap, extents);
  return { asked, level: rules.level, generation: rules.generation, dumpable: runs, dumpablePages: pages, excluded: scan.excluded, warnings, structPageTier };
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
