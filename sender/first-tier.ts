/**
 * Which pages go first (HELLO firstTier, shared/protocol/send-order.ts): the
 * ones crash reads to open the dump and answer sys, bt, ps and log, so that a
 * dump cut off after them is still one crash opens. Found from what the
 * sender has without debuginfo (x86_64 and aarch64; other machines send in
 * pfn order):
 *
 *   kernel image   the PT_LOAD of the kernel-text mapping: text, data, bss
 *                  (init_task, the static per-cpu data, kernel page tables'
 *                  roots, the static log buffer)
 *   page tables    every table page mapping the kernel's addresses, from
 *                  init_top_pgt (x86_64) or swapper_pg_dir (aarch64): crash
 *                  and drgn translate vmalloc'ed stacks, the direct map and
 *                  vmemmap through them
 *   kernel log     the pages the log extraction read (the printk ring may be
 *                  a memblock allocation outside the image)
 *   cpu stacks     the 16 KiB stack around each CPU's saved stack pointer
 *                  (NT_PRSTATUS): the panicking task's frames for bt
 *   modules        every page the module area maps: struct module and the
 *                  modules' symbols, which crash reads at start-up. On
 *                  aarch64 a randomized kernel puts the 128 MiB module area
 *                  anywhere in the 2 GiB below the image's end
 *                  (RANDOMIZE_MODULE_REGION_FULL, where module_alloc_base is
 *                  not in VMCOREINFO): that window is sent whole, with
 *                  VMCOREINFO's MODULES_VADDR..MODULES_END
 *   reserved, slab from the struct pages (first-tier-scan.ts), marked by the
 *                  dump-level pass as it reads mem_map: the per-cpu areas
 *                  and other boot allocations; the slab caches of tasks,
 *                  pids and the structures that index them
 *
 * With these, crash answers sys, bt, ps and log on a dump of the first tier
 * alone as on the whole core (test/real/partial-dumps.test.ts).
 * Only pages the dump keeps count (the dump level may have left some out).
 */
import { EM_AARCH64, EM_X86_64, NT_PRSTATUS, parseNotes, PT_LOAD, type ProgramHeader } from '../shared/elf/core.js';
import type { CoreDescription } from '../shared/elf/core-description.js';
import { kernelTranslator, type KernelTranslator } from '../shared/elf/translate.js';
import { X86_64_START_KERNEL_MAP } from '../shared/elf/x86-64-translate.js';
import type { PfnRun } from '../shared/kdump/layout.js';
import type { VmcoreSource } from './vmcore-source.js';
import type { StructPageTier } from './first-tier-scan.js';
import { intersectRuns, mergeRuns, toRuns } from './pfn-run-sets.js';

/** x86_64's module area (MODULES_VADDR to MODULES_END, the same with KASLR): above the kernel image's 1 GiB. */
const X86_64_MODULES_VADDR = 0xffff_ffff_c000_0000n;
const X86_64_MODULES_END = 0xffff_ffff_ff00_0000n;
/** THREAD_SIZE of x86_64 and arm64 (16 KiB without KASAN), and the alignment of kernel stacks. */
const STACK_BYTES = 16 * 1024;
/** Offset of pr_reg in struct elf_prstatus (the same on both 64-bit architectures). */
const PR_REG_OFFSET = 112;
/** arm64: how far below the image's end a randomized module area may start (arch/arm64/kernel/kaslr.c). */
const ARM64_MODULE_WINDOW = 2n << 30n;

/** What the first tier needs to know of an architecture. */
interface TierLayout {
  /** Whether a PT_LOAD maps the kernel image (rather than the linear map). */
  isImage(ph: ProgramHeader): boolean;
  /** Virtual ranges where modules live, [from, to); `image` is the image PT_LOADs' virtual range. */
  moduleRanges(image: { from: bigint; to: bigint } | undefined): { from: bigint; to: bigint }[];
  /** Where the saved stack pointer is in an NT_PRSTATUS note's desc. */
  stackPointerAt: number;
}

function tierLayout(core: CoreDescription): TierLayout | undefined {
  switch (core.elf.machine) {
    case EM_X86_64: return {
      isImage: (ph) => ph.vaddr >= X86_64_START_KERNEL_MAP,
      moduleRanges: () => [{ from: X86_64_MODULES_VADDR, to: X86_64_MODULES_END }],
      stackPointerAt: PR_REG_OFFSET + 19 * 8, // rsp in user_regs_struct
    };
    case EM_AARCH64: {
      const voffset = core.vmcoreinfo.numbers.get('kimage_voffset');
      const modulesFrom = core.vmcoreinfo.numbers.get('MODULES_VADDR');
      const modulesTo = core.vmcoreinfo.numbers.get('MODULES_END');
      return {
        // The image is mapped at its physical address plus kimage_voffset; the linear map is not.
        isImage: (ph) => voffset !== undefined && BigInt.asUintN(64, ph.vaddr - BigInt.asUintN(64, voffset)) === BigInt(ph.paddr),
        moduleRanges: (image) => [
          ...(modulesFrom !== undefined && modulesTo !== undefined ? [{ from: BigInt.asUintN(64, modulesFrom), to: BigInt.asUintN(64, modulesTo) }] : []),
          ...(image ? [{ from: image.to - ARM64_MODULE_WINDOW, to: image.from }] : []),
        ],
        stackPointerAt: PR_REG_OFFSET + 31 * 8, // sp after x0-x30 in user_pt_regs
      };
    }
    default: return undefined;
  }
}

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
  const layout = tierLayout(core);
  if (!layout) return { runs: [], pages: 0, parts: {} };
  const pageSize = core.pageSize;
  const parts: Record<string, PfnRun[]> = {};

  // The kernel image: the PT_LOAD of the kernel-text mapping.
  const image: PfnRun[] = [];
  let imageRange: { from: bigint; to: bigint } | undefined;
  for (const ph of core.programHeaders) {
    if (ph.type !== PT_LOAD || ph.filesz === 0 || !layout.isImage(ph)) continue;
    const first = Math.floor(ph.paddr / pageSize);
    const end = Math.ceil((ph.paddr + ph.filesz) / pageSize);
    image.push({ startPfn: first, pageCount: end - first });
    const to = ph.vaddr + BigInt(ph.memsz);
    imageRange = { from: imageRange && imageRange.from < ph.vaddr ? imageRange.from : ph.vaddr, to: imageRange && imageRange.to > to ? imageRange.to : to };
  }
  parts['kernel image'] = mergeRuns([image]);

  const memory = { read: (phys: bigint, length: number) => source.readPhysical(Number(phys), length) };
  let translator: KernelTranslator | undefined;
  try {
    translator = kernelTranslator(core, memory);
  } catch {
    translator = undefined; // no top table in VMCOREINFO: no tables to send, no stacks to find
  }
  if (translator) {
    const pfnOf = (phys: bigint) => Number(phys / BigInt(pageSize));
    parts['page tables'] = toRuns(translator.kernelTablePages().map(pfnOf));
    const stacks: number[] = [];
    for (const note of parseNotes(source.notes)) {
      if (note.name !== 'CORE' || note.type !== NT_PRSTATUS || note.desc.length < layout.stackPointerAt + 8) continue;
      const sp = note.desc.readBigUInt64LE(layout.stackPointerAt);
      const base = sp & ~BigInt(STACK_BYTES - 1);
      for (let at = 0; at < STACK_BYTES; at += pageSize) {
        const phys = translator.vtop(base + BigInt(at));
        if (phys !== undefined) stacks.push(pfnOf(phys));
      }
    }
    parts['cpu stacks'] = toRuns(stacks);
    // Module memory (struct module, its symbols and sections): crash reads every module at start-up.
    const modules = layout.moduleRanges(imageRange).flatMap(({ from, to }) => translator!.mappedPages(from, to).map(pfnOf));
    parts['modules'] = toRuns(modules);
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
