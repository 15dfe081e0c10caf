/**
 * The first tier's struct-page part (sender/first-tier-scan.ts), marked by
 * the dump-level pass (computeExclusion) on a synthetic 6.1 kernel:
 * PG_reserved pages but the ones holding mem_map, and slab pages as whole
 * compound pages (the head's order, read from its first tail), nothing else,
 * at every level, also where the level reads no struct page; and
 * chooseFirstTier names them as parts.
 */
import { describe, expect, it } from 'vitest';
import { chooseFirstTier } from '../../sender/first-tier.js';
import { structPageMarker } from '../../sender/first-tier-scan.js';
import { computeExclusion } from '../../sender/dump-level/exclusion.js';
import { X86_64Translator } from '../../shared/elf/x86-64-translate.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';
import { PAGE_INFO_6_1, SYNTHETIC_PAGES, syntheticKernelCore, type StructPageSpec } from '../helpers/synthetic-kernel.js';

const RESERVED = 1n << 12n; // the bit below PG_private (13)
const SLAB = 1n << 9n;
const HEAD = 1n << 16n;
const LRU = 1n << 4n;
/** Where the synthetic kernel keeps its struct pages: pfns 512-767 (64 bytes per pfn, 16384 pfns). */
const MEM_MAP_PFNS = { from: 0x200, to: 0x200 + (SYNTHETIC_PAGES * 64) / 4096 };

function page(pfn: number): StructPageSpec | undefined {
  if (pfn >= 100 && pfn < 110) return { flags: RESERVED };
  if (pfn >= MEM_MAP_PFNS.from && pfn < MEM_MAP_PFNS.to) return { flags: RESERVED };
  if (pfn === 9000) return { flags: SLAB | HEAD };
  if (pfn === 9001) return { compoundHead: 0xffff_ea00_0023_2001n, order: 3 };
  if (pfn === 9100) return { flags: SLAB };
  if (pfn >= 9200 && pfn < 9300) return { flags: LRU };
  return undefined;
}

describe('first tier: reserved and slab pages from the struct pages', () => {
  const synthetic = useSyntheticCore(syntheticKernelCore({ page, nrFreePages: 0, pageInfo: PAGE_INFO_6_1 }));

  it('finds PG_reserved pages but those holding mem_map, and slab pages whole, at every level', () => {
    for (const level of [0, 1, 31]) {
      const found = computeExclusion(synthetic.source, level).structPageTier;
      expect(found, `level ${level}`).toBeDefined();
      expect(found!.reserved, `level ${level}`).toEqual([{ startPfn: 100, pageCount: 10 }]);
      // The order-3 slab at 9000 is eight pages; the order-0 one at 9100 one; LRU pages are no slab.
      expect(found!.slab, `level ${level}`).toEqual([{ startPfn: 9000, pageCount: 8 }, { startPfn: 9100, pageCount: 1 }]);
    }
  });

  it('says why when VMCOREINFO lacks what it needs', () => {
    const { core } = synthetic.source;
    const info = { ...core.vmcoreinfo, numbers: new Map([...core.vmcoreinfo.numbers].filter(([k]) => k !== 'PG_private')) };
    expect(structPageMarker(info)).toMatch(/VMCOREINFO lacks .*NUMBER\(PG_private\)/);
  });

  it('lists the pages a kernel virtual range maps, through 2 MiB leaves too, and none where nothing is mapped', () => {
    const { core } = synthetic.source;
    const memory = { read: (phys: bigint, length: number) => synthetic.source.readPhysical(Number(phys), length) };
    const translator = X86_64Translator.fromVmcoreinfo(core.vmcoreinfo, core.physBase, memory);
    // The synthetic kernel maps its struct pages (phys 0x200000) at 0xffffea0000000000 with one 2 MiB page.
    const vmemmap = 0xffff_ea00_0000_0000n;
    expect(translator.mappedPages(vmemmap + 0x1000n, vmemmap + 0x4000n)).toEqual([0x201000n, 0x202000n, 0x203000n]);
    for (const va of [vmemmap, vmemmap + 0x1f_f000n]) expect(translator.mappedPages(va, va + 0x1000n)).toEqual([translator.vtop(va)]);
    expect(translator.mappedPages(0xffff_ffff_c000_0000n, 0xffff_ffff_ff00_0000n)).toEqual([]);
  });

  it('chooseFirstTier counts them as parts of the tier, within the pages kept', () => {
    const { source } = synthetic;
    const everything = source.core.pageMap.extents;
    const { structPageTier } = computeExclusion(source, 1);
    const tier = chooseFirstTier(source, everything, [], structPageTier);
    expect(tier.parts).toMatchObject({ reserved: 10, slab: 9 });
    const inTier = (pfn: number) => tier.runs.some((r) => pfn >= r.startPfn && pfn < r.startPfn + r.pageCount);
    expect(inTier(9007)).toBe(true);
    expect(inTier(9250)).toBe(false);
    // A dump level that left the slab out leaves it out of the tier too.
    const withoutSlab = everything.flatMap((r) => (r.startPfn <= 9000 && r.startPfn + r.pageCount > 9008
      ? [{ startPfn: r.startPfn, pageCount: 9000 - r.startPfn }, { startPfn: 9008, pageCount: r.startPfn + r.pageCount - 9008 }] : [r]));
    expect(chooseFirstTier(source, withoutSlab, [], structPageTier).parts).toMatchObject({ slab: 1 });
    // Without the struct pages' marks the tier has no reserved or slab part.
    expect(chooseFirstTier(source, everything, []).parts).not.toHaveProperty('slab');
  });
});
