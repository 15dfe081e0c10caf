/**
 * The chunk checksum kinds (docs/protocol.md section 5): a sender of this
 * version offers xxh32 and a receiver of this version takes it; a sender
 * that offers nothing (an older one) is checked with crc32; a dump keeps the
 * kind it was started with across resumes, or starts over when the sender
 * cannot speak it; a stored dump tells a sender asking again which kind its
 * digest is in.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { encodeControl } from '../../shared/protocol/messages.js';
import { upload } from '../../sender/upload.js';
import { RawClient } from '../helpers/raw-client.js';
import { chunkMessage, helloFor } from '../helpers/protocol-messages.js';
import { expectStoredPagesMatch, MIXED_PAGES_CORE, uploadOptions } from '../helpers/loopback-upload.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

const SPEC = MIXED_PAGES_CORE;

describe('chunk checksum kinds', () => {
  let receiver: TestReceiver;
  const synthetic = useSyntheticCore(SPEC);
  afterEach(async () => {
    await receiver?.stop();
  });

  /** HELLO (with `checksums`, or none) and the first `chunks` chunks in that kind, until the receiver ACKs a checkpoint; then the connection closes. */
  async function startThenDrop(hostId: string, checksums: string[] | undefined, chunks: number) {
    const client = await RawClient.connect(receiver.tcpAddress!.port);
    client.sendMessage(encodeControl(helloFor(synthetic.source, { hostId, ...(checksums && { checksums }) })));
    const accept = await client.next('accept');
    for (let seq = 0; seq < chunks; seq++) client.sendMessage(chunkMessage(synthetic.source, seq, 16, accept.checksum));
    const ack = await client.next('ack');
    client.close();
    await client.closed;
    return { accept, ack };
  }

  it('this version\'s sender and receiver use xxh32; a sender that offers nothing gets crc32; both store the same pages', async () => {
    receiver = await startTestReceiver();
    const result = await upload(synthetic.source, uploadOptions(receiver.tcpUrl, { hostId: 'new-host' }));
    const record = (await receiver.catalog.get(result.dumpId))!;
    expect(record.status).toBe('complete');
    expect(record.digest).toMatch(/^xxh32:[0-9a-f]{64}$/);
    await expectStoredPagesMatch(path.join(receiver.dataDir, result.path), synthetic.source, SPEC);

    // An older sender: no checksums in HELLO, so ACCEPT names none and the chunks carry crc32.
    const { accept } = await startThenDrop('old-host', undefined, 16);
    expect(accept.checksum).toBeUndefined();
    const { dumpId } = helloFor(synthetic.source, { hostId: 'old-host' });
    expect((await receiver.catalog.get(dumpId))!.nextSeq).toBeGreaterThan(0);
  });

  /** A HELLO answered with ACCEPT, asked again while the receiver is still letting go of an earlier connection (UNAVAILABLE). */
  async function acceptedHello(hello: ReturnType<typeof helloFor>) {
    for (let attempt = 0; ; attempt++) {
      const client = await RawClient.connect(receiver.tcpAddress!.port);
      client.sendMessage(encodeControl(hello));
      const accept = await client.next('accept').catch(() => undefined);
      if (accept) return { client, accept };
      expect(client.messages.find((m) => m.type === 'error')).toMatchObject({ code: ErrorCode.UNAVAILABLE });
      expect(attempt).toBeLessThan(50);
      await client.closed;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('a dump started under xxh32 resumes under xxh32 from its checkpoint', async () => {
    receiver = await startTestReceiver({ checkpointChunks: 4 });
    const first = await startThenDrop('node-1', ['xxh32'], 10);
    expect(first.accept.checksum).toBe('xxh32');
    expect(first.ack.nextSeq).toBeGreaterThanOrEqual(4);
    const logs: string[] = [];
    const result = await upload(synthetic.source, uploadOptions(receiver.tcpUrl, { log: (l) => logs.push(l) }));
    expect(logs.some((l) => /resuming at chunk [1-9]\d* of/.test(l))).toBe(true);
    expect((await receiver.catalog.get(result.dumpId))!.digest).toMatch(/^xxh32:[0-9a-f]{64}$/);
    await expectStoredPagesMatch(path.join(receiver.dataDir, result.path), synthetic.source, SPEC);
  });

  it('a sender that cannot speak the kind a dump was started with starts it over; this version\'s sender then goes on in crc32', async () => {
    receiver = await startTestReceiver({ checkpointChunks: 4 });
    await startThenDrop('node-1', ['xxh32'], 10);
    // The same dump from a sender offering only crc32: the stored chunks' hashes are xxh32, so from chunk 0.
    const { client: older, accept: restarted } = await acceptedHello(helloFor(synthetic.source, { hostId: 'node-1' }));
    expect(restarted.nextSeq).toBe(0);
    expect(restarted.checksum).toBeUndefined();
    for (let seq = 0; seq < 6; seq++) older.sendMessage(chunkMessage(synthetic.source, seq, 16, restarted.checksum));
    expect((await older.next('ack')).nextSeq).toBeGreaterThanOrEqual(4);
    older.close();
    await older.closed;

    // Now started under crc32: this version's sender offers xxh32 too, and goes on with crc32 from the checkpoint.
    const logs: string[] = [];
    const result = await upload(synthetic.source, uploadOptions(receiver.tcpUrl, { log: (l) => logs.push(l) }));
    expect(logs.some((l) => /resuming at chunk [1-9]\d* of/.test(l))).toBe(true);
    expect((await receiver.catalog.get(result.dumpId))!.digest).toMatch(/^[0-9a-f]{64}$/);
    await expectStoredPagesMatch(path.join(receiver.dataDir, result.path), synthetic.source, SPEC);
  });

  it('a dump stored under xxh32: this version\'s sender asking again gets DONE; one that cannot say an xxh32 digest is refused, saying why', async () => {
    receiver = await startTestReceiver();
    const first = await upload(synthetic.source, uploadOptions(receiver.tcpUrl));
    const again = await upload(synthetic.source, uploadOptions(receiver.tcpUrl));
    expect(again).toMatchObject({ path: first.path, bytesSent: 0 });

    const older = await RawClient.connect(receiver.tcpAddress!.port);
    older.sendMessage(encodeControl(helloFor(synthetic.source, { hostId: 'node-1' })));
    const error = await older.next('error');
    expect(error).toMatchObject({ code: ErrorCode.BAD_INPUT, retryable: false });
    expect(error.message).toMatch(/stored already, checked with xxh32 chunk checksums, which this sender does not offer/);
    await older.closed;
  });

  it('under xxh32 an LZ4 chunk whose pages do not hash to its payloadCrc is CORRUPT, found after decoding; nothing of it is stored', async () => {
    receiver = await startTestReceiver();
    const client = await RawClient.connect(receiver.tcpAddress!.port);
    client.sendMessage(encodeControl(helloFor(synthetic.source, { checksums: ['xxh32'] })));
    const accept = await client.next('accept');
    expect(accept.checksum).toBe('xxh32');
    const chunk = chunkMessage(synthetic.source, 0, 16, 'xxh32');
    expect(chunk.readUInt32LE(17)).toBe(1); // CHUNK_LZ4: the pattern pages compress
    chunk.writeUInt32LE((chunk.readUInt32LE(33) ^ 1) >>> 0, 33);
    client.sendMessage(chunk);
    const error = await client.next('error');
    expect(error).toMatchObject({ code: ErrorCode.CORRUPT, retryable: true });
    expect(error.message).toMatch(/chunk 0: page checksum mismatch after decoding/);
    await client.closed;
    expect((await receiver.catalog.list())[0]).toMatchObject({ status: 'receiving', nextSeq: 0, pagesStored: 0 });
  });

  it('a HELLO whose checksums is not a list of names is a PROTOCOL error', async () => {
    receiver = await startTestReceiver();
    const client = await RawClient.connect(receiver.tcpAddress!.port);
    client.sendMessage(encodeControl({ ...helloFor(synthetic.source), checksums: 'xxh32' as unknown as string[] }));
    const error = await client.next('error');
    expect(error.code).toBe(ErrorCode.PROTOCOL);
    expect(error.message).toMatch(/field checksums is not a list/);
    await client.closed;
  });
});
