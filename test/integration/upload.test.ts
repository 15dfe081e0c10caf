/**
 * Sender and receiver over loopback TCP and WebSocket, on synthetic cores:
 * round trips, resume over a connection that keeps dropping, and the
 * receiver's answers to input a correct sender never sends.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { CHUNK_CHECKSUMS } from '../../shared/protocol/digest.js';
import { encodeControl } from '../../shared/protocol/messages.js';
import { dumpIdFor, upload } from '../../sender/upload.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { writeElfCoreFile, type ElfCoreFile } from '../helpers/elf-core-builder.js';
import { startCuttingProxy } from '../helpers/cutting-proxy.js';
import { RawClient } from '../helpers/raw-client.js';
import { chunkMessage, helloFor } from '../helpers/protocol-messages.js';
import { expectStoredPagesMatch, MIXED_PAGES_CORE, uploadOptions } from '../helpers/loopback-upload.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

const SPEC = MIXED_PAGES_CORE;

describe('upload over loopback', () => {
  let receiver: TestReceiver;
  let core: ElfCoreFile;
  let source: VmcoreSource;

  beforeAll(async () => {
    core = await writeElfCoreFile(SPEC);
    source = VmcoreSource.open(core.path);
  });
  afterAll(async () => {
    source.close();
    await core.cleanup();
  });
  afterEach(async () => {
    await receiver?.stop();
  });

  for (const transport of ['tcp', 'ws'] as const) {
    it(`stores a crash-readable dump over ${transport} and indexes it`, async () => {
      receiver = await startTestReceiver();
      const result = await upload(source, uploadOptions(transport === 'tcp' ? receiver.tcpUrl : receiver.wsUrl));
      expect(result.attempts).toBe(1);
      const file = path.join(receiver.dataDir, result.path);
      expect(result.path).toMatch(/^node-1\/\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d\/vmcore$/);
      await expectStoredPagesMatch(file, source, SPEC);
      const record = (await receiver.catalog.get(result.dumpId))!;
      expect(record).toMatchObject({ status: 'complete', hostId: 'node-1', osRelease: '6.1.0-test-amd64', pagesTotal: source.core.pageMap.totalPages });
      expect(record.pagesZero).toBe(result.zeroPages);
      expect(record.pagesZero).toBeGreaterThan(0);
      expect(existsSync(`${file}.incomplete`)).toBe(false);
      expect(existsSync(`${file}.incomplete.crcs`)).toBe(false);
    });
  }

  it('resumes across connections cut every few KB and stores the same bytes as an uninterrupted upload', async () => {
    receiver = await startTestReceiver({ checkpointChunks: 2 });
    const clean = await upload(source, uploadOptions(receiver.tcpUrl, { hostId: 'clean-host' }));
    const cleanBytes = await readFile(path.join(receiver.dataDir, clean.path));

    const proxy = await startCuttingProxy({ targetPort: receiver.tcpAddress!.port, cutAfterBytes: 60_000, cuts: 6 });
    try {
      const logs: string[] = [];
      const flaky = await upload(source, uploadOptions(`tcp://127.0.0.1:${proxy.port}`, { hostId: 'flaky-host', log: (l) => logs.push(l) }));
      expect(proxy.cutsDone).toBe(6);
      expect(flaky.attempts).toBe(7);
      expect(logs.some((l) => /resuming at chunk [1-9]\d* of/.test(l))).toBe(true);
      const flakyBytes = await readFile(path.join(receiver.dataDir, flaky.path));
      // Same core, same chunking: the files differ only in the header's nodename (the host id); compare after it.
      expect(flakyBytes.length).toBe(cleanBytes.length);
      expect(flakyBytes.subarray(4096).equals(cleanBytes.subarray(4096))).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('refuses a chunk damaged in transit, then takes it again after the sender reconnects', async () => {
    receiver = await startTestReceiver();
    // Past HELLO (headers + notes are a few KB), inside the first chunks' payload.
    const proxy = await startCuttingProxy({ targetPort: receiver.tcpAddress!.port, cutAfterBytes: Infinity, cuts: 0, corruptAt: 20_000 });
    try {
      const result = await upload(source, uploadOptions(`tcp://127.0.0.1:${proxy.port}`));
      expect(result.attempts).toBe(2);
      expect(receiver.logLines.some((l) => l.code === ErrorCode.CORRUPT)).toBe(true);
      await expectStoredPagesMatch(path.join(receiver.dataDir, result.path), source, SPEC);
    } finally {
      await proxy.close();
    }
  });

  it('sends a stored dump again idempotently: DONE with the same path, nothing rewritten', async () => {
    receiver = await startTestReceiver();
    const first = await upload(source, uploadOptions(receiver.tcpUrl));
    const second = await upload(source, uploadOptions(receiver.wsUrl));
    expect(second.path).toBe(first.path);
    expect(second.bytesSent).toBe(0);
    expect(await receiver.catalog.list()).toHaveLength(1);
  });

  it('resumes a dump after the receiver restarts, from the checkpoint it recorded', async () => {
    receiver = await startTestReceiver({ checkpointChunks: 4 });
    const dataDir = receiver.dataDir;
    const client = await RawClient.connect(receiver.tcpAddress!.port);
    client.sendMessage(encodeControl(helloFor(source)));
    await client.next('accept');
    for (let seq = 0; seq < 10; seq++) client.sendMessage(chunkMessage(source, seq));
    const ack = await client.next('ack');
    expect(ack.nextSeq).toBeGreaterThanOrEqual(4);
    client.close();
    await client.closed;
    await receiver.close();

    receiver = await startTestReceiver({ dataDir, checkpointChunks: 4 });
    const logs: string[] = [];
    const result = await upload(source, uploadOptions(receiver.tcpUrl, { log: (l) => logs.push(l) }));
    expect(logs.some((l) => /resuming at chunk (\d+) of/.test(l) && Number(/chunk (\d+)/.exec(l)![1]) >= 4)).toBe(true);
    await expectStoredPagesMatch(path.join(dataDir, result.path), source, SPEC);
    expect(await receiver.catalog.get(result.dumpId)).toMatchObject({ status: 'complete' });
    await receiver.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('a hostile connection leaves another upload in flight and the dumps already stored untouched', async () => {
    receiver = await startTestReceiver();
    const stored = await upload(source, uploadOptions(receiver.tcpUrl, { hostId: 'earlier-host' }));
    const storedBytes = await readFile(path.join(receiver.dataDir, stored.path));
    const inFlight = upload(source, uploadOptions(receiver.wsUrl, { hostId: 'busy-host', chunkPages: 4 }));
    const hostile = await RawClient.connect(receiver.tcpAddress!.port);
    hostile.sendRaw(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await hostile.closed;
    const result = await inFlight;
    expect(result.attempts).toBe(1);
    await expectStoredPagesMatch(path.join(receiver.dataDir, result.path), source, SPEC);
    expect((await readFile(path.join(receiver.dataDir, stored.path))).equals(storedBytes)).toBe(true);
    expect((await receiver.catalog.list()).map((r) => r.status)).toEqual(['complete', 'complete']);
  });

  it('two sender processes claiming the same dump: one writer at a time, both end with the one stored dump', async () => {
    receiver = await startTestReceiver();
    const second = VmcoreSource.open(core.path);
    try {
      const logs: string[] = [];
      const [a, b] = await Promise.all([
        upload(source, uploadOptions(receiver.tcpUrl, { log: (l) => logs.push(l) })),
        upload(second, uploadOptions(receiver.wsUrl, { log: (l) => logs.push(l) })),
      ]);
      expect(a.dumpId).toBe(b.dumpId);
      expect(a.path).toBe(b.path);
      expect(logs.some((l) => /being received on another connection/.test(l))).toBe(true);
      expect(await receiver.catalog.list()).toHaveLength(1);
      await expectStoredPagesMatch(path.join(receiver.dataDir, a.path), source, SPEC);
    } finally {
      second.close();
    }
  });

  describe('bad input to the receiver', () => {
    async function openSession(): Promise<RawClient> {
      const client = await RawClient.connect(receiver.tcpAddress!.port);
      client.sendMessage(encodeControl(helloFor(source)));
      await client.next('accept');
      return client;
    }

    it('garbage instead of a frame: ERROR, close, and no dump', async () => {
      receiver = await startTestReceiver();
      const client = await RawClient.connect(receiver.tcpAddress!.port);
      client.sendRaw(Buffer.from([0, 0, 0, 5, 0xee, 1, 2, 3, 4]));
      const error = await client.next('error');
      expect(error).toMatchObject({ code: ErrorCode.PROTOCOL, retryable: false });
      expect(error.message).toMatch(/unknown message type 238/);
      await client.closed;
      expect(await receiver.catalog.list()).toHaveLength(0);
    });

    it('an oversized frame is refused from its length prefix', async () => {
      receiver = await startTestReceiver({ limits: { maxChunkBytes: 64 * 1024 } });
      const client = await RawClient.connect(receiver.tcpAddress!.port);
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32BE(0x7fff_ffff);
      client.sendRaw(prefix);
      const error = await client.next('error');
      expect(error.code).toBe(ErrorCode.LIMIT);
      expect(error.message).toMatch(/frame of 2147483647 bytes at stream offset 0 exceeds the limit/);
      await client.closed;
    });

    it('an out-of-order chunk: PROTOCOL error, the dump stays resumable and never complete', async () => {
      receiver = await startTestReceiver();
      const client = await openSession();
      client.sendMessage(chunkMessage(source, 0));
      client.sendMessage(chunkMessage(source, 2));
      const error = await client.next('error');
      expect(error.code).toBe(ErrorCode.PROTOCOL);
      expect(error.message).toMatch(/chunk 2 out of order: expected chunk 1/);
      await client.closed;
      const [record] = await receiver.catalog.list();
      expect(record.status).toBe('receiving');
      expect(existsSync(path.join(receiver.dataDir, record.path))).toBe(false);
      expect(existsSync(path.join(receiver.dataDir, `${record.path}.incomplete`))).toBe(true);
    });

    it('a payload checksum mismatch is CORRUPT and retryable; nothing of the chunk is stored', async () => {
      receiver = await startTestReceiver();
      const client = await openSession();
      const chunk = chunkMessage(source, 0);
      chunk[chunk.length - 1] ^= 0x55;
      client.sendMessage(chunk);
      const error = await client.next('error');
      expect(error).toMatchObject({ code: ErrorCode.CORRUPT, retryable: true });
      expect(error.message).toMatch(/chunk 0: payload checksum mismatch/);
      await client.closed;
      expect((await receiver.catalog.list())[0]).toMatchObject({ status: 'receiving', nextSeq: 0, pagesStored: 0 });
    });

    it('lz4 data that decodes to the wrong size is CORRUPT', async () => {
      receiver = await startTestReceiver();
      const client = await openSession();
      const chunk = chunkMessage(source, 1);
      expect(chunk.readUInt32LE(17)).toBe(1); // lz4-compressed
      // Claim one more non-zero page than the bitmap says: the block cannot decode to that size.
      const bitmapAt = 1 + 36;
      const pageCount = chunk.readUInt32LE(5);
      let cleared = false;
      for (let i = 0; i < pageCount && !cleared; i++) {
        if (chunk[bitmapAt + (i >> 3)] & (1 << (i & 7))) {
          chunk[bitmapAt + (i >> 3)] &= ~(1 << (i & 7));
          cleared = true;
        }
      }
      expect(cleared).toBe(true);
      chunk.writeUInt32LE(chunk.readUInt32LE(21) + 4096, 21);
      const payload = chunk.subarray(bitmapAt + Math.ceil(pageCount / 8));
      chunk.writeUInt32LE(CHUNK_CHECKSUMS.crc32.hash(payload), 33);
      client.sendMessage(chunkMessage(source, 0));
      client.sendMessage(chunk);
      const error = await client.next('error');
      expect(error.code).toBe(ErrorCode.CORRUPT);
      expect(error.message).toMatch(/lz4 block decoded to \d+ bytes, expected \d+/);
    });

    it('host ids that could escape the data directory are refused and nothing is written', async () => {
      receiver = await startTestReceiver();
      for (const hostId of ['../evil', 'a/b', '.hidden', '', 'x'.repeat(65)]) {
        const client = await RawClient.connect(receiver.tcpAddress!.port);
        client.sendMessage(encodeControl(helloFor(source, { hostId })));
        const error = await client.next('error');
        expect(error).toMatchObject({ code: ErrorCode.BAD_INPUT, retryable: false });
        expect(error.message).toMatch(/host id .* is not allowed/);
        await client.closed;
      }
      expect(await readdir(receiver.dataDir)).toEqual(expect.not.arrayContaining(['evil', 'a', '.hidden']));
      expect(await receiver.catalog.list()).toHaveLength(0);
    });

    it('a second connection claiming a dump being received is refused as busy; the first is undisturbed', async () => {
      receiver = await startTestReceiver();
      const first = await openSession();
      const second = await RawClient.connect(receiver.tcpAddress!.port);
      second.sendMessage(encodeControl(helloFor(source)));
      const error = await second.next('error');
      expect(error).toMatchObject({ code: ErrorCode.UNAVAILABLE, retryable: true });
      expect(error.message).toMatch(/being received on another connection/);
      first.sendMessage(chunkMessage(source, 0));
      first.sendMessage(chunkMessage(source, 1));
      // The first connection goes on: no ERROR for it.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(first.messages.some((m) => m.type === 'error')).toBe(false);
      first.close();
    });

    it('a dump id claimed by another host is refused', async () => {
      receiver = await startTestReceiver();
      await upload(source, uploadOptions(receiver.tcpUrl));
      const client = await RawClient.connect(receiver.tcpAddress!.port);
      // node-1's dump id, claimed by node-2.
      client.sendMessage(encodeControl(helloFor(source, { hostId: 'node-2', dumpId: dumpIdFor('node-1', source) })));
      const error = await client.next('error');
      expect(error.code).toBe(ErrorCode.BAD_INPUT);
      expect(error.message).toMatch(/belongs to host node-1, not node-2/);
    });
  });
});
