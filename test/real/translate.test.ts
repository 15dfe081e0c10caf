/**
 * The page-table walk against ground truth: in an ELF vmcore every PT_LOAD
 * also says which kernel virtual address maps its physical range (the
 * KASLR-randomised direct map and the kernel image), so walking the crashed
 * kernel's own tables must land on the same bytes.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PT_LOAD } from '../../shared/elf/core.js';
import { decodeUtsname, UTSNAME_SIZE } from '../../shared/kdump/format.js';
import { X86_64Translator, X86_64_START_KERNEL_MAP } from '../../shared/elf/x86-64-translate.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { ROOT } from '../helpers/cli.js';

const CACHE = path.join(ROOT, 'test/fixtures/cache');
const FIXTURES = ['idle', 'busy'].map((name) => path.join(CACHE, `${name}.vmcore`));

describe.runIf(FIXTURES.every((f) => existsSync(f)))('x86_64 page-table walk on the real vmcores (need test/fixtures/cache: `npm test` makes it)', () => {
  for (const file of FIXTURES) {
    it(`${path.basename(file)}: every PT_LOAD's virtual addresses translate to its physical ones`, () => {
      const source = VmcoreSource.open(file);
      try {
        const { core } = source;
        const translator = X86_64Translator.fromVmcoreinfo(core.vmcoreinfo, core.physBase, {
          read: (phys, length) => source.readPhysical(Number(phys), length),
        });
        const loads = core.programHeaders.filter((ph) => ph.type === PT_LOAD);
        let checked = 0;
        for (const load of loads) {
          // Start, end, and 500 addresses spread through the segment.
          const offsets = [0, load.memsz - 1, ...Array.from({ length: 500 }, (_, i) => Math.floor((load.memsz * i) / 500) + (i % 4096))];
          for (const offset of offsets.filter((o) => o >= 0 && o < load.memsz)) {
            expect(translator.vtop(load.vaddr + BigInt(offset)), `${load.vaddr.toString(16)}+${offset}`).toBe(BigInt(load.paddr + offset));
            checked++;
          }
        }
        expect(loads.some((ph) => ph.vaddr >= X86_64_START_KERNEL_MAP)).toBe(true); // the image
        expect(loads.some((ph) => ph.vaddr < X86_64_START_KERNEL_MAP)).toBe(true); // the direct map
        expect(checked).toBeGreaterThan(1500);
        // And a symbol: init_uts_ns reads as the kernel's utsname.
        const uts = core.vmcoreinfo.symbols.get('init_uts_ns')! + BigInt(core.vmcoreinfo.offsets.get('uts_namespace.name')!);
        const name = decodeUtsname(source.readPhysical(Number(translator.vtop(uts)!), UTSNAME_SIZE));
        expect(name).toMatchObject({ sysname: 'Linux', release: core.vmcoreinfo.osRelease, machine: 'x86_64' });
      } finally {
        source.close();
      }
    });
  }
});
