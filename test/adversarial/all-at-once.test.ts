/**
 * Every attack of test/adversarial at once against one receiver process on
 * loopback, while a legitimate host sends its dump: first frames announcing
 * 16 MiB, more connections than one address may open, silent peers, one host
 * holding upload slots and piling up unfinished dumps, HELLOs of a page at
 * 4 TiB, cross-site requests. The legitimate dump must be stored
 * byte-identical to one stored by a quiet receiver, /healthz must keep
 * answering, RSS stay within the stated bound, and the disk hold nothing
 * beyond the quotas. Bounded: ~40 s.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { framePrefix } from '../../shared/protocol/frame-decoder.js';
import { encodeControl } from '../../shared/protocol/messages.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { runSender } from '../helpers/cli.js';
import { sampleX86Loads, writeElfCoreFile, type ElfCoreFile } from '../helpers/elf-core-builder.js';
import { freePort } from '../helpers/ports.js';
import { chunkMessage, helloFor } from '../helpers/protocol-messages.js';
import { RawClient } from '../helpers/raw-client.js';
import { startReceiverProcess, type ReceiverProcess } from '../helpers/receiver-process.js';
import { rssBytes } from '../helpers/proc-stats.js';

const MiB = 2 ** 20;
const TiB = 2 ** 40;
const FIRST_FRAME_BUDGET = 32 * MiB;
/** What this test holds the receiver to: its idle RSS plus the first-frame budget and room for two uploads' buffers. */
const RSS_GROWTH_BOUND = FIRST_FRAME_BUDGET + 96 * MiB;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('every attack at once', () => {
  let receiver: ReceiverProcess;
  let tcp: number;
  let http: number;
  let dataDir: string;
  let quietDir: string;
  let core: ElfCoreFile;
  let farCore: ElfCoreFile;
  let source: VmcoreSource;
  let farSource: VmcoreSource;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'netdump-adv-all-'));
    quietDir = await mkdtemp(path.join(tmpdir(), 'netdump-adv-quiet-'));
    [tcp, http] = [await freePort(), await freePort()];
    receiver = await startReceiverProcess(['--data-dir', dataDir, '--tcp', `127.0.0.1:${tcp}`, '--http', `127.0.0.1:${http}`,
      '--idle-timeout', '3', '--max-connections', '128', '--max-connections-per-peer', '100', '--first-frame-bytes', String(FIRST_FRAME_BUDGET)]);
    core = await writeElfCoreFile({ loads: [...sampleX86Loads(), { paddr: 0x100_0000, memsz: 16 * MiB }], page: (pfn) => (pfn % 3 === 0 ? 'random' : pfn % 3 === 1 ? 'pattern' : 'zero') });
    farCore = await writeElfCoreFile({ loads: [...sampleX86Loads(), { paddr: 4 * TiB, memsz: 4096 }] });
    source = VmcoreSource.open(core.path);
    farSource = VmcoreSource.open(farCore.path);
  });
  afterAll(async () => {
    receiver.child.kill('SIGKILL');
    source.close();
    farSource.close();
    await core.cleanup();
    await farCore.cleanup();
    await rm(dataDir, { recursive: true, force: true });
    await rm(quietDir, { recursive: true, force: true });
  });

  it('a legitimate dump is stored byte-identical, /healthz keeps answering, RSS and disk stay within their bounds', async () => {
    const pid = receiver.child.pid!;
    const baseline = rssBytes(pid);
    const clients: RawClient[] = [];
    const silent: net.Socket[] = [];
    let stop = false;

    // First frames announcing 16 MiB, 15 MiB of each sent.
    const junk = Buffer.alloc(MiB, 0x41);
    for (let i = 0; i < 40; i++) {
      const c = await RawClient.connect(tcp);
      clients.push(c);
      c.sendRaw(framePrefix(16 * MiB));
      for (let j = 0; j < 15; j++) c.sendRaw(junk);
    }
    // Silent peers.
    for (let i = 0; i < 20; i++) {
      const s = net.connect({ host: '127.0.0.1', port: tcp });
      s.on('error', () => {});
      s.pause();
      silent.push(s);
    }
    // One host: stalled uploads of new dumps, over and over (slots, unfinished dumps).
    const greedy = (async () => {
      while (!stop) {
        const c = await RawClient.connect(tcp);
        c.sendMessage(encodeControl(helloFor(source, { hostId: 'greedy', dumpId: randomBytes(16).toString('hex') })));
        const answer = await Promise.race([c.next('accept', 3_000).catch(() => undefined), c.next('error', 3_000).catch(() => undefined)]);
        if (answer?.type === 'accept') c.sendMessage(chunkMessage(source, 0));
        clients.push(c);
        await sleep(100);
      }
    })();
    // HELLOs of a page at 4 TiB, and cross-site deletes.
    let farRefused = 0;
    const far = (async () => {
      while (!stop) {
        const c = await RawClient.connect(tcp);
        c.sendMessage(encodeControl(helloFor(farSource, { hostId: 'far', dumpId: randomBytes(16).toString('hex') })));
        if ((await c.next('error', 3_000).catch(() => undefined))?.code === 'LIMIT') farRefused++;
        c.close();
        await fetch(`http://127.0.0.1:${http}/api/v1/dumps/${'0'.repeat(32)}`, { method: 'DELETE', headers: { origin: 'http://127.0.0.1:9' } }).catch(() => {});
        await sleep(50);
      }
    })();

    const health: number[] = [];
    const probing = (async () => {
      while (!stop) {
        const t = performance.now();
        const r = await fetch(`http://127.0.0.1:${http}/healthz`, { signal: AbortSignal.timeout(5_000) });
        expect(r.ok).toBe(true);
        health.push(performance.now() - t);
        await sleep(50);
      }
    })();

    let peak = baseline;
    const sampling = setInterval(() => { peak = Math.max(peak, rssBytes(pid)); }, 100);
    const sent = await runSender(['--server', `tcp://127.0.0.1:${tcp}`, '--host-id', 'good-host', '--deadline', '60', '--quiet', core.path], 90_000);
    await sleep(2_000);
    stop = true;
    await Promise.all([greedy, far, probing]);
    clearInterval(sampling);
    for (const c of clients) c.close();
    for (const s of silent) s.destroy();

    expect(sent.code, sent.stderr).toBe(0);
    health.sort((a, b) => a - b);
    const p99 = health[Math.min(health.length - 1, Math.floor(health.length * 0.99))];
    console.log(`all at once: /healthz p50 ${health[Math.floor(health.length / 2)].toFixed(1)} ms, p99 ${p99.toFixed(1)} ms over ${health.length}; ` +
      `RSS ${(baseline / MiB).toFixed(0)} -> peak ${(peak / MiB).toFixed(0)} MiB; 4 TiB HELLOs refused ${farRefused}`);
    expect(health.at(-1)!).toBeLessThan(2_000);
    expect(peak - baseline).toBeLessThan(RSS_GROWTH_BOUND);
    expect(farRefused).toBeGreaterThan(0);

    // The same core through a quiet receiver: the bytes must not differ.
    const quiet = await startReceiverProcess(['--data-dir', quietDir, '--tcp', `127.0.0.1:${await freePort()}`, '--http', 'off']);
    let quietPath: string;
    try {
      const port = /"port":(\d+)/.exec(quiet.log())![1];
      const clean = await runSender(['--server', `tcp://127.0.0.1:${port}`, '--host-id', 'good-host', '--quiet', core.path], 60_000);
      expect(clean.code, clean.stderr).toBe(0);
      quietPath = JSON.parse(clean.stdout).path;
    } finally {
      quiet.child.kill('SIGKILL');
    }
    const stored = JSON.parse(sent.stdout).path as string;
    expect((await readFile(path.join(dataDir, stored))).equals(await readFile(path.join(quietDir, quietPath)))).toBe(true);

    // Disk: the good dump, the greedy host's unfinished ones within its quota, nothing of 'far'.
    const db = new Database(path.join(dataDir, 'index.db'), { readonly: true });
    const rows = db.prepare('SELECT host_id AS host, status, COUNT(*) AS n FROM dumps GROUP BY host_id, status').all();
    db.close();
    expect(rows).toEqual(expect.arrayContaining([{ host: 'good-host', status: 'complete', n: 1 }]));
    const greedyUnfinished = (rows as Array<{ host: string; status: string; n: number }>).find((r) => r.host === 'greedy' && r.status === 'receiving');
    expect(greedyUnfinished?.n ?? 0).toBeLessThanOrEqual(4);
    expect(readdirSync(dataDir)).not.toContain('far');
  }, 150_000);
});
