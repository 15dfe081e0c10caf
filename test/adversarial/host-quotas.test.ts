/**
 * What one enrolled host (or one that stole a host's token) can take from the
 * others: upload slots (at most 2 at once per host) and disk held by
 * unfinished dumps (at most 4 per host; a new one replaces that host's
 * oldest). Other hosts keep their slots and their unfinished dumps.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { encodeControl } from '../../shared/protocol/messages.js';
import { sampleX86Loads } from '../helpers/elf-core-builder.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';
import { helloFor } from '../helpers/protocol-messages.js';
import { RawClient } from '../helpers/raw-client.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

describe('per-host quotas', () => {
  const fixture = useSyntheticCore({ loads: sampleX86Loads() });
  let receiver: TestReceiver;
  const clients: RawClient[] = [];
  beforeAll(async () => { receiver = await startTestReceiver({ limits: { maxUploads: 8 } }); });
  afterAll(async () => {
    for (const c of clients) c.close();
    await receiver.stop();
  });

  /** A HELLO for a dump of its own (a fresh dump id) from `hostId`, left open. */
  async function helloFrom(hostId: string): Promise<RawClient> {
    const client = await RawClient.connect(receiver.tcpAddress!.port);
    clients.push(client);
    client.sendMessage(encodeControl(helloFor(fixture.source, { hostId, dumpId: randomBytes(16).toString('hex') })));
    return client;
  }

  it('a host with 2 uploads in flight is told to wait for a third (UNAVAILABLE, retryable); another host still gets a slot', async () => {
    const first = await helloFrom('greedy');
    const second = await helloFrom('greedy');
    await first.next('accept');
    await second.next('accept');
    const third = await helloFrom('greedy');
    expect(await third.next('error')).toMatchObject({ code: ErrorCode.UNAVAILABLE, retryable: true, message: 'host greedy has 2 uploads in flight (limit 2 per host)' });
    const other = await helloFrom('modest');
    await other.next('accept');
    for (const c of [first, second, other]) {
      c.close();
      await c.closed;
    }
  });

  it('a host keeps at most 4 unfinished dumps: each new one replaces its oldest, and other hosts\' unfinished dumps stay', async () => {
    await new Promise((resolve) => setTimeout(resolve, 200)); // the first test's connections let go of their dumps
    const started: string[] = [];
    for (let i = 0; i < 7; i++) {
      const client = await helloFrom('crashy');
      await client.next('accept');
      started.push((await receiver.catalog.list({ hostId: 'crashy' })).sort((a, b) => b.receivedAt - a.receivedAt)[0].dumpId);
      client.close();
      await client.closed;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const left = (await receiver.catalog.list({ hostId: 'crashy', status: 'receiving' })).map((r) => r.dumpId);
    expect(left).toHaveLength(4);
    expect(new Set(left)).toEqual(new Set(started.slice(-4)));
    // 'modest' (first test) still has its unfinished dump; 'greedy' its two.
    expect(await receiver.catalog.list({ hostId: 'modest', status: 'receiving' })).toHaveLength(1);
    expect(await receiver.catalog.list({ hostId: 'greedy', status: 'receiving' })).toHaveLength(2);
    expect(receiver.logLines.filter((l) => l.msg?.toString().startsWith('unfinished dump dropped'))).toHaveLength(3);
  });
});
