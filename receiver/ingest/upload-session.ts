/**
 * The protocol on one connection, whatever the transport: HELLO, then
 * CHUNKs, then END. Frames are handed in one at a time and the transport
 * waits for each to be handled (that is the backpressure). Any error ends
 * the connection with an ERROR naming the code; the dump stays resumable
 * unless the error says the whole upload is wrong.
 */
import type { Logger } from 'pino';
import { badInput, ErrorCode, NetdumpError, finalError, protocolError, toNetdumpError } from '../../shared/errors.js';
import { offersChunkChecksum, parseCatalogDigest } from '../../shared/protocol/digest.js';
import { acceptedChecksum } from '../../shared/protocol/checksum-kinds.js';
import { CHUNK_LZ4, CHUNK_STORED_LZO, decodeMessage, encodeControl, type ControlMessage, type EndMessage } from '../../shared/protocol/messages.js';
import type { DumpIngest } from './dump-ingest.js';
import type { UploadRegistry } from './uploads.js';
import type { ReceiverMetrics } from '../metrics.js';
import { levelLowered } from '../catalog/catalog.js';

/** The kdump_receiver_chunks_received_total form label of a CHUNK's flags. */
const CHUNK_FORM: Record<number, string> = { 0: 'raw', [CHUNK_LZ4]: 'lz4', [CHUNK_STORED_LZO]: 'stored' };

export interface SessionPeer {
  remote: string;
  transport: 'tcp' | 'ws';
  send(message: Buffer): Promise<void>;
  close(): void;
}

/**
 * A refused HELLO or PROBE stays refused, whatever its code, unless the
 * receiver was busy or in trouble of its own (disk, store): those may pass.
 * Everything else says for itself whether the same upload may succeed on a
 * new connection (NetdumpError.retryable: busy, a chunk damaged in transit,
 * our own I/O trouble).
 */
function refusalOf(error: unknown): NetdumpError {
  const refusal = toNetdumpError(error);
  return refusal.code === ErrorCode.UNAVAILABLE || refusal.code === ErrorCode.INTERNAL ? refusal : finalError(refusal);
}

export class UploadSession {
  private ingest?: DumpIngest;
  private completeDigest?: { dumpId: string; digest: string; path: string; storedBytes: number };
  private closed = false;
  /** The connection opened with PROBE: its refusal is a probe's, not an upload's. */
  private probing = false;
  private checkpointFailure?: NetdumpError;
  /** The frame being handled, so release() never detaches a dump mid-write. */
  private current: Promise<void> = Promise.resolve();

  constructor(
    private readonly peer: SessionPeer,
    private readonly registry: UploadRegistry,
    private readonly log: Logger,
    private readonly metrics?: ReceiverMetrics,
  ) {}

  private async send(message: ControlMessage): Promise<void> {
    if (!this.closed) await this.peer.send(encodeControl(message));
  }

  async handleFrame(frame: Buffer): Promise<void> {
    if (this.closed) return;
    this.current = this.dispatch(frame).catch((error) => this.fail(toNetdumpError(error)));
    await this.current;
  }

  private async dispatch(frame: Buffer): Promise<void> {
    if (this.checkpointFailure) throw this.checkpointFailure;
    let message;
    try {
      message = decodeMessage(frame);
    } catch (error) {
      // Garbage instead of a HELLO will be garbage next time too.
      const failure = toNetdumpError(error);
      throw this.ingest || this.completeDigest ? failure : finalError(failure);
    }
    switch (message.type) {
      case 'hello': {
        if (this.ingest || this.completeDigest) throw protocolError('second HELLO on one connection');
        const claim = await this.registry.claim(message, this.peer.remote).catch((error) => { throw refusalOf(error); });
        if (claim.kind === 'complete') {
          const { record } = claim;
          const stored = parseCatalogDigest(record.digest ?? '');
          if (!stored || !offersChunkChecksum(message.checksums, stored.kind)) {
            // Only a sender older than the one that sent it gets here: it cannot say the digest the dump was checked with.
            throw refusalOf(badInput(`dump ${record.dumpId} is stored already, checked with ${stored?.kind ?? 'unknown'} chunk checksums, which this sender does not offer`,
              { dump: record.dumpId }));
          }
          this.completeDigest = { dumpId: record.dumpId, digest: stored.hex, path: record.path, storedBytes: record.bytesStored };
          // The digest counts positions in the order the dump was sent in, of the kind it was sent with: the sender needs both to say it again.
          await this.send({
            type: 'accept', dumpId: record.dumpId, nextSeq: claim.totalChunks, totalChunks: claim.totalChunks, firstTierChunks: record.firstTierChunks ?? undefined,
            checksum: acceptedChecksum(stored.kind),
          });
          return;
        }
        this.ingest = claim.ingest;
        const unusableCrashTime = claim.ingest.accepted.core.vmcoreinfo.other.get('CRASHTIME');
        if (unusableCrashTime !== undefined) {
          this.log.warn({ dump: message.dumpId, host: message.hostId, crashTime: unusableCrashTime }, 'VMCOREINFO CRASHTIME is no calendar time: the dump is filed under its receive time');
        }
        this.log.info({ dump: message.dumpId, host: message.hostId, peer: this.peer.remote, transport: this.peer.transport,
          nextSeq: claim.ingest.nextSeq, chunks: claim.ingest.totalChunks, path: claim.ingest.key }, 'upload accepted');
        await this.send({
          type: 'accept', dumpId: message.dumpId, nextSeq: claim.ingest.nextSeq, totalChunks: claim.ingest.totalChunks, logWanted: claim.ingest.logWanted,
          firstTierChunks: claim.ingest.accepted.order.firstTierChunks || undefined,
          checksum: acceptedChecksum(claim.ingest.checksum.kind),
          storedPages: claim.ingest.storedPages,
        });
        return;
      }
      case 'log': {
        if (!this.ingest) throw protocolError(this.completeDigest ? 'LOG for a dump that is stored already' : 'LOG before HELLO');
        const triage = await this.ingest.acceptLog(message);
        this.metrics?.logsReceived.inc();
        this.log.info({ dump: this.ingest.dumpId, host: this.ingest.accepted.hello.hostId, bytes: message.text.length, truncated: message.truncated,
          reason: triage.reason, signature: triage.signature }, 'kernel log received ahead of the pages');
        this.registry.onLogTriaged(this.ingest.dumpId);
        // A sender that sends a first tier waits for this answer before the rest (docs/protocol.md, LOG_READ).
        const firstTier = this.ingest.accepted.order.firstTierChunks;
        if (firstTier > 0) {
          // A live snapshot is asked for by an operator, not caused by a crash: no storm cuts it short.
          const storm = this.ingest.accepted.hello.live ? undefined : await this.registry.stormAdvice(triage.signature);
          if (storm) {
            this.stopAsked = true;
            this.log.info({ dump: this.ingest.dumpId, host: this.ingest.accepted.hello.hostId, signature: triage.signature }, 'crash storm: first tier only');
          }
          await this.send(storm ? { type: 'log_read', stopAfter: firstTier, reason: 'storm', message: storm } : { type: 'log_read' });
        }
        return;
      }
      case 'probe': {
        if (this.ingest || this.completeDigest || this.probing) throw protocolError('PROBE after HELLO or PROBE on one connection');
        this.probing = true;
        // Answered as a HELLO would be.
        const answer = await this.registry.probe(message).catch((error) => { throw refusalOf(error); });
        this.metrics?.probes.inc({ outcome: 'ok' });
        this.log.info({ host: message.hostId, peer: this.peer.remote, transport: this.peer.transport, senderVersion: message.senderVersion },
          'probe answered');
        await this.send(answer);
        this.finishConnection();
        return;
      }
      case 'chunk': {
        if (!this.ingest) throw protocolError('CHUNK before HELLO');
        const checkpointDue = await this.ingest.acceptChunk(message, frame.length);
        this.metrics?.bytesReceived.inc(frame.length);
        this.metrics?.chunksReceived.inc({ form: CHUNK_FORM[message.flags] ?? 'raw' });
        if (checkpointDue) {
          // Durability runs beside the stream; the ACK goes out when it lands.
          // A failed checkpoint is reported with the next frame, in sequence, never beside END's finish().
          this.ingest.checkpoint().then(
            (nextSeq) => this.send({ type: 'ack', nextSeq }),
            (error) => { this.checkpointFailure ??= toNetdumpError(error); },
          ).catch(() => {});
        }
        return;
      }
      case 'end': {
        if (this.completeDigest) {
          // The sender lost our DONE last time; the dump is already stored.
          if (message.digest !== this.completeDigest.digest) {
            throw new NetdumpError(ErrorCode.CORRUPT, 'END digest differs from the stored dump\'s: the core changed since it was stored', {}, { retryable: false });
          }
          const { dumpId, path, storedBytes } = this.completeDigest;
          await this.send({ type: 'done', dumpId, path, storedBytes });
          this.finishConnection();
          return;
        }
        if (!this.ingest) throw protocolError('END before HELLO');
        const ingest = this.ingest;
        if (message.stopAt !== undefined) {
          await this.keepPartial(ingest, message);
          return;
        }
        this.log.debug({ dump: ingest.dumpId }, 'END received; verifying and finalising');
        let stored: { storedBytes: number };
        try {
          stored = await ingest.finish(message);
        } catch (error) {
          // A digest mismatch means this copy can't be trusted: start over next time.
          const failure = toNetdumpError(error);
          this.ingest = undefined;
          await this.registry.release(ingest, { error: failure, markFailed: failure.code === ErrorCode.CORRUPT });
          throw failure;
        }
        this.ingest = undefined;
        this.metrics?.dumpsStored.inc();
        if (levelLowered(ingest.accepted.dumpLevel)) this.metrics?.dumpsStoredLowered.inc();
        await this.registry.completed(ingest);
        this.log.info({ dump: ingest.dumpId, path: ingest.key, storedBytes: stored.storedBytes }, 'dump stored');
        await this.send({ type: 'done', dumpId: ingest.dumpId, path: ingest.key, storedBytes: stored.storedBytes });
        this.finishConnection();
        return;
      }
      case 'error':
        this.log.warn({ peer: this.peer.remote, code: message.code, reason: message.message }, 'sender reported an error');
        this.finishConnection();
        return;
      default:
        throw protocolError(`unexpected ${message.type.toUpperCase()} from a sender`);
    }
  }

  /** The sender stops on purpose (END stopAt): what arrived is kept as a partial dump, and DONE says so. */
  private async keepPartial(ingest: DumpIngest, end: EndMessage): Promise<void> {
    const reason = this.stopAsked ? 'storm' : 'log-only';
    let kept: { storedBytes: number; pagesKept: number };
    try {
      kept = await ingest.finishStopped(end, reason);
    } catch (error) {
      this.ingest = undefined;
      const failure = toNetdumpError(error);
      await this.registry.release(ingest, { error: failure, markFailed: failure.code === ErrorCode.CORRUPT });
      throw failure;
    }
    this.ingest = undefined;
    this.metrics?.dumpsPartial.inc({ reason });
    await this.registry.completed(ingest);
    this.log.info({ dump: ingest.dumpId, path: ingest.key, storedBytes: kept.storedBytes, pagesKept: kept.pagesKept, pagesTotal: ingest.totalPages, reason },
      'dump kept partial');
    await this.send({ type: 'done', dumpId: ingest.dumpId, path: ingest.key, storedBytes: kept.storedBytes, partial: true });
    this.finishConnection();
  }

  /** Set once this connection was told to stop after its first tier (LOG_READ stopAfter: a crash storm). */
  private stopAsked = false;

  private finishConnection(): void {
    this.closed = true;
    this.peer.close();
  }

  /** Ends the connection with an ERROR (also used by transports for framing errors). */
  async fail(error: NetdumpError): Promise<void> {
    this.log.warn({ peer: this.peer.remote, dump: this.ingest?.dumpId, code: error.code, err: error.message, ...error.context },
      this.probing ? 'probe refused' : 'upload error');
    if (this.probing) this.metrics?.probes.inc({ outcome: error.code });
    else this.metrics?.uploadFailures.inc({ code: error.code });
    try {
      await this.send({ type: 'error', code: error.code, message: error.message, retryable: error.retryable });
    } catch {
      // The peer is gone already; nothing more to tell it.
    }
    this.finishConnection();
    await this.releaseIngest();
  }

  private releasing?: Promise<void>;
  private markReleased!: () => void;
  /** Settles once the session has let go of its dump. */
  readonly released = new Promise<void>((resolve) => { this.markReleased = resolve; });

  /** Called when the connection ends, however it ends; safe to call again. */
  release(): Promise<void> {
    this.releasing ??= (async () => {
      this.closed = true;
      await this.current;
      await this.releaseIngest();
      this.markReleased();
    })();
    return this.releasing;
  }

  private async releaseIngest(): Promise<void> {
    const ingest = this.ingest;
    this.ingest = undefined;
    if (ingest) await this.registry.release(ingest);
  }
}
