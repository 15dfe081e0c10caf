/**
 * Tells a web hook about crashes: POST of a JSON body to a configured URL,
 * { event: 'dump.panic', ... } as soon as a dump's kernel log has been read
 * (its sender sent it ahead of the pages), and { event: 'dump.stored', ... }
 * for each newly stored dump.
 *
 * Ingest never waits for it: enqueue() only appends to a bounded in-memory
 * queue (when full, the oldest waiting notice is dropped, with a warning: a
 * stuck endpoint must not grow the receiver's memory, and the newest crashes
 * are the ones someone is waiting for). Workers deliver in queue order,
 * `concurrency` at a time, retrying network errors, timeouts, 5xx and 429
 * with exponential backoff and jitter; other answers are final. Notices live
 * in memory only: the catalog is the record, a restart loses queued notices.
 *
 * Headers: X-Kdump-Event, X-Kdump-Delivery (one id per notice, the same on
 * every retry, so the endpoint can drop duplicates of an attempt whose answer
 * was lost), X-Kdump-Signature: sha256=<hex HMAC-SHA256 of the body> when a
 * secret is set, Authorization: Bearer <token> when a token is set.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { badInput } from '../../shared/errors.js';
import type { DumpRecord } from '../catalog/catalog.js';

export interface WebhookOptions {
  /** Where to POST (http or https). */
  url: string;
  /** The receiver's public address; a notice links to <publicBaseUrl>/dumps/<id>. */
  publicBaseUrl: string;
  /** Shared secret for X-Kdump-Signature. */
  secret?: string;
  /** Sent as Authorization: Bearer <token>. */
  bearerToken?: string;
  /** Notices waiting (not counting those being delivered). Default 1000. */
  maxQueue?: number;
  /** Tries per notice, the first included. Default 6. */
  maxAttempts?: number;
  /** Backoff before retry n is about backoffBaseMs * 2^(n-1), at most backoffMaxMs. Defaults 1 s, 5 min. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Per request, answer body included. Default 10 s. */
  timeoutMs?: number;
  /** Deliveries at once. Default 1 (the endpoint sees notices in order). */
  concurrency?: number;
}

/** A stored dump as the notifier needs it: the catalog row plus what was read from its dmesg. */
export type StoredDump = Pick<DumpRecord, 'dumpId' | 'hostId' | 'osRelease' | 'crashTime' | 'bytesStored'> & Partial<Pick<DumpRecord, 'status' | 'partialReason' | 'kind' | 'liveReason'>> & {
  panicLine: string | null;
  signature: string | null;
};

export interface DumpStoredPayload {
  event: 'dump.stored';
  dumpId: string;
  host: string;
  /** uname -r of the crashed kernel. */
  kernel: string | null;
  /** ISO 8601, UTC, from the crashed host's clock. */
  crashTime: string | null;
  panicLine: string | null;
  signature: string | null;
  link: string;
  storedBytes: number;
  /** 'partial' when only part of the dump arrived and what did is kept (with why); else 'complete'. */
  status: 'complete' | 'partial';
  partialReason?: string;
  /** 'live': a snapshot of a running kernel an operator took (kdump-send --live), not a crash; crashTime is when. */
  kind: 'crash' | 'live';
  /** A live snapshot's reason, the operator's text. */
  liveReason?: string;
}

/** A crash known from its log while its pages are still arriving. */
export type PanicDump = Pick<DumpRecord, 'dumpId' | 'hostId' | 'osRelease' | 'crashTime'> & {
  panicLine: string | null;
  reason: string | null;
  signature: string | null;
};

export interface DumpPanicPayload {
  event: 'dump.panic';
  dumpId: string;
  host: string;
  kernel: string | null;
  crashTime: string | null;
  panicLine: string | null;
  /** The BUG/Oops line if there is one, else the panic line. */
  reason: string | null;
  signature: string | null;
  link: string;
}

export type DumpNotice = { event: 'dump.panic'; dump: PanicDump } | { event: 'dump.stored'; dump: StoredDump };

export const WEBHOOK_DEFAULTS = {
  maxQueue: 1000,
  maxAttempts: 6,
  backoffBaseMs: 1000,
  backoffMaxMs: 5 * 60_000,
  timeoutMs: 10_000,
  concurrency: 1,
} as const;

function checkHttpUrl(name: string, text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw badInput(`${name} ${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw badInput(`${name} must be http or https, not ${url.protocol}`);
  // fetch refuses URLs with credentials, and every retry would log them: say so at start instead.
  if (url.username !== '' || url.password !== '') {
    throw badInput(`${name} carries credentials (user:password@); pass them with --webhook-token-file or --webhook-secret-file instead`);
  }
  return url;
}

export function dumpLink(publicBaseUrl: string, dumpId: string): string {
  return `${publicBaseUrl.replace(/\/+$/, '')}/dumps/${encodeURIComponent(dumpId)}`;
}

/** What both notices say of the crash: which dump, host and kernel, when, what panicked, where to look. */
function crashFields(dump: StoredDump | PanicDump, publicBaseUrl: string) {
  return {
    dumpId: dump.dumpId,
    host: dump.hostId,
    kernel: dump.osRelease,
    crashTime: dump.crashTime === null ? null : new Date(dump.crashTime * 1000).toISOString(),
    panicLine: dump.panicLine,
    signature: dump.signature,
    link: dumpLink(publicBaseUrl, dump.dumpId),
  };
}

export function dumpStoredPayload(dump: StoredDump, publicBaseUrl: string): DumpStoredPayload {
  return {
    event: 'dump.stored',
    ...crashFields(dump, publicBaseUrl),
    storedBytes: dump.bytesStored,
    status: dump.status === 'partial' ? 'partial' : 'complete',
    ...(dump.status === 'partial' && dump.partialReason && { partialReason: dump.partialReason }),
    kind: dump.kind ?? 'crash',
    ...(dump.kind === 'live' && { liveReason: dump.liveReason ?? '' }),
  };
}

export function dumpPanicPayload(dump: PanicDump, publicBaseUrl: string): DumpPanicPayload {
  return { event: 'dump.panic', ...crashFields(dump, publicBaseUrl), reason: dump.reason };
}

/** The X-Kdump-Signature value: sha256=<hex HMAC-SHA256 of the exact body bytes>. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * Wait before try number `attempt` + 1: exponential, capped, "equal jitter"
 * (half fixed, half random), so retries from many receivers spread out but
 * never come back sooner than half the nominal delay.
 */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const nominal = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return nominal / 2 + random() * (nominal / 2);
}

/** What to do after an HTTP answer. 3xx is final: redirects are not followed, the URL is wrong. */
export function judgeStatus(status: number): 'delivered' | 'retry' | 'give-up' {
  if (status >= 200 && status < 300) return 'delivered';
  if (status >= 500 || status === 429 || status === 408) return 'retry';
  return 'give-up';
}

/** Retry-After in seconds (the HTTP-date form is ignored: clocks differ). */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null || !/^\d+$/.test(header.trim())) return undefined;
  return Number(header.trim()) * 1000;
}

interface Notice {
  event: DumpNotice['event'];
  dumpId: string;
  deliveryId: string;
  body: string;
}

export interface WebhookStats {
  delivered: number;
  /** Given up: a final answer, or out of attempts. */
  failed: number;
  /** Pushed out of a full queue, or still queued when stop() ran out of time. */
  dropped: number;
}

export type WebhookOutcome = keyof WebhookStats;

export interface WebhookHooks {
  /** Called once per notice when its fate is known (for metrics). */
  onOutcome?: (outcome: WebhookOutcome, dumpId: string) => void;
  /** Source of jitter, in [0, 1); tests pin it. */
  random?: () => number;
}

export class WebhookNotifier {
  private readonly options: Required<Omit<WebhookOptions, 'secret' | 'bearerToken'>> & Pick<WebhookOptions, 'secret' | 'bearerToken'>;
  private readonly queue: Notice[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  /** Aborted when stop() runs out of time: cuts requests and backoff sleeps short. */
  private readonly shutdown = new AbortController();
  private stopping = false;
  private idleWaiters: Array<() => void> = [];
  private readonly counts: WebhookStats = { delivered: 0, failed: 0, dropped: 0 };

  constructor(
    options: WebhookOptions,
    private readonly log: Logger,
    private readonly hooks: WebhookHooks = {},
  ) {
    checkHttpUrl('webhook url', options.url);
    checkHttpUrl('public base url', options.publicBaseUrl);
    this.options = { ...WEBHOOK_DEFAULTS, ...options };
    for (const name of ['maxQueue', 'maxAttempts', 'concurrency'] as const) {
      if (!(Number.isSafeInteger(this.options[name]) && this.options[name] >= 1)) throw badInput(`webhook ${name} must be a positive integer`);
    }
    for (const name of ['backoffBaseMs', 'backoffMaxMs', 'timeoutMs'] as const) {
      if (!(this.options[name] >= 0)) throw badInput(`webhook ${name} must not be negative`);
    }
  }

  /** Notices settled so far, by outcome. */
  get stats(): WebhookStats {
    return { ...this.counts };
  }

  /** Notices waiting or being delivered. */
  get pending(): number {
    return this.queue.length + this.inFlight.size;
  }

  /** Queues a notice for a newly stored dump and returns at once. */
  enqueue(dump: StoredDump): void {
    this.notify({ event: 'dump.stored', dump });
  }

  /** Queues any notice (a panic known from its log, a stored dump) and returns at once. */
  notify(notice: DumpNotice): void {
    const { dump, event } = notice;
    if (this.stopping) {
      this.log.warn({ dump: dump.dumpId, event }, 'webhook stopped: notice not sent');
      this.count('dropped', dump.dumpId);
      return;
    }
    const payload = notice.event === 'dump.panic'
      ? dumpPanicPayload(notice.dump, this.options.publicBaseUrl)
      : dumpStoredPayload(notice.dump, this.options.publicBaseUrl);
    const body = JSON.stringify(payload);
    if (this.queue.length >= this.options.maxQueue) {
      const dropped = this.queue.shift()!;
      this.count('dropped', dropped.dumpId);
      this.log.warn({ dump: dropped.dumpId, maxQueue: this.options.maxQueue }, 'webhook queue full: oldest notice dropped');
    }
    this.queue.push({ event, dumpId: dump.dumpId, deliveryId: randomUUID(), body });
    this.pump();
  }

  /** Resolves when nothing is queued or being delivered. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Takes no more notices and delivers what is queued, for at most
   * deadlineMs; then aborts what is left. Resolves with how many were not sent.
   */
  async stop(deadlineMs: number): Promise<{ undelivered: number }> {
    this.stopping = true;
    const pendingAtStop = this.pending;
    const deliveredAtStop = this.counts.delivered;
    const timer = setTimeout(() => this.shutdown.abort(), deadlineMs);
    try {
      await this.idle();
    } finally {
      clearTimeout(timer);
    }
    const undelivered = pendingAtStop - (this.counts.delivered - deliveredAtStop);
    if (undelivered > 0) this.log.warn({ undelivered }, 'webhook stopped: some notices were not delivered');
    return { undelivered };
  }

  private count(outcome: WebhookOutcome, dumpId: string): void {
    this.counts[outcome]++;
    this.hooks.onOutcome?.(outcome, dumpId);
  }

  private pump(): void {
    while (this.inFlight.size < this.options.concurrency && this.queue.length > 0) {
      const notice = this.queue.shift()!;
      const work: Promise<void> = this.deliver(notice).finally(() => {
        this.inFlight.delete(work);
        this.pump();
        if (this.pending === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
      this.inFlight.add(work);
    }
  }

  private async deliver(notice: Notice): Promise<void> {
    const { maxAttempts, backoffBaseMs, backoffMaxMs } = this.options;
    const log = this.log.child({ dump: notice.dumpId, delivery: notice.deliveryId });
    for (let attempt = 1; ; attempt++) {
      const result = this.shutdown.signal.aborted ? undefined : await this.attempt(notice);
      if (result?.verdict === 'delivered') {
        this.count('delivered', notice.dumpId);
        log.debug({ attempt, status: result.status }, 'webhook delivered');
        return;
      }
      if (!result || this.shutdown.signal.aborted) {
        this.count('dropped', notice.dumpId);
        log.warn('webhook stopped before the notice was delivered');
        return;
      }
      if (result.verdict === 'give-up' || attempt >= maxAttempts) {
        this.count('failed', notice.dumpId);
        log.error({ attempt, status: result.status, err: result.error }, result.verdict === 'give-up'
          ? 'webhook refused the notice: not retried'
          : 'webhook notice not delivered: out of attempts');
        return;
      }
      const delay = Math.min(backoffMaxMs, Math.max(retryDelayMs(attempt, backoffBaseMs, backoffMaxMs, this.hooks.random), result.retryAfterMs ?? 0));
      log.warn({ attempt, status: result.status, err: result.error, retryInMs: Math.round(delay) }, 'webhook attempt failed: will retry');
      try {
        await sleep(delay, undefined, { signal: this.shutdown.signal });
      } catch {
        // Aborted by stop(): the next turn of the loop reports it.
      }
    }
  }

  private async attempt(notice: Notice): Promise<{ verdict: 'delivered' | 'retry' | 'give-up'; status?: number; error?: string; retryAfterMs?: number }> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'kdump-receiver',
      'x-kdump-event': notice.event,
      'x-kdump-delivery': notice.deliveryId,
    };
    if (this.options.secret !== undefined) headers['x-kdump-signature'] = signBody(notice.body, this.options.secret);
    if (this.options.bearerToken !== undefined) headers.authorization = `Bearer ${this.options.bearerToken}`;
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    try {
      const response = await fetch(this.options.url, {
        method: 'POST',
        headers,
        body: notice.body,
        redirect: 'manual',
        signal: AbortSignal.any([timeout, this.shutdown.signal]),
      });
      // Read (and drop) the answer so the connection can be reused; bounded by the same timeout.
      await response.arrayBuffer().catch(() => undefined);
      return { verdict: judgeStatus(response.status), status: response.status, retryAfterMs: retryAfterMs(response.headers.get('retry-after')) };
    } catch (error) {
      if (timeout.aborted) return { verdict: 'retry', error: `no answer within ${this.options.timeoutMs} ms` };
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      return { verdict: 'retry', error: cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error)) };
    }
  }
}
