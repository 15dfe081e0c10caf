import { describe, it, expect } from 'vitest';
import { EM_AARCH64, PT_NOTE } from '../../shared/elf/core.js';
import { describeCore, noteSegment, physBaseOf } from '../../shared/elf/core-description.js';
import { machineName } from '../../shared/elf/machines.js';
import { parseVmcoreinfo } from '../../shared/elf/vmcoreinfo.js';
import {
  EHDR, PHDR, X86_64_START_KERNEL_MAP, buildElfCoreDetailed, defaultVmcoreinfo, phdrAt, sampleX86Loads,
  type BuiltElfCore, type ElfCoreSpec, type LoadSegmentSpec,
} from '../helpers/elf-core-builder.js';
import { catchNetdump } from '../helpers/errors.js';

function describeBuilt(core: BuiltElfCore, fileSize: number | undefined = core.buffer.length) {
  return describeCore(core.headers, core.notes, fileSize);
}

/** A small RAM range plus a kernel-text PT_LOAD at `paddr` mapped at __START_KERNEL_map + `textOffset`. */
function withText(paddr: number, textOffset: bigint): LoadSegmentSpec[] {
  return [
    { paddr, vaddr: X86_64_START_KERNEL_MAP + textOffset, memsz: 0x2000 },
    { paddr: 0x10_0000, memsz: 0x40_0000 },
  ];
}

describe('describeCore', () => {
  it('describes an x86_64-shaped core', () => {
    const spec: ElfCoreSpec = {
      loads: sampleX86Loads(), cpus: 3, vmcoreinfo: defaultVmcoreinfo({ osRelease: '6.1.0-x', crashTime: 1234, physBase: -677380096 }),
    };
    const core = buildElfCoreDetailed(spec);
    const d = describeBuilt(core);
    expect(d.machine).toBe('x86_64');
    expect(d.nrCpus).toBe(3);
    expect(d.pageSize).toBe(4096);
    expect(d.programHeaders).toHaveLength(5);
    expect(d.elf.phnum).toBe(5);
    expect(d.vmcoreinfo.osRelease).toBe('6.1.0-x');
    expect(d.vmcoreinfo.crashTime).toBe(1234);
    expect(d.vmcoreinfoOffsetInNotes).toBe(core.vmcoreinfoOffsetInNotes);
    expect(d.vmcoreinfoSize).toBe(core.vmcoreinfoSize);
    expect(core.notes.toString('latin1', d.vmcoreinfoOffsetInNotes, d.vmcoreinfoOffsetInNotes + d.vmcoreinfoSize)).toBe(spec.vmcoreinfo);
    expect(d.pageMap.maxPfn).toBe(0x680);
    expect(noteSegment(d.programHeaders)).toMatchObject({ type: PT_NOTE, offset: core.noteOffset, filesz: core.notes.length });
  });

  it('finds the VMCOREINFO offset when the notes are a copy (HELLO) rather than a view of the file', () => {
    const core = buildElfCoreDetailed({ loads: sampleX86Loads(), cpus: 2 });
    const d = describeCore(Buffer.from(core.headers), Buffer.from(core.notes));
    expect(d.vmcoreinfoOffsetInNotes).toBe(core.vmcoreinfoOffsetInNotes);
  });

  it('physBase comes from NUMBER(phys_base), read as unsigned 64-bit', () => {
    const core = buildElfCoreDetailed({ loads: withText(0x20_0000, 0x100_0000n), vmcoreinfo: defaultVmcoreinfo({ physBase: -677380096 }) });
    expect(describeBuilt(core).physBase).toBe(0xffff_ffff_d7a0_0000n);
    const positive = buildElfCoreDetailed({ loads: withText(0x20_0000, 0x100_0000n), vmcoreinfo: defaultVmcoreinfo({ physBase: 0x1e00000 }) });
    expect(describeBuilt(positive).physBase).toBe(0x1e0_0000n);
  });

  it('without NUMBER(phys_base), physBase comes from the kernel-text PT_LOAD', () => {
    // paddr - (vaddr - __START_KERNEL_map)
    const above = buildElfCoreDetailed({ loads: withText(0x30_0000, 0x10_0000n) });
    expect(describeBuilt(above).physBase).toBe(0x20_0000n);
    const below = buildElfCoreDetailed({ loads: withText(0x20_0000, 0x100_0000n) });
    expect(describeBuilt(below).physBase).toBe(BigInt.asUintN(64, 0x20_0000n - 0x100_0000n));
    expect(describeBuilt(below).physBase).toBe(0xffff_ffff_ff20_0000n);
  });

  it('without NUMBER(phys_base) nor a kernel-text PT_LOAD, physBase is 0', () => {
    const core = buildElfCoreDetailed({ loads: [{ paddr: 0x10_0000, memsz: 0x1_0000 }] });
    expect(describeBuilt(core).physBase).toBe(0n);
  });

  it('physBase is PHYS_OFFSET on aarch64 (as makedumpfile writes it), and 0 on other machines', () => {
    const core = buildElfCoreDetailed({ machine: EM_AARCH64, loads: withText(0x30_0000, 0x10_0000n), vmcoreinfo: defaultVmcoreinfo({ physBase: 5 }) });
    const d = describeBuilt(core);
    expect(d.machine).toBe('aarch64');
    // x86_64's NUMBER(phys_base) means nothing on arm64.
    expect(d.physBase).toBe(0n);
    expect(physBaseOf(EM_AARCH64, d.programHeaders, parseVmcoreinfo('NUMBER(phys_base)=7\nNUMBER(PHYS_OFFSET)=0x40000000\n'))).toBe(0x4000_0000n);
    expect(physBaseOf(3, d.programHeaders, parseVmcoreinfo('NUMBER(phys_base)=7\n'))).toBe(0n);
    expect(machineName(3)).toBe('unknown-3');
  });

  it('uses VMCOREINFO PAGESIZE for the page map', () => {
    const core = buildElfCoreDetailed({ pageSize: 16384, loads: [{ paddr: 0, memsz: 0x1_0000 }] });
    const d = describeBuilt(core);
    expect(d.pageSize).toBe(16384);
    expect(d.pageMap.pageSize).toBe(16384);
    expect(d.pageMap.totalPages).toBe(4);
  });

  it('missing VMCOREINFO -> BAD_INPUT', () => {
    const core = buildElfCoreDetailed({ loads: sampleX86Loads(), vmcoreinfo: null });
    const err = catchNetdump(() => describeBuilt(core));
    expect(err.code).toBe('BAD_INPUT');
    expect(err.message).toMatch(/VMCOREINFO/);
  });

  it.each([
    ['PAGESIZE=3000', /3000/],
    ['PAGESIZE=131072', /131072/],
    ['PAGESIZE=2048', /2048/],
    ['OSRELEASE=no-pagesize', /missing/],
  ])('bad VMCOREINFO %s -> CORRUPT', (text, message) => {
    const core = buildElfCoreDetailed({ loads: sampleX86Loads(), vmcoreinfo: `${text}\nCRASHTIME=1\n` });
    const err = catchNetdump(() => describeBuilt(core));
    expect(err.code).toBe('CORRUPT');
    expect(err.message).toMatch(/PAGESIZE/);
    expect(err.message).toMatch(message);
  });

  it('non-numeric PAGESIZE -> CORRUPT', () => {
    const core = buildElfCoreDetailed({ loads: sampleX86Loads(), vmcoreinfo: 'PAGESIZE=4k\n' });
    expect(catchNetdump(() => describeBuilt(core)).code).toBe('CORRUPT');
  });

  it('headers shorter than the program header table -> CORRUPT', () => {
    const core = buildElfCoreDetailed({ loads: sampleX86Loads() });
    const err = catchNetdump(() => describeCore(core.headers.subarray(0, core.headers.length - 8), core.notes));
    expect(err.code).toBe('CORRUPT');
    expect(err.message).toContain(`${core.headers.length}`);
  });

  it('a file shorter than a PT_LOAD -> CORRUPT', () => {
    const core = buildElfCoreDetailed({ loads: sampleX86Loads() });
    expect(catchNetdump(() => describeBuilt(core, core.buffer.length - 4096)).code).toBe('CORRUPT');
  });

  it('a non-ELF header -> BAD_INPUT', () => {
    const core = buildElfCoreDetailed({ loads: sampleX86Loads() });
    const headers = Buffer.from(core.headers);
    headers.writeUInt16LE(2, EHDR.type);
    expect(catchNetdump(() => describeCore(headers, core.notes)).code).toBe('BAD_INPUT');
  });

  it('noteSegment wants exactly one PT_NOTE', () => {
    const core = buildElfCoreDetailed({ loads: sampleX86Loads() });
    const d = describeBuilt(core);
    expect(catchNetdump(() => noteSegment(d.programHeaders.slice(1))).code).toBe('CORRUPT');
    const twice = Buffer.from(core.headers);
    twice.writeUInt32LE(PT_NOTE, phdrAt(4) + PHDR.type);
    const d2 = describeCore(twice, core.notes);
    const err = catchNetdump(() => noteSegment(d2.programHeaders));
    expect(err.code).toBe('CORRUPT');
    expect(err.message).toMatch(/2 PT_NOTE/);
  });
});
