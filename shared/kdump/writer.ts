/**
 * Writes a kdump-compressed file while pages stream in: header, notes and
 * bitmaps up front, each page's descriptor in place, page data appended in
 * arrival order. Never holds more than one run of pages. The header says
 * INCOMPLETE until finish(), so even a file that escapes its temporary name
 * is flagged by crash as partial.
 */
import { ErrorCode, NetdumpError, toNetdumpError } from '../errors.js';
import { FileSink, type KdumpSink } from './sink.js';
import {
  DUMP_DH_COMPRESSED_INCOMPLETE, DUMP_DH_COMPRESSED_LZO, KDUMP_HEADER_VERSION, PAGE_DESC_SIZE,
  encodeDiskDumpHeader, encodeSubHeader, writePageDescriptor, type PageDescriptor, type Utsname,
} from './format.js';
import { computeLayout, fillBitmapWindow, type KdumpLayout, type PfnRun } from './layout.js';
import type { PageCodec } from './page-codec.js';

export interface KdumpFileSpec {
  pageSize: number;
  /** One past the highest pfn (max_mapnr). */
  maxPfn: number;
  /** Pfns present in memory: bitmap 1. */
  presentRuns: readonly PfnRun[];
  /** Pfns stored: bitmap 2; one descriptor each, in this order. */
  dumpableRuns: readonly PfnRun[];
  /** The core's PT_NOTE segment, copied whole. */
  notes: Buffer;
  /** Where the VMCOREINFO text sits inside `notes`. */
  vmcoreinfoOffsetInNotes: number;
  vmcoreinfoSize: number;
  physBase: bigint;
  dumpLevel: number;
  utsname: Utsname;
  crashTimeSec: number;
  nrCpus: number;
  codec: PageCodec;
  /** Most pages one writePages() call may carry; sizes the reused buffers. */
  maxRunPages: number;
}

/** Where each part of the file for `spec` goes: everything before the page data is fixed by the spec. */
export function layoutOf(spec: KdumpFileSpec): KdumpLayout {
  const dumpable = spec.dumpableRuns.reduce((n, r) => n + r.pageCount, 0);
  return computeLayout(spec.pageSize, spec.maxPfn, spec.notes.length, dumpable);
}

export interface RunResult {
  /** Bytes of page data appended by this run. */
  storedBytes: number;
  zeroPages: number;
}

/** A run's non-zero pages as they arrived: raw, back to back, or already stored (see writeStoredPages). */
export interface ArrivedPages {
  form: 'raw' | 'stored';
  bytes: Buffer;
}

const BITMAP_WINDOW_BYTES = 64 * 1024;

export class KdumpFileWriter {
  readonly layout: KdumpLayout;
  private dataEndOffset: number;
  private readonly zeroPageOffset: number;
  private readonly descBuffer: Buffer;
  private readonly dataBuffer: Buffer;
  /** Backpressure of the last append, when the sink returned a promise; the owner awaits it. */
  pending: Promise<void> | undefined;

  /**
   * A writer over any sink. `dataEnd` resumes after page data already there;
   * without it the caller must run writeMetadata() first. The shared zero
   * page is the first page of data, at the sink's dataStart.
   */
  constructor(private readonly sink: KdumpSink, readonly path: string, private readonly spec: KdumpFileSpec, dataEnd?: number, private readonly file?: FileSink) {
    this.layout = layoutOf(spec);
    if (sink.dataStart < this.layout.dataStart) throw new RangeError(`sink dataStart ${sink.dataStart} precedes the layout's ${this.layout.dataStart}`);
    this.zeroPageOffset = sink.dataStart;
    this.dataEndOffset = dataEnd ?? sink.dataStart + spec.pageSize;
    this.descBuffer = Buffer.alloc(spec.maxRunPages * PAGE_DESC_SIZE);
    this.dataBuffer = Buffer.alloc(spec.maxRunPages * spec.pageSize);
  }

  /** Creates (truncating) a local file and writes everything that precedes page data. */
  static async create(path: string, spec: KdumpFileSpec): Promise<KdumpFileWriter> {
    const sink = await FileSink.create(path, layoutOf(spec).dataStart);
    const writer = new KdumpFileWriter(sink, path, spec, undefined, sink);
    try {
      writer.writeMetadata();
    } catch (error) {
      await sink.close();
      throw toNetdumpError(error);
    }
    return writer;
  }

  /** Reopens a partly written local file to continue appending after `dataEnd` (resume). */
  static async reopen(path: string, spec: KdumpFileSpec, dataEnd: number): Promise<KdumpFileWriter> {
    const sink = await FileSink.reopen(path, layoutOf(spec).dataStart, dataEnd);
    return new KdumpFileWriter(sink, path, spec, dataEnd, sink);
  }

  get dataEnd(): number {
    return this.dataEndOffset;
  }

  private headerBytes(incomplete: boolean): Buffer {
    const { spec, layout } = this;
    return encodeDiskDumpHeader({
      signature: 'KDUMP   ',
      headerVersion: KDUMP_HEADER_VERSION,
      utsname: spec.utsname,
      timestampSec: spec.crashTimeSec,
      timestampUsec: 0,
      status: spec.codec.flag | (incomplete ? DUMP_DH_COMPRESSED_INCOMPLETE : 0),
      blockSize: spec.pageSize,
      subHdrSize: layout.subHdrSize,
      bitmapBlocks: layout.bitmapBlocks,
      maxMapnr32: Math.min(spec.maxPfn, 0xffff_ffff),
      totalRamBlocks: 0,
      deviceBlocks: 0,
      writtenBlocks: 0,
      currentCpu: 0,
      nrCpus: spec.nrCpus,
    });
  }

  /** Writes everything that precedes page data, and the shared zero page (new dumps only). */
  writeMetadata(): void {
    const { spec, layout, sink } = this;
    sink.writeFront(0, this.headerBytes(true));
    const sub = encodeSubHeader({
      physBase: spec.physBase,
      dumpLevel: spec.dumpLevel,
      split: 0,
      // start/end pfn describe the part of a split dump; makedumpfile leaves them 0 otherwise.
      startPfn: 0,
      endPfn: 0,
      offsetVmcoreinfo: layout.notesOffset + spec.vmcoreinfoOffsetInNotes,
      sizeVmcoreinfo: spec.vmcoreinfoSize,
      offsetNote: layout.notesOffset,
      sizeNote: spec.notes.length,
      offsetEraseinfo: 0,
      sizeEraseinfo: 0,
      startPfn64: 0,
      endPfn64: 0,
      maxMapnr64: spec.maxPfn,
    });
    sink.writeFront(spec.pageSize, sub);
    sink.writeFront(layout.notesOffset, spec.notes);
    this.writeBitmap(layout.bitmapOffset, spec.presentRuns);
    this.writeBitmap(layout.bitmapOffset + layout.bitmapBytes, spec.dumpableRuns);
    // The descriptor table stays a hole until pages arrive; the shared zero page starts the data.
    this.pending = sink.append(Buffer.alloc(spec.pageSize)) ?? undefined;
  }

  /**
   * Windows with no pfn set are not written: a new file's front reads as zero
   * where nothing was written (KdumpSink), so the holes of a sparse physical
   * map cost neither writes nor disk.
   */
  private writeBitmap(offset: number, runs: readonly PfnRun[]): void {
    const window = Buffer.alloc(Math.min(BITMAP_WINDOW_BYTES, this.layout.bitmapBytes));
    let next = 0;
    for (let at = 0; at < this.layout.bitmapBytes; at += window.length) {
      const firstPfn = at * 8;
      const part = window.subarray(0, Math.min(window.length, this.layout.bitmapBytes - at));
      while (next < runs.length && runs[next].startPfn + runs[next].pageCount <= firstPfn) next++;
      if (next === runs.length || runs[next].startPfn >= firstPfn + part.length * 8) continue;
      fillBitmapWindow(part, firstPfn, runs);
      this.sink.writeFront(offset + at, part);
    }
  }

  /**
   * Stores a run of consecutive dumpable pages whose first descriptor index
   * is `firstRank`. `zeroBitmap` bit i marks page i as zero (not in
   * `rawPages`); `rawPages` holds the other pages back to back.
   *
   * The two writes are synchronous: they land in the page cache, and over
   * the busy 1 GiB fixture fs/promises writes cost ~450 ms of main-thread
   * time against ~0.2 s wall saved by going synchronous (measured with
   * --cpu-prof). Durability comes from sync(), which runs off-thread.
   */
  writePages(firstRank: number, pageCount: number, zeroBitmap: Buffer, rawPages: Buffer): RunResult {
    const { pageSize, codec } = this.spec;
    if (pageCount > this.spec.maxRunPages) throw new RangeError(`run of ${pageCount} pages exceeds maxRunPages ${this.spec.maxRunPages}`);
    const runStart = this.dataEndOffset;
    let dataLength = 0;
    let rawAt = 0;
    let zeroPages = 0;
    if (codec.encodeRun) {
      // The codec stores the whole run in one call (LZO: natively), the same bytes as the loop below.
      ({ dataBytes: dataLength, zeroPages } = codec.encodeRun(
        { pageCount, pageSize, zeroBitmap, pages: rawPages, runStart, zeroPageOffset: this.zeroPageOffset }, this.dataBuffer, this.descBuffer));
      return this.appendRun(firstRank, pageCount, runStart, dataLength, zeroPages);
    }
    for (let i = 0; i < pageCount; i++) {
      const descAt = i * PAGE_DESC_SIZE;
      if (zeroBitmap[i >>> 3] & (1 << (i & 7))) {
        this.writeZeroDescriptor(descAt);
        zeroPages++;
        continue;
      }
      const page = rawPages.subarray(rawAt, rawAt + pageSize);
      rawAt += pageSize;
      const packed = codec.compress(page);
      const stored = packed ?? page;
      stored.copy(this.dataBuffer, dataLength);
      writePageDescriptor(this.descBuffer, descAt, {
        offset: runStart + dataLength,
        size: stored.length,
        flags: packed ? codec.flag : 0,
        pageFlags: 0n,
      });
      dataLength += stored.length;
    }
    return this.appendRun(firstRank, pageCount, runStart, dataLength, zeroPages);
  }

  /** writePages or writeStoredPages, as the pages arrived. */
  writeArrived(firstRank: number, pageCount: number, zeroBitmap: Buffer, pages: ArrivedPages): RunResult {
    return pages.form === 'stored'
      ? this.writeStoredPages(firstRank, pageCount, zeroBitmap, pages.bytes)
      : this.writePages(firstRank, pageCount, zeroBitmap, pages.bytes);
  }

  /**
   * Stores a run whose non-zero pages arrive already in this file's codec
   * (LZO), as `stored`: a u32 LE size per non-zero page, then the pages, a
   * size of pageSize being a raw page (CHUNK_STORED_LZO). The caller has
   * checked its hash and shape (storedRunProblem); the bytes are written as
   * they are, which is what writePages writes for the same pages.
   */
  writeStoredPages(firstRank: number, pageCount: number, zeroBitmap: Buffer, stored: Buffer): RunResult {
    const { pageSize, codec } = this.spec;
    if (codec.flag !== DUMP_DH_COMPRESSED_LZO) throw new RangeError(`pages stored as LZO cannot go into a file of codec ${codec.name}`);
    if (pageCount > this.spec.maxRunPages) throw new RangeError(`run of ${pageCount} pages exceeds maxRunPages ${this.spec.maxRunPages}`);
    const runStart = this.dataEndOffset;
    let kept = 0;
    for (let i = 0; i < pageCount; i++) if (!(zeroBitmap[i >>> 3] & (1 << (i & 7)))) kept++;
    const tableBytes = kept * 4;
    let dataLength = 0;
    let zeroPages = 0;
    let k = 0;
    for (let i = 0; i < pageCount; i++) {
      const descAt = i * PAGE_DESC_SIZE;
      if (zeroBitmap[i >>> 3] & (1 << (i & 7))) {
        this.writeZeroDescriptor(descAt);
        zeroPages++;
        continue;
      }
      const size = stored.readUInt32LE(k * 4);
      k++;
      writePageDescriptor(this.descBuffer, descAt, { offset: runStart + dataLength, size, flags: size < pageSize ? DUMP_DH_COMPRESSED_LZO : 0, pageFlags: 0n });
      dataLength += size;
    }
    if (tableBytes + dataLength !== stored.length) throw new RangeError(`stored run of ${stored.length} bytes, its sizes say ${tableBytes + dataLength}`);
    // Copied: the caller's buffer (a frame) is reused once this returns, and a sink may still hold what it appends.
    stored.copy(this.dataBuffer, 0, tableBytes);
    return this.appendRun(firstRank, pageCount, runStart, dataLength, zeroPages);
  }

  /** A zero page's descriptor, at `at` of descBuffer: every one points at the shared zero page. */
  private writeZeroDescriptor(at: number): void {
    writePageDescriptor(this.descBuffer, at, { offset: this.zeroPageOffset, size: this.spec.pageSize, flags: 0, pageFlags: 0n });
  }

  /** Hands the run's data (in dataBuffer) and descriptors (in descBuffer) to the sink. */
  private appendRun(firstRank: number, pageCount: number, runStart: number, dataLength: number, zeroPages: number): RunResult {
    if (dataLength > 0) this.pending = this.sink.append(this.dataBuffer.subarray(0, dataLength)) ?? undefined;
    this.sink.writeFront(this.layout.descTableOffset + firstRank * PAGE_DESC_SIZE, this.descBuffer.subarray(0, pageCount * PAGE_DESC_SIZE));
    this.dataEndOffset = runStart + dataLength;
    return { storedBytes: dataLength, zeroPages };
  }

  /**
   * Stores a run of pages another file of the same dump stored already (its
   * first-tier file), byte for byte: the same codec gives the same bytes, so
   * the result is the file writePages would have written. `descriptors` are
   * the source's for these pages, `data` its page data from file offset
   * `dataOffset` on (every non-zero page of the run, back to back); a
   * descriptor at `sourceZeroOffset` is the source's shared zero page.
   */
  copyStoredPages(firstRank: number, descriptors: readonly PageDescriptor[], data: Buffer, dataOffset: number, sourceZeroOffset: number): RunResult {
    if (descriptors.length > this.spec.maxRunPages) throw new RangeError(`run of ${descriptors.length} pages exceeds maxRunPages ${this.spec.maxRunPages}`);
    const runStart = this.dataEndOffset;
    let zeroPages = 0;
    descriptors.forEach((d, i) => {
      if (d.offset === sourceZeroOffset) {
        this.writeZeroDescriptor(i * PAGE_DESC_SIZE);
        zeroPages++;
        return;
      }
      if (d.offset < dataOffset || d.offset + d.size > dataOffset + data.length) {
        throw new NetdumpError(ErrorCode.CORRUPT, `copied page ${i} of run at rank ${firstRank} lies outside the data handed over`, { offset: d.offset });
      }
      writePageDescriptor(this.descBuffer, i * PAGE_DESC_SIZE, { ...d, offset: runStart + (d.offset - dataOffset) });
    });
    if (data.length > 0) this.pending = this.sink.append(data) ?? undefined;
    this.sink.writeFront(this.layout.descTableOffset + firstRank * PAGE_DESC_SIZE, this.descBuffer.subarray(0, descriptors.length * PAGE_DESC_SIZE));
    this.dataEndOffset = runStart + data.length;
    return { storedBytes: data.length, zeroPages };
  }

  /**
   * Bitmap 2 made again from `runs` (a partial dump: the pages that arrived),
   * every window written, so pfns set before and not now are cleared. The
   * caller has put each of those pages' descriptors at its rank among `runs`.
   */
  rewriteDumpable(runs: readonly PfnRun[]): void {
    const { layout } = this;
    const window = Buffer.alloc(Math.min(BITMAP_WINDOW_BYTES, layout.bitmapBytes));
    const offset = layout.bitmapOffset + layout.bitmapBytes;
    for (let at = 0; at < layout.bitmapBytes; at += window.length) {
      const part = window.subarray(0, Math.min(window.length, layout.bitmapBytes - at));
      fillBitmapWindow(part, at * 8, runs);
      this.sink.writeFront(offset + at, part);
    }
  }

  /** Where the shared zero page is: descriptors of zero pages point here. */
  get zeroPage(): number {
    return this.zeroPageOffset;
  }

  /** Makes every page written so far durable (before acknowledging it); local files only. */
  async sync(): Promise<void> {
    await this.ownedFile().sync();
  }

  /** Marks the header complete. Other sinks' owners then complete the object themselves. */
  markComplete(): void {
    this.sink.writeFront(0, this.headerBytes(false));
  }

  /** Marks the header complete, flushes and closes a local file; returns its size. */
  async finish(): Promise<number> {
    this.markComplete();
    return this.ownedFile().finish();
  }

  async close(): Promise<void> {
    await this.file?.close();
  }

  private ownedFile(): FileSink {
    if (!this.file) throw new NetdumpError(ErrorCode.INTERNAL, 'sync/finish need a local file; the sink owner completes other sinks', { path: this.path });
    return this.file;
  }
}
