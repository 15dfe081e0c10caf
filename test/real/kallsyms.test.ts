/**
 * The kallsyms reader (shared/elf/kallsyms.ts) on Debian's real kernels: on
 * each x86_64 generation, built with CONFIG_KALLSYMS_ALL, it finds the data
 * symbols VMCOREINFO also names at the addresses VMCOREINFO gives, whichever
 * offset convention that kernel uses (absolute-percpu before 6.15,
 * place-relative from 7.0); on Debian's arm64 6.1, built without it, it says
 * the table lists functions only; on 5.10, whose VMCOREINFO does not point
 * at kallsyms, it says that.
 */
import { describe, expect, it } from 'vitest';
import { lookupKernelSymbols, type KernelMemoryRead } from '../../shared/elf/kallsyms.js';
import { kernelTranslator } from '../../shared/elf/translate.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { arm64Fixtures } from '../helpers/arm64-fixtures.js';
import { GENERATION_NAMES, fixturesMissing, generation } from '../helpers/real-fixtures.js';

/** Symbols both VMCOREINFO and a KALLSYMS_ALL kallsyms hold, as addresses of the symbol itself. */
const COMPARED = ['node_data', 'init_uts_ns', 'init_top_pgt', 'prb'];

function kernelRead(source: VmcoreSource): KernelMemoryRead {
  const translator = kernelTranslator(source.core, { read: (phys, length) => source.readPhysical(Number(phys), length) });
  return (vaddr, length) => {
    const phys = translator.vtop(vaddr);
    return phys === undefined ? undefined : source.readPhysical(Number(phys), length);
  };
}

for (const name of GENERATION_NAMES) {
  const why = fixturesMissing(name);
  describe.skipIf(why !== '')(`kallsyms of ${name} (${generation(name)?.kver ?? why})`, () => {
    it('holds the data symbols VMCOREINFO names, at the same addresses (or, before 6.0, is not in VMCOREINFO)', () => {
      const source = VmcoreSource.open(generation(name)!.vmcores.busy!);
      try {
        const info = source.core.vmcoreinfo;
        const named = COMPARED.filter((symbol) => info.symbols.has(symbol));
        expect(named).toContain('init_uts_ns');
        const found = lookupKernelSymbols(info, kernelRead(source), named);
        if (!info.symbols.has('kallsyms_names')) {
          // Before 6.0 VMCOREINFO does not point at kallsyms (5.10): refused, saying what is missing.
          expect(found).toMatch(/^VMCOREINFO has no SYMBOL\(kallsyms_names\)/);
          return;
        }
        if (typeof found === 'string') throw new Error(found);
        expect(found.holdsData).toBe(true);
        expect(found.numSyms).toBeGreaterThan(50_000);
        expect(Object.fromEntries([...found.symbols].map(([symbol, { address }]) => [symbol, address])))
          .toEqual(Object.fromEntries(named.map((symbol) => [symbol, info.symbols.get(symbol)])));
      } finally {
        source.close();
      }
    });
  });
}

const arm64 = arm64Fixtures();
describe.skipIf(typeof arm64 === 'string')(`kallsyms of arm64 ${typeof arm64 === 'string' ? arm64 : arm64.kver}`, () => {
  it('lists functions only (no CONFIG_KALLSYMS_ALL): no node_data, and it says so without a walk', () => {
    if (typeof arm64 === 'string') return;
    const source = VmcoreSource.open(arm64.vmcores.busy);
    try {
      const found = lookupKernelSymbols(source.core.vmcoreinfo, kernelRead(source), ['node_data'], { dataOnly: true });
      if (typeof found === 'string') throw new Error(found);
      expect(found).toMatchObject({ holdsData: false, convention: 'base-relative', ambiguous: [] });
      expect(found.symbols.size).toBe(0);
      expect(found.numSyms).toBeGreaterThan(40_000);
    } finally {
      source.close();
    }
  });
});
