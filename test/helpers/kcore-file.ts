/**
 * A /proc/kcore stand-in, from a core spec: the same memory as the vmcore
 * the spec builds, laid out as kcore lays out the running kernel's virtual
 * address space (fs/proc/kcore.c). Each physical segment sits far from the
 * others in a sparse file (kcore's offsets follow virtual addresses), and
 * segments that name no physical address (p_paddr -1: vmalloc, vmemmap) sit
 * between them holding bytes no dump may contain (0xee).
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { PT_LOAD, PT_NOTE, buildElfCoreDetailed, writeElfHeader, type BuiltElfCore, type ElfCoreSpec } from './elf-core-builder.js';

const PHDR_SIZE = 56;
/** Between segments in the file: a sparse hole, as kcore's virtual-address offsets leave. */
export const KCORE_SEGMENT_GAP = 2 ** 30;
export const VMALLOC_START = 0xffff_c900_0000_0000n;
const NO_PHYSICAL_ADDRESS = 0xffff_ffff_ffff_ffffn;

export interface KcoreFile {
  path: string;
  /** The vmcore of the same memory, for comparison. */
  vmcore: BuiltElfCore;
  /** Its ELF header and program header table, as written. */
  headers: Buffer;
  /** Bytes of each virtual-only segment (never part of a dump). */
  virtualOnlyBytes: number;
}

interface Segment { type: number; offset: number; vaddr: bigint; paddr: bigint; size: number; bytes: Buffer }

/** Writes `name` in `dir`: kcore's shape for the memory of `spec`, two virtual-only segments among the physical ones. */
export async function writeKcoreFile(dir: string, spec: ElfCoreSpec, name = 'kcore'): Promise<KcoreFile> {
  const vmcore = buildElfCoreDetailed(spec);
  const pageSize = vmcore.pageSize;
  const virtualOnly = (i: number): Segment => ({
    type: PT_LOAD, offset: 0, vaddr: VMALLOC_START + BigInt(i * 2 ** 32), paddr: NO_PHYSICAL_ADDRESS, size: 2 * pageSize,
    bytes: Buffer.alloc(2 * pageSize, 0xee),
  });
  const segments: Segment[] = [virtualOnly(0)];
  for (const load of vmcore.loads) {
    segments.push({
      type: PT_LOAD, offset: 0, vaddr: load.vaddr, paddr: BigInt(load.paddr), size: load.filesz,
      bytes: vmcore.buffer.subarray(load.offset, load.offset + load.filesz),
    });
    if (segments.length === 2) segments.push(virtualOnly(1));
  }
  const phnum = 1 + segments.length;
  const headersEnd = 64 + phnum * PHDR_SIZE;
  const noteOffset = Math.ceil(headersEnd / 8) * 8;
  segments.forEach((s, i) => { s.offset = (i + 1) * KCORE_SEGMENT_GAP + (i % 2) * 512; });
  const headers = Buffer.alloc(headersEnd);
  writeElfHeader(headers, spec.machine ?? 62, phnum);
  const write = (at: number, s: Omit<Segment, 'bytes'>) => {
    headers.writeUInt32LE(s.type, at);
    headers.writeUInt32LE(s.type === PT_NOTE ? 0 : 7, at + 4);
    headers.writeBigUInt64LE(BigInt(s.offset), at + 8);
    headers.writeBigUInt64LE(s.vaddr, at + 16);
    headers.writeBigUInt64LE(s.paddr, at + 24);
    headers.writeBigUInt64LE(BigInt(s.size), at + 32);
    headers.writeBigUInt64LE(BigInt(s.size), at + 40);
    headers.writeBigUInt64LE(BigInt(s.type === PT_NOTE ? 0 : pageSize), at + 48);
  };
  write(64, { type: PT_NOTE, offset: noteOffset, vaddr: 0n, paddr: 0n, size: vmcore.notes.length });
  segments.forEach((s, i) => write(64 + (i + 1) * PHDR_SIZE, s));
  const path = join(dir, name);
  const file = await open(path, 'w');
  try {
    await file.write(headers, 0, headers.length, 0);
    await file.write(vmcore.notes, 0, vmcore.notes.length, noteOffset);
    for (const s of segments) await file.write(s.bytes, 0, s.bytes.length, s.offset);
  } finally {
    await file.close();
  }
  return { path, vmcore, headers, virtualOnlyBytes: 2 * 2 * pageSize };
}
