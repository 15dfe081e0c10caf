/**
 * Builds synthetic ELF64 little-endian x86_64 core files in memory, shaped
 * like /proc/vmcore (in the spirit of drgn's tests/elfwriter.py):
 *
 *   ELF header | program headers (PT_NOTE, then the PT_LOADs in spec order)
 *   | note segment (N x NT_PRSTATUS "CORE", then VMCOREINFO, then extras)
 *   | PT_LOAD data, each segment at a page-aligned file offset by default
 *
 * Physical memory is a pure function of the pfn (see PageFill), so two
 * PT_LOADs that map the same physical range (x86_64's kernel-text mapping
 * inside a System RAM range) hold the same bytes, as they do in a real core.
 * corePageBytes() gives the page a reader of the core must see: bytes no
 * segment's p_filesz covers (unaligned edges, holes) read as zero.
 *
 * Shared by unit and integration tests; no dependency on the code under test.
 */
import { encodeNote } from '../../shared/elf/core.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ELF64_EHDR_SIZE = 64;
export const ELF64_PHDR_SIZE = 56;
export const ET_CORE = 4;
export const EM_X86_64 = 62;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const NT_PRSTATUS = 1;
/** sizeof(struct elf_prstatus) on x86_64. */
export const PRSTATUS_DESC_SIZE = 336;
/** Offset of pr_pid inside struct elf_prstatus on x86_64. */
export const PRSTATUS_PID_OFFSET = 32;
/** x86_64 __START_KERNEL_map. */
export const X86_64_START_KERNEL_MAP = 0xffff_ffff_8000_0000n;
/** x86_64 direct-map base without KASLR (page_offset_base). */
export const X86_64_DIRECT_MAP_BASE = 0xffff_8880_0000_0000n;

/** Byte offsets of ELF header fields, for tests that corrupt them. */
export const EHDR = {
  class: 4,
  data: 5,
  type: 16,
  machine: 18,
  phoff: 32,
  phentsize: 54,
  phnum: 56,
} as const;

/** Byte offsets of fields inside one ELF64 program header. */
export const PHDR = {
  type: 0,
  flags: 4,
  offset: 8,
  vaddr: 16,
  paddr: 24,
  filesz: 32,
  memsz: 40,
  align: 48,
} as const;

/** File offset of program header `index` in a core built here (table right after the ELF header). */
export function phdrAt(index: number): number {
  return ELF64_EHDR_SIZE + index * ELF64_PHDR_SIZE;
}

/**
 * What one physical page holds:
 * - 'zero': all zero bytes;
 * - 'pattern': a compressible page that still names its pfn (16-byte lines of pfn + text);
 * - 'random': pseudo-random bytes seeded by the pfn (incompressible, reproducible);
 * - { fill: n }: every byte n;
 * - a Buffer of exactly pageSize bytes.
 */
export type PageFill = 'zero' | 'pattern' | 'random' | { fill: number } | Buffer;

export interface LoadSegmentSpec {
  /** Physical start address; need not be page aligned. */
  paddr: number;
  /** Virtual start address; default: x86_64 direct map (X86_64_DIRECT_MAP_BASE + paddr). */
  vaddr?: bigint;
  memsz: number;
  /** Bytes present in the file; default memsz. Must be <= memsz for a valid core. */
  filesz?: number;
  /** File offset of the segment's bytes; default: next offset aligned to `segmentAlign`. */
  offset?: number;
  /** p_flags; default 7 (RWX) as the kernel writes. */
  flags?: number;
}

export interface ExtraNoteSpec {
  name: string;
  type: number;
  desc: Buffer;
}

export interface ElfCoreSpec {
  /** Page size used for page contents and default segment alignment; default 4096. */
  pageSize?: number;
  /** e_machine; default EM_X86_64. */
  machine?: number;
  loads: LoadSegmentSpec[];
  /** Number of NT_PRSTATUS notes (one per CPU); default 1. */
  cpus?: number;
  /** VMCOREINFO text; default defaultVmcoreinfo({ pageSize }); null leaves the note out. */
  vmcoreinfo?: string | null;
  /** Notes appended after VMCOREINFO. */
  extraNotes?: ExtraNoteSpec[];
  /** Zero bytes appended to the note segment (the kernel pads it); default 0. */
  notePadding?: number;
  /** File offset of the note segment; default right after the program headers (8-aligned). */
  noteOffset?: number;
  /** Alignment of default PT_LOAD file offsets; default pageSize. */
  segmentAlign?: number;
  /** Content of each physical page; default 'pattern' everywhere. */
  page?: (pfn: number) => PageFill;
}

export interface ResolvedLoad {
  paddr: number;
  vaddr: bigint;
  memsz: number;
  filesz: number;
  offset: number;
  flags: number;
}

export interface BuiltElfCore {
  /** The whole core file. */
  buffer: Buffer;
  /** ELF header plus program header table (what a sender ships as its headers). */
  headers: Buffer;
  /** The PT_NOTE segment's bytes. */
  notes: Buffer;
  noteOffset: number;
  /** Offset of the VMCOREINFO text inside `notes`, or -1 when there is none. */
  vmcoreinfoOffsetInNotes: number;
  vmcoreinfoSize: number;
  /** PT_LOADs in program-header order (program header index = position + 1). */
  loads: ResolvedLoad[];
  pageSize: number;
}

const align = (n: number, to: number) => (to <= 1 ? n : Math.ceil(n / to) * to);
const align4 = (n: number) => align(n, 4);

/** xorshift32 stream seeded from the pfn: deterministic, incompressible. */
function fillRandom(out: Buffer, pfn: number): void {
  let x = (Math.imul(pfn + 1, 0x9e3779b1) ^ 0x5bd1e995) >>> 0 || 1;
  for (let i = 0; i + 4 <= out.length; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.writeUInt32LE(x, i);
  }
}

function fillPattern(out: Buffer, pfn: number): void {
  const line = Buffer.alloc(16);
  line.writeBigUInt64LE(BigInt(pfn), 0);
  line.write('netdump\n', 8, 'latin1');
  for (let i = 0; i < out.length; i += 16) line.copy(out, i, 0, Math.min(16, out.length - i));
}

/** The bytes of one physical page for a given fill. */
export function pageFromFill(fill: PageFill, pfn: number, pageSize: number): Buffer {
  if (Buffer.isBuffer(fill)) {
    if (fill.length !== pageSize) throw new RangeError(`page ${pfn}: buffer of ${fill.length} bytes, want ${pageSize}`);
    return Buffer.from(fill);
  }
  const out = Buffer.alloc(pageSize);
  if (fill === 'zero') return out;
  if (fill === 'pattern') fillPattern(out, pfn);
  else if (fill === 'random') fillRandom(out, pfn);
  else out.fill(fill.fill);
  return out;
}

const pageSizeOf = (spec: ElfCoreSpec) => spec.pageSize ?? 4096;

/** The content physical page `pfn` has in the spec's memory (ignoring which bytes the core holds). */
export function physicalPage(spec: ElfCoreSpec, pfn: number): Buffer {
  return pageFromFill(spec.page ? spec.page(pfn) : 'pattern', pfn, pageSizeOf(spec));
}

/**
 * The page a correct reader of the built core sees for `pfn`: the physical
 * content where some PT_LOAD's file bytes cover it, zero elsewhere.
 */
export function corePageBytes(spec: ElfCoreSpec, pfn: number): Buffer {
  const pageSize = pageSizeOf(spec);
  const lo = pfn * pageSize;
  const hi = lo + pageSize;
  const out = Buffer.alloc(pageSize);
  let content: Buffer | undefined;
  for (const load of spec.loads) {
    const from = Math.max(lo, load.paddr);
    const to = Math.min(hi, load.paddr + (load.filesz ?? load.memsz));
    if (from >= to) continue;
    content ??= physicalPage(spec, pfn);
    content.copy(out, from - lo, from - lo, to - lo);
  }
  return out;
}

/** Bytes of physical memory [start, end) in the spec's memory. */
export function physicalBytes(spec: ElfCoreSpec, start: number, end: number): Buffer {
  const pageSize = pageSizeOf(spec);
  const out = Buffer.alloc(Math.max(0, end - start));
  for (let pfn = Math.floor(start / pageSize); pfn * pageSize < end; pfn++) {
    const lo = pfn * pageSize;
    const from = Math.max(start, lo);
    const to = Math.min(end, lo + pageSize);
    physicalPage(spec, pfn).copy(out, from - start, from - lo, to - lo);
  }
  return out;
}

/** One ELF note: the sender's and receiver's own encoder (shared/elf/core.ts). */
export { encodeNote };

/** An NT_PRSTATUS desc for a CPU: zeroes except pr_pid = cpu + 1. */
export function prstatusDesc(cpu: number): Buffer {
  const desc = Buffer.alloc(PRSTATUS_DESC_SIZE);
  desc.writeUInt32LE(cpu + 1, PRSTATUS_PID_OFFSET);
  return desc;
}

function buildNotes(spec: ElfCoreSpec): { notes: Buffer; vmcoreinfoOffset: number; vmcoreinfoSize: number } {
  const parts: Buffer[] = [];
  let length = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    length += b.length;
  };
  for (let cpu = 0; cpu < (spec.cpus ?? 1); cpu++) push(encodeNote('CORE', NT_PRSTATUS, prstatusDesc(cpu)));
  let vmcoreinfoOffset = -1;
  let vmcoreinfoSize = 0;
  const text = spec.vmcoreinfo === undefined ? defaultVmcoreinfo({ pageSize: pageSizeOf(spec) }) : spec.vmcoreinfo;
  if (text !== null) {
    const desc = Buffer.from(text, 'latin1');
    vmcoreinfoOffset = length + 12 + align4('VMCOREINFO\0'.length);
    vmcoreinfoSize = desc.length;
    push(encodeNote('VMCOREINFO', 0, desc));
  }
  for (const note of spec.extraNotes ?? []) push(encodeNote(note.name, note.type, note.desc));
  if (spec.notePadding) push(Buffer.alloc(spec.notePadding));
  return { notes: Buffer.concat(parts, length), vmcoreinfoOffset, vmcoreinfoSize };
}

export function writeElfHeader(out: Buffer, machine: number, phnum: number): void {
  out.fill(0, 0, ELF64_EHDR_SIZE);
  out.writeUInt32BE(0x7f454c46, 0);
  out[EHDR.class] = 2; // ELFCLASS64
  out[EHDR.data] = 1; // ELFDATA2LSB
  out[6] = 1; // EV_CURRENT
  out.writeUInt16LE(ET_CORE, EHDR.type);
  out.writeUInt16LE(machine, EHDR.machine);
  out.writeUInt32LE(1, 20); // e_version
  out.writeBigUInt64LE(BigInt(ELF64_EHDR_SIZE), EHDR.phoff);
  out.writeUInt16LE(ELF64_EHDR_SIZE, 52); // e_ehsize
  out.writeUInt16LE(ELF64_PHDR_SIZE, EHDR.phentsize);
  out.writeUInt16LE(phnum, EHDR.phnum);
}

export interface ProgramHeaderFields {
  type: number;
  flags: number;
  offset: number;
  vaddr: bigint;
  paddr: number;
  filesz: number;
  memsz: number;
}

export function writeProgramHeader(out: Buffer, at: number, ph: ProgramHeaderFields): void {
  out.writeUInt32LE(ph.type, at + PHDR.type);
  out.writeUInt32LE(ph.flags, at + PHDR.flags);
  out.writeBigUInt64LE(BigInt(ph.offset), at + PHDR.offset);
  out.writeBigUInt64LE(ph.vaddr, at + PHDR.vaddr);
  out.writeBigUInt64LE(BigInt(ph.paddr), at + PHDR.paddr);
  out.writeBigUInt64LE(BigInt(ph.filesz), at + PHDR.filesz);
  out.writeBigUInt64LE(BigInt(ph.memsz), at + PHDR.memsz);
  out.writeBigUInt64LE(0n, at + PHDR.align);
}

/** Builds the core and says where everything went. */
export function buildElfCoreDetailed(spec: ElfCoreSpec): BuiltElfCore {
  const pageSize = pageSizeOf(spec);
  const phnum = 1 + spec.loads.length;
  const headersEnd = ELF64_EHDR_SIZE + phnum * ELF64_PHDR_SIZE;
  const { notes, vmcoreinfoOffset, vmcoreinfoSize } = buildNotes(spec);
  const noteOffset = spec.noteOffset ?? align(headersEnd, 8);
  if (noteOffset < headersEnd) throw new RangeError(`noteOffset ${noteOffset} overlaps the program headers (end ${headersEnd})`);

  const segmentAlign = spec.segmentAlign ?? pageSize;
  let next = noteOffset + notes.length;
  const loads: ResolvedLoad[] = spec.loads.map((load) => {
    const filesz = load.filesz ?? load.memsz;
    const offset = load.offset ?? align(next, segmentAlign);
    next = Math.max(next, offset + filesz);
    return {
      paddr: load.paddr,
      vaddr: load.vaddr ?? X86_64_DIRECT_MAP_BASE + BigInt(load.paddr),
      memsz: load.memsz,
      filesz,
      offset,
      flags: load.flags ?? 7,
    };
  });
  const fileSize = Math.max(noteOffset + notes.length, ...loads.map((l) => l.offset + l.filesz));

  const buffer = Buffer.alloc(fileSize);
  writeElfHeader(buffer, spec.machine ?? EM_X86_64, phnum);
  writeProgramHeader(buffer, phdrAt(0), {
    type: PT_NOTE, flags: 0, offset: noteOffset, vaddr: 0n, paddr: 0, filesz: notes.length, memsz: notes.length,
  });
  loads.forEach((load, i) => writeProgramHeader(buffer, phdrAt(i + 1), { type: PT_LOAD, ...load }));
  notes.copy(buffer, noteOffset);
  for (const load of loads) physicalBytes(spec, load.paddr, load.paddr + load.filesz).copy(buffer, load.offset);

  return {
    buffer,
    headers: buffer.subarray(0, headersEnd),
    notes: buffer.subarray(noteOffset, noteOffset + notes.length),
    noteOffset,
    vmcoreinfoOffsetInNotes: vmcoreinfoOffset,
    vmcoreinfoSize,
    loads,
    pageSize,
  };
}

/** Builds the core file's bytes. */
export function buildElfCore(spec: ElfCoreSpec): Buffer {
  return buildElfCoreDetailed(spec).buffer;
}

export interface ElfCoreFile {
  path: string;
  dir: string;
  core: BuiltElfCore;
  /** Removes the temporary directory. */
  cleanup(): Promise<void>;
}

/** Builds the core and writes it as `vmcore` in a fresh temporary directory. */
export async function writeElfCoreFile(spec: ElfCoreSpec, name = 'vmcore'): Promise<ElfCoreFile> {
  const core = buildElfCoreDetailed(spec);
  const dir = await mkdtemp(join(tmpdir(), 'netdump-core-'));
  const path = join(dir, name);
  await writeFile(path, core.buffer);
  return { path, dir, core, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface VmcoreinfoOptions {
  pageSize?: number;
  osRelease?: string;
  /** CRASHTIME, seconds since the epoch. */
  crashTime?: number;
  /** NUMBER(phys_base); negative values (and unsigned ones >= 2^63) print as the kernel's signed %ld. Omitted when undefined. */
  physBase?: number | bigint;
  /** KERNELOFFSET (hex, no 0x); default 0x0 - omitted when undefined. */
  kernelOffset?: bigint;
  buildId?: string;
  /** Extra KEY=VALUE lines, appended before CRASHTIME. */
  extra?: string[];
}

/** A VMCOREINFO text shaped like a 6.1 x86_64 kernel's (kernel/vmcore_info.c order, trimmed). */
export function defaultVmcoreinfo(options: VmcoreinfoOptions = {}): string {
  const {
    pageSize = 4096,
    osRelease = '6.1.0-test-amd64',
    crashTime = 1_700_000_000,
    physBase,
    kernelOffset,
    buildId = '0123456789abcdef0123456789abcdef01234567',
    extra = [],
  } = options;
  const lines = [
    `OSRELEASE=${osRelease}`,
    `BUILD-ID=${buildId}`,
    `PAGESIZE=${pageSize}`,
    'SYMBOL(init_uts_ns)=ffffffff82a13620',
    'OFFSET(uts_namespace.name)=0',
    'SYMBOL(node_online_map)=ffffffff82b1c5c8',
    'SYMBOL(swapper_pg_dir)=ffffffff82a0c000',
    'SYMBOL(_stext)=ffffffff81000000',
    'SYMBOL(vmap_area_list)=ffffffff82b2f3f0',
    'SYMBOL(mem_map)=ffffffff82e5e6c8',
    'SYMBOL(contig_page_data)=ffffffff82dd8140',
    'SYMBOL(mem_section)=ffff88803ffd5000',
    'LENGTH(mem_section)=2048',
    'SIZE(mem_section)=16',
    'OFFSET(mem_section.section_mem_map)=0',
    'NUMBER(SECTION_SIZE_BITS)=27',
    'NUMBER(MAX_PHYSMEM_BITS)=46',
    'SIZE(page)=64',
    'SIZE(pglist_data)=171968',
    'SIZE(zone)=1664',
    'OFFSET(page.flags)=0',
    'OFFSET(page._refcount)=52',
    'OFFSET(page.mapping)=24',
    'OFFSET(page.lru)=8',
    'OFFSET(page._mapcount)=48',
    'OFFSET(page.private)=40',
    'SYMBOL(prb)=ffffffff8289a8c0',
    'SIZE(printk_ringbuffer)=80',
    'NUMBER(PG_lru)=4',
    'NUMBER(PG_private)=13',
    'NUMBER(PG_swapcache)=10',
    'NUMBER(PG_buddy)=-128',
    'LENGTH(zone.free_area)=11',
    'NUMBER(KERNEL_IMAGE_SIZE)=1073741824',
    'SYMBOL(level4_kernel_pgt)=ffffffff82a0e000',
    'NUMBER(pgtable_l5_enabled)=0',
  ];
  if (physBase !== undefined) lines.push(`NUMBER(phys_base)=${BigInt.asIntN(64, BigInt(physBase))}`);
  if (kernelOffset !== undefined) lines.push(`KERNELOFFSET=${kernelOffset.toString(16)}`);
  lines.push(...extra, `CRASHTIME=${crashTime}`);
  return `${lines.join('\n')}\n`;
}

/**
 * PT_LOADs shaped like a small x86_64 /proc/vmcore (addresses scaled down):
 * kernel text first (vaddr at __START_KERNEL_map, physically inside the
 * second RAM range), a low range ending unaligned at 0x9fc00, RAM from
 * 1 MiB, a hole (crashkernel), and a last RAM range.
 */
export function sampleX86Loads(): LoadSegmentSpec[] {
  return [
    { paddr: 0x20_0000, vaddr: X86_64_START_KERNEL_MAP + 0x100_0000n, memsz: 0x4_0000 },
    { paddr: 0x1000, memsz: 0x9_ec00 },
    { paddr: 0x10_0000, memsz: 0x30_0000 },
    { paddr: 0x60_0000, memsz: 0x8_0000 },
  ];
}
