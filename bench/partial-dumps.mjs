#!/usr/bin/env node
// Issue 18's targets, measured on the real fixtures through the built
// kdump-send (one process per sender) and an in-process receiver on loopback:
//   1. panic    time from the sender's start to the panic line in the catalog,
//               against the whole dump's time in the same run (target: < 1 s)
//   2. storm    32 senders of one crash at once, after 2 complete dumps of it:
//               bytes stored and sent, against 32 whole dumps (target: stored
//               at most 2 whole dumps plus 32 first tiers)
//   3. share    per fixture and level, the first tier (what crash needs to
//               answer sys, bt, ps and log: test/real/partial-dumps.test.ts)
//               as a share of the pages kept (goal: under 10% at -d 1)
// usage: node bench/partial-dumps.mjs [--senders 32] [--skip-share]   (after npm run build and the fixtures)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { startReceiver } from '../dist/receiver/server.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const SENDERS = Number(flag('senders', '32'));
const cache = process.env.KDUMP_NETDUMP_CACHE || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'kdump-netdump');
const fixture = (generation, name) => path.join(cache, 'current', generation, `${name}.vmcore`);
const BUSY = fixture('6.1', 'busy');
if (!existsSync(BUSY)) {
  console.error(`no ${BUSY}: run test/fixtures/ensure-fixtures.sh (npm test does) first`);
  process.exit(2);
}
const MB = (n) => `${(n / 1e6).toFixed(1)} MB`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** kdump-send as a process: resolves with its exit code, its result line (JSON) and stderr. */
function send(server, hostId, vmcore, extra = []) {
  const child = spawn(process.execPath, [path.join(root, 'dist/sender/cli.js'), '--server', server, '--host-id', hostId, '--quiet', '--deadline', '120', ...extra, vmcore],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve) => child.on('close', (code) => {
    let result;
    try { result = JSON.parse(out.trim().split('\n').at(-1)); } catch { result = undefined; }
    resolve({ code, result, stderr: err });
  }));
}

async function receiverWith(options = {}) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'netdump-bench-partial-'));
  const rx = await startReceiver({
    dataDir, tcp: '127.0.0.1:0', http: '127.0.0.1:0', pageCodec: 'lzo', checkpointChunks: 256, idleTimeoutMs: 60_000, open: true,
    logger: pino({ level: 'silent' }), limits: { maxDumpBytes: 2 ** 40, maxChunkBytes: 4 * 2 ** 20, maxUploads: 64, minFreeBytes: 64 * 2 ** 20 },
    ...options,
  });
  return { rx, url: `tcp://127.0.0.1:${rx.tcpAddress.port}`, async stop() { await rx.close(); rmSync(dataDir, { recursive: true, force: true }); } };
}

// 1. The panic line, against the whole dump: a receiver process, watched as an operator would (the API).
{
  const net = await import('node:net');
  const freePort = () => new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => { const { port } = server.address(); server.close(() => resolve(port)); });
  });
  const [tcp, http] = [await freePort(), await freePort()];
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'netdump-bench-panic-'));
  const receiver = spawn(process.execPath, [path.join(root, 'dist/receiver/cli.js'), 'serve', '--open', '--data-dir', dataDir,
    '--tcp', `127.0.0.1:${tcp}`, '--http', `127.0.0.1:${http}`, '--min-free-bytes', String(64 * 2 ** 20), '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const api = (pathname) => fetch(`http://127.0.0.1:${http}/api/v1${pathname}`).then((r) => r.json());
  for (let i = 0; i < 100 && !(await fetch(`http://127.0.0.1:${http}/healthz`).then((r) => r.ok, () => false)); i++) await sleep(100);
  const started = performance.now();
  const sending = send(`tcp://127.0.0.1:${tcp}`, 'panic-first', BUSY);
  let panicMs;
  let exited = false;
  sending.then(() => { exited = true; });
  while (panicMs === undefined && !exited) {
    const { dumps } = await api('/dumps?host=panic-first');
    if (dumps[0]?.panicLine) panicMs = performance.now() - started;
    else await sleep(10);
  }
  const { code } = await sending;
  const wholeMs = performance.now() - started;
  console.log(`panic: the panic line was in the API ${panicMs === undefined ? 'only after the dump' : `${(panicMs / 1000).toFixed(2)} s`} after the sender started; ` +
    `the whole dump (busy 6.1, -d 31) took ${(wholeMs / 1000).toFixed(2)} s (exit ${code}): ratio ${panicMs === undefined ? '-' : (panicMs / wholeMs).toFixed(2)}; ` +
    `target under 1 s: ${panicMs !== undefined && panicMs < 1000 ? 'met' : 'NOT met'}`);
  receiver.kill('SIGTERM');
  await new Promise((resolve) => receiver.on('close', resolve));
  rmSync(dataDir, { recursive: true, force: true });
}

// 2. A storm.
{
  // The window counts dumps by crash time; the fixture crashed when it was made, so the window here is wide.
  const { rx, url, stop } = await receiverWith({ storm: { completeDumps: 2, windowMs: 100 * 365 * 86_400_000 } });
  const seeds = [];
  for (const host of ['seed-1', 'seed-2']) seeds.push(await send(url, host, BUSY));
  const whole = seeds[0].result;
  const tierOnly = (await send(url, 'tier-only', BUSY, ['--log-only'])).result;
  const started = performance.now();
  const storm = await Promise.all(Array.from({ length: SENDERS }, (_, i) => send(url, `storm-${i}`, BUSY)));
  const stormMs = performance.now() - started;
  const partial = storm.filter((s) => s.code === 0 && s.result?.partial).length;
  const stored = storm.reduce((n, s) => n + (s.result?.storedBytes ?? 0), 0);
  const sent = storm.reduce((n, s) => n + (s.result?.bytesSent ?? 0), 0);
  const bound = 2 * whole.storedBytes + SENDERS * tierOnly.storedBytes;
  console.log(`storm: ${SENDERS} senders at once after 2 complete dumps: ${partial} kept partial (reason storm) in ${(stormMs / 1000).toFixed(1)} s; ` +
    `stored ${MB(stored)}, sent ${MB(sent)}; ${SENDERS} whole dumps would store ${MB(SENDERS * whole.storedBytes)} and send ${MB(SENDERS * whole.bytesSent)} ` +
    `(ratio stored ${(stored / (SENDERS * whole.storedBytes)).toFixed(3)}, sent ${(sent / (SENDERS * whole.bytesSent)).toFixed(3)}); ` +
    `with the seeds ${MB(stored + 2 * whole.storedBytes)} against the bound ${MB(bound)} (2 whole + ${SENDERS} first tiers): ${stored + 2 * whole.storedBytes <= bound ? 'met' : 'NOT met'}`);
  const groups = await rx.catalog.groups({});
  console.log(`storm: the group counts ${groups[0]?.count} crashes from ${groups[0]?.hosts.length} hosts`);
  await stop();
}

// 3. The first tier's share, per fixture and level.
if (!args.includes('--skip-share')) {
  const { url, stop } = await receiverWith();
  console.log('share: generation fixture level  kept pages  first tier  share');
  for (const generation of ['5.10', '6.1', '6.12', 'sid']) {
    for (const name of ['busy', 'idle']) {
      const file = fixture(generation, name);
      if (!existsSync(file)) continue;
      for (const level of [1, 31]) {
        const { stderr } = await send(url, `share-${generation}-${name}-${level}`, file, ['--log-only', '--dump-level', String(level)]);
        const kept = /keeping (\d+) of (\d+) pages/.exec(stderr);
        const tier = /first tier: (\d+) pages/.exec(stderr);
        const keptPages = kept ? Number(kept[1]) : Number(/, (\d+) pages of \d+ bytes/.exec(stderr)?.[1]);
        if (!tier) { console.log(`share: ${generation} ${name} -d ${level}: no first tier (${stderr.split('\n').find((l) => /first tier/.test(l)) ?? 'see kdump-send'})`); continue; }
        console.log(`share: ${generation.padEnd(5)} ${name.padEnd(4)} -d ${String(level).padEnd(2)}  ${String(keptPages).padStart(9)}  ${tier[1].padStart(10)}  ${(100 * Number(tier[1]) / keptPages).toFixed(1)}%`);
      }
    }
  }
  await stop();
}
process.exit(0);
