/**
 * Which pages go first (HELLO firstTier, shared/protocol/send-order.ts): the
 * ones crash reads to open the dump and answer sys, bt, ps and log, so that a
 * dump cut off after them is still one crash opens. Found from what the
 * sender has without debuginfo (x86_64; other machines send in pfn order):
 *
 *   kernel image   the PT_LOAD of the kernel-text mapping: text, data, bss
 *                  (init_task, the static per-cpu data, kernel page tables'
 *                  roots, the static log buffer)
 *   page tables    every table page mapping the kernel half of the address
 *                  space, from init_top_pgt: crash translates vmalloc'ed
 *                  stacks, the direct map and vmemmap through them
 *   kernel log     the pages the log extraction read (the printk ring may be
 *                  a memblock allocation outside the image)
 *   cpu stacks     the 16 KiB stack around each CPU's saved stack pointer
 *                  (NT_PRSTATUS): the panicking task's frames for bt
 *   modules        every page the module area maps: struct module and the
 *                  modules' symbols, which crash reads at start-up
 *   reserved, slab from the struct pages (first-tier-scan.ts), marked by the
 *                  dump-level pass as it reads mem_map: the per-cpu areas
 *                  and other boot allocations; the slab caches of tasks,
 *                  pids and the structures that index them
 *
 * With these, crash answers sys, bt, ps and log on a dump of the first tier
 * alone as on the whole core (test/real/partial-dumps.test.ts).
 * Only pages the dump keeps count (the dump level may have left some out).
 */
import { EM_X86_64, NT_PRSTATUS, parseNotes, PT_LOAD } from '../shared/elf/core.js';
import { X86_64Translator, X86_64_START_KERNEL_MAP } from '../shared/elf/x86-64-translate.js';
import type { PfnRun } from '../shared/kdump/layout.js';
import type { VmcoreSource } from './vmcore-source.js';
import type { StructPageTier } from './first-tier-scan.js';
import { intersectRuns, mergeRuns, toRuns } from './pfn-run-sets.js';

/** x86_64's module area (MODULES_VADDR to MODULES_END, the same with KASLR): above the kernel image's 1 GiB. */
const X86_64_MODULES_VADDR = 0xffff_ffff_c000_0000n;
const X86_64_MODULES_END = 0xffff_ffff_ff00_0000n;
/** x86_64 THREAD_SIZE (16 KiB without KASAN), and the alignment of kernel stacks. */
const STACK_BYTES = 16 * 1024;
/** Offset of pr_reg in struct elf_prstatus (x86_64), and of rsp in user_regs_struct. */
const PR_REG_OFFSET = 112;
const RSP_INDEX = 19;

export interface FirstTier {
  /** Sorted, merged runs of kept pfns. */
  runs: PfnRun[];
  pages: number;
  /** Pages per reason, before merging (a page can have several reasons). */
  parts: Record<string, number>;
}

/**
 * The first tier of `source`, within `kept` (the pfns the dump level keeps).
 * `logPfns`: the pages the kernel-log extraction read; `structPageTier`: what
 * the dump-level pass marked (Exclusion.structPageTier), absent when it could not.
 */
export function chooseFirstTier(
  source: VmcoreSource, kept: readonly PfnRun[], logPfns: readonly number[], structPageTier?: StructPageTier,
): FirstTier {
  const { core } = source;
  if (core.elf.machine !== EM_X86_64) return { runs: [], pages: 0, parts: {} };
  const pageSize = core.pageSize;
  const parts: Record<string, PfnRun[]> = {};

  // The kernel image: the PT_LOAD of the kernel-text mapping.
  const image: PfnRun[] = [];
  for (const ph of core.programHeaders) {
    if (ph.type !== PT_LOAD || ph.vaddr < X86_64_START_KERNEL_MAP || ph.filesz === 0) continue;
    const first = Math.floor(ph.paddr / pageSize);
    const end = Math.ceil((ph.paddr + ph.filesz) / pageSize);
    image.push({ startPfn: first, pageCount: end - first });
  }
  parts['kernel image'] = mergeRuns([image]);

  const memory = { read: (phys: bigint, length: number) => source.readPhysical(Number(phys), length) };
  let translator: X86_64Translator | undefined;
  try {
    translator = X86_64Translator.fromVmcoreinfo(core.vmcoreinfo, core.physBase, memory);
  } catch {
    translator = undefined; // no init_top_pgt: no tables to send, no stacks to find
  }
  if (translator) {
    parts['page tables'] = toRuns(translator.kernelTablePages().map((phys) => Number(phys / BigInt(pageSize))));
    const stacks: number[] = [];
    for (const note of parseNotes(source.notes)) {
      if (note.name !== 'CORE' || note.type !== NT_PRSTATUS || note.desc.length < PR_REG_OFFSET + (RSP_INDEX + 1) * 8) continue;
      const rsp = note.desc.readBigUInt64LE(PR_REG_OFFSET + RSP_INDEX * 8);
      const base = rsp & ~BigInt(STACK_BYTES - 1);
      for (let at = 0; at < STACK_BYTES; at += pageSize) {
        const phys = translator.vtop(base + BigInt(at));
        if (phys !== undefined) stacks.push(Number(phys / BigInt(pageSize)));
      }
    }
    parts['cpu stacks'] = toRuns(stacks);
    // Module memory (struct module, its symbols and sections): crash reads every module at start-up.
    parts['modules'] = toRuns(translator.mappedPages(X86_64_MODULES_VADDR, X86_64_MODULES_END).map((phys) => Number(phys / BigInt(pageSize))));
  }
  if (structPageTier) {
    parts.reserved = structPageTier.reserved;
    parts.slab = structPageTier.slab;
  }
  parts['kernel log'] = toRuns([...logPfns]);

  const keptParts = Object.fromEntries(Object.entries(parts).map(([why, runs]) => [why, intersectRuns(runs, kept)]));
  const runs = mergeRuns(Object.values(keptParts));
  const count = (rs: readonly PfnRun[]) => rs.reduce((n, r) => n + r.pageCount, 0);
  return { runs, pages: count(runs), parts: Object.fromEntries(Object.entries(keptParts).map(([why, rs]) => [why, count(rs)])) };
}
