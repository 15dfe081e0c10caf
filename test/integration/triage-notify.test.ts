/**
 * What happens after a dump is stored, end to end through a live receiver:
 * triage reads each dump's kernel log (synthetic cores carrying a real-shaped
 * printk ring), dumps of the same bug on different hosts share a group, a
 * signed webhook notice goes out per dump, and retention (keep 1 per host)
 * removes a host's older dump once a newer one lands.
 */
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServerUrl } from '../../sender/transport.js';
import { upload, type UploadResult } from '../../sender/upload.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import type { ElfCoreFile } from '../helpers/elf-core-builder.js';
import { BAR, coreWithLog, FOO, oopsLog } from '../helpers/crash-logs.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

describe('after a dump is stored: triage, groups, webhook, retention', () => {
  let receiver: TestReceiver;
  let hook: http.Server;
  const notices: Array<{ body: any; signature: string | undefined }> = [];
  const cores: ElfCoreFile[] = [];
  const results = new Map<string, UploadResult>();
  const SECRET = 'test-webhook-secret';

  async function send(key: string, hostId: string, bug: typeof FOO, variant: number, crashTime: number) {
    const core = await coreWithLog(oopsLog(bug, variant), crashTime);
    cores.push(core);
    const source = VmcoreSource.open(core.path);
    try {
      results.set(key, await upload(source, {
        servers: [parseServerUrl(receiver.tcpUrl)], hostId, chunkPages: 16,
        connectTimeoutMs: 2000, replyTimeoutMs: 5000, deadlineMs: 10_000, framesInFlight: 2,
      }));
    } finally {
      source.close();
    }
    await receiver.triage.idle();
  }

  const api = async (pathname: string) => (await fetch(`http://127.0.0.1:${receiver.httpAddress!.port}${pathname}`)).json() as Promise<any>;

  async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  beforeAll(async () => {
    hook = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const expected = `sha256=${createHmac('sha256', SECRET).update(raw).digest('hex')}`;
        const signature = req.headers['x-kdump-signature'] as string | undefined;
        notices.push({ body: JSON.parse(raw.toString('utf8')), signature: signature === expected ? 'valid' : signature });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    receiver = await startTestReceiver({
      webhook: { url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`, publicBaseUrl: 'https://dumps.example', secret: SECRET },
      retention: { policy: { keepPerHost: 1 }, intervalMs: 3_600_000 },
    });
    await send('host-1 first', 'host-1', FOO, 1, 1_700_000_100);
    await send('host-2', 'host-2', FOO, 2, 1_700_000_200);
    await send('host-3', 'host-3', BAR, 3, 1_700_000_300);
  });

  afterAll(async () => {
    await receiver?.stop();
    await new Promise((resolve) => hook?.close(resolve));
    for (const core of cores) await core.cleanup();
  });

  it('reads each dump\'s log into dmesg.txt and names the bug, the RIP and the frames', async () => {
    const { dumpId, path: relative } = results.get('host-2')!;
    const log = await readFile(path.join(receiver.dataDir, path.dirname(relative), 'dmesg.txt'), 'utf8');
    expect(log.split('\n')[1]).toBe('[    0.002000] BUG: kernel NULL pointer dereference, address: 0000000000000028');
    const detail = await api(`/api/v1/dumps/${dumpId}`);
    expect(detail).toMatchObject({ panicLine: 'Kernel panic - not syncing: Fatal exception', triageError: null });
    expect(detail.triage).toMatchObject({ bugLine: 'BUG: kernel NULL pointer dereference, address: 0000000000000028', ripSymbol: 'foo_write' });
    expect(detail.triage.callTrace.slice(0, 3)).toEqual(['foo_write_locked', 'vfs_write', 'ksys_write']);
  });

  it('groups the same bug across hosts despite other pids, CPUs, addresses and uptimes, apart from a different bug', async () => {
    const { groups } = await api('/api/v1/groups');
    expect(groups).toHaveLength(2);
    const [bar, foo] = groups; // most recently seen first: host-3's bar crash
    expect(bar).toMatchObject({ count: 1, hosts: ['host-3'], kernels: ['6.1.0-test-amd64'] });
    expect(foo).toMatchObject({ count: 2, hosts: ['host-1', 'host-2'], firstSeen: new Date(1_700_000_100_000).toISOString() });
    expect(foo.signature).not.toBe(bar.signature);
    expect(foo.signatureText).toContain('foo_write');
    const members = await api(`/api/v1/groups/${foo.signature}`);
    expect(members.dumps.map((d: any) => d.host).sort()).toEqual(['host-1', 'host-2']);
  });

  it('sends one signed notice per stored dump, with the panic line, signature and a link', async () => {
    await until('three notices', () => notices.length >= 3);
    expect(notices.map((n) => n.body.host)).toEqual(['host-1', 'host-2', 'host-3']);
    for (const notice of notices) {
      expect(notice.signature).toBe('valid');
      expect(notice.body).toMatchObject({
        event: 'dump.stored', kernel: '6.1.0-test-amd64', panicLine: 'Kernel panic - not syncing: Fatal exception',
        link: `https://dumps.example/dumps/${notice.body.dumpId}`,
      });
    }
    expect(notices[0].body.signature).toBe(notices[1].body.signature);
    expect(notices[2].body.signature).not.toBe(notices[0].body.signature);
    // The link lands on the dump's page in the UI.
    const link = await fetch(`http://127.0.0.1:${receiver.httpAddress!.port}/dumps/${notices[0].body.dumpId}`, { redirect: 'manual' });
    expect(link.status).toBe(302);
    expect(link.headers.get('location')).toBe(`/#/dumps/${notices[0].body.dumpId}`);
  });

  it('keeps one dump per host: a newer crash of host-1 retires its older dump, files and row', async () => {
    const older = results.get('host-1 first')!;
    const olderFolder = path.dirname(path.join(receiver.dataDir, older.path));
    expect(existsSync(olderFolder)).toBe(true);
    await send('host-1 second', 'host-1', FOO, 4, 1_700_000_400);
    // Retention removes the folder first, then the row (and the row's group summary): wait for the last step.
    await until('retention to remove host-1\'s older dump', async () => (await receiver.catalog.get(older.dumpId)) === undefined);
    expect(existsSync(olderFolder)).toBe(false);
    const kept = await api('/api/v1/dumps?host=host-1');
    expect(kept.dumps.map((d: any) => d.id)).toEqual([results.get('host-1 second')!.dumpId]);
    const { groups } = await api('/api/v1/groups');
    expect(groups[0]).toMatchObject({ count: 2, hosts: ['host-1', 'host-2'], lastSeen: new Date(1_700_000_400_000).toISOString() });
    const dryRun = await api('/api/v1/retention');
    expect(dryRun).toMatchObject({ policy: { keepPerHost: 1 }, dryRun: true, deletions: [] });
  });
});
