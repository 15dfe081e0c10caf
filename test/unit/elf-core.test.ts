import { describe, it, expect } from 'vitest';
import {
  ELF_HEADER_SIZE, EM_X86_64, NT_PRSTATUS, PT_LOAD, PT_NOTE, countPrstatusNotes, findVmcoreinfoNote, headersLength,
  looksLikeElfCore, parseElfHeader, parseNotes, parseProgramHeaders,
} from '../../shared/elf/core.js';
import {
  EHDR, PHDR, X86_64_START_KERNEL_MAP, buildElfCoreDetailed, defaultVmcoreinfo, encodeNote, phdrAt, sampleX86Loads,
  type ElfCoreSpec,
} from '../helpers/elf-core-builder.js';
import { catchNetdump } from '../helpers/errors.js';

const spec: ElfCoreSpec = { loads: sampleX86Loads(), cpus: 2, vmcoreinfo: defaultVmcoreinfo({ osRelease: '6.1.0-unit' }) };

describe('parseElfHeader / parseProgramHeaders (valid core)', () => {
  const core = buildElfCoreDetailed(spec);

  it('recognises an ELF64 LE core and reads the header fields', () => {
    expect(looksLikeElfCore(core.buffer)).toBe(true);
    const header = parseElfHeader(core.buffer);
    expect(header).toEqual({ machine: EM_X86_64, phoff: 64, phentsize: 56, phnum: 5 });
    expect(headersLength(header)).toBe(64 + 5 * 56);
    expect(headersLength(header)).toBe(core.headers.length);
  });

  it('parses every program header with the values that were written', () => {
    const header = parseElfHeader(core.headers);
    const phs = parseProgramHeaders(core.headers, header);
    expect(phs).toHaveLength(5);
    expect(phs[0]).toMatchObject({ type: PT_NOTE, offset: core.noteOffset, filesz: core.notes.length, memsz: core.notes.length });
    core.loads.forEach((load, i) => {
      expect(phs[i + 1]).toEqual({
        type: PT_LOAD, flags: 7, offset: load.offset, vaddr: load.vaddr, paddr: load.paddr, filesz: load.filesz, memsz: load.memsz,
      });
    });
    // The kernel-text mapping keeps its full 64-bit virtual address.
    expect(phs[1].vaddr).toBe(X86_64_START_KERNEL_MAP + 0x100_0000n);
  });

  it('parses the notes: one NT_PRSTATUS per CPU and the VMCOREINFO text', () => {
    const notes = parseNotes(core.notes);
    expect(notes.map((n) => [n.name, n.type])).toEqual([['CORE', NT_PRSTATUS], ['CORE', NT_PRSTATUS], ['VMCOREINFO', 0]]);
    expect(notes[0].desc.length).toBe(336);
    expect(notes[1].desc.readUInt32LE(32)).toBe(2); // pr_pid of CPU 1
    expect(countPrstatusNotes(notes)).toBe(2);
    const info = findVmcoreinfoNote(notes);
    expect(info?.desc.toString('latin1')).toBe(spec.vmcoreinfo);
    expect(info?.offset).toBe(notes[1].offset + 12 + 8 + 336);
    expect(info!.desc.byteOffset - core.notes.byteOffset).toBe(core.vmcoreinfoOffsetInNotes);
  });

  it('stops at the zero padding the kernel leaves at the end of the note segment', () => {
    const padded = buildElfCoreDetailed({ ...spec, notePadding: 64 });
    const notes = parseNotes(padded.notes);
    expect(notes).toHaveLength(3);
  });

  it('handles note names and descs whose sizes are not multiples of 4', () => {
    const seg = Buffer.concat([encodeNote('ABCDEFG', 7, Buffer.from([1, 2, 3, 4, 5])), encodeNote('X', 9, Buffer.from('hi'))]);
    const notes = parseNotes(seg);
    expect(notes.map((n) => ({ name: n.name, type: n.type, desc: [...n.desc], offset: n.offset }))).toEqual([
      { name: 'ABCDEFG', type: 7, desc: [1, 2, 3, 4, 5], offset: 0 },
      { name: 'X', type: 9, desc: [0x68, 0x69], offset: 12 + 8 + 8 },
    ]);
  });
});

describe('parseElfHeader error paths', () => {
  const good = () => Buffer.from(buildElfCoreDetailed(spec).headers);

  it('bad magic -> BAD_INPUT naming offset 0', () => {
    const buf = good();
    buf[1] = 0x46;
    expect(looksLikeElfCore(buf)).toBe(false);
    const err = catchNetdump(() => parseElfHeader(buf));
    expect(err.code).toBe('BAD_INPUT');
    expect(err.message).toMatch(/offset 0\b/);
    expect(err.context.offset).toBe(0);
  });

  it('32-bit ELF -> BAD_INPUT naming offset 4', () => {
    const buf = good();
    buf[EHDR.class] = 1;
    expect(looksLikeElfCore(buf)).toBe(false);
    const err = catchNetdump(() => parseElfHeader(buf));
    expect(err.code).toBe('BAD_INPUT');
    expect(err.message).toMatch(/offset 4\b/);
    expect(err.message).toMatch(/64-bit/);
  });

  it('big-endian ELF -> BAD_INPUT naming offset 5', () => {
    const buf = good();
    buf[EHDR.data] = 2;
    expect(looksLikeElfCore(buf)).toBe(false);
    const err = catchNetdump(() => parseElfHeader(buf));
    expect(err.code).toBe('BAD_INPUT');
    expect(err.message).toMatch(/offset 5\b/);
    expect(err.message).toMatch(/little-endian/);
  });

  it.each([[2, 'ET_EXEC'], [3, 'ET_DYN'], [1, 'ET_REL']])('e_type %i (%s) -> BAD_INPUT naming offset 16', (type) => {
    const buf = good();
    buf.writeUInt16LE(type, EHDR.type);
    expect(looksLikeElfCore(buf)).toBe(false);
    const err = catchNetdump(() => parseElfHeader(buf));
    expect(err.code).toBe('BAD_INPUT');
    expect(err.message).toMatch(/offset 16\b/);
    expect(err.message).toContain(`e_type=${type}`);
  });

  it.each([0, 1, 20, 63])('header truncated to %i bytes -> CORRUPT', (length) => {
    const err = catchNetdump(() => parseElfHeader(good().subarray(0, length)));
    expect(err.code).toBe('CORRUPT');
    expect(err.message).toMatch(/truncated/);
    expect(err.message).toContain(`at offset ${length}: need 64 bytes`);
    expect(err.context.offset).toBe(length);
  });

  it('wrong e_phentsize -> CORRUPT naming offset 54', () => {
    const buf = good();
    buf.writeUInt16LE(32, EHDR.phentsize);
    const err = catchNetdump(() => parseElfHeader(buf));
    expect(err.code).toBe('CORRUPT');
    expect(err.message).toMatch(/offset 54\b/);
  });

  it('zero program headers -> CORRUPT naming offset 56', () => {
    const buf = good();
    buf.writeUInt16LE(0, EHDR.phnum);
    const err = catchNetdump(() => parseElfHeader(buf));
    expect(err.code).toBe('CORRUPT');
    expect(err.message).toMatch(/offset 56\b/);
  });

  it('e_phoff inside the ELF header -> CORRUPT', () => {
    const buf = good();
    buf.writeBigUInt64LE(8n, EHDR.phoff);
    const err = catchNetdump(() => parseElfHeader(buf));
    expect(err.code).toBe('CORRUPT');
    expect(err.context.offset).toBe(32);
  });

  it('e_phoff beyond 2^53 -> CORRUPT naming offset 32', () => {
    const buf = good();
    buf.writeBigUInt64LE(1n << 60n, EHDR.phoff);
    const err = catchNetdump(() => parseElfHeader(buf));
    expect(err.code).toBe('CORRUPT');
    expect(err.message).toMatch(/e_phoff/);
    expect(err.context.offset).toBe(32);
  });
});

describe('parseProgramHeaders error paths', () => {
  const core = buildElfCoreDetailed(spec);

  it.each([ELF_HEADER_SIZE, ELF_HEADER_SIZE + 56, core.headers.length - 1])(
    'table truncated to %i bytes -> CORRUPT naming where it ends',
    (length) => {
      const buf = core.headers.subarray(0, length);
      const header = parseElfHeader(buf);
      const err = catchNetdump(() => parseProgramHeaders(buf, header));
      expect(err.code).toBe('CORRUPT');
      expect(err.message).toContain(`table ends at ${core.headers.length}`);
      expect(err.message).toContain(`have ${length} bytes`);
      expect(err.context.offset).toBe(length);
    },
  );

  it('PT_LOAD with p_filesz > p_memsz -> CORRUPT naming the field offset', () => {
    const buf = Buffer.from(core.headers);
    buf.writeBigUInt64LE(0x10_0000n, phdrAt(2) + PHDR.filesz);
    const err = catchNetdump(() => parseProgramHeaders(buf, parseElfHeader(buf)));
    expect(err.code).toBe('CORRUPT');
    expect(err.message).toMatch(/PT_LOAD 2/);
    expect(err.context.offset).toBe(phdrAt(2) + PHDR.filesz);
  });

  it('p_offset beyond 2^53 -> CORRUPT naming the field offset', () => {
    const buf = Buffer.from(core.headers);
    buf.writeBigUInt64LE(0xffff_ffff_ffff_f000n, phdrAt(3) + PHDR.offset);
    const err = catchNetdump(() => parseProgramHeaders(buf, parseElfHeader(buf)));
    expect(err.code).toBe('CORRUPT');
    expect(err.message).toMatch(/p_offset of program header 3/);
    expect(err.context.offset).toBe(phdrAt(3) + PHDR.offset);
  });
});

describe('parseNotes error paths', () => {
  const core = buildElfCoreDetailed(spec);

  it('a note whose desc runs past the segment -> CORRUPT naming its offset', () => {
    // Cut the segment in the middle of the VMCOREINFO text.
    const vmcoreinfoNoteAt = core.vmcoreinfoOffsetInNotes - 12 - 12;
    const seg = core.notes.subarray(0, core.vmcoreinfoOffsetInNotes + 10);
    const err = catchNetdump(() => parseNotes(seg));
    expect(err.code).toBe('CORRUPT');
    expect(err.message).toContain(`note-segment offset ${vmcoreinfoNoteAt}`);
    expect(err.message).toContain(`(${seg.length} bytes)`);
    expect(err.context.offset).toBe(vmcoreinfoNoteAt);
  });

  it('a note with a huge descsz -> CORRUPT', () => {
    const seg = Buffer.from(core.notes);
    seg.writeUInt32LE(0xffff_fff0, 4); // descsz of the first note
    const err = catchNetdump(() => parseNotes(seg));
    expect(err.code).toBe('CORRUPT');
    expect(err.context.offset).toBe(0);
  });

  it('a note whose name runs past the segment -> CORRUPT', () => {
    const seg = Buffer.alloc(24);
    seg.writeUInt32LE(100, 0); // namesz
    seg.writeUInt32LE(0, 4);
    seg.writeUInt32LE(1, 8);
    const err = catchNetdump(() => parseNotes(seg));
    expect(err.code).toBe('CORRUPT');
  });

  it('an absurd namesz -> CORRUPT even when the segment is large', () => {
    const seg = Buffer.alloc(16384);
    seg.writeUInt32LE(8192, 0);
    seg.writeUInt32LE(4, 4);
    seg.writeUInt32LE(1, 8);
    const err = catchNetdump(() => parseNotes(seg));
    expect(err.code).toBe('CORRUPT');
  });
});
