/**
 * One dump's upload: HELLO, chunks from where the receiver wants them, END,
 * DONE; on a dropped connection or a retryable refusal, reconnect and resume
 * from the receiver's ACCEPT until the deadline. Chunks are re-read from the
 * core when resent, so nothing is kept in memory but a few frame buffers.
 */
import { createHash } from 'node:crypto';
import { ErrorCode, NetdumpError } from '../shared/errors.js';
import { ChunkPlan } from '../shared/protocol/chunk-plan.js';
import { SendOrder } from '../shared/protocol/send-order.js';
import { CHECKSUMS_OFFERED, chunkChecksumOf, DumpDigestBuilder, logChecksum, offersChunkChecksum, type ChunkChecksum } from '../shared/protocol/digest.js';
import { encodePfnRuns } from '../shared/protocol/pfn-runs.js';
import type { PfnRun } from '../shared/kdump/layout.js';
import {
  encodeControl, PROTOCOL_VERSION, type AcceptMessage, type DumpLevelReport, type DoneMessage, type LiveSnapshot, type LogReadMessage, type Message,
} from '../shared/protocol/messages.js';
import type { ReadRate } from './live/read-rate.js';
import { Chunker, frameCapacity } from './chunker.js';
import { connectTransport, type ClientTransport, type ServerAddress, type TlsClientOptions } from './transport.js';
import type { VmcoreSource } from './vmcore-source.js';
import { readUtsname } from './utsname.js';
import type { ProgressReporter } from './progress.js';
import type { CapturedLog } from './kernel-log.js';

export const SENDER_VERSION = '0.1.0';

export interface UploadOptions {
  /** Receivers in order of preference: an unreachable or refusing one hands over to the next. */
  servers: ServerAddress[];
  /** CA and client certificate for tls:// and wss:// servers. */
  tls?: TlsClientOptions;
  hostId: string;
  token?: string;
  chunkPages: number;
  /** lz4 acceleration of the chunks sent (default DEFAULT_LZ4_ACCELERATION): more is less CPU, more bytes on the wire. */
  lz4Acceleration?: number;
  /** false: never send stored pages (CHUNK_STORED_LZO), even to a receiver that takes them. Default true. */
  storedPages?: boolean;
  /** makedumpfile -d bits applied (default 1: zero pages only). */
  dumpLevel?: number;
  /** The pfns to send when the level left some out (sender/dump-level); default every page of the core. */
  dumpable?: readonly PfnRun[];
  /** How the level was arrived at, for the receiver's catalog. */
  dumpLevelReport?: DumpLevelReport;
  /**
   * The pfns crash needs first (sender/first-tier.ts): sent ahead of the rest
   * to a receiver that takes them so (ACCEPT firstTierChunks).
   */
  firstTier?: readonly PfnRun[];
  /** Send the log and the first tier, then stop (END stopAt): kept as a partial dump. */
  logOnly?: boolean;
  connectTimeoutMs: number;
  /** Longest wait for any answer from the receiver (ACCEPT, DONE). */
  replyTimeoutMs: number;
  /** Give up retrying after this long since the upload started. */
  deadlineMs: number;
  /** Frames in flight: how far reading and compressing may run ahead of the socket. */
  framesInFlight: number;
  /** The crashed kernel's log, sent before the first page to a receiver that asks for it (ACCEPT logWanted). */
  kernelLog?: CapturedLog;
  /** A live snapshot of the running kernel (kdump-send --live), not a crash: HELLO says so. */
  live?: LiveSnapshot;
  /** How fast memory may be read (a live snapshot's --max-rate); unbounded when absent. */
  readRate?: ReadRate;
  progress?: ProgressReporter;
  log?: (line: string) => void;
}

export interface UploadResult {
  dumpId: string;
  path: string;
  storedBytes: number;
  chunks: number;
  bytesSent: number;
  zeroPages: number;
  attempts: number;
  /** The receiver that stored it. */
  server: string;
  /** A receiver took the kernel log ahead of the pages (on this or an earlier attempt). */
  logSent: boolean;
  /** Kept as a partial dump: the sender stopped after `chunksSent` chunks (log-only, or the receiver asked: a crash storm). */
  partial?: { chunksSent: number; why: string };
}

/**
 * Same crash, same host, same level: same id, so a restarted sender resumes instead of uploading twice.
 * A live snapshot is its moment: the running kernel's headers and notes are the same all its uptime,
 * and a restarted sender reads other memory, which must not resume into what was sent.
 */
export function dumpIdFor(hostId: string, source: VmcoreSource, dumpLevel = 1, live?: LiveSnapshot): string {
  return createHash('sha256')
    .update(hostId).update('\0')
    .update(dumpLevel === 1 ? '' : `level ${dumpLevel}\0`)
    .update(live ? `live ${live.startedAtMs}\0` : '')
    .update(String(source.size)).update('\0')
    .update(source.headerBytes)
    .update(source.notes)
    .digest('hex')
    .slice(0, 32);
}

/**
 * Retryable: the receiver may take it later or after a reconnect. A refusal
 * carries the receiver's own verdict; anything else that went wrong on the
 * way (refused connection, reset, timeout) is worth another attempt.
 */
function isRetryable(error: NetdumpError): boolean {
  if (error.fromPeer) return error.retryable;
  // Ours, not the receiver's: only the way there failing is worth another attempt; the rest would fail again.
  return error.code === ErrorCode.UNAVAILABLE;
}

/** Waits for a write to be taken by the kernel, but not forever: a receiver can stall without closing. */
function withinTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T>;
function withinTimeout(promise: Promise<void> | undefined, timeoutMs: number): Promise<void> | undefined;
function withinTimeout<T>(promise: Promise<T> | undefined, timeoutMs: number): Promise<T> | undefined {
  if (!promise) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new NetdumpError(ErrorCode.UNAVAILABLE, `receiver took no data for ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A chunk's write in flight, and whether it has settled: the sender waits on
 * its frame buffer's last write only while it has not, so a socket that keeps
 * up costs no timer and no promise race per chunk.
 */
class InFlight {
  settled = false;
  error: unknown;
  readonly promise: Promise<void>;

  constructor(write: Promise<void>) {
    // A failed write also surfaces through the inbox (connection closed); the rejection is kept handled here.
    this.promise = write.then(() => { this.settled = true; }, (error) => { this.settled = true; this.error = error; });
  }

  /** Resolves once the frame buffer may be reused; throws the write's error, or UNAVAILABLE after timeoutMs. */
  async done(timeoutMs: number): Promise<void> {
    if (!this.settled) await withinTimeout(this.promise, timeoutMs);
    if (this.error !== undefined) throw this.error;
  }
}

/** Collects server messages; lets the session wait for the next one of a kind. */
class Inbox {
  private waiter?: { type: Message['type']; resolve: (m: Message) => void; reject: (e: NetdumpError) => void; timer: NodeJS.Timeout };
  failure?: NetdumpError;
  ackedSeq = 0;
  /** The receiver's answer to LOG (LOG_READ), when it comes. */
  readonly logRead: Promise<LogReadMessage>;
  /** Rejects with the failure once the connection fails: races the waits that have no waiter. */
  readonly failed: Promise<never>;
  private logReadArrived!: (message: LogReadMessage) => void;
  private failedWith!: (error: NetdumpError) => void;

  constructor() {
    this.logRead = new Promise((resolve) => { this.logReadArrived = resolve; });
    this.failed = new Promise<never>((_, reject) => { this.failedWith = reject; });
    this.failed.catch(() => {});
  }

  onMessage(message: Message): void {
    if (message.type === 'ack') {
      this.ackedSeq = Math.max(this.ackedSeq, message.nextSeq);
      return;
    }
    if (message.type === 'log_read') {
      this.logReadArrived(message);
      return;
    }
    if (message.type === 'error') {
      this.fail(new NetdumpError(message.code, `receiver refused: ${message.message}`, {}, { retryable: message.retryable, fromPeer: true }));
      return;
    }
    if (this.waiter && this.waiter.type === message.type) {
      const { resolve, timer } = this.waiter;
      clearTimeout(timer);
      this.waiter = undefined;
      resolve(message);
      return;
    }
    this.fail(new NetdumpError(ErrorCode.PROTOCOL, `unexpected ${message.type.toUpperCase()} from receiver`));
  }

  fail(error: NetdumpError): void {
    this.failure ??= error;
    this.failedWith(this.failure);
    if (this.waiter) {
      clearTimeout(this.waiter.timer);
      this.waiter.reject(this.failure);
      this.waiter = undefined;
    }
  }

  waitFor<T extends Message>(type: T['type'], timeoutMs: number): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new NetdumpError(ErrorCode.UNAVAILABLE, `no ${type.toUpperCase()} from receiver within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = { type, resolve: resolve as (m: Message) => void, reject, timer };
    });
  }
}

export async function upload(source: VmcoreSource, options: UploadOptions): Promise<UploadResult> {
  const { core } = source;
  const dumpLevel = options.dumpLevel ?? 1;
  const plan = new ChunkPlan(options.dumpable ? { extents: options.dumpable } : core.pageMap, options.chunkPages);
  const firstTierOrder = options.firstTier?.length ? SendOrder.firstTierFirst(plan, options.firstTier) : undefined;
  /** The order of the attempt under way: the first tier's first when the receiver takes it so, else pfn order. */
  let order = SendOrder.pfnOrder(plan);
  /** The chunk checksum of the attempt under way: the one its receiver took (ACCEPT checksum). */
  let checksum: ChunkChecksum = chunkChecksumOf('crc32');
  const dumpId = dumpIdFor(options.hostId, source, dumpLevel, options.live);
  const chunker = new Chunker(core.pageSize, options.lz4Acceleration);
  const pageBuffer = Buffer.alloc(options.chunkPages * core.pageSize);
  const frames = Array.from({ length: options.framesInFlight }, () => Buffer.alloc(frameCapacity(core.pageSize, options.chunkPages)));
  // Chunks [0, digest.count) are in the digest; a resend after a reconnect adds nothing.
  let digest = new DumpDigestBuilder();
  let bytesSent = 0;
  let zeroPages = 0;
  let logSent = false;
  let mapFailureSaid = false;
  let partial: UploadResult['partial'];
  const started = Date.now();
  const log = options.log ?? (() => {});

  const hello = encodeControl({
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    hostId: options.hostId,
    dumpId,
    token: options.token,
    vmcoreSize: source.size,
    pageSize: core.pageSize,
    dumpLevel,
    dumpable: options.dumpable && encodePfnRuns(options.dumpable),
    dumpLevelReport: options.dumpLevelReport,
    firstTier: firstTierOrder && encodePfnRuns(options.firstTier!),
    checksums: [...CHECKSUMS_OFFERED],
    chunkPages: options.chunkPages,
    elfHeaders: source.headerBytes,
    notes: source.notes,
    utsname: readUtsname(source),
    live: options.live,
    senderVersion: SENDER_VERSION,
  });

  const logFrame = options.kernelLog && encodeControl({
    type: 'log', text: options.kernelLog.text, crc: logChecksum(options.kernelLog.text), truncated: options.kernelLog.truncated,
  });

  /** Checksums of stored chunks this process never sent (it restarted): re-read, no compression. */
  function catchUpChecksums(upTo: number): void {
    while (digest.count < upTo) {
      const span = plan.chunk(order.seqAt(digest.count));
      digest.add(chunker.checksum(span.pageCount, source.readPages(span.startPfn, span.pageCount, pageBuffer), checksum));
    }
  }

  async function attempt(server: ServerAddress): Promise<DoneMessage> {
    const inbox = new Inbox();
    let logSentNow = false;
    const transport: ClientTransport = await connectTransport(server, {
      onMessage: (m) => inbox.onMessage(m),
      onClose: (error) => inbox.fail(error ?? new NetdumpError(ErrorCode.UNAVAILABLE, 'receiver closed the connection')),
    }, options.connectTimeoutMs, options.tls);
    try {
      const acceptPromise = inbox.waitFor<AcceptMessage>('accept', options.replyTimeoutMs);
      acceptPromise.catch(() => {}); // awaited below; a failed write must not leave it unhandled
      await withinTimeout(transport.send(hello), options.replyTimeoutMs);
      const accept = await acceptPromise;
      if (accept.dumpId !== dumpId || accept.totalChunks !== plan.totalChunks || accept.nextSeq < 0 || accept.nextSeq > plan.totalChunks) {
        throw new NetdumpError(ErrorCode.PROTOCOL,
          `receiver accepted dump ${accept.dumpId} with ${accept.totalChunks} chunks from ${accept.nextSeq}; sender has ${dumpId} with ${plan.totalChunks}`);
      }
      // No firstTierChunks: the receiver takes pfn order. Else it must have counted the same first tier as this sender.
      const wanted = accept.firstTierChunks === undefined ? SendOrder.pfnOrder(plan) : firstTierOrder;
      if (!wanted || (accept.firstTierChunks !== undefined && wanted.firstTierChunks !== accept.firstTierChunks)) {
        throw new NetdumpError(ErrorCode.PROTOCOL, `receiver takes ${accept.firstTierChunks} first-tier chunks first; this sender has ${firstTierOrder?.firstTierChunks ?? 'none'}`);
      }
      if (accept.checksum !== undefined && !offersChunkChecksum(CHECKSUMS_OFFERED, accept.checksum)) {
        throw new NetdumpError(ErrorCode.PROTOCOL, `receiver took chunk checksum ${accept.checksum}, which this sender did not offer`);
      }
      const taken = chunkChecksumOf(accept.checksum);
      if ((wanted.firstTierChunks !== order.firstTierChunks || taken !== checksum) && digest.count > 0) {
        // Another receiver, another order or checksum: the digest counts positions of chunk checksums, so it is built again.
        digest = new DumpDigestBuilder();
      }
      order = wanted;
      checksum = taken;
      // Pages as the receiver stores them, when it takes them so: its one thread then verifies and writes, and
      // the compressing is done here, once per crashed host. The chunk checksums are the same in either form.
      const storedPages = options.storedPages !== false && accept.storedPages === 'lzo' && checksum.kind === 'xxh32';
      if (accept.nextSeq > 0) log(`resuming at chunk ${accept.nextSeq} of ${plan.totalChunks}`);
      if (accept.logWanted && logFrame) {
        // Ahead of every page: the receiver knows what panicked whatever happens to the rest.
        await withinTimeout(transport.send(logFrame), options.replyTimeoutMs);
        bytesSent += logFrame.length;
        logSentNow = true;
        if (!logSent) log(`kernel log sent first (${options.kernelLog!.text.length} bytes${options.kernelLog!.truncated ? ', its newest part' : ''})`);
        logSent = true;
      }
      catchUpChecksums(accept.nextSeq);
      const pending: Array<InFlight | undefined> = new Array(frames.length);
      // A receiver that takes a first tier answers the LOG (LOG_READ); nothing past the first tier goes before that answer.
      let logRead: LogReadMessage | null | undefined = logSentNow && order.firstTierChunks > 0 ? undefined : null;
      // Where this attempt stops short of the end, on purpose: --log-only, or the receiver's LOG_READ stopAfter.
      let stop: { position: number; why: string } | undefined = options.logOnly && order.firstTierChunks > 0
        ? { position: order.firstTierChunks, why: 'log only: the kernel log and the first tier' } : undefined;
      if (options.logOnly && !stop) log('the receiver takes no first tier (an older receiver, or none was found): sending the whole dump');
      let stoppedAt: number | undefined;
      for (let position = accept.nextSeq; position < plan.totalChunks; position++) {
        if (inbox.failure) throw inbox.failure;
        if (logRead === undefined && position >= order.firstTierChunks) {
          logRead = await withinTimeout(Promise.race([inbox.logRead, inbox.failed]), options.replyTimeoutMs);
          if (logRead.stopAfter !== undefined && !stop) {
            stop = { position: Math.max(logRead.stopAfter, order.firstTierChunks), why: `the receiver asked: ${logRead.message}` };
          }
        }
        if (stop && position >= stop.position) {
          stoppedAt = position;
          break;
        }
        const slot = position % frames.length;
        await pending[slot]?.done(options.replyTimeoutMs);
        const span = plan.chunk(order.seqAt(position));
        await options.readRate?.take(span.pageCount * core.pageSize);
        const encoded = chunker.encodeFrom(source, span, pageBuffer, frames[slot], checksum, storedPages);
        if (chunker.mapFailure !== undefined && !mapFailureSaid) {
          log(`reading the vmcore with read(), not mapped: ${chunker.mapFailure}`);
          mapFailureSaid = true;
        }
        if (position === digest.count) {
          digest.add(encoded.chunkCrc);
          zeroPages += encoded.zeroPages;
        }
        pending[slot] = new InFlight(transport.send(encoded.message, encoded.framed));
        bytesSent += encoded.framed.length;
        options.progress?.update(position + 1, plan.totalChunks, bytesSent);
      }
      await Promise.all(pending.map((p) => p?.done(options.replyTimeoutMs)));
      const donePromise = inbox.waitFor<DoneMessage>('done', options.replyTimeoutMs);
      donePromise.catch(() => {});
      // Stopped short on purpose (else every chunk went, and the dump is whole).
      const stopAt = stoppedAt;
      await withinTimeout(transport.send(encodeControl({ type: 'end', totalChunks: plan.totalChunks, digest: digest.hex(), stopAt })), options.replyTimeoutMs);
      const done = await donePromise;
      if (stopAt !== undefined && done.partial) partial = { chunksSent: stopAt, why: stop!.why };
      return done;
    } finally {
      transport.close();
    }
  }

  const FIRST_BACKOFF_MS = 250;
  if (options.servers.length === 0) throw new NetdumpError(ErrorCode.BAD_INPUT, 'no receiver to send to');
  /** Receivers that refused this dump for good (auth, limits): not asked again. */
  const refused = new Set<string>();
  let attempts = 0;
  let backoffMs = FIRST_BACKOFF_MS;
  let next = 0;
  for (;;) {
    const live = options.servers.filter((s) => !refused.has(s.url));
    const server = live[next % live.length];
    attempts++;
    const sentBefore = bytesSent;
    try {
      const done = await attempt(server);
      options.progress?.finish(bytesSent);
      return { dumpId, path: done.path, storedBytes: done.storedBytes, chunks: plan.totalChunks, bytesSent, zeroPages, attempts, server: server.url, logSent, ...(partial && { partial }) };
    } catch (error) {
      const failure = error instanceof NetdumpError ? error : new NetdumpError(ErrorCode.INTERNAL, String(error));
      if (!isRetryable(failure)) {
        refused.add(server.url);
        if (refused.size === options.servers.length) throw failure;
        log(`${server.url} refused (${failure.code}: ${failure.message}); trying the next receiver`);
        continue;
      }
      if (bytesSent > sentBefore) {
        // The link carried data, then dropped: a flaky network, not a dead receiver. Resume here, soon.
        backoffMs = FIRST_BACKOFF_MS;
      } else {
        next++; // unreachable or busy: the next receiver may be up
      }
      const elapsed = Date.now() - started;
      if (elapsed + backoffMs > options.deadlineMs) throw failure;
      log(`attempt ${attempts} failed (${failure.code}: ${failure.message}); retrying in ${backoffMs} ms`);
      await sleep(backoffMs);
      // Back off further once every live receiver has failed in a row.
      if (next % live.length === 0) backoffMs = Math.min(backoffMs * 2, 10_000);
    }
  }
}
