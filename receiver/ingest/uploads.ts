/**
 * Which dumps are being received, and by which connection. One writer per
 * dump: a second connection claiming a dump that is attached elsewhere is
 * refused (retryable). A connection that goes away leaves its dump at the
 * last durable checkpoint; the next HELLO for it, on any connection or after
 * a receiver restart, resumes from the catalog.
 */
import { NetdumpError, ErrorCode, badInput, protocolError, toNetdumpError } from '../../shared/errors.js';
import { decodeMessage, PROTOCOL_VERSION, type HelloMessage, type ProbeMessage, type ProbeOkMessage } from '../../shared/protocol/messages.js';
import type { PageCodec } from '../../shared/kdump/page-codec.js';
import type { Catalog, DumpRecord } from '../catalog/catalog.js';
import { DumpIngest, type CheckpointPolicy, type DumpTarget } from './dump-ingest.js';
import { acceptHello, DEFAULT_HOST_QUOTAS, type AcceptedHello, type ReceiverLimits } from './hello.js';
import { deleteDumpNow } from '../retention/delete-dump.js';
import { checkHostId, dumpKeyCandidates, keysFor } from '../../shared/dump-folders.js';
import { requireSpace } from './disk-space.js';
import { dropDumpObject, type DumpStorage } from '../storage/dump-storage.js';
import { DEFAULT_STORM_POLICY, stormAdvice, type StormPolicy } from './crash-storm.js';

/** Reported in PROBE_OK. */
export const RECEIVER_VERSION = '0.1.0';

export type Claim = { kind: 'ingest'; ingest: DumpIngest } | { kind: 'complete'; record: DumpRecord; totalChunks: number };

/** Who this receiver is among those sharing a catalog, and how long its claim on a dump lasts unrenewed. */
export interface LeasePolicy {
  owner: string;
  ttlMs: number;
}

export interface AuthPolicy {
  /** Lab mode: any host may upload without a token. */
  open: boolean;
}

/** An upload attached to a connection now, as operators see it. */
export interface UploadInFlight {
  dumpId: string;
  hostId: string;
  osRelease: string | null;
  peer: string;
  /** When this connection took the dump (ms since the epoch). */
  attachedAt: number;
  pagesTotal: number;
  pagesDone: number;
  bytesIn: number;
  /** bytesIn when this connection took the dump: a resumed dump brings earlier connections' bytes. */
  bytesInAtAttach: number;
}

interface Attachment {
  hostId: string;
  peer: string;
  attachedAt: number;
  ingest?: DumpIngest;
  bytesInAtAttach?: number;
}

/** What an UploadRegistry works with. */
export interface UploadRegistryDeps {
  storage: DumpStorage;
  catalog: Catalog;
  /** How stored pages are compressed. */
  codec: PageCodec;
  limits: ReceiverLimits;
  /** Make data durable and ACK every this many chunks. */
  checkpointChunks: number;
  auth: AuthPolicy;
  /** Default: this receiver alone ('local'), 30 s. */
  lease?: LeasePolicy;
  /** When senders of one signature are asked for their first tier only (default DEFAULT_STORM_POLICY). */
  storm?: StormPolicy;
}

export class UploadRegistry {
  private readonly attached = new Map<string, Attachment>();
  /** Called with each dump that completes (after its catalog row says so). */
  onStored: (dumpId: string) => void = () => {};
  /** Called when a sender's LOG has been triaged and recorded, before its pages arrive. */
  onLogTriaged: (dumpId: string) => void = () => {};
  /** Called with each unfinished dump dropped to keep its host within maxUnfinishedPerHost. */
  onUnfinishedDropped: (record: DumpRecord) => void = () => {};

  private readonly storage: DumpStorage;
  private readonly catalog: Catalog;
  private readonly codec: PageCodec;
  private readonly limits: ReceiverLimits;
  private readonly policy: CheckpointPolicy;
  private readonly auth: AuthPolicy;
  private readonly lease: LeasePolicy;
  private readonly storm: StormPolicy;

  constructor(deps: UploadRegistryDeps) {
    this.storm = deps.storm ?? DEFAULT_STORM_POLICY;
    this.storage = deps.storage;
    this.catalog = deps.catalog;
    this.codec = deps.codec;
    this.limits = deps.limits;
    this.auth = deps.auth;
    this.lease = deps.lease ?? { owner: 'local', ttlMs: 30_000 };
    // The reserve a HELLO is held to is the one checkpoints keep.
    this.policy = { everyChunks: deps.checkpointChunks, minFreeBytes: deps.limits.minFreeBytes };
    // Renewed well before expiry: a receiver that stops renewing (dead, partitioned) loses its dumps to the others.
    this.renewal = setInterval(() => void this.renewLeases(), Math.max(100, Math.floor(this.lease.ttlMs / 3)));
    this.renewal.unref();
  }

  private readonly renewal: NodeJS.Timeout;

  private async renewLeases(): Promise<void> {
    for (const [dumpId, attachment] of this.attached) {
      if (!attachment.ingest) continue;
      const kept = await this.catalog.acquireLease(dumpId, this.lease.owner, this.lease.ttlMs).catch(() => true);
      // Another receiver took the dump after our lease lapsed: stop writing; the sender reconnects to whoever holds it.
      if (!kept) attachment.ingest.loseLease(`receiver ${this.lease.owner} lost its lease on dump ${dumpId}`);
    }
  }

  stop(): void {
    clearInterval(this.renewal);
  }

  /** Whether a crash with this signature should be kept to its first tier (crash-storm.ts), and why. */
  stormAdvice(signature: string | null): Promise<string | undefined> {
    return stormAdvice(this.catalog, this.storm, signature);
  }

  get activeCount(): number {
    return this.attached.size;
  }

  isAttached(dumpId: string): boolean {
    return this.attached.has(dumpId);
  }

  /**
   * Keeps connections off a dump while it is deleted: undefined when one has
   * it now, else the function that lets them at it again. A sender arriving
   * meanwhile is told to retry (UNAVAILABLE), and finds the dump gone.
   */
  async hold(dumpId: string): Promise<(() => Promise<void>) | undefined> {
    if (this.attached.has(dumpId)) return undefined;
    this.attached.set(dumpId, { hostId: '', peer: 'deletion', attachedAt: Date.now() });
    // Receivers sharing the catalog: one of them may be receiving it. Its lease says so.
    if (!(await this.catalog.acquireLease(dumpId, this.lease.owner, this.lease.ttlMs).catch(() => false))) {
      this.attached.delete(dumpId);
      return undefined;
    }
    return async () => {
      this.attached.delete(dumpId);
      await this.catalog.releaseLease(dumpId, this.lease.owner).catch(() => {});
    };
  }

  inFlight(): UploadInFlight[] {
    return [...this.attached].flatMap(([dumpId, a]) => {
      if (!a.ingest) return [];
      return [{
        dumpId, hostId: a.hostId, osRelease: a.ingest.accepted.core.vmcoreinfo.osRelease ?? null, peer: a.peer, attachedAt: a.attachedAt,
        ...a.ingest.progressSnapshot, bytesInAtAttach: a.bytesInAtAttach ?? 0,
      }];
    });
  }

  async claim(hello: HelloMessage, peer = 'unknown'): Promise<Claim> {
    checkHostId(hello.hostId);
    // Before anything is parsed further or written: strangers get nothing.
    if (!this.auth.open) await this.catalog.hostTokens.verify(hello.hostId, hello.token);
    const accepted = acceptHello(hello, this.limits, this.codec);
    const { dumpId, hostId } = hello;
    if (this.attached.has(dumpId)) {
      throw new NetdumpError(ErrorCode.UNAVAILABLE, `dump ${dumpId} is being received on another connection`, { dump: dumpId });
    }
    if (this.attached.size >= this.limits.maxUploads) {
      throw new NetdumpError(ErrorCode.UNAVAILABLE, `receiver busy: ${this.attached.size} uploads in flight (limit ${this.limits.maxUploads})`);
    }
    const perHost = this.limits.maxUploadsPerHost ?? DEFAULT_HOST_QUOTAS.maxUploadsPerHost;
    const fromHost = [...this.attached.values()].filter((a) => a.hostId === hostId).length;
    if (fromHost >= perHost) {
      throw new NetdumpError(ErrorCode.UNAVAILABLE, `host ${hostId} has ${fromHost} uploads in flight (limit ${perHost} per host)`, { host: hostId });
    }
    // Claimed before the first await, so a concurrent HELLO for the same dump sees it.
    const attachment: Attachment = { hostId, peer, attachedAt: Date.now() };
    this.attached.set(dumpId, attachment);
    let logWanted = true;
    const attach = (ingest: DumpIngest): Claim => {
      ingest.logWanted = logWanted;
      attachment.ingest = ingest;
      attachment.bytesInAtAttach = ingest.progressSnapshot.bytesIn;
      return { kind: 'ingest', ingest };
    };
    try {
      if (!(await this.catalog.acquireLease(dumpId, this.lease.owner, this.lease.ttlMs))) {
        const holder = await this.catalog.leaseHolder(dumpId);
        throw new NetdumpError(ErrorCode.UNAVAILABLE, `dump ${dumpId} is being received by receiver ${holder ?? '(another)'}`, { dump: dumpId });
      }
      const found = await this.catalog.getWithTriage(dumpId);
      const record = found?.record;
      // The log of the same core is the same log: a restart or resume does not ask for it again.
      logWanted = found?.triage.triagedAt == null;
      if (record?.status !== 'complete') {
        await requireSpace(this.storage, accepted.worstCaseBytes - (record?.dataEnd ?? 0), this.limits.minFreeBytes, `dump ${dumpId}`);
      }
      if (record && record.hostId !== hostId) {
        throw badInput(`dump ${dumpId} belongs to host ${record.hostId}, not ${hostId}`, { dump: dumpId });
      }
      if (record && (record.vmcoreSize !== hello.vmcoreSize || record.pagesTotal !== accepted.plan.totalPages)) {
        throw badInput(`dump ${dumpId} was started with a different core (size or pages differ)`, { dump: dumpId });
      }
      if (record?.status === 'complete') {
        if (record.chunkPages !== hello.chunkPages) {
          throw badInput(`dump ${dumpId} is stored already (sent in chunks of ${record.chunkPages} pages, not ${hello.chunkPages})`, { dump: dumpId });
        }
        this.attached.delete(dumpId);
        await this.catalog.releaseLease(dumpId, this.lease.owner);
        return { kind: 'complete', record, totalChunks: accepted.plan.totalChunks };
      }
      // Positions count in the order the dump was started with: a different first tier (or none) starts over.
      const sameOrder = (record?.firstTierChunks ?? 0) === accepted.order.firstTierChunks;
      if (record?.status === 'receiving' && record.nextSeq > 0 && record.chunkPages === hello.chunkPages && sameOrder) {
        try {
          return attach(await DumpIngest.resume(accepted, this.targetFor(record.path), this.catalog, this.policy, record));
        } catch (error) {
          // Damaged, missing or stale resume state: what it described can't be trusted, so start over below.
          // The store itself unreachable is not that: the sender should try again (or elsewhere).
          if (error instanceof NetdumpError && error.code === ErrorCode.UNAVAILABLE) throw error;
        }
      }
      if (record) {
        // Failed, unresumable, never got past its first checkpoint, or kept partial: start the same key over.
        // A partial dump's file stays under the key until the complete one replaces it.
        if (record.status !== 'partial') await dropDumpObject(this.storage, record.path, await this.catalog.storageState(dumpId));
        await this.catalog.restart(dumpId, {
          receivedAt: Date.now(), chunkPages: hello.chunkPages, dumpLevel: accepted.dumpLevel, firstTierChunks: accepted.order.firstTierChunks || null,
        });
        return attach(await DumpIngest.start(accepted, this.targetFor(record.path), this.catalog, this.policy));
      }
      await this.makeRoomForNewDump(hostId);
      const key = await this.insertNewDump(accepted);
      return attach(await DumpIngest.start(accepted, this.targetFor(key), this.catalog, this.policy));
    } catch (error) {
      this.attached.delete(dumpId);
      await this.catalog.releaseLease(dumpId, this.lease.owner).catch(() => {});
      throw error;
    }
  }

  /**
   * PROBE: would a HELLO from this host be taken now? The same checks, in the
   * same order, that a HELLO meets before anything is written: host id, token
   * (strangers learn nothing more, at no more cost than a HELLO), protocol
   * version, the upload limit, the catalog and the store answering, the free
   * disk reserve. Reads only; nothing is claimed, written or recorded.
   */
  async probe(probe: ProbeMessage): Promise<ProbeOkMessage> {
    checkHostId(probe.hostId);
    if (!this.auth.open) await this.catalog.hostTokens.verify(probe.hostId, probe.token);
    if (probe.protocol !== PROTOCOL_VERSION) {
      throw protocolError(`protocol version ${probe.protocol} not supported (this receiver speaks ${PROTOCOL_VERSION})`);
    }
    if (this.attached.size >= this.limits.maxUploads) {
      throw new NetdumpError(ErrorCode.UNAVAILABLE, `receiver busy: ${this.attached.size} uploads in flight (limit ${this.limits.maxUploads})`);
    }
    // A HELLO would fail on these when it takes its lease or opens its object; /readyz asks them the same way.
    for (const [what, ping] of [['catalog', () => this.catalog.ping()], ['dump storage', () => this.storage.ping()]] as const) {
      await ping().catch((error: unknown) => {
        throw new NetdumpError(ErrorCode.UNAVAILABLE, `receiver's ${what} does not answer: ${toNetdumpError(error).message}`);
      });
    }
    // Any dump would be refused with less than the reserve free; a dump's own worst case is checked at its HELLO.
    const free = await requireSpace(this.storage, 0, this.limits.minFreeBytes, 'any dump');
    return {
      type: 'probe_ok', protocol: PROTOCOL_VERSION, receiverVersion: RECEIVER_VERSION, open: this.auth.open,
      freeBytes: free, minFreeBytes: free === undefined ? undefined : this.limits.minFreeBytes,
      maxDumpBytes: this.limits.maxDumpBytes, uploadsInFlight: this.attached.size, maxUploads: this.limits.maxUploads,
    };
  }

  private targetFor(key: string): DumpTarget {
    return { storage: this.storage, key };
  }

  /**
   * Unfinished dumps hold their partial files for a resume. A host may keep
   * maxUnfinishedPerHost of them: its newest crash matters most, so a new
   * dump replaces the host's oldest unfinished one that no connection holds,
   * and a host can only ever crowd out itself.
   */
  private async makeRoomForNewDump(hostId: string): Promise<void> {
    const quota = this.limits.maxUnfinishedPerHost ?? DEFAULT_HOST_QUOTAS.maxUnfinishedPerHost;
    const receiving = await this.catalog.list({ hostId, status: 'receiving' });
    let kept = receiving.length;
    const idle = receiving.filter((r) => !this.attached.has(r.dumpId)).sort((a, b) => a.receivedAt - b.receivedAt);
    for (const oldest of idle) {
      if (kept < quota) break;
      // Taken by a connection meanwhile, or failing to go: it stays counted.
      const outcome = await deleteDumpNow(oldest, { storage: this.storage, catalog: this.catalog, uploads: this }).catch(() => 'failed' as const);
      if (outcome !== 'deleted') continue;
      kept--;
      this.onUnfinishedDropped(oldest);
    }
  }

  /**
   * Names the new dump after its host and crash time (a second crash in the
   * same second gets .2, .3, ...) and creates its catalog row. The catalog's
   * unique path decides between receivers picking the same name at once.
   */
  private async insertNewDump(accepted: AcceptedHello): Promise<string> {
    const { hello } = accepted;
    for (const key of dumpKeyCandidates(hello.hostId, accepted.spec.crashTimeSec)) {
      if (await this.catalog.pathInUse(key)) continue;
      if (!(await this.storage.claim(key))) continue;
      try {
        await this.catalog.insert({
          dumpId: hello.dumpId,
          hostId: hello.hostId,
          osRelease: accepted.core.vmcoreinfo.osRelease ?? null,
          buildId: accepted.core.vmcoreinfo.buildId ?? null,
          crashTime: accepted.core.vmcoreinfo.crashTime ?? (hello.live ? Math.floor(hello.live.startedAtMs / 1000) : null),
          receivedAt: Date.now(),
          finishedAt: null,
          bytesIn: 0,
          bytesStored: 0,
          pagesTotal: accepted.plan.totalPages,
          pagesZero: 0,
          pagesStored: 0,
          durationMs: null,
          status: 'receiving',
          failure: null,
          path: key,
          vmcoreSize: hello.vmcoreSize,
          pageCodec: this.codec.name,
          nextSeq: 0,
          dataEnd: 0,
          digest: null,
          chunkPages: hello.chunkPages,
          dumpLevel: accepted.dumpLevel,
          firstTierChunks: accepted.order.firstTierChunks || null,
          partialReason: null,
          checkpointAt: null,
          kind: hello.live ? 'live' : 'crash',
          liveReason: hello.live ? hello.live.reason : null,
        });
        return key;
      } catch (error) {
        // Taken by another receiver between the check and the insert: try the next name.
        if (await this.catalog.pathInUse(key).catch(() => false)) continue;
        throw error;
      }
    }
    throw badInput(`too many dumps for host ${hello.hostId} at crash time ${accepted.spec.crashTimeSec}`);
  }

  /**
   * The connection is gone: keep what is durable and free the dump for the
   * next HELLO, or, when `failure` is final, mark the dump failed (the next
   * HELLO then starts it over).
   */
  /** Detaches a dump from its connection; `markFailed` when what was received can't be trusted and the dump must start over. */
  async release(ingest: DumpIngest, failure?: { error: NetdumpError; markFailed: boolean }): Promise<void> {
    try {
      await ingest.checkpoint().catch(() => {});
      await ingest.detach();
      if (failure?.markFailed) await this.catalog.markFailed(ingest.dumpId, `${failure.error.code}: ${failure.error.message}`);
    } finally {
      this.attached.delete(ingest.dumpId);
      await this.catalog.releaseLease(ingest.dumpId, this.lease.owner).catch(() => {});
    }
  }

  /**
   * An upload no connection has touched for long: what arrived is kept as a
   * partial dump (reason 'abandoned'), from its last checkpoint and the HELLO
   * kept beside it. 'busy' when a connection (or a deletion, or another
   * receiver) holds it; 'nothing' when there is nothing crash could open
   * (no checkpoint yet, the first tier not whole, no HELLO kept).
   */
  async keepStalledPartial(record: DumpRecord): Promise<'kept' | 'busy' | 'nothing'> {
    const letGo = await this.hold(record.dumpId);
    if (!letGo) return 'busy';
    try {
      const current = await this.catalog.get(record.dumpId);
      if (current?.status !== 'receiving' || current.nextSeq === 0) return 'nothing';
      const helloBytes = await this.storage.get(keysFor(current.path).hello);
      if (!helloBytes) return 'nothing';
      const hello = decodeMessage(helloBytes);
      if (hello.type !== 'hello') return 'nothing';
      const accepted = acceptHello(hello, this.limits, this.codec);
      const ingest = await DumpIngest.resume(accepted, this.targetFor(current.path), this.catalog, this.policy, current).catch((error) => {
        if (error instanceof NetdumpError && error.code === ErrorCode.CORRUPT) return undefined;
        throw error;
      });
      if (!ingest) return 'nothing';
      if (!ingest.canKeepPartial) {
        await ingest.detach();
        return 'nothing';
      }
      try {
        await ingest.finishPartial('abandoned');
      } catch (error) {
        await ingest.detach().catch(() => {});
        throw error;
      }
      this.onStored(record.dumpId);
      return 'kept';
    } finally {
      await letGo();
    }
  }

  async completed(ingest: DumpIngest): Promise<void> {
    this.attached.delete(ingest.dumpId);
    await this.catalog.releaseLease(ingest.dumpId, this.lease.owner).catch(() => {});
    this.onStored(ingest.dumpId);
  }
}

