/**
 * The page-table walk and the mem_map locator against ground truth: in an ELF vmcore every PT_LOAD
 * also says which kernel virtual address maps its physical range (the
 * KASLR-randomised direct map and the kernel image), so walking the crashed
 * kernel's own tables must land on the same bytes.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PT_LOAD } from '../../shared/elf/core.js';
import { decodeUtsname, UTSNAME_SIZE } from '../../shared/kdump/format.js';
import { X86_64Translator, X86_64_START_KERNEL_MAP } from '../../shared/elf/x86-64-translate.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { ROOT, run } from '../helpers/cli.js';
import { locateMemMap } from '../../shared/elf/mem-map.js';

const CACHE = (await import('../helpers/real-fixtures.js')).FIXTURE_CACHE;
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

describe.runIf(FIXTURES.every((f) => existsSync(f)) && existsSync('/usr/bin/makedumpfile'))('mem_map on the real vmcores (oracle: makedumpfile -D)', () => {
  for (const file of FIXTURES) {
    it(`${path.basename(file)}: the same sections and struct page addresses as makedumpfile finds`, async () => {
      const out = path.join(tmpdir(), `netdump-memmap-${process.pid}`);
      const made = await run('makedumpfile', ['-D', '-f', '-d', '31', '-l', file, out], { timeoutMs: 120_000 });
      await rm(out, { force: true });
      const theirs = [...(made.stdout + made.stderr).matchAll(/^mem_map\[\s*\d+\]\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)$/gm)]
        .map(([, memMap, start, end]) => ({ startPfn: parseInt(start, 16), endPfn: parseInt(end, 16), memMap: BigInt(`0x${memMap}`) }));
      expect(theirs.length).toBeGreaterThan(0);
      const source = VmcoreSource.open(file);
      try {
        const { core } = source;
        const memory = { read: (phys: bigint, length: number) => source.readPhysical(Number(phys), length) };
        const translator = X86_64Translator.fromVmcoreinfo(core.vmcoreinfo, core.physBase, memory);
        expect(locateMemMap(core.vmcoreinfo, translator, memory, core.pageMap.maxPfn, core.pageSize)).toEqual(theirs);
      } finally {
        source.close();
      }
    });
  }
});
