/**
 * Pages sent as the receiver stores them (CHUNK_STORED_LZO, docs/protocol.md):
 * a receiver storing LZO offers it under xxh32 and this version's sender
 * takes the offer; the stored pages are the sender's; a receiver of another
 * codec offers nothing and refuses such chunks; a stored chunk whose bytes or
 * size table are wrong is CORRUPT and nothing of it is stored.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { CHUNK_STORED_LZO, CHUNK_HEADER_SIZE, encodeControl, zeroBitmapLength } from '../../shared/protocol/messages.js';
import { upload } from '../../sender/upload.js';
import { RawClient } from '../helpers/raw-client.js';
import { chunkMessage, helloFor } from '../helpers/protocol-messages.js';
import { expectStoredPagesMatch, MIXED_PAGES_CORE, uploadOptions } from '../helpers/loopback-upload.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

const SPEC = MIXED_PAGES_CORE;
/** Where a CHUNK message (type byte first) keeps its flags, payloadCrc and payload. */
const FLAGS_AT = 1 + 16;
const PAYLOAD_CRC_AT = 1 + 32;
const payloadAt = (pageCount: number) => 1 + CHUNK_HEADER_SIZE + zeroBitmapLength(pageCount);

describe('pages sent as the receiver stores them', () => {
  let receiver: TestReceiver;
  const synthetic = useSyntheticCore(SPEC);
  afterEach(async () => {
    await receiver?.stop();
  });

  async function accepted(checksums?: string[]) {
    const client = await RawClient.connect(receiver.tcpAddress!.port);
    client.sendMessage(encodeControl(helloFor(synthetic.source, { ...(checksums && { checksums }) })));
    return { client, accept: await client.next('accept') };
  }

  it('an LZO receiver offers them under xxh32 only; the sender takes the offer and the file holds the core\'s pages', async () => {
    receiver = await startTestReceiver();
    expect((await accepted(['xxh32'])).accept).toMatchObject({ checksum: 'xxh32', storedPages: 'lzo' });
    await receiver.stop();
    receiver = await startTestReceiver();
    expect((await accepted()).accept.storedPages).toBeUndefined(); // crc32: an older sender, never offered them
    await receiver.stop();

    receiver = await startTestReceiver();
    const result = await upload(synthetic.source, uploadOptions(receiver.tcpUrl, { hostId: 'stored-host' }));
    const record = (await receiver.catalog.get(result.dumpId))!;
    expect(record.status).toBe('complete');
    const file = path.join(receiver.dataDir, result.path);
    await expectStoredPagesMatch(file, synthetic.source, SPEC);
    // Every chunk with a non-zero page came stored, none as lz4 for this receiver to compress again.
    const metrics = await (await fetch(`http://127.0.0.1:${receiver.httpAddress!.port}/metrics`)).text();
    const stored = Number(/^kdump_receiver_chunks_received_total\{form="stored"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
    expect(stored).toBeGreaterThan(0);
    expect(metrics).not.toMatch(/^kdump_receiver_chunks_received_total\{form="lz4"\}/m);
    expect(record.pagesStored).toBeGreaterThan(0);
  });

  it('the same file either way: stored pages, or lz4 (STORED_PAGES no) compressed by the receiver', async () => {
    receiver = await startTestReceiver();
    const stored = await upload(synthetic.source, uploadOptions(receiver.tcpUrl, { hostId: 'host-a' }));
    const lz4 = await upload(synthetic.source, { ...uploadOptions(receiver.tcpUrl, { hostId: 'host-b' }), storedPages: false });
    const metrics = await (await fetch(`http://127.0.0.1:${receiver.httpAddress!.port}/metrics`)).text();
    expect(metrics).toMatch(/^kdump_receiver_chunks_received_total\{form="lz4"\} [1-9]/m);
    const [a, b] = await Promise.all([stored, lz4].map((r) => readFile(path.join(receiver.dataDir, r.path))));
    expect(a.length).toBeGreaterThan(0);
    expect(a.length).toBe(b.length);
    // Past the header's block (whose utsname nodename is each host's id: a synthetic core has none), byte for byte.
    expect(a.subarray(synthetic.source.core.pageSize).equals(b.subarray(synthetic.source.core.pageSize))).toBe(true);
  });

  it('a receiver storing zlib offers nothing, and a stored chunk sent to it anyway is a PROTOCOL error', async () => {
    receiver = await startTestReceiver({ pageCodec: 'zlib' });
    const { client, accept } = await accepted(['xxh32']);
    expect(accept.storedPages).toBeUndefined();
    const chunk = chunkMessage(synthetic.source, 0, 16, 'xxh32', true);
    expect(chunk.readUInt32LE(FLAGS_AT)).toBe(CHUNK_STORED_LZO);
    client.sendMessage(chunk);
    const error = await client.next('error');
    expect(error.code).toBe(ErrorCode.PROTOCOL);
    expect(error.message).toMatch(/chunk 0: stored pages .* not offered/);
    await client.closed;
  });

  for (const [what, damage, expected] of [
    ['a flipped byte of a page', (c: Buffer, at: number) => { c[c.length - 1] ^= 0xff; return at; }, /chunk 0: payload checksum mismatch/],
    ['a size past the page size', (c: Buffer, at: number) => { c.writeUInt32LE(4097, at); return at; }, /chunk 0: stored page 0 has size 4097, outside 1\.\.4096/],
    ['sizes that do not add up', (c: Buffer, at: number) => { c.writeUInt32LE(c.readUInt32LE(at) - 1, at); return at; }, /chunk 0: stored run of \d+ bytes, its size table says \d+/],
  ] as const) {
    it(`a stored chunk with ${what} is CORRUPT, and nothing of it is stored`, async () => {
      receiver = await startTestReceiver();
      const { client, accept } = await accepted(['xxh32']);
      expect(accept.storedPages).toBe('lzo');
      const chunk = chunkMessage(synthetic.source, 0, 16, 'xxh32', true);
      damage(chunk, payloadAt(16));
      if (!String(expected).includes('payload checksum')) {
        // The payload's hash made right again: the shape check is what must catch it.
        const { xxh32 } = await import('../../shared/codec/xxhash.js');
        chunk.writeUInt32LE(xxh32(chunk.subarray(payloadAt(16))), PAYLOAD_CRC_AT);
      }
      client.sendMessage(chunk);
      const error = await client.next('error');
      expect(error.code).toBe(ErrorCode.CORRUPT);
      expect(error.message).toMatch(expected);
      await client.closed;
      expect((await receiver.catalog.list())[0]).toMatchObject({ status: 'receiving', nextSeq: 0, pagesStored: 0 });
    });
  }
});
