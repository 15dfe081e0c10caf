/**
 * What a peer can make the receiver hold before any token is checked, tried
 * against a receiver process on loopback (its RSS and open descriptors read
 * from /proc): first frames that announce 16 MiB, more connections than the
 * caps, peers that never read. Each attack is bounded in count and time, and
 * a legitimate sender's dump is stored while it goes on.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { framePrefix } from '../../shared/protocol/frame-decoder.js';
import { runSender } from '../helpers/cli.js';
import { sampleX86Loads, writeElfCoreFile, type ElfCoreFile } from '../helpers/elf-core-builder.js';
import { freePort } from '../helpers/ports.js';
import { RawClient } from '../helpers/raw-client.js';
import { startReceiverProcess, type ReceiverProcess } from '../helpers/receiver-process.js';
import { openFds, rssBytes } from '../helpers/proc-stats.js';

const MiB = 2 ** 20;
const FIRST_FRAME_BUDGET = 32 * MiB;
const PER_PEER = 48;
const IDLE_S = 2;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** /healthz answered within this bound every time it is asked during `during`; returns the slowest answer (ms). */
async function healthWhile(port: number, during: Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  let done = false;
  void during.finally(() => { done = true; });
  while (!done) {
    const t = performance.now();
    const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5_000) });
    expect(r.ok).toBe(true);
    times.push(performance.now() - t);
    await sleep(50);
  }
  return times.sort((a, b) => a - b);
}

describe('connections before any token', () => {
  let receiver: ReceiverProcess;
  let tcp: number;
  let http: number;
  let dataDir: string;
  let core: ElfCoreFile;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'netdump-adv-conn-'));
    [tcp, http] = [await freePort(), await freePort()];
    receiver = await startReceiverProcess(['--data-dir', dataDir, '--tcp', `127.0.0.1:${tcp}`, '--http', `127.0.0.1:${http}`,
      '--idle-timeout', String(IDLE_S), '--max-connections', '96', '--max-connections-per-peer', String(PER_PEER),
      '--first-frame-bytes', String(FIRST_FRAME_BUDGET)]);
    core = await writeElfCoreFile({ loads: [...sampleX86Loads(), { paddr: 0x100_0000, memsz: 8 * MiB }], page: (pfn) => (pfn % 2 ? 'random' : 'zero') });
  });
  afterAll(async () => {
    receiver.child.kill('SIGKILL');
    await core.cleanup();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('40 connections announcing a 16 MiB first frame: they share half of a 32 MiB budget, the rest are told to retry, RSS stays bounded, /healthz answers, and a real sender\'s dump is stored meanwhile', async () => {
    const pid = receiver.child.pid!;
    const baseline = rssBytes(pid);
    const attackers = await Promise.all(Array.from({ length: 40 }, () => RawClient.connect(tcp)));
    const junk = Buffer.alloc(MiB, 0x41);
    for (const a of attackers) {
      a.sendRaw(framePrefix(16 * MiB));
      // 15 of the 16 MiB: the frame never completes. A refused connection stops reading, and the kernel's buffers stop us.
      for (let i = 0; i < 15; i++) a.sendRaw(junk);
    }
    const legit = runSender(['--server', `tcp://127.0.0.1:${tcp}`, '--host-id', 'good-host', '--deadline', '60', '--quiet', core.path], 90_000);
    const health = await healthWhile(http, legit);
    const sent = await legit;
    const peak = rssBytes(pid);
    const refused = attackers.filter((a) => a.messages.some((m) => m.type === 'error' && m.code === 'UNAVAILABLE' && /first frame/.test(m.message))).length;
    console.log(`first-frame attack: ${refused}/40 refused, RSS ${(baseline / MiB).toFixed(0)} -> ${(peak / MiB).toFixed(0)} MiB, /healthz p50 ${health[Math.floor(health.length / 2)]?.toFixed(1)} ms max ${health.at(-1)?.toFixed(1)} ms over ${health.length}`);
    expect(sent.code, sent.stderr).toBe(0);
    // Large first frames share half the budget: one 16 MiB at a time; every other one heard why it was turned away...
    expect(refused).toBeGreaterThanOrEqual(39);
    // ...and the real sender's kilobyte HELLO always found room in the other half.
    expect(sent.stderr).not.toMatch(/no room for a first frame/);
    // The budget, plus what the kernel and libuv hand over in one read per connection, plus the legit upload's chunks.
    expect(peak - baseline).toBeLessThan(FIRST_FRAME_BUDGET + 64 * MiB);
    expect(health.at(-1)!).toBeLessThan(2_000);
    for (const a of attackers) a.close();
  }, 120_000);

  it(`more connections from one address than --max-connections-per-peer (${PER_PEER}): the extra ones get UNAVAILABLE at once`, async () => {
    // The first test's refused connections are let go after the 5 s grace their ERROR gets.
    await sleep(6_500);
    const clients = await Promise.all(Array.from({ length: PER_PEER + 6 }, () => RawClient.connect(tcp)));
    await sleep(500);
    const told = clients.filter((c) => c.messages.some((m) => m.type === 'error' && m.code === 'UNAVAILABLE' && /per address/.test(m.message)));
    expect(told).toHaveLength(6);
    for (const c of clients) c.close();
  }, 20_000);

  it('peers that connect and never read or write are dropped after the idle timeout: their descriptors are closed, not half-closed', async () => {
    const pid = receiver.child.pid!;
    await sleep((IDLE_S + 6) * 1000); // earlier tests' connections gone
    const before = openFds(pid);
    const silent = await Promise.all(Array.from({ length: 30 }, () => new Promise<net.Socket>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: tcp }, () => resolve(s));
      s.on('error', () => {});
      s.pause(); // never reads: ERROR and FIN stay unread in our buffers
    })));
    await sleep(300);
    expect(openFds(pid)).toBeGreaterThanOrEqual(before + 30);
    // Idle timeout (checked every half period), then the 5 s grace for reading our last word.
    const deadline = Date.now() + (IDLE_S * 2 + 10) * 1000;
    while (openFds(pid) > before && Date.now() < deadline) await sleep(250);
    expect(openFds(pid)).toBeLessThanOrEqual(before);
    for (const s of silent) s.destroy();
  }, 30_000);
});
