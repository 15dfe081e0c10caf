/**
 * One dump being received: checks every chunk against the plan and its
 * checksums, decodes it, hands the pages to the kdump writer, and keeps the
 * resume point. A chunk that fails a check is refused before anything of it
 * is written, so the sender resends it after reconnecting.
 */
import { open, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { requireSpace } from './disk-space.js';
import { corrupt, ErrorCode, NetdumpError, protocolError } from '../shared/errors.js';
import { lz4DecompressExact } from '../shared/codec/lz4.js';
import { chunkChecksum, chunkChecksumFromPagesCrc, DumpDigestBuilder, payloadChecksum } from '../shared/protocol/digest.js';
import { CHUNK_LZ4, zeroBitmapLength, type ChunkMessage, type EndMessage } from '../shared/protocol/messages.js';
import { KdumpFileWriter } from '../shared/kdump/writer.js';
import type { ChunkPlan } from '../shared/protocol/chunk-plan.js';
import type { Catalog, ProgressUpdate } from './catalog.js';
import type { AcceptedHello } from './hello.js';
import type { DumpPaths } from '../shared/dump-folders.js';

/** Make chunks durable and tell the sender (ACK) at least this often. */
export interface CheckpointPolicy {
  everyChunks: number;
  /** Stop the upload (LIMIT, resumable) when writing leaves less than this free. */
  minFreeBytes: number;
}

function popcount8(byte: number): number {
  let n = byte;
  n = n - ((n >> 1) & 0x55);
  n = (n & 0x33) + ((n >> 2) & 0x33);
  return (n + (n >> 4)) & 0x0f;
}

export class DumpIngest {
  nextSeq: number;
  private durableSeq: number;
  /** nextSeq when the last checkpoint started; the next is due everyChunks after it. */
  private checkpointStartSeq: number;
  private checkpointInFlight?: Promise<number>;
  private bytesIn: number;
  private bytesStored: number;
  private pagesZero: number;
  private pagesStored: number;
  /** Digest over chunks [0, nextSeq). */
  private readonly digest = new DumpDigestBuilder();
  /** Checksums of chunks [durableSeq, nextSeq): what the next checkpoint appends to the resume file. */
  private undurableCrcs: number[] = [];
  private readonly rawBuffer: Buffer;
  private readonly plan: ChunkPlan;

  private constructor(
    readonly dumpId: string,
    readonly accepted: AcceptedHello,
    readonly paths: DumpPaths,
    private readonly writer: KdumpFileWriter,
    private readonly checksumFile: FileHandle,
    private readonly catalog: Catalog,
    private readonly policy: CheckpointPolicy,
    resume: { nextSeq: number; storedCrcs: Buffer; progress?: ProgressUpdate },
  ) {
    this.plan = accepted.plan;
    this.digest.addStored(resume.storedCrcs);
    this.nextSeq = resume.nextSeq;
    this.durableSeq = resume.nextSeq;
    this.checkpointStartSeq = resume.nextSeq;
    this.bytesIn = resume.progress?.bytesIn ?? 0;
    this.bytesStored = resume.progress?.bytesStored ?? 0;
    this.pagesZero = resume.progress?.pagesZero ?? 0;
    this.pagesStored = resume.progress?.pagesStored ?? 0;
    this.rawBuffer = Buffer.alloc(accepted.spec.maxRunPages * accepted.spec.pageSize);
  }

  static async start(accepted: AcceptedHello, paths: DumpPaths, catalog: Catalog, policy: CheckpointPolicy): Promise<DumpIngest> {
    const writer = await KdumpFileWriter.create(paths.incomplete, accepted.spec);
    const checksumFile = await open(paths.checksums, 'w+');
    return new DumpIngest(accepted.hello.dumpId, accepted, paths, writer, checksumFile, catalog, policy, {
      nextSeq: 0,
      storedCrcs: Buffer.alloc(0),
    });
  }

  /** Picks up a dump a previous receiver process left at its last durable checkpoint. */
  static async resume(
    accepted: AcceptedHello, paths: DumpPaths, catalog: Catalog, policy: CheckpointPolicy, progress: ProgressUpdate,
  ): Promise<DumpIngest> {
    const checksumFile = await open(paths.checksums, 'r+');
    const bytes = Buffer.alloc(progress.nextSeq * 4);
    const { bytesRead } = await checksumFile.read(bytes, 0, bytes.length, 0);
    if (bytesRead !== bytes.length) {
      await checksumFile.close();
      throw corrupt(`resume state of dump ${accepted.hello.dumpId} is damaged: ${bytesRead} of ${bytes.length} checksum bytes`);
    }
    const writer = await KdumpFileWriter.reopen(paths.incomplete, accepted.spec, progress.dataEnd).catch(async (error) => {
      await checksumFile.close();
      throw error;
    });
    return new DumpIngest(accepted.hello.dumpId, accepted, paths, writer, checksumFile, catalog, policy, {
      nextSeq: progress.nextSeq,
      storedCrcs: bytes,
      progress,
    });
  }

  get totalChunks(): number {
    return this.plan.totalChunks;
  }

  /** How far the upload is, for operators watching it (counts since the dump started, resumes included). */
  get progressSnapshot(): { pagesDone: number; pagesTotal: number; bytesIn: number } {
    return { pagesDone: this.pagesZero + this.pagesStored, pagesTotal: this.plan.totalPages, bytesIn: this.bytesIn };
  }

  private progress(nextSeq: number): ProgressUpdate {
    return {
      nextSeq,
      dataEnd: this.writer.dataEnd,
      bytesIn: this.bytesIn,
      bytesStored: this.bytesStored,
      pagesZero: this.pagesZero,
      pagesStored: this.pagesStored,
    };
  }

  private leaseLost?: string;

  /** Another receiver owns the dump now: refuse further chunks (the sender reconnects, and lands on the owner). */
  loseLease(why: string): void {
    this.leaseLost = why;
  }

  /** Verifies and stores one chunk. Returns true when a checkpoint is due (the caller then starts one and ACKs when it lands). */
  async acceptChunk(chunk: ChunkMessage, frameBytes: number): Promise<boolean> {
    if (this.leaseLost) throw new NetdumpError(ErrorCode.UNAVAILABLE, this.leaseLost, { dump: this.dumpId });
    const where = { dump: this.dumpId, seq: chunk.seq };
    if (chunk.seq !== this.nextSeq) {
      throw protocolError(`chunk ${chunk.seq} out of order: expected chunk ${this.nextSeq} of dump ${this.dumpId}`, where);
    }
    if (chunk.seq >= this.plan.totalChunks) throw protocolError(`chunk ${chunk.seq} beyond the plan of ${this.plan.totalChunks} chunks`, where);
    const span = this.plan.chunk(chunk.seq);
    if (chunk.startPfn !== span.startPfn || chunk.pageCount !== span.pageCount) {
      throw protocolError(
        `chunk ${chunk.seq} covers pfns ${chunk.startPfn}+${chunk.pageCount}, the plan says ${span.startPfn}+${span.pageCount}`, where);
    }
    if (payloadChecksum(chunk.payload) !== chunk.payloadCrc) throw corrupt(`chunk ${chunk.seq}: payload checksum mismatch`, where);
    let zeroPages = 0;
    for (let i = 0; i < chunk.zeroBitmap.length; i++) zeroPages += popcount8(chunk.zeroBitmap[i]);
    const pad = chunk.pageCount & 7;
    if (pad !== 0 && chunk.zeroBitmap[zeroBitmapLength(chunk.pageCount) - 1] >> pad !== 0) {
      throw protocolError(`chunk ${chunk.seq}: zero bitmap marks pages past the chunk's end`, where);
    }
    const pageSize = this.accepted.spec.pageSize;
    const rawLength = (chunk.pageCount - zeroPages) * pageSize;
    if (chunk.rawLength !== rawLength) {
      throw protocolError(`chunk ${chunk.seq}: raw length ${chunk.rawLength}, but ${chunk.pageCount - zeroPages} non-zero pages make ${rawLength}`, where);
    }
    let raw: Buffer;
    let crc: number;
    if (chunk.flags === CHUNK_LZ4) {
      raw = this.rawBuffer.subarray(0, rawLength);
      lz4DecompressExact(chunk.payload, raw, { seq: chunk.seq });
      crc = chunkChecksum(chunk.zeroBitmap, raw);
    } else if (chunk.flags === 0) {
      if (chunk.payload.length !== rawLength) throw corrupt(`chunk ${chunk.seq}: raw payload of ${chunk.payload.length} bytes, expected ${rawLength}`, where);
      raw = chunk.payload;
      // The payload is the raw pages, whose crc was just checked.
      crc = chunkChecksumFromPagesCrc(chunk.zeroBitmap, chunk.payloadCrc);
    } else {
      throw protocolError(`chunk ${chunk.seq}: unknown flags 0x${chunk.flags.toString(16)}`, where);
    }
    if (crc !== chunk.chunkCrc) throw corrupt(`chunk ${chunk.seq}: page checksum mismatch after decoding`, where);

    const result = this.writer.writePages(span.firstRank, span.pageCount, chunk.zeroBitmap, raw);
    this.digest.add(crc);
    this.undurableCrcs.push(crc);
    this.nextSeq++;
    this.bytesIn += frameBytes;
    this.bytesStored += result.storedBytes;
    this.pagesZero += result.zeroPages;
    this.pagesStored += span.pageCount - result.zeroPages;
    return !this.checkpointInFlight && this.nextSeq - this.checkpointStartSeq >= this.policy.everyChunks;
  }

  /**
   * Makes everything received so far durable and records the resume point;
   * resolves with the sequence number every earlier chunk is durable below.
   * Runs alongside further chunks: only the counters captured at its start
   * are recorded, and one checkpoint runs at a time.
   */
  checkpoint(): Promise<number> {
    if (this.checkpointInFlight) return this.checkpointInFlight.then(() => this.checkpoint());
    if (this.durableSeq === this.nextSeq) return Promise.resolve(this.durableSeq);
    const upTo = this.nextSeq;
    const snapshot = this.progress(upTo);
    this.checkpointStartSeq = upTo;
    this.checkpointInFlight = (async () => {
      const from = this.durableSeq;
      const crcs = this.undurableCrcs.slice(0, upTo - from);
      const bytes = Buffer.alloc(crcs.length * 4);
      crcs.forEach((crc, i) => bytes.writeUInt32LE(crc, i * 4));
      await this.checksumFile.write(bytes, 0, bytes.length, from * 4);
      await Promise.all([this.writer.sync(), this.checksumFile.datasync()]);
      await requireSpace(path.dirname(this.paths.incomplete), 0, this.policy.minFreeBytes, `the rest of dump ${this.dumpId}`);
      this.durableSeq = upTo;
      this.undurableCrcs = this.undurableCrcs.slice(crcs.length);
      await this.catalog.updateProgress(this.dumpId, snapshot);
      return upTo;
    })().finally(() => {
      this.checkpointInFlight = undefined;
    });
    return this.checkpointInFlight;
  }

  /** Checks END against what arrived, then completes the file and renames it into place. */
  async finish(end: EndMessage): Promise<{ storedBytes: number }> {
    if (end.totalChunks !== this.plan.totalChunks || this.nextSeq !== this.plan.totalChunks) {
      throw protocolError(`END after ${this.nextSeq} of ${this.plan.totalChunks} chunks (sender says ${end.totalChunks})`, { dump: this.dumpId });
    }
    const digest = this.digest.hex();
    if (digest !== end.digest) {
      throw corrupt(`dump ${this.dumpId}: digest mismatch (sender ${end.digest.slice(0, 16)}…, receiver ${digest.slice(0, 16)}…)`, { dump: this.dumpId });
    }
    await this.checkpointInFlight?.catch(() => {});
    this.durableSeq = this.nextSeq;
    const storedBytes = await this.writer.finish();
    // Kept for the ELF export, which gives gdb the original virtual addresses; written before the
    // rename so a complete dump always has it.
    await writeFile(this.paths.elfHeaders, this.accepted.hello.elfHeaders);
    await rename(this.paths.incomplete, this.paths.final);
    await this.checksumFile.close();
    await rm(this.paths.checksums, { force: true });
    // bytes stored: the whole file as it sits on disk (headers, bitmaps, descriptors, pages).
    await this.catalog.markComplete(this.dumpId, { ...this.progress(this.nextSeq), bytesStored: storedBytes, finishedAt: Date.now(), digest });
    return { storedBytes };
  }

  /** Closes files; the partial dump stays as it is, resumable from the last checkpoint. */
  async detach(): Promise<void> {
    await this.checkpointInFlight?.catch(() => {});
    await this.writer.close();
    await this.checksumFile.close().catch(() => {});
  }
}
