/**
 * The first tier of a dump sent first tier first (shared/protocol/send-order.ts),
 * kept as a kdump file of its own beside the dump: its chunks arrive before
 * the others, but the dump's file keeps pages in pfn order (byte-identical
 * to makedumpfile's), so they wait here until the dump reaches them, and
 * are then copied in as stored (no second compression).
 *
 * Written while the first tier arrives; complete (visible, readable) once
 * its last chunk is in, from then on only read; removed with the dump, or
 * when the dump completes. Its own file is a dump too: bitmap 2 holds just
 * the first tier's pages, so crash opens it as a (partial) dump.
 */
import { corrupt } from '../../shared/errors.js';
import type { PageDescriptor } from '../../shared/kdump/format.js';
import { KdumpFileReader } from '../../shared/kdump/reader.js';
import { KdumpFileWriter, layoutOf, type ArrivedPages, type KdumpFileSpec } from '../../shared/kdump/writer.js';
import type { ChunkSpan } from '../../shared/protocol/chunk-plan.js';
import type { DumpObjectReader, DumpObjectWriter, DumpStorage, WriterState } from '../storage/dump-storage.js';

/** What a backend must be ready to take for `spec`: its front, and every page raw plus the shared zero page. */
export function objectPlanForSpec(spec: KdumpFileSpec): { frontBytes: number; maxDataBytes: number } {
  const pages = spec.dumpableRuns.reduce((n, r) => n + r.pageCount, 0);
  return { frontBytes: layoutOf(spec).dataStart, maxDataBytes: (pages + 1) * spec.pageSize };
}

/** A chunk's pages as the first-tier file stored them, ready for KdumpFileWriter.copyStoredPages. */
export interface StoredRun {
  descriptors: PageDescriptor[];
  data: Buffer;
  dataOffset: number;
  zeroOffset: number;
}

export class FirstTierFile {
  /** Rank of each run's first page in the first-tier file (its runs are the tier's chunks, merged). */
  private readonly runRanks: number[] = [];
  private writer?: { object: DumpObjectWriter; file: KdumpFileWriter };
  private reader?: { object: DumpObjectReader; file: KdumpFileReader };

  private constructor(private readonly storage: DumpStorage, readonly key: string, private readonly spec: KdumpFileSpec) {
    let rank = 0;
    for (const run of spec.dumpableRuns) {
      this.runRanks.push(rank);
      rank += run.pageCount;
    }
  }

  /** A new first-tier file (replacing any unfinished one under `key`). */
  static async create(storage: DumpStorage, key: string, spec: KdumpFileSpec): Promise<FirstTierFile> {
    const tier = new FirstTierFile(storage, key, spec);
    const object = await storage.createWriter(key, objectPlanForSpec(spec));
    try {
      const file = new KdumpFileWriter(object, key, spec);
      file.writeMetadata();
      await file.pending;
      tier.writer = { object, file };
      tier.zero = file.zeroPage;
    } catch (error) {
      await object.abort().catch(() => {});
      throw error;
    }
    return tier;
  }

  /** An unfinished first-tier file, from the state its last checkpoint returned (a dump resumed inside its first tier). */
  static async resume(storage: DumpStorage, key: string, spec: KdumpFileSpec, state: WriterState): Promise<FirstTierFile> {
    const tier = new FirstTierFile(storage, key, spec);
    const object = await storage.resumeWriter(key, objectPlanForSpec(spec), state);
    const file = new KdumpFileWriter(object, key, spec, state.dataEnd);
    tier.writer = { object, file };
    tier.zero = file.zeroPage;
    return tier;
  }

  /**
   * The complete first-tier file of a dump being resumed, whose shared zero
   * page is at `zeroOffset` (zeroOffset of the writer that made it); CORRUPT
   * when it is not there (the dump then starts over).
   */
  static async open(storage: DumpStorage, key: string, spec: KdumpFileSpec, zeroOffset: number): Promise<FirstTierFile> {
    const tier = new FirstTierFile(storage, key, spec);
    tier.zero = zeroOffset;
    await tier.openReader();
    return tier;
  }

  /** Where this file's shared zero page is: its descriptors of zero pages point there. */
  get zeroOffset(): number {
    return this.zero;
  }

  private zero = 0;

  private async openReader(): Promise<void> {
    const object = await this.storage.openReader(this.key);
    if (!object) throw corrupt(`first-tier file ${this.storage.locationOf(this.key)} is missing`, { key: this.key });
    try {
      const file = await KdumpFileReader.fromSource(object);
      if (file.maxPfn !== this.spec.maxPfn || file.pageSize !== this.spec.pageSize) {
        throw corrupt(`first-tier file ${this.storage.locationOf(this.key)} is not this dump's`, { key: this.key });
      }
      this.reader = { object, file };
    } catch (error) {
      await object.close();
      throw error;
    }
  }

  /** The rank in this file of a tier chunk's first page. */
  private rankOf(span: ChunkSpan): number {
    const runs = this.spec.dumpableRuns;
    let lo = 0;
    let hi = runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (runs[mid].startPfn <= span.startPfn) lo = mid;
      else hi = mid - 1;
    }
    const run = runs[lo];
    if (!run || span.startPfn < run.startPfn || span.startPfn + span.pageCount > run.startPfn + run.pageCount) {
      throw new RangeError(`chunk ${span.seq} (pfn ${span.startPfn}+${span.pageCount}) is not in the first tier`);
    }
    return this.runRanks[lo] + (span.startPfn - run.startPfn);
  }

  /** Stores a first-tier chunk as it arrives; returns the page data bytes appended. */
  async write(span: ChunkSpan, zeroBitmap: Buffer, pages: ArrivedPages): Promise<{ storedBytes: number; zeroPages: number }> {
    if (!this.writer) throw new Error(`first-tier file ${this.key} is complete: nothing more is written to it`);
    const result = this.writer.file.writeArrived(this.rankOf(span), span.pageCount, zeroBitmap, pages);
    const pending = this.writer.file.pending;
    this.writer.file.pending = undefined;
    await pending;
    return result;
  }

  /** Makes what was written durable; the state to resume from, or undefined once the file is complete. */
  async checkpoint(): Promise<WriterState | undefined> {
    return this.writer?.object.checkpoint();
  }

  /** Every tier chunk is in (and no checkpoint runs): the file becomes a complete object and is read from now on. */
  async complete(): Promise<void> {
    if (!this.writer) return;
    const { object } = this.writer;
    this.writer = undefined;
    await object.finish();
    await this.openReader();
  }

  /** A tier chunk's pages as stored here. */
  async storedRun(span: ChunkSpan): Promise<StoredRun> {
    if (!this.reader) throw new Error(`first-tier file ${this.key} is still being written`);
    const { file, object } = this.reader;
    const zeroOffset = this.zero;
    const descriptors = await file.readDescriptors(this.rankOf(span), span.pageCount);
    let from = Infinity;
    let to = 0;
    for (const d of descriptors) {
      if (d.offset === zeroOffset) continue;
      from = Math.min(from, d.offset);
      to = Math.max(to, d.offset + d.size);
    }
    const data = to > 0 ? await object.read(from, to - from) : Buffer.alloc(0);
    return { descriptors, data, dataOffset: to > 0 ? from : 0, zeroOffset };
  }

  /** Lets go: an unfinished file stays for the next writer of its key to replace; a complete one stays for resumes. */
  async close(): Promise<void> {
    await this.writer?.object.close();
    await this.reader?.object.close();
    this.writer = undefined;
    this.reader = undefined;
  }
}
