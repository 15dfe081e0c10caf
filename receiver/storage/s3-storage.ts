/**
 * Dumps in S3-compatible object storage (AWS S3, Ceph radosgw, OpenStack
 * Swift's s3api; tested on Swift from Debian: scripts/object-store.sh).
 *
 * Objects are immutable, so a dump goes up as a multipart upload whose part
 * order is the file's byte order but whose upload order is not:
 *
 *   part 1        the front [0, dataStart): header, sub-header and notes,
 *                 bitmaps, descriptor table, zero padding. Uploaded LAST, at
 *                 finish(), when the header is final and every descriptor known.
 *   parts 2..n    page data as it streams, cut at append boundaries once the
 *                 tail holds partBytes (8 MiB by default).
 *
 * Every part but the last must be at least 5 MiB (minPartBytes). Page data
 * always exceeds nothing in particular, but the front can be small (a few
 * pages for a small machine), so the front is PADDED: dataStart =
 * max(frontBytes, minPartBytes). Descriptors carry absolute offsets and the
 * header's offsets stop at the descriptor table, so crash, makedumpfile's
 * readers and ours never look at the gap; the cost is up to 5 MiB of zeros
 * per dump. A dump whose worst case (front plus every page raw) fits in
 * minPartBytes is not worth a multipart upload: 'single' mode keeps it in
 * memory, unpadded, and writes it with one PutObject at finish (byte for byte
 * what the local backend stores).
 *
 * Memory per writer: the front, held whole until finish (24 bytes per
 * dumpable page for the descriptor table: 24 MiB per million pages, i.e. per
 * 4 GiB of dumped 4 KiB pages, plus 2 bits per pfn of bitmaps; refused past
 * maxFrontBytes, 256 MiB by default, ~11 million pages), the tail being
 * filled (up to partBytes plus one append) and up to uploadsInFlight parts
 * being uploaded (2 x partBytes).
 *
 * Resume across receivers: checkpoint() waits for the parts cut so far, then
 * stores what is still only in memory as small resume objects beside the
 * dump, `<key>.resume/…`:
 *   tail-<n>     the data after the last uploaded part (the start of part n);
 *                overwritten as it grows, a new name per part number
 *   front-<seq>  the slice of the front written since the previous checkpoint
 *                (descriptors arrive in rank order: one small range each);
 *                every `journalCompactAfter` entries one snapshot of the
 *                written front replaces them
 * and returns an S3WriterState (upload id, part numbers, ETags and sizes,
 * dataEnd, tail and journal names): plain JSON for the catalog. Another
 * receiver's resumeWriter() checks the upload's parts against it (ListParts),
 * reloads front and tail, and carries on. Resume objects a newer state made
 * obsolete are deleted one checkpoint later (when the caller has stored the
 * newer state); finish() and abort() sweep the rest.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, ListPartsCommand,
  PutObjectCommand, S3Client, UploadPartCommand, type Part,
} from '@aws-sdk/client-s3';
import { BlockReadCache } from './block-read-cache.js';
import { keysFor } from '../../shared/dump-folders.js';
import { ErrorCode, NetdumpError, corrupt, limitError, type ErrorContext } from '../../shared/errors.js';
import {
  checkFrontWrite, checkKey, checkPlan,
  type DumpObjectPlan, type DumpObjectReader, type DumpObjectWriter, type DumpStorage,
  type S3FrontJournalEntry, type S3PartRecord, type S3WriterState, type WriterState,
} from './dump-storage.js';

const MiB = 1024 * 1024;
/** S3's floor for every part but the last (Swift's s3api: min_segment_size). */
export const S3_MIN_PART_BYTES = 5 * MiB;
/** S3's ceiling for one part. */
export const S3_MAX_PART_BYTES = 5 * 1024 * MiB;
export const S3_MAX_PARTS = 10_000;

export interface S3StorageOptions {
  bucket: string;
  /** An S3Client to use (then endpoint and credentials are ignored). */
  client?: S3Client;
  endpoint?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** http://host/bucket/key instead of http://bucket.host/key (Swift, MinIO, radosgw on an IP). */
  forcePathStyle?: boolean;
  /** Prepended to every key ("dumps/"). */
  prefix?: string;
  /** Target size of a data part. Default 8 MiB; raised for big dumps so they fit in maxParts. */
  partBytes?: number;
  /** The engine's smallest non-last part. Default 5 MiB (AWS; Swift's default min_segment_size). */
  minPartBytes?: number;
  /** The engine's most parts per upload. Default 10,000 (AWS; Swift's s3api default is 1,000: set max_upload_part_num). */
  maxParts?: number;
  /** Largest front held in memory. Default 256 MiB. */
  maxFrontBytes?: number;
  /** Parts uploading at once per writer before append() waits. Default 2. */
  uploadsInFlight?: number;
  /** Front journal entries kept before one snapshot replaces them. Default 16. */
  journalCompactAfter?: number;
  /** Per-request timeout. Default 60 s. */
  requestTimeoutMs?: number;
}

interface Settings {
  bucket: string;
  prefix: string;
  partBytes: number;
  minPartBytes: number;
  maxParts: number;
  maxFrontBytes: number;
  uploadsInFlight: number;
  journalCompactAfter: number;
}

/** How an object of this plan is laid out in the store: the same on every receiver with the same minPartBytes. */
interface ObjectLayout {
  mode: 'single' | 'multipart';
  frontBytes: number;
  dataStart: number;
  partBytes: number;
}

function md5Base64(bytes: Buffer): string {
  return createHash('md5').update(bytes).digest('base64');
}

interface AwsErrorShape {
  name?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

function statusOf(error: unknown): number | undefined {
  return (error as AwsErrorShape)?.$metadata?.httpStatusCode;
}

/** No such object (a missing bucket is a configuration error, not an absent dump; HEAD cannot tell them apart). */
function isNotFound(error: unknown): boolean {
  const name = (error as AwsErrorShape)?.name;
  return name !== 'NoSuchBucket' && (statusOf(error) === 404 || name === 'NotFound' || name === 'NoSuchKey');
}

/**
 * One error kind per cause: the store unreachable, slow or overloaded is
 * UNAVAILABLE (the sender tries another receiver or later); an upload the
 * store no longer has is CORRUPT (the resume state is stale: start over);
 * anything else (credentials, bucket, a bug) is INTERNAL.
 */
function s3Error(op: string, bucket: string, key: string, error: unknown, context: ErrorContext = {}): NetdumpError {
  if (error instanceof NetdumpError) return error;
  const e = error as AwsErrorShape & { code?: string };
  const status = statusOf(error);
  const name = e?.name ?? 'Error';
  const where = { op, bucket, key, s3Error: name, httpStatus: status, ...context };
  const text = `S3 ${op} s3://${bucket}/${key}: ${name}${status ? ` (HTTP ${status})` : ''}: ${e?.message ?? String(error)}`;
  if (name === 'NoSuchUpload') return new NetdumpError(ErrorCode.CORRUPT, `${text}: the upload is gone (aborted or completed elsewhere)`, where, { cause: error });
  const unavailable = status === undefined || status >= 500 || status === 429 || name === 'SlowDown' || name === 'TimeoutError'
    || name === 'RequestTimeout' || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND'].includes(e?.code ?? '');
  return new NetdumpError(unavailable ? ErrorCode.UNAVAILABLE : ErrorCode.INTERNAL, text, where, { cause: error });
}

type BodyLike = { transformToByteArray(): Promise<Uint8Array> } | undefined;

async function bodyBytes(body: unknown): Promise<Buffer> {
  const b = body as BodyLike;
  if (!b) return Buffer.alloc(0);
  const bytes = await b.transformToByteArray();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function refsOf(state: S3WriterState): Set<string> {
  const refs = new Set(state.frontJournal.map((j) => j.name));
  if (state.tailName && state.tailBytes > 0) refs.add(state.tailName);
  return refs;
}

class S3ObjectWriter implements DumpObjectWriter {
  private readonly front: Buffer;
  /** Bytes of the front written since the last checkpoint: one range (descriptors arrive in order). */
  private dirtyStart = Infinity;
  private dirtyEnd = 0;
  /** One past the highest front byte ever written: what a journal snapshot covers. */
  private frontHigh = 0;
  private tail: Buffer;
  private tailLength = 0;
  private end: number;
  /** The part number the tail becomes when it is cut. */
  private nextPartNumber: number;
  private readonly parts = new Map<number, S3PartRecord>();
  private readonly inflight = new Map<number, Promise<void>>();
  private failure?: NetdumpError;
  private journal: S3FrontJournalEntry[];
  private journalSeq: number;
  /** The tail object as the last state names it. */
  private storedTail?: { name: string; bytes: number };
  /** Resume objects in the store that this writer knows of. */
  private readonly written = new Set<string>();
  /** What the last state returned references (the caller has stored it once it calls checkpoint() again). */
  private lastRefs = new Set<string>();
  private checkpointRunning = false;
  private done = false;

  constructor(
    private readonly storage: S3DumpStorage,
    readonly key: string,
    private readonly objectKey: string,
    private readonly layout: ObjectLayout,
    private readonly maxDataBytes: number,
    private readonly uploadId: string | undefined,
    resume?: { state: S3WriterState; front: Buffer; tail: Buffer },
  ) {
    this.front = resume?.front ?? Buffer.alloc(layout.frontBytes);
    // A resumed tail may exceed this receiver's part size (another configuration): it is cut at the next append.
    this.tail = Buffer.allocUnsafe(Math.max(this.tailCapacity(), resume?.tail.length ?? 0));
    this.end = layout.dataStart;
    this.nextPartNumber = 2;
    this.journal = [];
    this.journalSeq = 1;
    if (resume) {
      const { state } = resume;
      resume.tail.copy(this.tail);
      this.tailLength = resume.tail.length;
      this.end = state.dataEnd;
      for (const p of state.parts) this.parts.set(p.partNumber, p);
      this.nextPartNumber = state.parts.length + 2;
      this.journal = [...state.frontJournal];
      this.journalSeq = 1 + Math.max(0, ...state.frontJournal.map((j) => Number(/front-(\d+)$/.exec(j.name)?.[1] ?? 0)));
      this.frontHigh = Math.max(0, ...state.frontJournal.map((j) => j.offset + j.size));
      if (state.tailName && state.tailBytes > 0) this.storedTail = { name: state.tailName, bytes: state.tailBytes };
      this.lastRefs = refsOf(state);
      for (const name of this.lastRefs) this.written.add(name);
    }
  }

  private tailCapacity(): number {
    return this.layout.mode === 'single' ? Math.max(1, this.maxDataBytes) : this.layout.partBytes + MiB;
  }

  get dataStart(): number {
    return this.layout.dataStart;
  }

  get dataEnd(): number {
    return this.end;
  }

  private get bucket(): string {
    return this.storage.settings.bucket;
  }

  private resumeName(suffix: string): string {
    return `${this.objectKey}.resume/${suffix}`;
  }

  private checkUsable(): void {
    if (this.failure) throw this.failure;
    if (this.done) throw new NetdumpError(ErrorCode.INTERNAL, `writer of ${this.key} is finished, aborted or closed`, { key: this.key });
  }

  writeFront(offset: number, bytes: Buffer): void {
    this.checkUsable();
    checkFrontWrite(this.key, this.layout.frontBytes, offset, bytes.length);
    bytes.copy(this.front, offset);
    this.dirtyStart = Math.min(this.dirtyStart, offset);
    this.dirtyEnd = Math.max(this.dirtyEnd, offset + bytes.length);
    this.frontHigh = Math.max(this.frontHigh, offset + bytes.length);
  }

  append(bytes: Buffer): Promise<void> {
    try {
      this.checkUsable();
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.end + bytes.length - this.layout.dataStart > this.maxDataBytes) {
      return Promise.reject(limitError(`page data of ${this.key} would pass the ${this.maxDataBytes} bytes its plan allows`, { key: this.key, offset: this.end }));
    }
    if (this.tailLength + bytes.length > this.tail.length) {
      // Never written into again below tailLength: a checkpoint may be uploading a view of it.
      const grown = Buffer.allocUnsafe(Math.max(this.tail.length * 2, this.tailLength + bytes.length));
      this.tail.copy(grown, 0, 0, this.tailLength);
      this.tail = grown;
    }
    bytes.copy(this.tail, this.tailLength);
    this.tailLength += bytes.length;
    this.end += bytes.length;
    if (this.layout.mode === 'multipart' && this.tailLength >= this.layout.partBytes) return this.cutPart();
    return Promise.resolve();
  }

  /** Uploads the tail as the next part; waits while uploadsInFlight parts are already going up. */
  private async cutPart(): Promise<void> {
    const partNumber = this.nextPartNumber++;
    const body = this.tail.subarray(0, this.tailLength);
    this.tail = Buffer.allocUnsafe(this.tailCapacity());
    this.tailLength = 0;
    const upload = this.storage.uploadPart(this.objectKey, this.uploadId!, partNumber, body).then(
      (record) => { this.parts.set(partNumber, record); },
      (error: NetdumpError) => { this.failure ??= error; },
    ).finally(() => { this.inflight.delete(partNumber); });
    this.inflight.set(partNumber, upload);
    while (this.inflight.size >= this.storage.settings.uploadsInFlight) await Promise.race(this.inflight.values());
    if (this.failure) throw this.failure;
  }

  async checkpoint(): Promise<S3WriterState> {
    this.checkUsable();
    if (this.checkpointRunning) throw new NetdumpError(ErrorCode.INTERNAL, `checkpoint of ${this.key} while one is running`, { key: this.key });
    this.checkpointRunning = true;
    try {
      // Everything below is captured now, before the first await; appends may go on meanwhile.
      const dataEnd = this.end;
      const nextPart = this.nextPartNumber;
      const tail = this.tail.subarray(0, this.tailLength);
      let slice: { offset: number; bytes: Buffer; compacts: boolean } | undefined;
      if (this.dirtyEnd > this.dirtyStart) {
        const compacts = this.journal.length >= this.storage.settings.journalCompactAfter;
        const offset = compacts ? 0 : this.dirtyStart;
        const to = compacts ? this.frontHigh : this.dirtyEnd;
        slice = { offset, bytes: Buffer.from(this.front.subarray(offset, to)), compacts };
        this.dirtyStart = Infinity;
        this.dirtyEnd = 0;
      }
      try {
        // The caller stored the last state before calling: what only older states named can go.
        await this.deleteUnreferenced(this.lastRefs);
        await Promise.all([...this.inflight].filter(([n]) => n < nextPart).map(([, p]) => p));
        if (this.failure) throw this.failure;

        let tailName: string | undefined;
        if (tail.length > 0) {
          tailName = this.resumeName(`tail-${nextPart}`);
          if (this.storedTail?.name !== tailName || this.storedTail.bytes !== tail.length) {
            this.written.add(tailName);
            await this.storage.putObject(tailName, tail, 'PutObject (resume tail)');
          }
        }
        let journal = this.journal;
        if (slice) {
          const entry = { name: this.resumeName(`front-${String(this.journalSeq++).padStart(6, '0')}`), offset: slice.offset, size: slice.bytes.length };
          this.written.add(entry.name);
          await this.storage.putObject(entry.name, slice.bytes, 'PutObject (resume front)');
          journal = slice.compacts ? [entry] : [...journal, entry];
        }
        const parts: S3PartRecord[] = [];
        for (let n = 2; n < nextPart; n++) {
          const part = this.parts.get(n);
          if (!part) throw new NetdumpError(ErrorCode.INTERNAL, `part ${n} of ${this.key} missing after its upload`, { key: this.key, part: n });
          parts.push(part);
        }
        this.journal = journal;
        this.storedTail = tailName ? { name: tailName, bytes: tail.length } : undefined;
        const state: S3WriterState = {
          backend: 's3', version: 1, key: this.key, mode: this.layout.mode, uploadId: this.uploadId,
          frontBytes: this.layout.frontBytes, dataStart: this.layout.dataStart, dataEnd,
          parts, tailBytes: tail.length, tailName, frontJournal: journal,
        };
        this.lastRefs = refsOf(state);
        return state;
      } catch (error) {
        // The slice did not make it: the next checkpoint writes it again.
        if (slice && !slice.compacts) {
          this.dirtyStart = Math.min(this.dirtyStart, slice.offset);
          this.dirtyEnd = Math.max(this.dirtyEnd, slice.offset + slice.bytes.length);
        } else if (slice) {
          this.dirtyStart = 0;
          this.dirtyEnd = Math.max(this.dirtyEnd, this.frontHigh);
        }
        throw error;
      }
    } finally {
      this.checkpointRunning = false;
    }
  }

  private async deleteUnreferenced(keep: Set<string>): Promise<void> {
    const obsolete = [...this.written].filter((name) => !keep.has(name));
    await Promise.all(obsolete.map(async (name) => {
      await this.storage.deleteObject(name).catch(() => {}); // best effort: finish() and abort() sweep again
      this.written.delete(name);
    }));
  }

  async finish(): Promise<{ size: number }> {
    this.checkUsable();
    if (this.checkpointRunning) throw new NetdumpError(ErrorCode.INTERNAL, `finish of ${this.key} while a checkpoint runs`, { key: this.key });
    await Promise.all(this.inflight.values());
    if (this.failure) throw this.failure;
    const { bucket, key, objectKey } = this;
    const front = this.layout.dataStart > this.layout.frontBytes
      ? Buffer.concat([this.front, Buffer.alloc(this.layout.dataStart - this.layout.frontBytes)])
      : this.front;
    if (this.layout.mode === 'single') {
      await this.storage.putObject(objectKey, Buffer.concat([front, this.tail.subarray(0, this.tailLength)]), 'PutObject');
    } else {
      if (this.tailLength > 0) {
        const last = this.nextPartNumber++;
        this.parts.set(last, await this.storage.uploadPart(objectKey, this.uploadId!, last, this.tail.subarray(0, this.tailLength)));
        this.tailLength = 0;
      }
      // The front goes up last: only now are the header and every descriptor final.
      this.parts.set(1, await this.storage.uploadPart(objectKey, this.uploadId!, 1, front));
      const parts: Part[] = [...this.parts.values()].sort((a, b) => a.partNumber - b.partNumber).map((p) => ({ PartNumber: p.partNumber, ETag: p.etag }));
      await this.storage.call('CompleteMultipartUpload', objectKey, (c) => c.send(new CompleteMultipartUploadCommand({
        Bucket: bucket, Key: objectKey, UploadId: this.uploadId, MultipartUpload: { Parts: parts },
      })));
    }
    const head = await this.storage.call('HeadObject', objectKey, (c) => c.send(new HeadObjectCommand({ Bucket: bucket, Key: objectKey })));
    if (head.ContentLength !== this.end) {
      throw corrupt(`s3://${bucket}/${objectKey} holds ${head.ContentLength} bytes after completion, expected ${this.end}`, { key });
    }
    this.done = true;
    await this.storage.sweepResumeObjects(objectKey, this.written).catch(() => {});
    return { size: this.end };
  }

  async abort(): Promise<void> {
    this.done = true;
    await Promise.allSettled(this.inflight.values());
    await this.storage.discardObject(this.objectKey, this.uploadId, this.written);
  }

  async close(): Promise<void> {
    this.done = true;
    await Promise.allSettled(this.inflight.values());
  }
}

class S3ObjectReader implements DumpObjectReader {
  private readonly cache: BlockReadCache;

  constructor(
    private readonly storage: S3DumpStorage,
    readonly key: string,
    private readonly objectKey: string,
    readonly size: number,
    private readonly etag: string | undefined,
  ) {
    this.cache = new BlockReadCache(size, (offset, length) => this.fetchRange(offset, length));
  }

  async read(offset: number, length: number): Promise<Buffer> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw corrupt(`read [${offset}, ${offset + length}) past the end of ${this.key} (${this.size} bytes)`, { key: this.key, offset });
    }
    return this.cache.read(offset, length);
  }

  private async fetchRange(offset: number, length: number): Promise<Buffer> {
    const out = await this.storage.call('GetObject', this.objectKey, (c) => c.send(new GetObjectCommand({
      Bucket: this.storage.settings.bucket, Key: this.objectKey, Range: `bytes=${offset}-${offset + length - 1}`, IfMatch: this.etag,
    })), { offset });
    const bytes = await bodyBytes(out.Body);
    if (bytes.length !== length) throw corrupt(`GetObject ${this.key} at ${offset}: ${bytes.length} bytes, asked for ${length}`, { key: this.key, offset });
    return bytes;
  }

  async createReadStream(range?: { start: number; end: number }): Promise<Readable> {
    const out = await this.storage.call('GetObject', this.objectKey, (c) => c.send(new GetObjectCommand({
      Bucket: this.storage.settings.bucket, Key: this.objectKey, IfMatch: this.etag,
      Range: range ? `bytes=${range.start}-${range.end}` : undefined,
    })));
    return out.Body as Readable;
  }

  async close(): Promise<void> {}
}

export class S3DumpStorage implements DumpStorage {
  readonly settings: Settings;
  private readonly client: S3Client;
  private readonly ownsClient: boolean;

  constructor(options: S3StorageOptions) {
    this.settings = {
      bucket: options.bucket,
      prefix: options.prefix ?? '',
      partBytes: options.partBytes ?? 8 * MiB,
      minPartBytes: options.minPartBytes ?? S3_MIN_PART_BYTES,
      maxParts: options.maxParts ?? S3_MAX_PARTS,
      maxFrontBytes: options.maxFrontBytes ?? 256 * MiB,
      uploadsInFlight: Math.max(1, options.uploadsInFlight ?? 2),
      journalCompactAfter: Math.max(1, options.journalCompactAfter ?? 16),
    };
    if (this.settings.partBytes < this.settings.minPartBytes) throw new RangeError(`partBytes ${this.settings.partBytes} below minPartBytes ${this.settings.minPartBytes}`);
    this.ownsClient = !options.client;
    this.client = options.client ?? new S3Client({
      endpoint: options.endpoint,
      region: options.region ?? 'us-east-1',
      forcePathStyle: options.forcePathStyle ?? false,
      credentials: options.accessKeyId && options.secretAccessKey
        ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } : undefined,
      // Integrity by Content-MD5 on every upload, which every S3 engine checks; the
      // SDK's newer CRC trailers are not understood by all of them.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { requestTimeout: options.requestTimeoutMs ?? 60_000, connectionTimeout: 10_000 },
      maxAttempts: 3,
    });
  }

  private objectKey(key: string): string {
    return this.settings.prefix + checkKey(key);
  }

  /** Runs one request, turning its errors into NetdumpErrors that say what failed where. */
  async call<T>(op: string, objectKey: string, request: (client: S3Client) => Promise<T>, context: ErrorContext = {}): Promise<T> {
    try {
      return await request(this.client);
    } catch (error) {
      throw s3Error(op, this.settings.bucket, objectKey, error, context);
    }
  }

  async uploadPart(objectKey: string, uploadId: string, partNumber: number, body: Buffer): Promise<S3PartRecord> {
    const out = await this.call('UploadPart', objectKey, (c) => c.send(new UploadPartCommand({
      Bucket: this.settings.bucket, Key: objectKey, UploadId: uploadId, PartNumber: partNumber,
      Body: body, ContentLength: body.length, ContentMD5: md5Base64(body),
    })), { part: partNumber });
    if (!out.ETag) throw new NetdumpError(ErrorCode.INTERNAL, `UploadPart ${objectKey} part ${partNumber}: no ETag in the answer`, { key: objectKey, part: partNumber });
    return { partNumber, etag: out.ETag, size: body.length };
  }

  async putObject(objectKey: string, body: Buffer, op = 'PutObject'): Promise<void> {
    await this.call(op, objectKey, (c) => c.send(new PutObjectCommand({
      Bucket: this.settings.bucket, Key: objectKey, Body: body, ContentLength: body.length, ContentMD5: md5Base64(body),
    })));
  }

  async deleteObject(objectKey: string): Promise<void> {
    await this.call('DeleteObject', objectKey, (c) => c.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: objectKey })));
  }

  private async getObject(objectKey: string, op: string, range?: { start: number; length: number }): Promise<Buffer | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({
        Bucket: this.settings.bucket, Key: objectKey, Range: range ? `bytes=${range.start}-${range.start + range.length - 1}` : undefined,
      }));
      return await bodyBytes(out.Body);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw s3Error(op, this.settings.bucket, objectKey, error);
    }
  }

  /** Deletes the resume objects named, then any other under `<objectKey>.resume/` (left by an earlier writer). */
  async sweepResumeObjects(objectKey: string, known: Iterable<string>): Promise<void> {
    const names = new Set(known);
    let token: string | undefined;
    do {
      const out = await this.call('ListObjectsV2', objectKey, (c) => c.send(
        new ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: `${objectKey}.resume/`, ContinuationToken: token })));
      for (const c of out.Contents ?? []) if (c.Key) names.add(c.Key);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    await Promise.all([...names].map((name) => this.deleteObject(name)));
  }

  /** Aborts every unfinished upload of objectKey (the one named first) and deletes its resume objects. */
  async discardObject(objectKey: string, uploadId: string | undefined, known: Iterable<string> = []): Promise<void> {
    const uploads = new Set<string>(uploadId ? [uploadId] : []);
    const listed = await this.call('ListMultipartUploads', objectKey, (c) => c.send(
      new ListMultipartUploadsCommand({ Bucket: this.settings.bucket, Prefix: objectKey })));
    for (const u of listed.Uploads ?? []) if (u.Key === objectKey && u.UploadId) uploads.add(u.UploadId);
    for (const id of uploads) {
      await this.call('AbortMultipartUpload', objectKey, (c) => c.send(new AbortMultipartUploadCommand({ Bucket: this.settings.bucket, Key: objectKey, UploadId: id })))
        .catch((error: NetdumpError) => { if (error.context.s3Error !== 'NoSuchUpload') throw error; });
    }
    await this.sweepResumeObjects(objectKey, known);
  }

  /** The same plan lays out the same way on every receiver configured alike (resume checks it). */
  layoutFor(key: string, plan: DumpObjectPlan): ObjectLayout {
    checkPlan(plan);
    const s = this.settings;
    if (plan.frontBytes > s.maxFrontBytes) {
      throw limitError(`dump ${key}: its front (header, bitmaps, descriptor table) takes ${plan.frontBytes} bytes, more than the ${s.maxFrontBytes} the S3 store holds in memory`, { key });
    }
    if (plan.frontBytes + plan.maxDataBytes <= s.minPartBytes) {
      return { mode: 'single', frontBytes: plan.frontBytes, dataStart: plan.frontBytes, partBytes: s.minPartBytes };
    }
    // Part 1 is the front; the data may end in one part smaller than the rest.
    const partBytes = Math.max(s.partBytes, Math.ceil(plan.maxDataBytes / Math.max(1, s.maxParts - 2) / MiB) * MiB);
    if (partBytes > S3_MAX_PART_BYTES) {
      throw limitError(`dump ${key}: ${plan.maxDataBytes} bytes of page data do not fit in ${s.maxParts} parts of at most ${S3_MAX_PART_BYTES} bytes`, { key });
    }
    return { mode: 'multipart', frontBytes: plan.frontBytes, dataStart: Math.max(plan.frontBytes, s.minPartBytes), partBytes };
  }

  async createWriter(key: string, plan: DumpObjectPlan): Promise<DumpObjectWriter> {
    const layout = this.layoutFor(key, plan);
    const objectKey = this.objectKey(key);
    // Replaces whatever an earlier, unfinished writer of this key left.
    await this.discardObject(objectKey, undefined);
    let uploadId: string | undefined;
    if (layout.mode === 'multipart') {
      const out = await this.call('CreateMultipartUpload', objectKey, (c) => c.send(new CreateMultipartUploadCommand({
        Bucket: this.settings.bucket, Key: objectKey, ContentType: 'application/octet-stream',
      })));
      if (!out.UploadId) throw new NetdumpError(ErrorCode.INTERNAL, `CreateMultipartUpload ${objectKey}: no UploadId in the answer`, { key });
      uploadId = out.UploadId;
    }
    return new S3ObjectWriter(this, key, objectKey, layout, plan.maxDataBytes, uploadId);
  }

  async resumeWriter(key: string, plan: DumpObjectPlan, state: WriterState): Promise<DumpObjectWriter> {
    const layout = this.layoutFor(key, plan);
    const objectKey = this.objectKey(key);
    const stale = (why: string) => corrupt(`resume state of ${key} does not fit: ${why}`, { key });
    if (state.backend !== 's3' || state.version !== 1) throw stale(`it is a ${state.backend} state`);
    if (state.key !== key || state.mode !== layout.mode || state.dataStart !== layout.dataStart || state.frontBytes !== layout.frontBytes) {
      throw stale(`written for ${state.key}, ${state.mode}, data at ${state.dataStart}; this plan gives ${layout.mode}, data at ${layout.dataStart}`);
    }
    const partsBytes = state.parts.reduce((n, p) => n + p.size, 0);
    if (state.dataEnd !== state.dataStart + partsBytes + state.tailBytes || state.parts.some((p, i) => p.partNumber !== i + 2)) {
      throw stale(`data end ${state.dataEnd} is not data start + parts + tail`);
    }
    if (layout.mode === 'multipart') {
      if (!state.uploadId) throw stale('no upload id');
      const stored = new Map<number, { etag?: string; size?: number }>();
      let marker: string | undefined;
      do {
        const out = await this.call('ListParts', objectKey, (c) => c.send(
          new ListPartsCommand({ Bucket: this.settings.bucket, Key: objectKey, UploadId: state.uploadId, PartNumberMarker: marker })));
        for (const p of out.Parts ?? []) if (p.PartNumber) stored.set(p.PartNumber, { etag: p.ETag, size: p.Size });
        marker = out.IsTruncated ? out.NextPartNumberMarker : undefined;
      } while (marker);
      for (const p of state.parts) {
        const s = stored.get(p.partNumber);
        if (!s || s.etag !== p.etag || s.size !== p.size) {
          throw stale(`part ${p.partNumber} of upload ${state.uploadId} is ${s ? `${s.size} bytes, ETag ${s.etag}` : 'missing'}, the state says ${p.size} bytes, ETag ${p.etag}`);
        }
      }
    }
    const front = Buffer.alloc(layout.frontBytes);
    const slices = await Promise.all(state.frontJournal.map((j) => this.getObject(j.name, 'GetObject (resume front)')));
    state.frontJournal.forEach((j, i) => {
      const bytes = slices[i];
      if (!bytes || bytes.length !== j.size || j.offset + j.size > front.length) throw stale(`front slice ${j.name} is ${bytes ? `${bytes.length} bytes, expected ${j.size}` : 'missing'}`);
      bytes.copy(front, j.offset);
    });
    let tail: Buffer = Buffer.alloc(0);
    if (state.tailBytes > 0) {
      const bytes = state.tailName ? await this.getObject(state.tailName, 'GetObject (resume tail)', { start: 0, length: state.tailBytes }) : undefined;
      if (!bytes || bytes.length !== state.tailBytes) throw stale(`tail ${state.tailName} is ${bytes ? `${bytes.length} bytes` : 'missing'}, expected ${state.tailBytes}`);
      tail = bytes;
    }
    return new S3ObjectWriter(this, key, objectKey, layout, plan.maxDataBytes, state.uploadId, { state, front, tail });
  }

  async ping(): Promise<void> {
    await this.call('HeadBucket', '', (c) => c.send(new HeadBucketCommand({ Bucket: this.settings.bucket })));
  }

  locationOf(key: string): string {
    return `s3://${this.settings.bucket}/${this.objectKey(key)}`;
  }

  async openReader(key: string): Promise<DumpObjectReader | undefined> {
    const objectKey = this.objectKey(key);
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: objectKey }));
      return new S3ObjectReader(this, key, objectKey, head.ContentLength ?? 0, head.ETag);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw s3Error('HeadObject', this.settings.bucket, objectKey, error);
    }
  }

  async exists(key: string): Promise<boolean> {
    const reader = await this.openReader(key);
    return reader !== undefined;
  }

  async delete(key: string): Promise<void> {
    await this.deleteObject(this.objectKey(key));
  }

  async discard(key: string, state?: WriterState): Promise<void> {
    const objectKey = this.objectKey(key);
    const s3State = state?.backend === 's3' ? state : undefined;
    await this.discardObject(objectKey, s3State?.uploadId, s3State ? refsOf(s3State) : []);
  }

  /** The companions are named, not listed: a prefix listing could reach another dump's objects that share the name's start. */
  async removeDump(key: string, state?: WriterState): Promise<void> {
    await this.discard(key, state);
    const keys = keysFor(key);
    // An unfinished first-tier file has no state of its own in the catalog: found by key.
    await this.discard(keys.firstTier);
    for (const each of [keys.dump, keys.elfHeaders, keys.dmesg, keys.firstTier, keys.hello]) await this.delete(each);
  }

  /** A bucket has no free space to watch, and between checkpoints nothing of an upload is visible. */
  async freeBytes(): Promise<undefined> {
    return undefined;
  }

  async unfinishedActivity(): Promise<undefined> {
    return undefined;
  }

  /**
   * A bucket reserves nothing ahead: between receivers picking one key at
   * once, the catalog's unique path decides. This only keeps a complete
   * object the catalog forgot from being replaced.
   */
  async claim(key: string): Promise<boolean> {
    return !(await this.exists(key));
  }

  filePath(): undefined {
    return undefined;
  }

  get description(): string {
    return `s3://${this.settings.bucket}/${this.settings.prefix}`;
  }

  async put(key: string, bytes: Buffer): Promise<void> {
    await this.putObject(this.objectKey(key), bytes);
  }

  async get(key: string): Promise<Buffer | undefined> {
    return this.getObject(this.objectKey(key), 'GetObject');
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }
}
