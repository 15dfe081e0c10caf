/**
 * Reads kdump-compressed files: ours and makedumpfile's. Used by tests to
 * compare stored pages with the original core, and by the receiver to
 * describe, export and triage a stored dump wherever it is kept (a local
 * file, an S3 object: anything that reads a range). Bitmaps are loaded whole
 * (max_mapnr / 4 bytes).
 */
import { open } from 'node:fs/promises';
import { corrupt } from '../errors.js';
import {
  DISK_DUMP_HEADER_SIZE, KDUMP_SUB_HEADER_SIZE, PAGE_DESC_SIZE, decodeDiskDumpHeader, decodeSubHeader,
  readPageDescriptor, type DiskDumpHeader, type KdumpSubHeader, type PageDescriptor,
} from './format.js';
import { isBitSet } from './layout.js';
import { decodeStoredPage, decodeStoredPageInto } from './page-codec.js';

function countBits(bytes: Buffer, from: number, to: number): number {
  let count = 0;
  for (let i = from; i < to; i++) {
    for (let bits = bytes[i]; bits !== 0; bits &= bits - 1) count++;
  }
  return count;
}

/** Bytes by offset: a local file, an object in a store. */
export interface RandomAccessSource {
  readonly size: number;
  /** Exactly `length` bytes at `offset`; throws when they are not there. */
  read(offset: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

/** A local file as a RandomAccessSource. */
export async function openFileSource(path: string): Promise<RandomAccessSource> {
  const file = await open(path, 'r');
  const { size } = await file.stat().catch(async (error) => { await file.close(); throw error; });
  return {
    size,
    async read(offset: number, length: number): Promise<Buffer> {
      if (offset < 0 || offset + length > size) throw corrupt(`read [${offset}, ${offset + length}) past the end of ${path} (${size} bytes)`, { path, offset });
      const out = Buffer.alloc(length);
      for (let done = 0; done < length;) {
        const { bytesRead } = await file.read(out, done, length - done, offset + done);
        if (bytesRead === 0) throw corrupt(`${path} ended at ${offset + done}, expected ${size} bytes`, { path, offset: offset + done });
        done += bytesRead;
      }
      return out;
    },
    close: () => file.close(),
  };
}

export class KdumpFileReader {
  private constructor(
    private readonly file: RandomAccessSource,
    readonly header: DiskDumpHeader,
    readonly subHeader: KdumpSubHeader,
    readonly presentBitmap: Buffer,
    readonly dumpableBitmap: Buffer,
    readonly descTableOffset: number,
    readonly fileSize: number,
  ) {}

  static async open(path: string): Promise<KdumpFileReader> {
    return KdumpFileReader.fromSource(await openFileSource(path));
  }

  /** Reads the dump in `file`; closing the reader closes it. */
  static async fromSource(file: RandomAccessSource): Promise<KdumpFileReader> {
    try {
      const { size } = file;
      if (size < DISK_DUMP_HEADER_SIZE) throw corrupt(`${size} bytes: too short for a kdump header (${DISK_DUMP_HEADER_SIZE})`, { offset: 0 });
      const head = await file.read(0, DISK_DUMP_HEADER_SIZE);
      const header = decodeDiskDumpHeader(head);
      const bs = header.blockSize;
      if (!(bs >= 4096 && bs <= 65536 && (bs & (bs - 1)) === 0)) throw corrupt(`bad block_size ${bs} at offset 428`, { offset: 428 });
      if (bs + KDUMP_SUB_HEADER_SIZE > size) throw corrupt(`sub-header at ${bs} is past the end (${size} bytes)`, { offset: bs });
      const subBuf = await file.read(bs, KDUMP_SUB_HEADER_SIZE);
      const subHeader = decodeSubHeader(subBuf);
      const bitmapOffset = (1 + header.subHdrSize) * bs;
      const bitmapLength = header.bitmapBlocks * bs;
      if (bitmapOffset + bitmapLength > size) throw corrupt(`bitmaps end at ${bitmapOffset + bitmapLength}, past the file's ${size} bytes`);
      const bitmaps = await file.read(bitmapOffset, bitmapLength);
      const half = bitmapLength / 2;
      return new KdumpFileReader(file, header, subHeader, bitmaps.subarray(0, half), bitmaps.subarray(half), bitmapOffset + bitmapLength, size);
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  get pageSize(): number {
    return this.header.blockSize;
  }

  get maxPfn(): number {
    return this.header.headerVersion >= 6 ? this.subHeader.maxMapnr64 : this.header.maxMapnr32;
  }

  get incomplete(): boolean {
    return (this.header.status & 0x8) !== 0;
  }

  /** Pfns marked in a bitmap, in order. */
  pfnsIn(bitmap: Buffer): number[] {
    const pfns: number[] = [];
    const limit = Math.min(this.maxPfn, bitmap.length * 8);
    for (let byte = 0; byte * 8 < limit; byte++) {
      if (bitmap[byte] === 0) continue;
      for (let bit = 0; bit < 8; bit++) if (bitmap[byte] & (1 << bit)) pfns.push(byte * 8 + bit);
    }
    return pfns;
  }

  isDumpable(pfn: number): boolean {
    return pfn < this.maxPfn && isBitSet(this.dumpableBitmap, pfn);
  }

  /** Dumpable pages before each 4096-pfn block of bitmap 2: makes rankOf() cost one block's popcount. */
  private blockRanks?: Uint32Array;

  /** The descriptor index of a dumpable pfn: how many dumpable pfns come before it. */
  rankOf(pfn: number): number {
    const BLOCK_BYTES = 512;
    const bitmap = this.dumpableBitmap;
    if (!this.blockRanks) {
      const blocks = Math.ceil(bitmap.length / BLOCK_BYTES);
      this.blockRanks = new Uint32Array(blocks + 1);
      for (let b = 0; b < blocks; b++) {
        this.blockRanks[b + 1] = this.blockRanks[b] + countBits(bitmap, b * BLOCK_BYTES, Math.min(bitmap.length, (b + 1) * BLOCK_BYTES));
      }
    }
    const byte = Math.floor(pfn / 8); // not >>>: pfns pass 2^32 above 16 TiB
    const block = Math.floor(byte / BLOCK_BYTES);
    let rank = this.blockRanks[block] + countBits(bitmap, block * BLOCK_BYTES, byte);
    const partial = bitmap[byte] & ((1 << (pfn & 7)) - 1);
    for (let bits = partial; bits !== 0; bits &= bits - 1) rank++;
    return rank;
  }

  /** The page at `pfn` as stored, or undefined when the dump left it out (excluded by its dump level, or not in memory). */
  async readPfn(pfn: number): Promise<Buffer | undefined> {
    if (!this.isDumpable(pfn)) return undefined;
    const [descriptor] = await this.readDescriptors(this.rankOf(pfn), 1);
    return this.readPage(descriptor);
  }

  async readNotes(): Promise<Buffer> {
    return this.file.read(this.subHeader.offsetNote, this.subHeader.sizeNote);
  }

  async readVmcoreinfo(): Promise<string> {
    return (await this.file.read(this.subHeader.offsetVmcoreinfo, this.subHeader.sizeVmcoreinfo)).toString('latin1');
  }

  async readDescriptors(firstRank: number, count: number): Promise<PageDescriptor[]> {
    const buf = await this.file.read(this.descTableOffset + firstRank * PAGE_DESC_SIZE, count * PAGE_DESC_SIZE);
    return Array.from({ length: count }, (_, i) => readPageDescriptor(buf, i * PAGE_DESC_SIZE));
  }

  async readPage(descriptor: PageDescriptor): Promise<Buffer> {
    if (descriptor.offset + descriptor.size > this.fileSize || descriptor.size === 0 || descriptor.size > this.pageSize * 2) {
      throw corrupt(`page descriptor points outside the file (offset ${descriptor.offset}, size ${descriptor.size})`);
    }
    const data = await this.file.read(descriptor.offset, descriptor.size);
    return decodeStoredPage(data, descriptor.flags, this.pageSize);
  }

  /**
   * Pages [firstPfn, firstPfn + count) decoded into `out` (count pages long);
   * pages the dump left out read as zeros. Few reads: one for the
   * descriptors, one for the page data when it lies together (as written).
   * Returns how many pages were in the dump.
   */
  async readPfnRange(firstPfn: number, count: number, out: Buffer): Promise<number> {
    const size = this.pageSize;
    const present: number[] = [];
    for (let pfn = firstPfn; pfn < firstPfn + count; pfn++) if (this.isDumpable(pfn)) present.push(pfn);
    out.fill(0, 0, count * size);
    if (present.length === 0) return 0;
    const firstRank = this.rankOf(present[0]);
    // Present pfns of one range have consecutive ranks only if none is missing between them: true by construction.
    const descriptors = await this.readDescriptors(firstRank, present.length);
    let low = Infinity;
    let high = 0;
    for (const d of descriptors) {
      if (d.offset + d.size > this.fileSize || d.size === 0 || d.size > size * 2) {
        throw corrupt(`page descriptor points outside the file (offset ${d.offset}, size ${d.size})`);
      }
      low = Math.min(low, d.offset);
      high = Math.max(high, d.offset + d.size);
    }
    const together = high - low <= Math.max(4 * 2 ** 20, 4 * count * size);
    const span = together ? await this.file.read(low, high - low) : undefined;
    for (let i = 0; i < present.length; i++) {
      const d = descriptors[i];
      const data = span ? span.subarray(d.offset - low, d.offset - low + d.size) : await this.readRaw(d.offset, d.size);
      const at = (present[i] - firstPfn) * size;
      decodeStoredPageInto(data, d.flags, out.subarray(at, at + size));
    }
    return present.length;
  }

  private readRaw(offset: number, length: number): Promise<Buffer> {
    return this.file.read(offset, length);
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}
