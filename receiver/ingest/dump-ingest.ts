/**
 * One dump being received: checks every chunk against the plan and its
 * checksums, decodes it, hands the pages to the kdump writer, and keeps the
 * resume point. A chunk that fails a check is refused before anything of it
 * is written, so the sender resends it after reconnecting.
 */
import { requireSpace } from './disk-space.js';
import { corrupt, ErrorCode, NetdumpError, protocolError } from '../../shared/errors.js';
import { lz4DecompressExact } from '../../shared/codec/lz4.js';
import { catalogDigest, CHUNK_CHECKSUMS, DumpDigestBuilder, logChecksum, offersChunkChecksum, pickChunkChecksum, type ChunkChecksum } from '../../shared/protocol/digest.js';
import { isChecksumKind } from '../../shared/protocol/checksum-kinds.js';
import { CHUNK_LZ4, CHUNK_STORED_LZO, encodeControl, MAX_LOG_BYTES, zeroBitmapLength, type ChunkMessage, type EndMessage, type LogMessage } from '../../shared/protocol/messages.js';
import { triageOfLog } from '../triage/log-triage.js';
import { KdumpFileWriter, type ArrivedPages } from '../../shared/kdump/writer.js';
import { storedRunProblem } from '../../shared/kdump/page-codec.js';
import { keysFor } from '../../shared/dump-folders.js';
import type { ChunkPlan } from '../../shared/protocol/chunk-plan.js';
import type { SendOrder } from '../../shared/protocol/send-order.js';
import { FirstTierFile, objectPlanForSpec } from './first-tier-file.js';
import type { Catalog, PartialReason, ProgressUpdate, TriageRecord } from '../catalog/catalog.js';
import type { PfnRun } from '../../shared/kdump/layout.js';
import type { AcceptedHello } from './hello.js';
import { parseWriterState, type DumpObjectPlan, type DumpObjectWriter, type DumpStorage, type WriterState } from '../storage/dump-storage.js';

/** Make chunks durable and tell the sender (ACK) at least this often. */
export interface CheckpointPolicy {
  everyChunks: number;
  /** Stop the upload (LIMIT, resumable) when writing leaves less than this free. */
  minFreeBytes: number;
}

/** Where a dump goes: a key in the receiver's storage. */
export interface DumpTarget {
  storage: DumpStorage;
  key: string;
}

/** What the storage backend must be ready to take for this dump (shared/kdump/layout.ts). */
export function objectPlanFor(accepted: AcceptedHello): DumpObjectPlan {
  // Every dumpable page raw (the codec never stores a page bigger than itself) plus the shared zero page.
  return objectPlanForSpec(accepted.spec);
}

/**
 * What a checkpoint records for a resume: the dump object's writer state;
 * for a dump sent first tier first, the first-tier file's writer state while
 * it is unfinished, and where it keeps its shared zero page.
 */
/** What a checkpoint saves: the store's state, the first-tier file's, and the chunk checksum (absent before it was saved: crc32). */
type IngestState = WriterState & { firstTierZeroOffset?: number; firstTierState?: WriterState; checksum?: string };

/** The first `pages` pfns of sorted `runs`, as runs. */
function firstPagesOf(runs: readonly PfnRun[], pages: number): PfnRun[] {
  const out: PfnRun[] = [];
  let left = pages;
  for (const run of runs) {
    if (left <= 0) break;
    const n = Math.min(left, run.pageCount);
    out.push({ startPfn: run.startPfn, pageCount: n });
    left -= n;
  }
  return out;
}

/** Adds `run` (past every run in `runs`) to `runs`, merged with the last when they touch. */
function appendRun(runs: PfnRun[], run: PfnRun): void {
  const last = runs[runs.length - 1];
  if (last && last.startPfn + last.pageCount === run.startPfn) last.pageCount += run.pageCount;
  else runs.push(run);
}

function popcount8(byte: number): number {
  let n = byte;
  n = n - ((n >> 1) & 0x55);
  n = (n & 0x33) + ((n >> 2) & 0x33);
  return (n + (n >> 4)) & 0x0f;
}

export class DumpIngest {
  /** The next position in the send order (in pfn order, the next seq); every position below is stored. */
  nextSeq: number;
  /** The next seq the dump's file takes: it holds seqs below it, in pfn order. */
  private nextFileSeq: number;
  private readonly order: SendOrder;
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
  /** Checksums of chunks [durableSeq, nextSeq): what the next checkpoint adds to the catalog. */
  private undurableCrcs: number[] = [];
  private readonly rawBuffer: Buffer;
  private readonly plan: ChunkPlan;
  /** Chunks this connection brought: a LOG comes before the first. */
  private chunksThisConnection = 0;
  /** The catalog has no kernel log for this dump yet: ACCEPT asks the sender for its LOG. */
  logWanted = true;

  private constructor(
    readonly dumpId: string,
    readonly accepted: AcceptedHello,
    private readonly target: DumpTarget,
    private readonly object: DumpObjectWriter,
    private readonly writer: KdumpFileWriter,
    private readonly catalog: Catalog,
    private readonly policy: CheckpointPolicy,
    resume: { nextSeq: number; storedCrcs: Buffer; progress?: ProgressUpdate },
    /** The chunk checksum the sender was told (ACCEPT checksum); a resumed dump keeps the one it started with. */
    readonly checksum: ChunkChecksum,
    private firstTier?: FirstTierFile,
  ) {
    this.plan = accepted.plan;
    this.order = accepted.order;
    // After position p > first tier, the file holds every seq up to the one sent at p - 1 (first-tier seqs copied in on the way).
    this.nextFileSeq = resume.nextSeq > this.order.firstTierChunks ? this.order.seqAt(resume.nextSeq - 1) + 1 : 0;
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

  /**
   * The codec this upload takes pages already stored in (ACCEPT storedPages),
   * or undefined: only LZO files, under xxh32, whose CHUNK payloadCrc is the pages' hash.
   */
  get storedPages(): 'lzo' | undefined {
    return this.accepted.spec.codec.name === 'lzo' && this.checksum.kind === 'xxh32' ? 'lzo' : undefined;
  }

  static async start(accepted: AcceptedHello, target: DumpTarget, catalog: Catalog, policy: CheckpointPolicy): Promise<DumpIngest> {
    const object = await target.storage.createWriter(target.key, objectPlanFor(accepted));
    try {
      const writer = new KdumpFileWriter(object, target.key, accepted.spec);
      writer.writeMetadata();
      await writer.pending;
      // What a receiver needs to finish the dump as partial if the upload goes still for good (UploadRegistry.keepStalledPartial).
      await target.storage.put(keysFor(target.key).hello, encodeControl(accepted.hello));
      const firstTier = accepted.firstTierSpec && await FirstTierFile.create(target.storage, keysFor(target.key).firstTier, accepted.firstTierSpec);
      return new DumpIngest(accepted.hello.dumpId, accepted, target, object, writer, catalog, policy, {
        nextSeq: 0,
        storedCrcs: Buffer.alloc(0),
      }, pickChunkChecksum(accepted.hello.checksums), firstTier);
    } catch (error) {
      await object.abort().catch(() => {});
      throw error;
    }
  }

  /**
   * Picks up a dump where its last durable checkpoint left it: this process's
   * earlier connection, an earlier process, or another receiver sharing the
   * catalog and storage. Throws CORRUPT when the resume point is missing or
   * does not fit the store (the caller starts the dump over).
   */
  static async resume(
    accepted: AcceptedHello, target: DumpTarget, catalog: Catalog, policy: CheckpointPolicy, progress: ProgressUpdate,
  ): Promise<DumpIngest> {
    const dumpId = accepted.hello.dumpId;
    const point = await catalog.resumePoint(dumpId, progress.nextSeq);
    if (!point) throw corrupt(`dump ${dumpId} has no complete resume point for ${progress.nextSeq} chunks`, { dump: dumpId });
    const saved = parseWriterState(point.storageState) as IngestState | undefined;
    if (!saved) throw corrupt(`resume state of dump ${dumpId} is not JSON`, { dump: dumpId });
    const { firstTierZeroOffset, firstTierState, checksum: savedChecksum, ...state } = saved;
    // The stored chunks' checksums are of the kind the dump started with: it goes on with that kind or starts over.
    const checksumKind = savedChecksum ?? 'crc32';
    if (!isChecksumKind(checksumKind)) throw corrupt(`resume state of dump ${dumpId} names chunk checksum ${JSON.stringify(checksumKind)}`, { dump: dumpId });
    if (!offersChunkChecksum(accepted.hello.checksums, checksumKind)) {
      throw corrupt(`dump ${dumpId} was started with ${checksumKind} chunk checksums, which this sender does not offer`, { dump: dumpId });
    }
    if (state.dataEnd !== progress.dataEnd) {
      throw corrupt(`resume state of dump ${dumpId} says data ends at ${state.dataEnd}, its progress ${progress.dataEnd}`, { dump: dumpId });
    }
    let firstTier: FirstTierFile | undefined;
    if (accepted.firstTierSpec) {
      const tierKey = keysFor(target.key).firstTier;
      const inTier = progress.nextSeq < accepted.order.firstTierChunks;
      if (inTier ? !firstTierState : firstTierZeroOffset === undefined) {
        throw corrupt(`resume state of dump ${dumpId} does not say where its first-tier file stands`, { dump: dumpId });
      }
      firstTier = inTier
        ? await FirstTierFile.resume(target.storage, tierKey, accepted.firstTierSpec, firstTierState!)
        : await FirstTierFile.open(target.storage, tierKey, accepted.firstTierSpec, firstTierZeroOffset!);
    }
    const object = await target.storage.resumeWriter(target.key, objectPlanFor(accepted), state as WriterState).catch(async (error) => {
      await firstTier?.close();
      throw error;
    });
    return new DumpIngest(dumpId, accepted, target, object, new KdumpFileWriter(object, target.key, accepted.spec, state.dataEnd), catalog, policy, {
      nextSeq: progress.nextSeq,
      storedCrcs: point.crcs,
      progress,
    }, CHUNK_CHECKSUMS[checksumKind], firstTier);
  }

  /** The dump's key in storage (its path under the data directory, locally). */
  get key(): string {
    return this.target.key;
  }

  get totalChunks(): number {
    return this.plan.totalChunks;
  }

  get totalPages(): number {
    return this.plan.totalPages;
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

  /**
   * The kernel log the sender sent ahead of the pages: checked, kept as the
   * dump's dmesg.txt, triaged and recorded at once, so the catalog says what
   * panicked while the pages are still arriving. Only before the first CHUNK
   * of the connection, once, and only when ACCEPT asked for it.
   */
  async acceptLog(log: LogMessage): Promise<TriageRecord> {
    const where = { dump: this.dumpId };
    if (!this.logWanted) throw protocolError(`LOG for dump ${this.dumpId}, which did not ask for one (ACCEPT logWanted false, or a second LOG)`, where);
    if (this.chunksThisConnection > 0) throw protocolError(`LOG after ${this.chunksThisConnection} chunks of dump ${this.dumpId}: it comes before the first`, where);
    if (log.text.length > MAX_LOG_BYTES) {
      throw new NetdumpError(ErrorCode.LIMIT, `LOG of ${log.text.length} bytes for dump ${this.dumpId}: at most ${MAX_LOG_BYTES}`, where, { retryable: false });
    }
    if (logChecksum(log.text) !== log.crc >>> 0) throw corrupt(`LOG of dump ${this.dumpId}: checksum mismatch`, where);
    this.logWanted = false;
    // The frame's bytes are the transport's to reuse once this frame is handled.
    const text = Buffer.from(log.text);
    await this.target.storage.put(keysFor(this.target.key).dmesg, text);
    const triage = triageOfLog(text, 'sender');
    await this.catalog.saveTriage(this.dumpId, triage);
    return triage;
  }

  /** Verifies and stores one chunk. Returns true when a checkpoint is due (the caller then starts one and ACKs when it lands). */
  async acceptChunk(chunk: ChunkMessage, frameBytes: number): Promise<boolean> {
    if (this.leaseLost) throw new NetdumpError(ErrorCode.UNAVAILABLE, this.leaseLost, { dump: this.dumpId });
    const where = { dump: this.dumpId, seq: chunk.seq };
    if (this.nextSeq >= this.plan.totalChunks) throw protocolError(`chunk ${chunk.seq} beyond the plan of ${this.plan.totalChunks} chunks`, where);
    const expected = this.order.seqAt(this.nextSeq);
    if (chunk.seq !== expected) {
      const at = this.order.firstTierChunks > 0 ? ` (position ${this.nextSeq} of the first-tier-first order)` : '';
      throw protocolError(`chunk ${chunk.seq} out of order: expected chunk ${expected}${at} of dump ${this.dumpId}`, where);
    }
    const span = this.plan.chunk(chunk.seq);
    if (chunk.startPfn !== span.startPfn || chunk.pageCount !== span.pageCount) {
      throw protocolError(
        `chunk ${chunk.seq} covers pfns ${chunk.startPfn}+${chunk.pageCount}, the plan says ${span.startPfn}+${span.pageCount}`, where);
    }
    const checksum = this.checksum;
    const lz4 = chunk.flags === CHUNK_LZ4;
    // Pages as this receiver stores them: offered in ACCEPT (storedPages) only under xxh32 with the LZO codec.
    const stored = chunk.flags === CHUNK_STORED_LZO;
    if (stored && this.storedPages === undefined) {
      throw protocolError(`chunk ${chunk.seq}: stored pages (flags 0x${chunk.flags.toString(16)}), which this upload was not offered`, where);
    }
    // Before decoding, the payload's own hash: a raw or stored chunk's payloadCrc is its payload's, and under
    // crc32 an LZ4 payload carries its crc. Under xxh32 an LZ4 chunk's payloadCrc is its pages' hash, checked once decoded.
    const pagesAfterDecode = lz4 && checksum.lz4PayloadCrc === 'pages';
    if (!pagesAfterDecode && checksum.hash(chunk.payload) !== chunk.payloadCrc) throw corrupt(`chunk ${chunk.seq}: payload checksum mismatch`, where);
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
    if (lz4) {
      raw = this.rawBuffer.subarray(0, rawLength);
      lz4DecompressExact(chunk.payload, raw, { seq: chunk.seq });
    } else if (stored) {
      // Written as it came, its hash checked above: only its shape is checked here, not decoded (that would cost what
      // compressing does). Its pages' hash is the sender's, in chunkCrc.
      const wrong = storedRunProblem(chunk.pageCount, pageSize, chunk.zeroBitmap, chunk.payload);
      if (wrong) throw corrupt(`chunk ${chunk.seq}: ${wrong.message}`, { ...where, offset: wrong.offset });
      raw = chunk.payload;
    } else if (chunk.flags === 0) {
      if (chunk.payload.length !== rawLength) throw corrupt(`chunk ${chunk.seq}: raw payload of ${chunk.payload.length} bytes, expected ${rawLength}`, where);
      raw = chunk.payload;
    } else {
      throw protocolError(`chunk ${chunk.seq}: unknown flags 0x${chunk.flags.toString(16)}`, where);
    }
    // Each chunk's pages are hashed once: a raw chunk's were, as its payload; an LZ4 chunk's are now.
    let pagesHash = chunk.payloadCrc;
    if (lz4) {
      pagesHash = checksum.hash(raw);
      if (pagesAfterDecode && pagesHash !== chunk.payloadCrc) throw corrupt(`chunk ${chunk.seq}: page checksum mismatch after decoding`, where);
    }
    // A stored chunk's pages are not decoded here: its checksum is the sender's (the digest still orders and counts it).
    const crc = stored ? chunk.chunkCrc : checksum.chunk(chunk.zeroBitmap, pagesHash);
    if (crc !== chunk.chunkCrc) throw corrupt(`chunk ${chunk.seq}: page checksum mismatch after decoding`, where);

    const pages: ArrivedPages = stored ? { form: 'stored', bytes: chunk.payload } : { form: 'raw', bytes: raw };
    let result: { storedBytes: number; zeroPages: number };
    if (this.nextSeq < this.order.firstTierChunks) {
      result = await this.firstTier!.write(span, chunk.zeroBitmap, pages);
    } else {
      await this.copyFirstTierBelow(span.seq);
      result = this.writer.writeArrived(span.firstRank, span.pageCount, chunk.zeroBitmap, pages);
      this.nextFileSeq = span.seq + 1;
      await this.writerBackpressure();
    }
    this.digest.add(crc);
    this.undurableCrcs.push(crc);
    this.nextSeq++;
    this.chunksThisConnection++;
    this.bytesIn += frameBytes;
    this.bytesStored += result.storedBytes;
    this.pagesZero += result.zeroPages;
    this.pagesStored += span.pageCount - result.zeroPages;
    if (this.nextSeq === this.order.firstTierChunks) {
      // The first tier is whole: it becomes a file of its own (crash opens it), and is read from now on.
      await this.checkpointInFlight?.catch(() => {});
      await this.firstTier!.complete();
      return true;
    }
    return !this.checkpointInFlight && this.nextSeq - this.checkpointStartSeq >= this.policy.everyChunks;
  }

  // Backpressure from storage (an S3 part going up); its failure fails this chunk, which is not counted.
  private async writerBackpressure(): Promise<void> {
    if (this.writer.pending) {
      const pending = this.writer.pending;
      this.writer.pending = undefined;
      await pending;
    }
  }

  /** Copies the first tier's chunks below `seq` that the dump's file does not hold yet, keeping it in pfn order. */
  private async copyFirstTierBelow(seq: number): Promise<void> {
    if (!this.firstTier) return;
    for (let s = this.nextFileSeq; s < seq; s++) {
      if (!this.order.isFirstTier(s)) continue;
      const span = this.plan.chunk(s);
      const stored = await this.firstTier.storedRun(span);
      this.writer.copyStoredPages(span.firstRank, stored.descriptors, stored.data, stored.dataOffset, stored.zeroOffset);
      await this.writerBackpressure();
    }
    this.nextFileSeq = Math.max(this.nextFileSeq, seq);
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
      const state: IngestState = await this.object.checkpoint();
      state.checksum = this.checksum.kind;
      if (this.firstTier) {
        state.firstTierZeroOffset = this.firstTier.zeroOffset;
        const tierState = await this.firstTier.checkpoint();
        if (tierState) state.firstTierState = tierState;
      }
      await requireSpace(this.target.storage, 0, this.policy.minFreeBytes, `the rest of dump ${this.dumpId}`);
      await this.catalog.saveResumePoint(this.dumpId, snapshot, { firstSeq: from, crcs: bytes, storageState: JSON.stringify(state) });
      this.durableSeq = upTo;
      this.undurableCrcs = this.undurableCrcs.slice(crcs.length);
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
    await this.copyFirstTierBelow(this.plan.totalChunks);
    this.durableSeq = this.nextSeq;
    this.writer.markComplete();
    const keys = keysFor(this.target.key);
    // Kept for the ELF export, which gives gdb the original virtual addresses; stored before the
    // dump itself so a complete dump always has it.
    await this.target.storage.put(keys.elfHeaders, this.accepted.hello.elfHeaders);
    // bytes stored: the whole object as kept (headers, bitmaps, descriptors, pages; padding on S3).
    const { size: storedBytes } = await this.object.finish();
    await this.catalog.markComplete(this.dumpId, { ...this.progress(this.nextSeq), bytesStored: storedBytes, finishedAt: Date.now(), digest: catalogDigest(this.checksum.kind, digest) });
    await this.target.storage.delete(keys.hello).catch(() => {});
    if (this.firstTier) {
      // Every page of it is in the dump now.
      await this.firstTier.close();
      await this.target.storage.delete(keys.firstTier).catch(() => {});
    }
    return { storedBytes };
  }

  /**
   * END with stopAt: the sender stops here on purpose (--log-only, or the
   * receiver's LOG_READ stopAfter in a crash storm). Checked like END, over the
   * positions sent, then kept partial.
   */
  async finishStopped(end: EndMessage, reason: PartialReason): Promise<{ storedBytes: number; pagesKept: number }> {
    const where = { dump: this.dumpId };
    if (this.order.firstTierChunks === 0) throw protocolError(`END with stopAt for dump ${this.dumpId}, which is not sent first tier first`, where);
    if (end.totalChunks !== this.plan.totalChunks || end.stopAt !== this.nextSeq || end.stopAt < this.order.firstTierChunks) {
      throw protocolError(`END stopping at ${end.stopAt} of ${end.totalChunks} chunks; the receiver has ${this.nextSeq} of ${this.plan.totalChunks}, ` +
        `the first tier ${this.order.firstTierChunks}`, where);
    }
    const digest = this.digest.hex();
    if (digest !== end.digest) throw corrupt(`dump ${this.dumpId}: digest of the ${this.nextSeq} chunks sent does not match`, where);
    return this.finishPartial(reason);
  }

  /** Whether what arrived can be kept as a partial dump now: the first tier (if any) is whole. */
  get canKeepPartial(): boolean {
    return this.nextSeq >= this.order.firstTierChunks && this.nextSeq > 0;
  }

  /**
   * The upload stops for good part-way (the sender said so, or it went still
   * for too long): what arrived becomes a kdump file crash opens, under the
   * dump's key. Header flagged incomplete (crash warns so); bitmap 2 holds
   * just the pages that arrived, so a page that did not is "excluded", never
   * read as zeros. The file holds its pfn-order prefix (seqs below
   * nextFileSeq) as written, then the first tier's chunks past it, copied in
   * at their ranks among the pages kept.
   */
  async finishPartial(reason: PartialReason): Promise<{ storedBytes: number; pagesKept: number }> {
    if (!this.canKeepPartial) {
      throw protocolError(`dump ${this.dumpId} cannot be kept partial at position ${this.nextSeq}: its first tier (${this.order.firstTierChunks} chunks) is not whole`, { dump: this.dumpId });
    }
    await this.checkpointInFlight?.catch(() => {});
    const total = this.plan.totalChunks;
    const prefixPages = this.nextFileSeq < total ? this.plan.chunk(this.nextFileSeq).firstRank : this.plan.totalPages;
    const kept = firstPagesOf(this.accepted.spec.dumpableRuns, prefixPages);
    let rank = prefixPages;
    for (let seq = this.nextFileSeq; seq < total && this.firstTier; seq++) {
      if (!this.order.isFirstTier(seq)) continue;
      const span = this.plan.chunk(seq);
      const stored = await this.firstTier.storedRun(span);
      this.writer.copyStoredPages(rank, stored.descriptors, stored.data, stored.dataOffset, stored.zeroOffset);
      await this.writerBackpressure();
      appendRun(kept, { startPfn: span.startPfn, pageCount: span.pageCount });
      rank += span.pageCount;
    }
    this.writer.rewriteDumpable(kept);
    const keys = keysFor(this.target.key);
    await this.target.storage.put(keys.elfHeaders, this.accepted.hello.elfHeaders);
    // The header says INCOMPLETE from the start (KdumpFileWriter) and keeps saying it.
    const { size: storedBytes } = await this.object.finish();
    this.durableSeq = this.nextSeq;
    await this.catalog.markPartial(this.dumpId, { ...this.progress(this.nextSeq), bytesStored: storedBytes, finishedAt: Date.now(), reason });
    await this.target.storage.delete(keys.hello).catch(() => {});
    if (this.firstTier) {
      await this.firstTier.close();
      await this.target.storage.delete(keys.firstTier).catch(() => {});
    }
    return { storedBytes, pagesKept: rank };
  }

  /** Lets go of the dump; what the last checkpoint made durable stays, resumable by any receiver. */
  async detach(): Promise<void> {
    await this.checkpointInFlight?.catch(() => {});
    await this.firstTier?.close();
    await this.object.close();
  }
}
