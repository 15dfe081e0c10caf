/**
 * Builds the crashed kernel's printk state in memory, for tests of the log
 * extractor: the lockless ringbuffer of 5.10+ (with the field offsets and
 * sizes of the Debian 6.1 fixtures' VMCOREINFO), the structured log_buf of
 * 3.5-5.9 and the plain log_buf before that. Everything lives in one
 * "kernel image" of physical pages whose virtual addresses are
 * __START_KERNEL_map + phys (phys_base 0), so the same bytes serve an
 * in-memory DumpPages, an ELF core (elf-core-builder.ts) that
 * /usr/sbin/vmcore-dmesg can read as an oracle, and a kdump file.
 *
 * The data ring is filled as the kernel's data_alloc()/get_next_lpos() do:
 * a block that would cross (or end exactly at) the end of the array moves
 * to its start, with the owning ID written at both places.
 */
import type { DumpPages, PageRead } from '../../shared/dmesg/kernel-memory.js';
import { X86_64_START_KERNEL_MAP, type ElfCoreSpec } from './elf-core-builder.js';

export const PAGE = 4096;
/** Physical address of the built image (page aligned, inside a 64 MiB machine). */
export const IMAGE_PHYS = 0x20_0000;

const align = (n: number, to: number) => Math.ceil(n / to) * to;
const U64 = (1n << 64n) - 1n;

/** A contiguous range of physical pages at IMAGE_PHYS, filled field by field. */
export class KernelImage {
  /** Whole pages; the last may be partly unused. */
  bytes = Buffer.alloc(0);
  private used = 0;

  /** Reserves `size` bytes aligned to `alignment`; returns the offset in the image. */
  alloc(size: number, alignment = 8): number {
    const at = align(this.used, alignment);
    this.used = at + size;
    const grown = Buffer.alloc(align(this.used, PAGE));
    this.bytes.copy(grown);
    this.bytes = grown;
    return at;
  }

  vaddr(offset: number): bigint {
    return X86_64_START_KERNEL_MAP + BigInt(IMAGE_PHYS + offset);
  }

  symbol(name: string, offset: number): string {
    return `SYMBOL(${name})=${this.vaddr(offset).toString(16)}`;
  }

  get firstPfn(): number {
    return IMAGE_PHYS / PAGE;
  }

  get pageCount(): number {
    return this.bytes.length / PAGE;
  }

  /** The image's pages by pfn, less `missing` ones (reported as excluded). */
  pages(missing: ReadonlySet<number> = new Set()): DumpPages {
    return {
      pageSize: PAGE,
      readPage: async (pfn): Promise<PageRead> => {
        const index = pfn - this.firstPfn;
        if (index < 0 || index >= this.pageCount) return { missing: 'outside the test image' };
        if (missing.has(pfn)) return { missing: 'excluded by the test' };
        return { page: Buffer.from(this.bytes.subarray(index * PAGE, (index + 1) * PAGE)) };
      },
    };
  }

  /** The physical page `pfn` holds (zero outside the image), for elf-core-builder's page(). */
  physicalPage(pfn: number): Buffer {
    const index = pfn - this.firstPfn;
    if (index < 0 || index >= this.pageCount) return Buffer.alloc(PAGE);
    return Buffer.from(this.bytes.subarray(index * PAGE, (index + 1) * PAGE));
  }
}

/** The printk part of a 6.1 x86_64 VMCOREINFO, as the fixtures have it (minus the symbols). */
export const LOCKLESS_VMCOREINFO = [
  'SIZE(printk_ringbuffer)=88',
  'OFFSET(printk_ringbuffer.desc_ring)=0',
  'OFFSET(printk_ringbuffer.text_data_ring)=48',
  'OFFSET(printk_ringbuffer.fail)=80',
  'SIZE(prb_desc_ring)=48',
  'OFFSET(prb_desc_ring.count_bits)=0',
  'OFFSET(prb_desc_ring.descs)=8',
  'OFFSET(prb_desc_ring.infos)=16',
  'OFFSET(prb_desc_ring.head_id)=24',
  'OFFSET(prb_desc_ring.tail_id)=32',
  'SIZE(prb_desc)=24',
  'OFFSET(prb_desc.state_var)=0',
  'OFFSET(prb_desc.text_blk_lpos)=8',
  'SIZE(prb_data_blk_lpos)=16',
  'OFFSET(prb_data_blk_lpos.begin)=0',
  'OFFSET(prb_data_blk_lpos.next)=8',
  'SIZE(printk_info)=88',
  'OFFSET(printk_info.seq)=0',
  'OFFSET(printk_info.ts_nsec)=8',
  'OFFSET(printk_info.text_len)=16',
  'OFFSET(printk_info.caller_id)=20',
  'OFFSET(printk_info.dev_info)=24',
  'SIZE(prb_data_ring)=32',
  'OFFSET(prb_data_ring.size_bits)=0',
  'OFFSET(prb_data_ring.data)=8',
  'OFFSET(prb_data_ring.head_lpos)=16',
  'OFFSET(prb_data_ring.tail_lpos)=24',
  'SIZE(atomic_long_t)=8',
  'OFFSET(atomic_long_t.counter)=0',
];

/** A whole VMCOREINFO text around printk lines: what describeCore and vmcore-dmesg need. */
export function vmcoreinfoText(printkLines: string[]): string {
  return ['OSRELEASE=6.1.0-test-amd64', 'PAGESIZE=4096', ...printkLines, 'NUMBER(phys_base)=0', 'NUMBER(KERNEL_IMAGE_SIZE)=1073741824', 'CRASHTIME=1700000000', ''].join('\n');
}

export type DescStateName = 'reserved' | 'committed' | 'finalized' | 'reusable';
const STATE_BITS: Record<DescStateName, bigint> = { reserved: 0n, committed: 1n, finalized: 2n, reusable: 3n };
export const NO_LPOS = 3n;
export const FAILED_LPOS = 1n;

export interface RingRecordSpec {
  id: bigint;
  state?: DescStateName;
  tsNsec: bigint;
  /** The stored text; null for a data-less record (NO_LPOS, or FAILED_LPOS with `failed`). */
  text: Buffer | string | null;
  failed?: boolean;
  /** printk_info.text_len when it should differ from the text's length. */
  textLen?: number;
  /** The ID written into state_var, when it should differ from `id` (a stale slot). */
  stateVarId?: bigint;
}

export interface LocklessRingSpec {
  countBits: number;
  sizeBits: number;
  tailId: bigint;
  headId: bigint;
  /** lpos of the first block; default BLK0_LPOS (-size), as at boot. */
  firstLpos?: bigint;
  /** In order of allocation; later records overwrite earlier ones' slots and bytes. */
  records: RingRecordSpec[];
}

export interface BuiltRing {
  image: KernelImage;
  /** VMCOREINFO printk lines, symbols included. */
  vmcoreinfoLines: string[];
  /** Where each record's block went (lpos begin/next), by position in spec.records. */
  blocks: { begin: bigint; next: bigint }[];
}

export function buildLocklessRing(spec: LocklessRingSpec): BuiltRing {
  const image = new KernelImage();
  const count = 1 << spec.countBits;
  const size = 1n << BigInt(spec.sizeBits);
  const prb = image.alloc(8);
  const ring = image.alloc(88, 64);
  const descs = image.alloc(count * 24, PAGE);
  const infos = image.alloc(count * 88, PAGE);
  const data = image.alloc(Number(size), PAGE);
  const b = image.bytes;
  b.writeBigUInt64LE(image.vaddr(ring), prb);
  b.writeUInt32LE(spec.countBits, ring + 0);
  b.writeBigUInt64LE(image.vaddr(descs), ring + 8);
  b.writeBigUInt64LE(image.vaddr(infos), ring + 16);
  b.writeBigUInt64LE(spec.headId, ring + 24);
  b.writeBigUInt64LE(spec.tailId, ring + 32);
  b.writeUInt32LE(spec.sizeBits, ring + 48);
  b.writeBigUInt64LE(image.vaddr(data), ring + 56);

  let lpos = spec.firstLpos ?? (-size & U64);
  const blocks: BuiltRing['blocks'] = [];
  for (const record of spec.records) {
    const index = Number(record.id % BigInt(count));
    const text = record.text === null ? null : Buffer.isBuffer(record.text) ? record.text : Buffer.from(record.text, 'latin1');
    let begin: bigint;
    let next: bigint;
    if (text === null) {
      begin = next = record.failed ? FAILED_LPOS : NO_LPOS;
    } else {
      const blockSize = BigInt(align(8 + text.length, 8));
      begin = lpos;
      next = (begin + blockSize) & U64;
      let textAt = Number(begin % size) + 8;
      b.writeBigUInt64LE(record.id, data + Number(begin % size));
      if (begin >> BigInt(spec.sizeBits) !== next >> BigInt(spec.sizeBits)) {
        // Wraps: the data goes to the start of the next wrap, the ID in both places.
        next = ((next & ~(size - 1n)) + blockSize) & U64;
        b.writeBigUInt64LE(record.id, data);
        textAt = 8;
      }
      text.copy(b, data + textAt);
      lpos = next;
    }
    blocks.push({ begin, next });
    const desc = descs + index * 24;
    b.writeBigUInt64LE((STATE_BITS[record.state ?? 'finalized'] << 62n) | (record.stateVarId ?? record.id), desc);
    b.writeBigUInt64LE(begin, desc + 8);
    b.writeBigUInt64LE(next, desc + 16);
    const info = infos + index * 88;
    b.fill(0, info, info + 88);
    b.writeBigUInt64LE(record.id, info); // seq: any value, never read
    b.writeBigUInt64LE(record.tsNsec, info + 8);
    b.writeUInt16LE(record.textLen ?? text?.length ?? 0, info + 16);
  }
  return { image, vmcoreinfoLines: [image.symbol('prb', prb), ...LOCKLESS_VMCOREINFO], blocks };
}

/** struct printk_log of 3.11-5.9 without CONFIG_PRINTK_CALLER: ts_nsec, len, text_len, dict_len, facility, flags:5/level:3. */
export const STRUCTURED_VMCOREINFO = [
  'SIZE(printk_log)=16',
  'OFFSET(printk_log.ts_nsec)=0',
  'OFFSET(printk_log.len)=8',
  'OFFSET(printk_log.text_len)=10',
  'OFFSET(printk_log.dict_len)=12',
];
const LOG_HEADER = 16;

export interface StructuredLogSpec {
  bufferLength: number;
  firstIndex: number;
  records: { tsNsec: bigint; text: string | Buffer; dict?: string }[];
}

/** Records from firstIndex on, with the kernel's wrap rule (log_store): a zero header marks the end when a record and one more header do not fit. */
export function buildStructuredLog(spec: StructuredLogSpec): { image: KernelImage; vmcoreinfoLines: string[]; nextIndex: number } {
  const image = new KernelImage();
  const logBufPointer = image.alloc(8);
  const logBufLen = image.alloc(4);
  const firstIdx = image.alloc(4);
  const nextIdx = image.alloc(4);
  const buffer = image.alloc(spec.bufferLength, PAGE);
  const b = image.bytes;
  let index = spec.firstIndex;
  for (const record of spec.records) {
    const text = Buffer.isBuffer(record.text) ? record.text : Buffer.from(record.text, 'latin1');
    const dict = Buffer.from(record.dict ?? '', 'latin1');
    const length = align(LOG_HEADER + text.length + dict.length, 8);
    if (index + length + LOG_HEADER > spec.bufferLength) {
      b.fill(0, buffer + index, buffer + index + LOG_HEADER);
      index = 0;
    }
    const at = buffer + index;
    b.writeBigUInt64LE(record.tsNsec, at);
    b.writeUInt16LE(length, at + 8);
    b.writeUInt16LE(text.length, at + 10);
    b.writeUInt16LE(dict.length, at + 12);
    b[at + 14] = 0; // facility
    b[at + 15] = (6 << 5) | 2; // level 6 (KERN_INFO), flags LOG_NEWLINE: never printed
    text.copy(b, at + LOG_HEADER);
    dict.copy(b, at + LOG_HEADER + text.length);
    index += length;
  }
  b.writeBigUInt64LE(image.vaddr(buffer), logBufPointer);
  b.writeInt32LE(spec.bufferLength, logBufLen);
  b.writeUInt32LE(spec.firstIndex, firstIdx);
  b.writeUInt32LE(index, nextIdx);
  return {
    image,
    nextIndex: index,
    vmcoreinfoLines: [
      image.symbol('log_buf', logBufPointer), image.symbol('log_buf_len', logBufLen),
      image.symbol('log_first_idx', firstIdx), image.symbol('log_next_idx', nextIdx), ...STRUCTURED_VMCOREINFO,
    ],
  };
}

/** A pre-3.5 character buffer after `written` was printed into it, wrapping. */
export function buildLegacyLog(bufferLength: number, written: Buffer): { image: KernelImage; vmcoreinfoLines: string[] } {
  const image = new KernelImage();
  const logBufPointer = image.alloc(8);
  const logBufLen = image.alloc(4);
  const logEnd = image.alloc(4);
  const loggedChars = image.alloc(4);
  const buffer = image.alloc(bufferLength, PAGE);
  const b = image.bytes;
  written.forEach((byte, i) => { b[buffer + (i % bufferLength)] = byte; });
  b.writeBigUInt64LE(image.vaddr(buffer), logBufPointer);
  b.writeInt32LE(bufferLength, logBufLen);
  b.writeUInt32LE(written.length, logEnd);
  b.writeUInt32LE(Math.min(written.length, bufferLength), loggedChars);
  return {
    image,
    vmcoreinfoLines: [
      image.symbol('log_buf', logBufPointer), image.symbol('log_buf_len', logBufLen),
      image.symbol('log_end', logEnd), image.symbol('logged_chars', loggedChars),
    ],
  };
}

/** An ELF core spec holding the image at IMAGE_PHYS, mapped at __START_KERNEL_map + IMAGE_PHYS as a vmcore maps the kernel. */
export function imageCoreSpec(image: KernelImage, vmcoreinfoLines: string[]): ElfCoreSpec {
  return {
    loads: [{ paddr: IMAGE_PHYS, vaddr: X86_64_START_KERNEL_MAP + BigInt(IMAGE_PHYS), memsz: image.bytes.length }],
    vmcoreinfo: vmcoreinfoText(vmcoreinfoLines),
    page: (pfn) => image.physicalPage(pfn),
  };
}
