/**
 * The kdump-compressed ("diskdump") file format that makedumpfile writes and
 * crash reads natively (makedumpfile's diskdump_mod.h, crash's diskdump.h).
 * Everything is little-endian with x86_64/arm64 C layout.
 *
 *   block 0                      disk_dump_header
 *   block 1 .. 1+sub_hdr_size    kdump_sub_header, then the ELF notes
 *                                (VMCOREINFO inside them)
 *   next bitmap_blocks blocks    bitmap 1 (pfn present) | bitmap 2 (pfn dumpable)
 *   then                         page_desc_t[one per dumpable pfn, in pfn order]
 *   then                         page data, each page compressed or raw
 *
 * A block is one page. crash finds a page's descriptor by counting the set
 * bits of bitmap 2 below its pfn, so descriptors must be dense and ordered.
 */
import { corrupt } from '../errors.js';

export const KDUMP_SIGNATURE = 'KDUMP   ';
/** header_version 6: 64-bit start/end/max pfn in the sub-header. */
export const KDUMP_HEADER_VERSION = 6;

// disk_dump_header.status and page_desc_t.flags bits.
export const DUMP_DH_COMPRESSED_ZLIB = 0x1;
export const DUMP_DH_COMPRESSED_LZO = 0x2;
export const DUMP_DH_COMPRESSED_SNAPPY = 0x4;
export const DUMP_DH_COMPRESSED_INCOMPLETE = 0x8;
export const DUMP_DH_EXCLUDED_VMEMMAP = 0x10;
export const DUMP_DH_COMPRESSED_ZSTD = 0x20;

export const DISK_DUMP_HEADER_SIZE = 464;
export const KDUMP_SUB_HEADER_SIZE = 104;
export const PAGE_DESC_SIZE = 24;
const UTS_FIELD = 65;
export const UTSNAME_SIZE = UTS_FIELD * 6;

export interface Utsname {
  sysname: string;
  nodename: string;
  release: string;
  version: string;
  machine: string;
  domainname: string;
}

export interface DiskDumpHeader {
  signature: string;
  headerVersion: number;
  utsname: Utsname;
  timestampSec: number;
  timestampUsec: number;
  status: number;
  blockSize: number;
  /** Size of sub-header plus notes, in blocks. */
  subHdrSize: number;
  /** Both bitmaps together, in blocks. */
  bitmapBlocks: number;
  /** 32-bit copy, obsolete; max_mapnr_64 in the sub-header is authoritative. */
  maxMapnr32: number;
  totalRamBlocks: number;
  deviceBlocks: number;
  writtenBlocks: number;
  currentCpu: number;
  nrCpus: number;
}

export interface KdumpSubHeader {
  physBase: bigint;
  dumpLevel: number;
  split: number;
  startPfn: number;
  endPfn: number;
  offsetVmcoreinfo: number;
  sizeVmcoreinfo: number;
  offsetNote: number;
  sizeNote: number;
  offsetEraseinfo: number;
  sizeEraseinfo: number;
  startPfn64: number;
  endPfn64: number;
  maxMapnr64: number;
}

export interface PageDescriptor {
  /** Absolute file offset of the page's data. */
  offset: number;
  /** Bytes stored; equal to the block size with flags 0 means stored raw. */
  size: number;
  flags: number;
  pageFlags: bigint;
}

function writeFixedString(buf: Buffer, at: number, length: number, text: string): void {
  buf.fill(0, at, at + length);
  buf.write(text.slice(0, length - 1), at, 'latin1');
}

function readFixedString(buf: Buffer, at: number, length: number): string {
  const field = buf.subarray(at, at + length);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? length : nul).toString('latin1');
}

/**
 * struct disk_dump_header (makedumpfile's diskdump_mod.h) on 64-bit hosts:
 * the byte offset of each field. The struct timeval follows the utsname
 * (12 + 390 = 402), aligned to 8: 408.
 */
export const DISK_DUMP_HEADER = {
  signature: 0, headerVersion: 8, utsname: 12, timestampSec: 408, timestampUsec: 416, status: 424, blockSize: 428,
  subHdrSize: 432, bitmapBlocks: 436, maxMapnr32: 440, totalRamBlocks: 444, deviceBlocks: 448, writtenBlocks: 452,
  currentCpu: 456, nrCpus: 460,
} as const;

/** struct kdump_sub_header: the byte offset of each field. */
export const KDUMP_SUB_HEADER = {
  physBase: 0, dumpLevel: 8, split: 12, startPfn: 16, endPfn: 24, offsetVmcoreinfo: 32, sizeVmcoreinfo: 40, offsetNote: 48,
  sizeNote: 56, offsetEraseinfo: 64, sizeEraseinfo: 72, startPfn64: 80, endPfn64: 88, maxMapnr64: 96,
} as const;

/** struct page_desc: offset (64-bit, written as two 32-bit halves), size, flags, page_flags. */
export const PAGE_DESC = { offset: 0, size: 8, flags: 12, pageFlags: 16 } as const;

export function encodeUtsname(uts: Utsname): Buffer {
  const out = Buffer.alloc(UTSNAME_SIZE);
  [uts.sysname, uts.nodename, uts.release, uts.version, uts.machine, uts.domainname].forEach((text, i) =>
    writeFixedString(out, i * UTS_FIELD, UTS_FIELD, text),
  );
  return out;
}

export function decodeUtsname(buf: Buffer): Utsname {
  const f = (i: number) => readFixedString(buf, i * UTS_FIELD, UTS_FIELD);
  return { sysname: f(0), nodename: f(1), release: f(2), version: f(3), machine: f(4), domainname: f(5) };
}

export function encodeDiskDumpHeader(h: DiskDumpHeader): Buffer {
  const out = Buffer.alloc(DISK_DUMP_HEADER_SIZE);
  out.write(KDUMP_SIGNATURE, DISK_DUMP_HEADER.signature, 'latin1');
  out.writeInt32LE(h.headerVersion, DISK_DUMP_HEADER.headerVersion);
  encodeUtsname(h.utsname).copy(out, DISK_DUMP_HEADER.utsname);
  out.writeBigInt64LE(BigInt(h.timestampSec), DISK_DUMP_HEADER.timestampSec);
  out.writeBigInt64LE(BigInt(h.timestampUsec), DISK_DUMP_HEADER.timestampUsec);
  out.writeUInt32LE(h.status, DISK_DUMP_HEADER.status);
  out.writeInt32LE(h.blockSize, DISK_DUMP_HEADER.blockSize);
  out.writeInt32LE(h.subHdrSize, DISK_DUMP_HEADER.subHdrSize);
  out.writeUInt32LE(h.bitmapBlocks, DISK_DUMP_HEADER.bitmapBlocks);
  out.writeUInt32LE(h.maxMapnr32, DISK_DUMP_HEADER.maxMapnr32);
  out.writeUInt32LE(h.totalRamBlocks, DISK_DUMP_HEADER.totalRamBlocks);
  out.writeUInt32LE(h.deviceBlocks, DISK_DUMP_HEADER.deviceBlocks);
  out.writeUInt32LE(h.writtenBlocks, DISK_DUMP_HEADER.writtenBlocks);
  out.writeUInt32LE(h.currentCpu, DISK_DUMP_HEADER.currentCpu);
  out.writeInt32LE(h.nrCpus, DISK_DUMP_HEADER.nrCpus);
  return out;
}

export function decodeDiskDumpHeader(buf: Buffer): DiskDumpHeader {
  if (buf.length < DISK_DUMP_HEADER_SIZE) throw corrupt(`kdump header truncated: ${buf.length} of ${DISK_DUMP_HEADER_SIZE} bytes`, { offset: 0 });
  const signature = buf.toString('latin1', DISK_DUMP_HEADER.signature, DISK_DUMP_HEADER.signature + KDUMP_SIGNATURE.length);
  if (signature !== KDUMP_SIGNATURE) throw corrupt(`not a kdump-compressed file (signature ${JSON.stringify(signature)} at offset 0)`, { offset: 0 });
  return {
    signature,
    headerVersion: buf.readInt32LE(DISK_DUMP_HEADER.headerVersion),
    utsname: decodeUtsname(buf.subarray(DISK_DUMP_HEADER.utsname, DISK_DUMP_HEADER.utsname + UTSNAME_SIZE)),
    timestampSec: Number(buf.readBigInt64LE(DISK_DUMP_HEADER.timestampSec)),
    timestampUsec: Number(buf.readBigInt64LE(DISK_DUMP_HEADER.timestampUsec)),
    status: buf.readUInt32LE(DISK_DUMP_HEADER.status),
    blockSize: buf.readInt32LE(DISK_DUMP_HEADER.blockSize),
    subHdrSize: buf.readInt32LE(DISK_DUMP_HEADER.subHdrSize),
    bitmapBlocks: buf.readUInt32LE(DISK_DUMP_HEADER.bitmapBlocks),
    maxMapnr32: buf.readUInt32LE(DISK_DUMP_HEADER.maxMapnr32),
    totalRamBlocks: buf.readUInt32LE(DISK_DUMP_HEADER.totalRamBlocks),
    deviceBlocks: buf.readUInt32LE(DISK_DUMP_HEADER.deviceBlocks),
    writtenBlocks: buf.readUInt32LE(DISK_DUMP_HEADER.writtenBlocks),
    currentCpu: buf.readUInt32LE(DISK_DUMP_HEADER.currentCpu),
    nrCpus: buf.readInt32LE(DISK_DUMP_HEADER.nrCpus),
  };
}

export function encodeSubHeader(s: KdumpSubHeader): Buffer {
  const out = Buffer.alloc(KDUMP_SUB_HEADER_SIZE);
  out.writeBigUInt64LE(s.physBase, KDUMP_SUB_HEADER.physBase);
  out.writeInt32LE(s.dumpLevel, KDUMP_SUB_HEADER.dumpLevel);
  out.writeInt32LE(s.split, KDUMP_SUB_HEADER.split);
  out.writeBigUInt64LE(BigInt(s.startPfn), KDUMP_SUB_HEADER.startPfn);
  out.writeBigUInt64LE(BigInt(s.endPfn), KDUMP_SUB_HEADER.endPfn);
  out.writeBigInt64LE(BigInt(s.offsetVmcoreinfo), KDUMP_SUB_HEADER.offsetVmcoreinfo);
  out.writeBigUInt64LE(BigInt(s.sizeVmcoreinfo), KDUMP_SUB_HEADER.sizeVmcoreinfo);
  out.writeBigInt64LE(BigInt(s.offsetNote), KDUMP_SUB_HEADER.offsetNote);
  out.writeBigUInt64LE(BigInt(s.sizeNote), KDUMP_SUB_HEADER.sizeNote);
  out.writeBigInt64LE(BigInt(s.offsetEraseinfo), KDUMP_SUB_HEADER.offsetEraseinfo);
  out.writeBigUInt64LE(BigInt(s.sizeEraseinfo), KDUMP_SUB_HEADER.sizeEraseinfo);
  out.writeBigUInt64LE(BigInt(s.startPfn64), KDUMP_SUB_HEADER.startPfn64);
  out.writeBigUInt64LE(BigInt(s.endPfn64), KDUMP_SUB_HEADER.endPfn64);
  out.writeBigUInt64LE(BigInt(s.maxMapnr64), KDUMP_SUB_HEADER.maxMapnr64);
  return out;
}

export function decodeSubHeader(buf: Buffer): KdumpSubHeader {
  if (buf.length < KDUMP_SUB_HEADER_SIZE) throw corrupt(`kdump sub-header truncated: ${buf.length} of ${KDUMP_SUB_HEADER_SIZE} bytes`);
  const n = (at: number) => Number(buf.readBigUInt64LE(at));
  return {
    physBase: buf.readBigUInt64LE(KDUMP_SUB_HEADER.physBase),
    dumpLevel: buf.readInt32LE(KDUMP_SUB_HEADER.dumpLevel),
    split: buf.readInt32LE(KDUMP_SUB_HEADER.split),
    startPfn: n(KDUMP_SUB_HEADER.startPfn),
    endPfn: n(KDUMP_SUB_HEADER.endPfn),
    offsetVmcoreinfo: n(KDUMP_SUB_HEADER.offsetVmcoreinfo),
    sizeVmcoreinfo: n(KDUMP_SUB_HEADER.sizeVmcoreinfo),
    offsetNote: n(KDUMP_SUB_HEADER.offsetNote),
    sizeNote: n(KDUMP_SUB_HEADER.sizeNote),
    offsetEraseinfo: n(KDUMP_SUB_HEADER.offsetEraseinfo),
    sizeEraseinfo: n(KDUMP_SUB_HEADER.sizeEraseinfo),
    startPfn64: n(KDUMP_SUB_HEADER.startPfn64),
    endPfn64: n(KDUMP_SUB_HEADER.endPfn64),
    maxMapnr64: n(KDUMP_SUB_HEADER.maxMapnr64),
  };
}

export function writePageDescriptor(out: Buffer, at: number, d: PageDescriptor): void {
  out.writeUInt32LE(d.offset % 0x1_0000_0000, at + PAGE_DESC.offset);
  out.writeUInt32LE(Math.floor(d.offset / 0x1_0000_0000), at + PAGE_DESC.offset + 4);
  out.writeUInt32LE(d.size, at + PAGE_DESC.size);
  out.writeUInt32LE(d.flags, at + PAGE_DESC.flags);
  out.writeBigUInt64LE(d.pageFlags, at + PAGE_DESC.pageFlags);
}

export function readPageDescriptor(buf: Buffer, at: number): PageDescriptor {
  return {
    offset: buf.readUInt32LE(at + PAGE_DESC.offset) + buf.readUInt32LE(at + PAGE_DESC.offset + 4) * 0x1_0000_0000,
    size: buf.readUInt32LE(at + PAGE_DESC.size),
    flags: buf.readUInt32LE(at + PAGE_DESC.flags),
    pageFlags: buf.readBigUInt64LE(at + PAGE_DESC.pageFlags),
  };
}
