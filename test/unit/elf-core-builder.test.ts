import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import {
  ELF64_EHDR_SIZE, ELF64_PHDR_SIZE, PHDR, PT_LOAD, PT_NOTE, X86_64_DIRECT_MAP_BASE, buildElfCore, buildElfCoreDetailed,
  corePageBytes, defaultVmcoreinfo, pageFromFill, phdrAt, physicalPage, sampleX86Loads, writeElfCoreFile, type ElfCoreSpec,
} from '../helpers/elf-core-builder.js';

/** Checks of the test helper itself, independent of the code under test. */
describe('elf-core-builder', () => {
  const spec: ElfCoreSpec = { loads: sampleX86Loads(), cpus: 4, page: (pfn) => (pfn % 3 === 0 ? 'zero' : pfn % 3 === 1 ? 'random' : 'pattern') };
  const core = buildElfCoreDetailed(spec);

  it('writes an ELF64 LE ET_CORE x86_64 header and a PT_NOTE then the PT_LOADs', () => {
    const b = core.buffer;
    expect(b.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect([b[4], b[5], b.readUInt16LE(16), b.readUInt16LE(18)]).toEqual([2, 1, 4, 62]);
    expect(b.readUInt16LE(56)).toBe(5);
    expect(core.headers.length).toBe(ELF64_EHDR_SIZE + 5 * ELF64_PHDR_SIZE);
    expect(b.readUInt32LE(phdrAt(0))).toBe(PT_NOTE);
    for (let i = 1; i <= 4; i++) {
      expect(b.readUInt32LE(phdrAt(i))).toBe(PT_LOAD);
      expect(Number(b.readBigUInt64LE(phdrAt(i) + PHDR.offset)) % 4096).toBe(0);
    }
    expect(b.readBigUInt64LE(phdrAt(2) + PHDR.vaddr)).toBe(X86_64_DIRECT_MAP_BASE + 0x1000n);
    expect(core.buffer.equals(buildElfCore(spec))).toBe(true); // deterministic
  });

  it('stores the same physical bytes under both mappings of the kernel text', () => {
    const text = core.loads[0];
    const ram = core.loads[2];
    const inRam = ram.offset + (text.paddr - ram.paddr);
    expect(core.buffer.subarray(text.offset, text.offset + text.filesz).equals(core.buffer.subarray(inRam, inRam + text.filesz))).toBe(true);
  });

  it('page fills: zero, reproducible random, compressible pattern naming the pfn', () => {
    expect(pageFromFill('zero', 1, 4096).every((b) => b === 0)).toBe(true);
    expect(pageFromFill('random', 7, 4096).equals(pageFromFill('random', 7, 4096))).toBe(true);
    expect(pageFromFill('random', 7, 4096).equals(pageFromFill('random', 8, 4096))).toBe(false);
    expect(pageFromFill('pattern', 0x1234, 4096).readBigUInt64LE(16)).toBe(0x1234n);
    expect(pageFromFill({ fill: 9 }, 0, 4096).every((b) => b === 9)).toBe(true);
    expect(() => pageFromFill(Buffer.alloc(10), 0, 4096)).toThrow(RangeError);
  });

  it('corePageBytes zeroes what no segment holds', () => {
    // 0x1000..0x9fc00: page 0x9f holds 0xc00 bytes.
    const page = corePageBytes(spec, 0x9f);
    const content = physicalPage(spec, 0x9f);
    expect(page.subarray(0, 0xc00).equals(content.subarray(0, 0xc00))).toBe(true);
    expect(page.subarray(0xc00).every((b) => b === 0)).toBe(true);
    expect(corePageBytes(spec, 0x500).every((b) => b === 0)).toBe(true); // hole
    const seg = core.loads[1];
    expect(core.buffer.subarray(seg.offset + 0x9e000, seg.offset + 0x9ec00).equals(content.subarray(0, 0xc00))).toBe(true);
  });

  it('places VMCOREINFO where it says, after one NT_PRSTATUS per CPU', () => {
    const text = defaultVmcoreinfo();
    expect(core.vmcoreinfoOffsetInNotes).toBe(4 * (12 + 8 + 336) + 12 + 12);
    expect(core.notes.toString('latin1', core.vmcoreinfoOffsetInNotes, core.vmcoreinfoOffsetInNotes + core.vmcoreinfoSize)).toBe(text);
    expect(defaultVmcoreinfo({ physBase: 0xffff_ffff_d7a0_0000n })).toContain('NUMBER(phys_base)=-677380096\n');
    expect(defaultVmcoreinfo({ pageSize: 65536, crashTime: 5 })).toMatch(/^PAGESIZE=65536$[\s\S]*^CRASHTIME=5$/m);
  });

  it('writeElfCoreFile writes the core to a temp file and cleans up', async () => {
    const file = await writeElfCoreFile({ loads: [{ paddr: 0, memsz: 0x2000 }] });
    try {
      expect((await readFile(file.path)).equals(file.core.buffer)).toBe(true);
    } finally {
      await file.cleanup();
    }
    expect(existsSync(file.dir)).toBe(false);
  });
});
