/**
 * The kernel log travels first (docs/protocol.md, LOG): the sender reads the
 * log from the core and sends it after ACCEPT, before any CHUNK; the
 * receiver checks it, keeps it as dmesg.txt, triages it and records the
 * panic while the pages are still to come, and the webhook says so before
 * DONE. Older senders (no LOG) and older receivers (no logWanted) still
 * work with the new other end.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { captureKernelLog, newestPart, type CapturedLog } from '../../sender/kernel-log.js';
import { parseServerUrl } from '../../sender/transport.js';
import { upload } from '../../sender/upload.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { logChecksum } from '../../shared/protocol/digest.js';
import { FrameDecoder, framePrefix } from '../../shared/protocol/frame-decoder.js';
import { decodeMessage, encodeControl, MAX_LOG_BYTES, type Message } from '../../shared/protocol/messages.js';
import { ChunkPlan } from '../../shared/protocol/chunk-plan.js';
import { keysFor } from '../../shared/dump-folders.js';
import { DumpIngest } from '../../receiver/ingest/dump-ingest.js';
import { coreWithLog, FOO, oopsLog } from '../helpers/crash-logs.js';
import { sampleX86Loads, writeElfCoreFile, type ElfCoreFile } from '../helpers/elf-core-builder.js';
import { chunkMessage, helloFor } from '../helpers/protocol-messages.js';
import { RawClient } from '../helpers/raw-client.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

const PANIC = 'Kernel panic - not syncing: Fatal exception';

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const logMessage = (log: CapturedLog, crc = logChecksum(log.text)) => encodeControl({ type: 'log', text: log.text, crc, truncated: log.truncated });

describe('sender: the log it sends', () => {
  it('keeps a log within the bound whole, and a longer one as its newest part from a line start', () => {
    const log = Buffer.from('first line\nsecond line\nKernel panic - not syncing: x\n');
    expect(newestPart(log, 1000)).toEqual({ text: log, truncated: false });
    const cut = newestPart(log, 40);
    expect(cut.truncated).toBe(true);
    expect(cut.text.toString()).toBe('Kernel panic - not syncing: x\n');
    // A cut that falls exactly on a line start keeps that line.
    expect(newestPart(log, log.length - 'first line\n'.length).text.toString()).toBe('second line\nKernel panic - not syncing: x\n');
  });

  it('says why when a core has no log to read, instead of failing the upload', async () => {
    // VMCOREINFO without the printk symbols: a core whose log cannot be found.
    const plain = await writeElfCoreFile({ cpus: 1, loads: sampleX86Loads(), page: () => 'pattern' });
    const plainSource = VmcoreSource.open(plain.path);
    try {
      const result = await captureKernelLog(plainSource);
      expect(result).toHaveProperty('error');
      expect((result as { error: string }).error).toMatch(/VMCOREINFO|log/i);
    } finally {
      plainSource.close();
      await plain.cleanup();
    }
  });
});

describe('receiver: the log ahead of the pages', () => {
  let receiver: TestReceiver;
  let hook: http.Server;
  let core: ElfCoreFile;
  let source: VmcoreSource;
  let log: CapturedLog;
  const notices: Array<{ event: string; body: any; at: number }> = [];
  const clients: RawClient[] = [];
  const api = async (pathname: string) => (await fetch(`http://127.0.0.1:${receiver.httpAddress!.port}/api/v1${pathname}`)).json() as Promise<any>;

  beforeAll(async () => {
    hook = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        notices.push({ event: String(req.headers['x-kdump-event']), body: JSON.parse(Buffer.concat(chunks).toString('utf8')), at: Date.now() });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    receiver = await startTestReceiver({
      webhook: { url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`, publicBaseUrl: 'https://dumps.example' },
    });
    core = await coreWithLog(oopsLog(FOO, 1), 1_700_000_100);
    source = VmcoreSource.open(core.path);
    const captured = await captureKernelLog(source);
    if ('error' in captured) throw new Error(captured.error);
    log = captured;
  });

  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
  });

  afterAll(async () => {
    source?.close();
    await receiver?.stop();
    await new Promise((resolve) => hook?.close(resolve));
    await core?.cleanup();
  });

  async function helloed(hostId: string) {
    const client = await RawClient.connect(receiver.tcpAddress!.port);
    clients.push(client);
    const hello = helloFor(source, { hostId });
    client.sendMessage(encodeControl(hello));
    return { client, hello, accept: await client.next('accept') };
  }

  it('records the panic, the signature and dmesg.txt before any page, and notifies before DONE', async () => {
    const { client, hello, accept } = await helloed('early-1');
    expect(accept).toMatchObject({ nextSeq: 0, logWanted: true });
    client.sendMessage(logMessage(log));
    // No CHUNK has been sent: everything below comes from the log alone.
    await until('the panic in the catalog', async () => (await api(`/dumps/${hello.dumpId}`)).panicLine === PANIC);
    const detail = await api(`/dumps/${hello.dumpId}`);
    expect(detail).toMatchObject({ status: 'receiving', logSource: 'sender', pages: { stored: 0, zero: 0 } });
    expect(detail.reason).toMatch(/^BUG: kernel NULL pointer dereference/);
    expect(detail.triage.ripSymbol).toBe('foo_write');
    const record = (await receiver.catalog.get(hello.dumpId))!;
    expect(await readFile(path.join(receiver.dataDir, keysFor(record.path).dmesg))).toEqual(log.text);
    // The crash counts in its group from the moment its log is read.
    const { groups } = await api('/groups');
    expect(groups.find((g: any) => g.signature === detail.signature)).toMatchObject({ count: 1, hosts: ['early-1'] });
    await until('the panic notice', () => notices.some((n) => n.event === 'dump.panic' && n.body.dumpId === hello.dumpId));
    expect(notices.find((n) => n.body.dumpId === hello.dumpId)!.body).toMatchObject({
      event: 'dump.panic', host: 'early-1', panicLine: PANIC, signature: detail.signature, link: `https://dumps.example/dumps/${hello.dumpId}`,
    });
    client.close();
    await until('the dump released', () => !receiver.registry.isAttached(hello.dumpId));

    // The sender comes back: the log is not asked for again, the pages go up, one more notice says stored.
    const result = await upload(source, {
      servers: [parseServerUrl(receiver.tcpUrl)], hostId: 'early-1', chunkPages: 16, kernelLog: log,
      connectTimeoutMs: 2000, replyTimeoutMs: 5000, deadlineMs: 10_000, framesInFlight: 2,
    });
    expect(result.dumpId).toBe(hello.dumpId);
    expect(result.logSent).toBe(false);
    await receiver.triage.idle();
    await until('the stored notice', () => notices.some((n) => n.event === 'dump.stored' && n.body.dumpId === hello.dumpId));
    const mine = notices.filter((n) => n.body.dumpId === hello.dumpId).map((n) => n.event);
    expect(mine).toEqual(['dump.panic', 'dump.stored']);
    expect(await api(`/dumps/${hello.dumpId}`)).toMatchObject({ status: 'complete', panicLine: PANIC, logSource: 'sender' });
  });

  it('a live snapshot\'s log ahead of its pages raises no panic notice (its host did not crash): one dump.stored, kind live', async () => {
    const live = { reason: 'hung nfsd', startedAtMs: Date.now() };
    const result = await upload(source, {
      servers: [parseServerUrl(receiver.tcpUrl)], hostId: 'early-live', chunkPages: 16, kernelLog: log, live,
      connectTimeoutMs: 2000, replyTimeoutMs: 5000, deadlineMs: 10_000, framesInFlight: 2,
    });
    expect(result.logSent).toBe(true);
    await receiver.triage.idle();
    await until('the stored notice', () => notices.some((n) => n.event === 'dump.stored' && n.body.dumpId === result.dumpId));
    const mine = notices.filter((n) => n.body.dumpId === result.dumpId);
    expect(mine.map((n) => n.event)).toEqual(['dump.stored']);
    expect(mine[0].body).toMatchObject({ kind: 'live', liveReason: 'hung nfsd', signature: null });
    // Its log names the oops (shown), but it joins no crash group.
    expect(await api(`/dumps/${result.dumpId}`)).toMatchObject({ kind: 'live', liveReason: 'hung nfsd', signature: null, logSource: 'sender' });
    expect((await api(`/dumps/${result.dumpId}`)).reason).toMatch(/^BUG: kernel NULL pointer dereference/);
  });

  it('a sender with a log sends it first on its own, and the catalog has the panic before the first chunk is handled', async () => {
    const hostId = 'early-2';
    const dumpId = helloFor(source, { hostId }).dumpId;
    // What the catalog says when the receiver takes the dump's first chunk.
    let atFirstChunk: string | null | undefined;
    const acceptChunk = DumpIngest.prototype.acceptChunk;
    DumpIngest.prototype.acceptChunk = async function (this: DumpIngest, ...args: Parameters<typeof acceptChunk>) {
      if (this.dumpId === dumpId && atFirstChunk === undefined) atFirstChunk = (await receiver.catalog.getWithTriage(dumpId))?.triage.panicLine ?? null;
      return acceptChunk.apply(this, args);
    };
    try {
      const result = await upload(source, {
        servers: [parseServerUrl(receiver.tcpUrl)], hostId, chunkPages: 16, kernelLog: log,
        connectTimeoutMs: 2000, replyTimeoutMs: 5000, deadlineMs: 10_000, framesInFlight: 2,
      });
      expect(result).toMatchObject({ dumpId, logSent: true });
    } finally {
      DumpIngest.prototype.acceptChunk = acceptChunk;
    }
    expect(atFirstChunk).toBe(PANIC);
    const info = receiver.logLines.find((l) => l.msg === 'kernel log received ahead of the pages' && l.dump === dumpId);
    expect(info).toMatchObject({ bytes: log.text.length, truncated: false });
  });

  it('refuses a LOG whose checksum is wrong (CORRUPT, retryable) and asks for it again', async () => {
    const { client, hello } = await helloed('bad-crc');
    client.sendMessage(logMessage(log, (logChecksum(log.text) ^ 1) >>> 0));
    expect(await client.next('error')).toMatchObject({ code: 'CORRUPT', retryable: true });
    await until('the dump released', () => !receiver.registry.isAttached(hello.dumpId));
    expect((await api(`/dumps/${hello.dumpId}`)).panicLine).toBeNull();
    const again = await helloed('bad-crc');
    expect(again.accept.logWanted).toBe(true);
  });

  it('refuses a LOG after a chunk, a second LOG, and a LOG before HELLO (PROTOCOL)', async () => {
    const late = await helloed('late-log');
    late.client.sendMessage(chunkMessage(source, 0));
    late.client.sendMessage(logMessage(log));
    expect(await late.client.next('error')).toMatchObject({ code: 'PROTOCOL', retryable: false });
    expect((await late.client.next('error')).message).toMatch(/LOG after 1 chunks/);

    const twice = await helloed('two-logs');
    twice.client.sendMessage(logMessage(log));
    twice.client.sendMessage(logMessage(log));
    expect((await twice.client.next('error')).message).toMatch(/did not ask for one/);

    const early = await RawClient.connect(receiver.tcpAddress!.port);
    clients.push(early);
    early.sendMessage(logMessage(log));
    expect(await early.next('error')).toMatchObject({ code: 'PROTOCOL', message: expect.stringContaining('LOG before HELLO') });
  });

  it('refuses a LOG over the bound (LIMIT, final) without storing any of it', async () => {
    const { client, hello } = await helloed('huge-log');
    const text = Buffer.alloc(MAX_LOG_BYTES + 1, 0x41);
    client.sendMessage(logMessage({ text, truncated: false }));
    expect(await client.next('error')).toMatchObject({ code: 'LIMIT', retryable: false });
    const record = (await receiver.catalog.get(hello.dumpId))!;
    await expect(readFile(path.join(receiver.dataDir, keysFor(record.path).dmesg))).rejects.toThrow(/ENOENT/);
  });

  it('an older sender (no LOG) still stores its dump, triaged from the stored dump afterwards', async () => {
    const result = await upload(source, {
      servers: [parseServerUrl(receiver.tcpUrl)], hostId: 'old-sender', chunkPages: 16,
      connectTimeoutMs: 2000, replyTimeoutMs: 5000, deadlineMs: 10_000, framesInFlight: 2,
    });
    expect(result.logSent).toBe(false);
    await receiver.triage.idle();
    expect(await api(`/dumps/${result.dumpId}`)).toMatchObject({ status: 'complete', panicLine: PANIC, logSource: 'dump' });
  });
});

describe('sender against an older receiver (ACCEPT without logWanted)', () => {
  it('sends no LOG, and the upload completes', async () => {
    const core = await coreWithLog(oopsLog(FOO, 2), 1_700_000_200);
    const source = VmcoreSource.open(core.path);
    const types: Array<Message['type']> = [];
    // A receiver of before LOG: answers ACCEPT from the plan, takes chunks, answers END with DONE; refuses unknown types.
    const server = net.createServer((socket) => {
      const decoder = new FrameDecoder(16 * 2 ** 20);
      const reply = (message: Parameters<typeof encodeControl>[0]) => {
        const body = encodeControl(message);
        socket.write(Buffer.concat([framePrefix(body.length), body]));
      };
      socket.on('data', (data: Buffer) => {
        decoder.push(data);
        for (let frame = decoder.next(); frame; frame = decoder.next()) {
          if (frame[0] > 9) {
            reply({ type: 'error', code: 'PROTOCOL' as never, message: `unknown message type ${frame[0]}`, retryable: false });
            socket.end();
            return;
          }
          const message = decodeMessage(frame);
          types.push(message.type);
          if (message.type === 'hello') {
            const plan = new ChunkPlan(source.core.pageMap, message.chunkPages);
            reply({ type: 'accept', dumpId: message.dumpId, nextSeq: 0, totalChunks: plan.totalChunks });
          } else if (message.type === 'end') {
            reply({ type: 'done', dumpId: 'x', path: 'old/vmcore', storedBytes: 1 });
            socket.end();
          }
        }
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const captured = await captureKernelLog(source);
      if ('error' in captured) throw new Error(captured.error);
      const result = await upload(source, {
        servers: [parseServerUrl(`tcp://127.0.0.1:${(server.address() as AddressInfo).port}`)], hostId: 'to-old', chunkPages: 16, kernelLog: captured,
        connectTimeoutMs: 2000, replyTimeoutMs: 5000, deadlineMs: 10_000, framesInFlight: 2,
      });
      expect(result).toMatchObject({ path: 'old/vmcore', logSent: false });
      expect(types[0]).toBe('hello');
      expect(types.filter((t) => t !== 'chunk')).toEqual(['hello', 'end']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      source.close();
      await core.cleanup();
    }
  });
});
