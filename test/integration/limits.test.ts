/**
 * The receiver's bounds: uploads at once, dump size, the free-disk reserve,
 * and connections that stop sending (idle, half-open, slowloris).
 */
import { readdir } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { encodeControl } from '../../shared/protocol/messages.js';
import { sampleX86Loads } from '../helpers/elf-core-builder.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';
import { helloFor } from '../helpers/protocol-messages.js';
import { RawClient } from '../helpers/raw-client.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

describe('receiver limits', () => {
  const fixture = useSyntheticCore({ loads: sampleX86Loads() });
  let receiver: TestReceiver;

  const hello = (hostId: string): Buffer => encodeControl(helloFor(fixture.source, { hostId }));

  async function helloFrom(hostId: string): Promise<RawClient> {
    const client = await RawClient.connect(receiver.tcpAddress!.port);
    client.sendMessage(hello(hostId));
    return client;
  }

  afterEach(async () => {
    await receiver?.stop();
  });

  it('more uploads than --max-uploads: the extra one is told to come back (UNAVAILABLE, retryable)', async () => {
    receiver = await startTestReceiver({ limits: { maxUploads: 2 } });
    const first = await helloFrom('host-1');
    const second = await helloFrom('host-2');
    await first.next('accept');
    await second.next('accept');
    const third = await helloFrom('host-3');
    const error = await third.next('error');
    expect(error).toMatchObject({ code: ErrorCode.UNAVAILABLE, retryable: true });
    expect(error.message).toMatch(/receiver busy: 2 uploads in flight \(limit 2\)/);
    first.close();
    await first.closed;
    // A slot freed: the next one is taken.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const fourth = await helloFrom('host-3');
    await fourth.next('accept');
    second.close();
    fourth.close();
  });

  it('a dump larger than --max-dump-bytes is refused at HELLO (LIMIT, final)', async () => {
    receiver = await startTestReceiver({ limits: { maxDumpBytes: 1024 * 1024 } });
    const client = await helloFrom('big-host');
    const error = await client.next('error');
    expect(error).toMatchObject({ code: ErrorCode.LIMIT, retryable: false });
    expect(error.message).toMatch(/dump of \d+ bytes exceeds this receiver's limit of 1048576/);
  });

  it('a dump whose worst case would eat into the free-disk reserve is refused before anything is written', async () => {
    receiver = await startTestReceiver({ limits: { minFreeBytes: 2 ** 50 } });
    const client = await helloFrom('disk-host');
    const error = await client.next('error');
    expect(error).toMatchObject({ code: ErrorCode.LIMIT, retryable: false });
    expect(error.message).toMatch(/not enough disk for dump [0-9a-f]+: [\d.]+ GiB free, up to [\d.]+ GiB needed, 1048576.00 GiB kept in reserve/);
    expect((await readdir(receiver.dataDir)).filter((f) => !f.startsWith('index.db'))).toEqual([]);
    expect(await receiver.catalog.list()).toHaveLength(0);
  });

  it('idle, half-open and slowloris connections are closed after the idle timeout', async () => {
    receiver = await startTestReceiver({ idleTimeoutMs: 400 });
    const idle = await RawClient.connect(receiver.tcpAddress!.port);
    const slow = await RawClient.connect(receiver.tcpAddress!.port);
    // Slowloris: a frame's bytes, one every 50 ms, never a whole frame.
    const frame = hello('slow-host');
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(frame.length);
    const bytes = Buffer.concat([prefix, frame]);
    let at = 0;
    const trickle = setInterval(() => { if (at < bytes.length && !slow.socket.destroyed) slow.sendRaw(bytes.subarray(at, ++at)); }, 50);
    const started = Date.now();
    try {
      for (const client of [idle, slow]) {
        const error = await client.next('error', 5000);
        expect(error.code).toBe(ErrorCode.UNAVAILABLE);
        expect(error.message).toMatch(/no complete frame in 0\.4 s: closing/);
        await client.closed;
      }
      expect(Date.now() - started).toBeLessThan(3000);
      expect(at).toBeLessThan(bytes.length);
    } finally {
      clearInterval(trickle);
    }
  });
});
