import { describe, it, expect } from 'vitest';
import { NetdumpError } from '../../shared/errors.js';
import {
  DISK_DUMP_HEADER_SIZE, DUMP_DH_COMPRESSED_INCOMPLETE, DUMP_DH_COMPRESSED_LZO, KDUMP_HEADER_VERSION, KDUMP_SIGNATURE,
  KDUMP_SUB_HEADER_SIZE, PAGE_DESC_SIZE, UTSNAME_SIZE, decodeDiskDumpHeader, decodeSubHeader, decodeUtsname,
  encodeDiskDumpHeader, encodeSubHeader, encodeUtsname, readPageDescriptor, writePageDescriptor,
  type DiskDumpHeader, type KdumpSubHeader,
} from '../../shared/kdump/format.js';

const utsname = {
  sysname: 'Linux', nodename: 'crashy', release: '6.1.0-56-amd64', version: '#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-1 (2026-01-01)',
  machine: 'x86_64', domainname: '(none)',
};

const header: DiskDumpHeader = {
  signature: KDUMP_SIGNATURE,
  headerVersion: KDUMP_HEADER_VERSION,
  utsname,
  timestampSec: 1_732_000_123,
  timestampUsec: 456,
  status: DUMP_DH_COMPRESSED_LZO | DUMP_DH_COMPRESSED_INCOMPLETE,
  blockSize: 4096,
  subHdrSize: 2,
  bitmapBlocks: 16,
  maxMapnr32: 0x4_0000,
  totalRamBlocks: 1,
  deviceBlocks: 2,
  writtenBlocks: 3,
  currentCpu: 1,
  nrCpus: 2,
};

const sub: KdumpSubHeader = {
  physBase: 0xffff_ffff_d7a0_0000n,
  dumpLevel: 1,
  split: 0,
  startPfn: 0,
  endPfn: 0,
  offsetVmcoreinfo: 4096 + 104 + 700,
  sizeVmcoreinfo: 2000,
  offsetNote: 4096 + 104,
  sizeNote: 2800,
  offsetEraseinfo: 0,
  sizeEraseinfo: 0,
  startPfn64: 0,
  endPfn64: 0,
  maxMapnr64: 2 ** 36 + 3,
};

describe('disk_dump_header', () => {
  it('has the C struct sizes', () => {
    expect(DISK_DUMP_HEADER_SIZE).toBe(464);
    expect(KDUMP_SUB_HEADER_SIZE).toBe(104);
    expect(PAGE_DESC_SIZE).toBe(24);
    expect(UTSNAME_SIZE).toBe(390);
    expect(KDUMP_HEADER_VERSION).toBe(6);
  });

  it('round-trips through encode/decode', () => {
    const buf = encodeDiskDumpHeader(header);
    expect(buf.length).toBe(DISK_DUMP_HEADER_SIZE);
    expect(decodeDiskDumpHeader(buf)).toEqual(header);
  });

  it('puts each field at its makedumpfile offset', () => {
    const buf = encodeDiskDumpHeader(header);
    expect(buf.toString('latin1', 0, 8)).toBe('KDUMP   ');
    expect(buf.readInt32LE(8)).toBe(6); // header_version
    expect(buf.toString('latin1', 12, 12 + 5)).toBe('Linux'); // utsname.sysname
    expect(buf.toString('latin1', 12 + 65 * 2, 12 + 65 * 2 + 14)).toBe('6.1.0-56-amd64'); // utsname.release
    expect(buf.toString('latin1', 12 + 65 * 4, 12 + 65 * 4 + 6)).toBe('x86_64'); // utsname.machine
    expect(buf.readBigInt64LE(408)).toBe(1_732_000_123n); // timestamp.tv_sec
    expect(buf.readBigInt64LE(416)).toBe(456n); // timestamp.tv_usec
    expect(buf.readUInt32LE(424)).toBe(0xa); // status
    expect(buf.readInt32LE(428)).toBe(4096); // block_size
    expect(buf.readInt32LE(432)).toBe(2); // sub_hdr_size
    expect(buf.readUInt32LE(436)).toBe(16); // bitmap_blocks
    expect(buf.readUInt32LE(440)).toBe(0x4_0000); // max_mapnr
    expect(buf.readUInt32LE(444)).toBe(1); // total_ram_blocks
    expect(buf.readUInt32LE(448)).toBe(2); // device_blocks
    expect(buf.readUInt32LE(452)).toBe(3); // written_blocks
    expect(buf.readUInt32LE(456)).toBe(1); // current_cpu
    expect(buf.readInt32LE(460)).toBe(2); // nr_cpus
    // Padding between utsname (ends at 402) and the timeval stays zero.
    expect([...buf.subarray(402, 408)]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('rejects a wrong signature or a short buffer as CORRUPT', () => {
    const buf = encodeDiskDumpHeader(header);
    buf.write('KDUMPX  ', 0, 'latin1');
    expect(() => decodeDiskDumpHeader(buf)).toThrow(NetdumpError);
    expect(() => decodeDiskDumpHeader(buf)).toThrow(expect.objectContaining({ code: 'CORRUPT' }));
    expect(() => decodeDiskDumpHeader(encodeDiskDumpHeader(header).subarray(0, 463))).toThrow(
      expect.objectContaining({ code: 'CORRUPT' }),
    );
  });
});

describe('utsname', () => {
  it('round-trips, each field 65 bytes NUL-padded', () => {
    const buf = encodeUtsname(utsname);
    expect(buf.length).toBe(390);
    expect(decodeUtsname(buf)).toEqual(utsname);
    expect(buf.toString('latin1', 65, 65 + 6)).toBe('crashy');
    expect(buf[65 + 6]).toBe(0);
  });

  it('truncates over-long fields to 64 bytes plus NUL', () => {
    const long = 'v'.repeat(100);
    const buf = encodeUtsname({ ...utsname, version: long });
    expect(decodeUtsname(buf).version).toBe('v'.repeat(64));
    expect(buf[65 * 3 + 64]).toBe(0);
    expect(decodeUtsname(buf).machine).toBe('x86_64');
  });
});

describe('kdump_sub_header', () => {
  it('round-trips through encode/decode', () => {
    const buf = encodeSubHeader(sub);
    expect(buf.length).toBe(KDUMP_SUB_HEADER_SIZE);
    expect(decodeSubHeader(buf)).toEqual(sub);
  });

  it('puts each field at its makedumpfile offset', () => {
    const buf = encodeSubHeader({ ...sub, startPfn: 11, endPfn: 12, startPfn64: 13, endPfn64: 14, offsetEraseinfo: 15, sizeEraseinfo: 16 });
    expect(buf.readBigUInt64LE(0)).toBe(0xffff_ffff_d7a0_0000n); // phys_base
    expect(buf.readInt32LE(8)).toBe(1); // dump_level
    expect(buf.readInt32LE(12)).toBe(0); // split
    expect(buf.readBigUInt64LE(16)).toBe(11n); // start_pfn
    expect(buf.readBigUInt64LE(24)).toBe(12n); // end_pfn
    expect(buf.readBigInt64LE(32)).toBe(BigInt(sub.offsetVmcoreinfo));
    expect(buf.readBigUInt64LE(40)).toBe(2000n); // size_vmcoreinfo
    expect(buf.readBigInt64LE(48)).toBe(BigInt(sub.offsetNote));
    expect(buf.readBigUInt64LE(56)).toBe(2800n); // size_note
    expect(buf.readBigInt64LE(64)).toBe(15n); // offset_eraseinfo
    expect(buf.readBigUInt64LE(72)).toBe(16n); // size_eraseinfo
    expect(buf.readBigUInt64LE(80)).toBe(13n); // start_pfn_64
    expect(buf.readBigUInt64LE(88)).toBe(14n); // end_pfn_64
    expect(buf.readBigUInt64LE(96)).toBe(BigInt(2 ** 36 + 3)); // max_mapnr_64
  });

  it('a short sub-header -> CORRUPT', () => {
    expect(() => decodeSubHeader(Buffer.alloc(100))).toThrow(expect.objectContaining({ code: 'CORRUPT' }));
  });
});

describe('page_desc_t', () => {
  it('round-trips offsets above 4 GiB at its C offsets', () => {
    const buf = Buffer.alloc(3 * PAGE_DESC_SIZE, 0xee);
    const desc = { offset: 5 * 2 ** 32 + 0x1234, size: 1777, flags: DUMP_DH_COMPRESSED_LZO, pageFlags: 0x8000_0000_0000_0001n };
    writePageDescriptor(buf, PAGE_DESC_SIZE, desc);
    expect(readPageDescriptor(buf, PAGE_DESC_SIZE)).toEqual(desc);
    expect(buf.readBigInt64LE(PAGE_DESC_SIZE)).toBe(BigInt(desc.offset)); // off_t offset
    expect(buf.readUInt32LE(PAGE_DESC_SIZE + 8)).toBe(1777); // size
    expect(buf.readUInt32LE(PAGE_DESC_SIZE + 12)).toBe(2); // flags
    expect(buf.readBigUInt64LE(PAGE_DESC_SIZE + 16)).toBe(desc.pageFlags); // page_flags
    // Neighbours untouched.
    expect(buf.subarray(0, PAGE_DESC_SIZE).every((b) => b === 0xee)).toBe(true);
    expect(buf.subarray(2 * PAGE_DESC_SIZE).every((b) => b === 0xee)).toBe(true);
  });
});
