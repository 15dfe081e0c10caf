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
  out.write(KDUMP_SIGNATURE, 0, 'latin1');
  out.writeInt32LE(h.headerVersion, 8);
  encodeUtsname(h.utsname).copy(out, 12);
  // struct timeval after utsname, aligned to 8 bytes: 12 + 390 = 402 -> 408.
  out.writeBigInt64LE(BigInt(h.timestampSec), 408);
  out.writeBigInt64LE(BigInt(h.timestampUsec), 416);
  out.writeUInt32LE(h.status, 424);
  out.writeInt32LE(h.blockSize, 428);
  out.writeInt32LE(h.subHdrSize, 432);
  out.writeUInt32LE(h.bitmapBlocks, 436);
  out.writeUInt32LE(h.maxMapnr32, 440);
  out.writeUInt32LE(h.totalRamBlocks, 444);
  out.writeUInt32LE(h.deviceBlocks, 448);
  out.writeUInt32LE(h.writtenBlocks, 452);
  out.writeUInt32LE(h.currentCpu, 456);
  out.writeInt32LE(h.nrCpus, 460);
  return out;
}

export function decodeDiskDumpHeader(buf: Buffer): DiskDumpHeader {
  if (buf.length < DISK_DUMP_HEADER_SIZE) throw corrupt(`kdump header truncated: ${buf.length} of ${DISK_DUMP_HEADER_SIZE} bytes`, { offset: 0 });
  const signature = buf.toString('latin1', 0, 8);
  if (signature !== KDUMP_SIGNATURE) throw corrupt(`not a kdump-compressed file (signature ${JSON.stringify(signature)} at offset 0)`, { offset: 0 });
  return {
    signature,
    headerVersion: buf.readInt32LE(8),
    utsname: decodeUtsname(buf.subarray(12, 12 + UTSNAME_SIZE)),
    timestampSec: Number(buf.readBigInt64LE(408)),
    timestampUsec: Number(buf.readBigInt64LE(416)),
    status: buf.readUInt32LE(424),
    blockSize: buf.readInt32LE(428),
    subHdrSize: buf.readInt32LE(432),
    bitmapBlocks: buf.readUInt32LE(436),
    maxMapnr32: buf.readUInt32LE(440),
    totalRamBlocks: buf.readUInt32LE(444),
    deviceBlocks: buf.readUInt32LE(448),
    writtenBlocks: buf.readUInt32LE(452),
    currentCpu: buf.readUInt32LE(456),
    nrCpus: buf.readInt32LE(460),
  };
}

export function encodeSubHeader(s: KdumpSubHeader): Buffer {
  const out = Buffer.alloc(KDUMP_SUB_HEADER_SIZE);
  out.writeBigUInt64LE(s.physBase, 0);
  out.writeInt32LE(s.dumpLevel, 8);
  out.writeInt32LE(s.split, 12);
  out.writeBigUInt64LE(BigInt(s.startPfn), 16);
  out.writeBigUInt64LE(BigInt(s.endPfn), 24);
  out.writeBigInt64LE(BigInt(s.offsetVmcoreinfo), 32);
  out.writeBigUInt64LE(BigInt(s.sizeVmcoreinfo), 40);
  out.writeBigInt64LE(BigInt(s.offsetNote), 48);
  out.writeBigUInt64LE(BigInt(s.sizeNote), 56);
  out.writeBigInt64LE(BigInt(s.offsetEraseinfo), 64);
  out.writeBigUInt64LE(BigInt(s.sizeEraseinfo), 72);
  out.writeBigUInt64LE(BigInt(s.startPfn64), 80);
  out.writeBigUInt64LE(BigInt(s.endPfn64), 88);
  out.writeBigUInt64LE(BigInt(s.maxMapnr64), 96);
  return out;
}

export function decodeSubHeader(buf: Buffer): KdumpSubHeader {
  if (buf.length < KDUMP_SUB_HEADER_SIZE) throw corrupt(`kdump sub-header truncated: ${buf.length} of ${KDUMP_SUB_HEADER_SIZE} bytes`);
  const n = (at: number) => Number(buf.readBigUInt64LE(at));
  return {
    physBase: buf.readBigUInt64LE(0),
    dumpLevel: buf.readInt32LE(8),
    split: buf.readInt32LE(12),
    startPfn: n(16),
    endPfn: n(24),
    offsetVmcoreinfo: n(32),
    sizeVmcoreinfo: n(40),
    offsetNote: n(48),
    sizeNote: n(56),
    offsetEraseinfo: n(64),
    sizeEraseinfo: n(72),
    startPfn64: n(80),
    endPfn64: n(88),
    maxMapnr64: n(96),
  };
}

export function writePageDescriptor(out: Buffer, at: number, d: PageDescriptor): void {
  out.writeUInt32LE(d.offset % 0x1_0000_0000, at);
  out.writeUInt32LE(Math.floor(d.offset / 0x1_0000_0000), at + 4);
  out.writeUInt32LE(d.size, at + 8);
  out.writeUInt32LE(d.flags, at + 12);
  out.writeBigUInt64LE(d.pageFlags, at + 16);
}

export function readPageDescriptor(buf: Buffer, at: number): PageDescriptor {
  return {
    offset: buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * 0x1_0000_0000,
    size: buf.readUInt32LE(at + 8),
    flags: buf.readUInt32LE(at + 12),
    pageFlags: buf.readBigUInt64LE(at + 16),
  };
}
