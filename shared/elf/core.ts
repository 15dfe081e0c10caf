/**
 * ELF64 core-file parsing (the layout of /proc/vmcore). Pure functions over
 * buffers: the caller does the I/O, so the receiver can parse the headers a
 * sender ships in HELLO with the same code the sender used on the file.
 */
import { badInput, corrupt } from '../errors.js';

export const ELF_HEADER_SIZE = 64;
export const PROGRAM_HEADER_SIZE = 56;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const ET_CORE = 4;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
export const NT_PRSTATUS = 1;

/** More program headers than any real machine has; bounds what a hostile header can make us allocate. */
export const MAX_PROGRAM_HEADERS = 65_536;

export interface ElfHeader {
  machine: number;
  /** File offset of the program header table. */
  phoff: number;
  phentsize: number;
  phnum: number;
}

export interface ProgramHeader {
  type: number;
  flags: number;
  /** File offset of the segment's bytes. */
  offset: number;
  vaddr: bigint;
  paddr: number;
  filesz: number;
  memsz: number;
}

export interface ElfNote {
  name: string;
  type: number;
  desc: Buffer;
  /** Offset of the note header relative to the start of the note segment. */
  offset: number;
}

function u64(buf: Buffer, at: number, what: string): number {
  const value = buf.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw corrupt(`${what} is too large (${value})`, { offset: at });
  }
  return Number(value);
}

/** Says whether the bytes start like an ELF64 little-endian core file, without parsing further. */
export function looksLikeElfCore(buf: Buffer): boolean {
  return (
    buf.length >= ELF_HEADER_SIZE &&
    buf[0] === 0x7f && buf[1] === 0x45 && buf[2] === 0x4c && buf[3] === 0x46 &&
    buf[4] === 2 && buf[5] === 1 && buf.readUInt16LE(16) === ET_CORE
  );
}

export function parseElfHeader(buf: Buffer): ElfHeader {
  if (buf.length < ELF_HEADER_SIZE) {
    throw corrupt(`ELF header truncated at offset ${buf.length}: need ${ELF_HEADER_SIZE} bytes`, { offset: buf.length });
  }
  if (buf.readUInt32BE(0) !== 0x7f454c46) throw badInput('not an ELF file (bad magic at offset 0)', { offset: 0 });
  if (buf[4] !== 2) throw badInput(`not a 64-bit ELF file (EI_CLASS=${buf[4]} at offset 4)`, { offset: 4 });
  if (buf[5] !== 1) throw badInput(`not a little-endian ELF file (EI_DATA=${buf[5]} at offset 5)`, { offset: 5 });
  const type = buf.readUInt16LE(16);
  if (type !== ET_CORE) throw badInput(`not an ELF core file (e_type=${type} at offset 16, want ${ET_CORE})`, { offset: 16 });
  const machine = buf.readUInt16LE(18);
  const phoff = u64(buf, 32, 'e_phoff');
  const phentsize = buf.readUInt16LE(54);
  const phnum = buf.readUInt16LE(56);
  if (phentsize !== PROGRAM_HEADER_SIZE) {
    throw corrupt(`unexpected program header size ${phentsize} at offset 54 (want ${PROGRAM_HEADER_SIZE})`, { offset: 54 });
  }
  if (phnum === 0 || phnum > MAX_PROGRAM_HEADERS) throw corrupt(`bad program header count ${phnum} at offset 56`, { offset: 56 });
  if (phoff < ELF_HEADER_SIZE) throw corrupt(`program header table offset ${phoff} overlaps the ELF header`, { offset: 32 });
  return { machine, phoff, phentsize, phnum };
}

/** Bytes from the start of the file needed to parse the ELF header and all program headers. */
export function headersLength(header: ElfHeader): number {
  return header.phoff + header.phnum * header.phentsize;
}

export function parseProgramHeaders(buf: Buffer, header: ElfHeader): ProgramHeader[] {
  const end = headersLength(header);
  if (buf.length < end) {
    throw corrupt(`program headers truncated: table ends at ${end}, have ${buf.length} bytes`, { offset: buf.length });
  }
  const result: ProgramHeader[] = [];
  for (let i = 0; i < header.phnum; i++) {
    const at = header.phoff + i * header.phentsize;
    const ph: ProgramHeader = {
      type: buf.readUInt32LE(at),
      flags: buf.readUInt32LE(at + 4),
      offset: u64(buf, at + 8, `p_offset of program header ${i}`),
      vaddr: buf.readBigUInt64LE(at + 16),
      paddr: u64(buf, at + 24, `p_paddr of program header ${i}`),
      filesz: u64(buf, at + 32, `p_filesz of program header ${i}`),
      memsz: u64(buf, at + 40, `p_memsz of program header ${i}`),
    };
    if (ph.type === PT_LOAD && ph.filesz > ph.memsz) {
      throw corrupt(`PT_LOAD ${i} has p_filesz ${ph.filesz} > p_memsz ${ph.memsz}`, { offset: at + 32 });
    }
    result.push(ph);
  }
  return result;
}

const align4 = (n: number) => (n + 3) & ~3;

/** Parses the notes of a PT_NOTE segment. Stops at trailing zero padding (the kernel pads the segment). */
export function parseNotes(segment: Buffer): ElfNote[] {
  const notes: ElfNote[] = [];
  let at = 0;
  while (at + 12 <= segment.length) {
    const namesz = segment.readUInt32LE(at);
    const descsz = segment.readUInt32LE(at + 4);
    const type = segment.readUInt32LE(at + 8);
    if (namesz === 0 && descsz === 0 && type === 0) break;
    const nameStart = at + 12;
    const descStart = nameStart + align4(namesz);
    const end = descStart + align4(descsz);
    if (namesz > 4096 || descStart + descsz > segment.length) {
      throw corrupt(`ELF note at note-segment offset ${at} runs past the segment (${segment.length} bytes)`, { offset: at });
    }
    const rawName = segment.subarray(nameStart, nameStart + namesz);
    const nul = rawName.indexOf(0);
    notes.push({
      name: rawName.subarray(0, nul === -1 ? rawName.length : nul).toString('latin1'),
      type,
      desc: segment.subarray(descStart, descStart + descsz),
      offset: at,
    });
    at = end;
  }
  return notes;
}

/** One ELF note, as parseNotes reads it: header, NUL-terminated name and desc, each padded to 4 bytes. */
export function encodeNote(name: string, type: number, desc: Buffer): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, 'latin1');
  const out = Buffer.alloc(12 + align4(nameBytes.length) + align4(desc.length));
  out.writeUInt32LE(nameBytes.length, 0);
  out.writeUInt32LE(desc.length, 4);
  out.writeUInt32LE(type, 8);
  nameBytes.copy(out, 12);
  desc.copy(out, 12 + align4(nameBytes.length));
  return out;
}

export function findVmcoreinfoNote(notes: ElfNote[]): ElfNote | undefined {
  return notes.find((n) => n.name === 'VMCOREINFO');
}

export function countPrstatusNotes(notes: ElfNote[]): number {
  return notes.filter((n) => n.name === 'CORE' && n.type === NT_PRSTATUS).length;
}
