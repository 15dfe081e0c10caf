/**
 * The webhook notifier against a real HTTP server on loopback whose answers
 * each test scripts: delivery, signature, retries, timeouts, the bounded
 * queue, and that enqueue() never waits for the network. Backoffs are
 * milliseconds here; every wait is bounded.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac, timingSafeEqual } from 'node:crypto';
import pino from 'pino';
import { ErrorCode } from '../../shared/errors.js';
import { catchNetdump } from '../helpers/errors.js';
import {
  WebhookNotifier, dumpStoredPayload, judgeStatus, retryDelayMs, signBody, type StoredDump, type WebhookOptions,
} from '../../receiver/notify/webhook.js';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** What the server does with request number n (0-based): answer with a status, or never answer. */
type Script = (n: number, received: Received) => number | 'hang';

let server: http.Server;
let url: string;
let received: Received[];
let script: Script;
const hanging = new Set<http.ServerResponse>();
let logLines: Array<Record<string, unknown>>;
let logger: pino.Logger;
const notifiers: WebhookNotifier[] = [];

beforeEach(async () => {
  received = [];
  script = () => 200;
  logLines = [];
  logger = pino({ level: 'debug' }, { write: (line: string) => { logLines.push(JSON.parse(line)); } });
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      const answer = script(received.length, request);
      received.push(request);
      if (answer === 'hang') {
        hanging.add(res);
        return;
      }
      res.writeHead(answer, { 'content-type': 'text/plain' }).end(`answer ${answer}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});

afterEach(async () => {
  await Promise.all(notifiers.splice(0).map((n) => n.stop(100)));
  for (const res of hanging) res.destroy();
  hanging.clear();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function notifier(options: Partial<WebhookOptions> = {}, hooks: ConstructorParameters<typeof WebhookNotifier>[2] = {}): WebhookNotifier {
  const n = new WebhookNotifier({
    url, publicBaseUrl: 'https://kdump.example.org/ui/', backoffBaseMs: 10, backoffMaxMs: 40, timeoutMs: 2000, ...options,
  }, logger, hooks);
  notifiers.push(n);
  return n;
}

function storedDump(n: number): StoredDump {
  return {
    dumpId: `${n}`.padStart(16, '0'), hostId: 'web-1', osRelease: '6.1.0-56-amd64', crashTime: 1_767_225_600, bytesStored: 123_456_789,
    panicLine: 'Kernel panic - not syncing: sysrq triggered crash', signature: 'sysrq_handle_crash',
  };
}

/** Resolves when the notifier is idle; fails the test if that takes longer than ms. */
async function settled(n: WebhookNotifier, ms = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    n.idle(),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`notifier not idle after ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

describe('WebhookNotifier', () => {
  it('POSTs the dump.stored JSON, signed with HMAC-SHA256 over the exact body, with the bearer token', async () => {
    const outcomes: string[] = [];
    const n = notifier({ secret: 's3cret', bearerToken: 'tok-1' }, { onOutcome: (outcome) => outcomes.push(outcome) });
    n.enqueue(storedDump(1));
    await settled(n);
    expect(received).toHaveLength(1);
    const [{ headers, body }] = received;
    expect(JSON.parse(body)).toEqual({
      event: 'dump.stored',
      dumpId: '0000000000000001',
      host: 'web-1',
      kernel: '6.1.0-56-amd64',
      crashTime: '2026-01-01T00:00:00.000Z',
      panicLine: 'Kernel panic - not syncing: sysrq triggered crash',
      signature: 'sysrq_handle_crash',
      link: 'https://kdump.example.org/ui/dumps/0000000000000001',
      storedBytes: 123_456_789,
      status: 'complete',
      kind: 'crash',
    });
    expect(headers['content-type']).toBe('application/json');
    expect(headers['x-kdump-event']).toBe('dump.stored');
    expect(headers['x-kdump-delivery']).toMatch(/^[0-9a-f-]{36}$/);
    expect(headers.authorization).toBe('Bearer tok-1');
    // What an endpoint does: recompute over the raw body, compare in constant time.
    const expected = Buffer.from(`sha256=${createHmac('sha256', 's3cret').update(body).digest('hex')}`);
    const signature = Buffer.from(String(headers['x-kdump-signature']));
    expect(signature.length === expected.length && timingSafeEqual(signature, expected)).toBe(true);
    expect(n.stats).toEqual({ delivered: 1, failed: 0, dropped: 0 });
    expect(outcomes).toEqual(['delivered']);
  });

  it('sends no signature or authorization header when neither is configured', async () => {
    const n = notifier();
    n.enqueue(storedDump(1));
    await settled(n);
    expect(received[0].headers['x-kdump-signature']).toBeUndefined();
    expect(received[0].headers.authorization).toBeUndefined();
  });

  it('retries 500s with backoff and delivers once, with the same delivery id and body', async () => {
    script = (i) => (i < 2 ? 500 : 200);
    const n = notifier({ maxAttempts: 5 });
    n.enqueue(storedDump(1));
    await settled(n);
    expect(received).toHaveLength(3);
    expect(new Set(received.map((r) => r.headers['x-kdump-delivery'])).size).toBe(1);
    expect(new Set(received.map((r) => r.body)).size).toBe(1);
    expect(n.stats).toEqual({ delivered: 1, failed: 0, dropped: 0 });
    expect(logLines.filter((l) => l.msg === 'webhook attempt failed: will retry').map((l) => [l.attempt, l.status])).toEqual([[1, 500], [2, 500]]);
  });

  it('retries 429 too, and gives up after maxAttempts', async () => {
    script = () => 429;
    const n = notifier({ maxAttempts: 3 });
    n.enqueue(storedDump(1));
    await settled(n);
    expect(received).toHaveLength(3);
    expect(n.stats).toEqual({ delivered: 0, failed: 1, dropped: 0 });
    expect(logLines.find((l) => l.msg === 'webhook notice not delivered: out of attempts')).toMatchObject({ attempt: 3, status: 429 });
  });

  it('does not retry a 400: the endpoint said no', async () => {
    script = () => 400;
    const n = notifier({ maxAttempts: 5 });
    n.enqueue(storedDump(1));
    await settled(n);
    expect(received).toHaveLength(1);
    expect(n.stats).toEqual({ delivered: 0, failed: 1, dropped: 0 });
    expect(logLines.find((l) => l.msg === 'webhook refused the notice: not retried')).toMatchObject({ status: 400, level: 50 });
  });

  it('times a hanging request out and retries it', async () => {
    script = (i) => (i === 0 ? 'hang' : 200);
    const n = notifier({ timeoutMs: 150 });
    const started = Date.now();
    n.enqueue(storedDump(1));
    await settled(n);
    expect(received).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(n.stats.delivered).toBe(1);
    expect(logLines.find((l) => l.msg === 'webhook attempt failed: will retry')).toMatchObject({ err: 'no answer within 150 ms' });
  });

  it('retries when nothing listens (connection refused)', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/hook`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const n = notifier({ url: deadUrl, maxAttempts: 2 });
    n.enqueue(storedDump(1));
    await settled(n);
    expect(n.stats.failed).toBe(1);
    expect(logLines.find((l) => l.msg === 'webhook attempt failed: will retry')).toMatchObject({ err: 'ECONNREFUSED' });
  });

  it('drops the oldest waiting notice, with a warning, when the queue is full', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => { open = resolve; });
    // The first request is held until the queue has overflowed.
    server.removeAllListeners('request');
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        void (received.length === 1 ? gate : Promise.resolve()).then(() => res.writeHead(204).end());
      });
    });
    const n = notifier({ maxQueue: 2 });
    for (const i of [1, 2, 3, 4]) n.enqueue(storedDump(i)); // 1 goes out at once; 2 and 3 wait; 4 pushes 2 out
    expect(n.pending).toBe(3);
    expect(logLines.find((l) => l.msg === 'webhook queue full: oldest notice dropped')).toMatchObject({ dump: storedDump(2).dumpId, maxQueue: 2, level: 40 });
    open();
    await settled(n);
    expect(received.map((r) => JSON.parse(r.body).dumpId)).toEqual([1, 3, 4].map((i) => storedDump(i).dumpId));
    expect(n.stats).toEqual({ delivered: 3, failed: 0, dropped: 1 });
  });

  it('enqueue returns at once, without waiting for the network, even when the server never answers', async () => {
    script = () => 'hang';
    const n = notifier({ timeoutMs: 60_000 });
    const started = performance.now();
    const returned = n.enqueue(storedDump(1));
    for (let i = 2; i <= 50; i++) n.enqueue(storedDump(i));
    expect(performance.now() - started).toBeLessThan(100);
    expect(returned).toBeUndefined();
    expect(n.pending).toBe(50);
    await expect.poll(() => received.length, { timeout: 2000 }).toBe(1);
    // stop() gives up at its deadline: one in flight and 49 waiting, none delivered.
    const stopping = performance.now();
    expect(await n.stop(150)).toEqual({ undelivered: 50 });
    expect(performance.now() - stopping).toBeLessThan(2000);
    expect(n.stats).toEqual({ delivered: 0, failed: 0, dropped: 50 });
    n.enqueue(storedDump(99));
    expect(n.stats.dropped).toBe(51);
  });

  it('stop() drains the queue when the endpoint answers before the deadline', async () => {
    const n = notifier();
    for (const i of [1, 2, 3]) n.enqueue(storedDump(i));
    expect(await n.stop(5000)).toEqual({ undelivered: 0 });
    expect(received).toHaveLength(3);
  });

  it('delivers several at once with concurrency > 1', async () => {
    script = (i) => (i < 3 ? 'hang' : 200);
    const n = notifier({ concurrency: 3, timeoutMs: 200, maxAttempts: 2 });
    for (const i of [1, 2, 3]) n.enqueue(storedDump(i));
    await expect.poll(() => received.length, { timeout: 2000 }).toBe(3);
    await settled(n);
    expect(n.stats.delivered).toBe(3);
  });

  it('refuses bad configuration with BAD_INPUT', () => {
    for (const options of [{ url: 'ftp://x/' }, { url: 'not a url' }, { publicBaseUrl: '' }, { maxQueue: 0 }, { maxAttempts: 1.5 }, { timeoutMs: -1 }]) {
      expect(catchNetdump(() => new WebhookNotifier({ url, publicBaseUrl: 'http://x/', ...options }, logger)).code).toBe(ErrorCode.BAD_INPUT);
    }
  });

  it('refuses a URL with credentials at start, naming the flags that carry them, and never repeats the password', () => {
    const error = catchNetdump(() => new WebhookNotifier({ url: 'https://ops:s3cret@hooks.example.org/kdump', publicBaseUrl: 'http://x/' }, logger));
    expect(error.code).toBe(ErrorCode.BAD_INPUT);
    expect(error.message).toMatch(/webhook url carries credentials \(user:password@\); pass them with --webhook-token-file or --webhook-secret-file instead/);
    expect(error.message).not.toContain('s3cret');
  });
});

describe('webhook pure parts', () => {
  it('links to <publicBaseUrl>/dumps/<id> with or without a trailing slash, and keeps nulls', () => {
    const dump = { ...storedDump(7), osRelease: null, crashTime: null, panicLine: null, signature: null };
    for (const base of ['https://kdump.example.org', 'https://kdump.example.org/']) {
      expect(dumpStoredPayload(dump, base)).toMatchObject({ link: 'https://kdump.example.org/dumps/0000000000000007', kernel: null, crashTime: null, panicLine: null });
    }
  });

  it('says a dump kept partial is partial, and why; a complete one carries no reason', () => {
    expect(dumpStoredPayload({ ...storedDump(8), status: 'partial', partialReason: 'storm' }, 'https://k')).toMatchObject({ status: 'partial', partialReason: 'storm' });
    const whole = dumpStoredPayload({ ...storedDump(9), status: 'complete', partialReason: 'storm' }, 'https://k');
    expect(whole.status).toBe('complete');
    expect(whole).not.toHaveProperty('partialReason');
  });

  it('says a live snapshot is live, with its reason; a crash says crash and carries none', () => {
    expect(dumpStoredPayload({ ...storedDump(10), kind: 'live', liveReason: 'leak hunt' }, 'https://k')).toMatchObject({ kind: 'live', liveReason: 'leak hunt' });
    const crash = dumpStoredPayload({ ...storedDump(11), kind: 'crash', liveReason: null }, 'https://k');
    expect(crash.kind).toBe('crash');
    expect(crash).not.toHaveProperty('liveReason');
  });

  it('signs like openssl dgst -sha256 -hmac', () => {
    // printf '{"a":1}' | openssl dgst -sha256 -hmac key
    expect(signBody('{"a":1}', 'key')).toBe('sha256=88a67f24bbcdaed0e6c997404bb79a743baf44c6bab2f4c27328e3009d22e342');
  });

  it('backs off exponentially with equal jitter, capped', () => {
    expect([1, 2, 3, 4].map((a) => retryDelayMs(a, 1000, 5000, () => 0))).toEqual([500, 1000, 2000, 2500]);
    expect([1, 2, 3, 4].map((a) => retryDelayMs(a, 1000, 5000, () => 0.999999))).toEqual([1000, 2000, 4000, 5000].map((d) => expect.closeTo(d, 0)));
  });

  it('retries 5xx, 429 and 408; takes 2xx as delivered and everything else as final', () => {
    expect([200, 202, 204].map(judgeStatus)).toEqual(['delivered', 'delivered', 'delivered']);
    expect([500, 502, 503, 429, 408].map(judgeStatus)).toEqual(['retry', 'retry', 'retry', 'retry', 'retry']);
    expect([301, 400, 401, 403, 404, 410, 422].map(judgeStatus)).toEqual(Array(7).fill('give-up'));
  });
});
