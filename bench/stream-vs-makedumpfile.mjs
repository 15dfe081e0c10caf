#!/usr/bin/env node
// Benchmark: kdump-send -> kdump-receiver over loopback against the anchor
// measured in the same run, `makedumpfile -F -l -d 1 VMCORE | nc` into
// `nc -l | makedumpfile -R`. Prints each run, the medians, the ratio (ours /
// anchor), both stored sizes, and peak RSS of sender and receiver; then the
// receiver's peak RSS with N concurrent uploads.
//
// usage: node bench/stream-vs-makedumpfile.mjs [--vmcore FILE] [--runs N] [--concurrent N] [--transport tcp|ws]
//        [--load N] [--load-vmcore FILE]   (N senders at once on the smaller idle fixture: aggregate MB/s, receiver RSS)
//        [--levels 1,31]   dump levels to compare (ours --dump-level N against makedumpfile -d N)
// needs: npm run build; makedumpfile and netcat-openbsd (scripts/install-test-deps.sh); a vmcore
// (default test/fixtures/cache/busy.vmcore, made by test/fixtures/ensure-fixtures.sh).
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const VMCORE = path.resolve(opt('vmcore', path.join((await import('../test/fixtures/paths.mjs')).FIXTURE_CACHE, 'busy.vmcore')));
const RUNS = Number(opt('runs', '3'));
const CONCURRENT = Number(opt('concurrent', '8'));
const TRANSPORT = opt('transport', 'tcp');
const LEVELS = opt('levels', '1,31').split(',').map(Number);
const LOAD = Number(opt('load', '32'));
const LOAD_VMCORE = path.resolve(opt('load-vmcore', path.join((await import('../test/fixtures/paths.mjs')).FIXTURE_CACHE, 'idle.vmcore')));
// The sender as shipped to capture kernels (deploy/capture/bundle-sender.mjs); the unbundled build if there is none.
const BUNDLE = path.join(ROOT, 'dist/capture/kdump-send.mjs');
const SENDER = existsSync(BUNDLE) ? BUNDLE : path.join(ROOT, 'dist/sender/cli.js');
const RECEIVER = path.join(ROOT, 'dist/receiver/cli.js');

for (const [what, file] of [['vmcore', VMCORE], ['built sender (npm run build)', SENDER]]) {
  if (!existsSync(file)) { console.error(`bench: missing ${what}: ${file}`); process.exit(2); }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Peak RSS (VmHWM) of a running process, polled until it exits. */
function watchPeakRss(pid) {
  let peak = 0;
  const timer = setInterval(async () => {
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      peak = Math.max(peak, kb * 1024);
    } catch { /* exited */ }
  }, 20);
  return { stop: () => { clearInterval(timer); return peak; } };
}

function runProcess(command, argv, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    const rss = watchPeakRss(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, peakRss: rss.stop() }));
  });
}

async function anchorRun(work, run, level) {
  const port = await freePort();
  const out = path.join(work, `anchor-${run}.kdump`);
  const receive = runProcess('sh', ['-c', `nc -l 127.0.0.1 ${port} | makedumpfile -R ${out}`]);
  await new Promise((r) => setTimeout(r, 300)); // nc listening
  const t0 = process.hrtime.bigint();
  const send = await runProcess('sh', ['-c', `makedumpfile -F -l -d ${level} ${VMCORE} | nc -N 127.0.0.1 ${port}`]);
  const received = await receive;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (send.code !== 0 || received.code !== 0) throw new Error(`anchor failed: ${send.stderr} ${received.stderr}`);
  // makedumpfile -R does not fsync; the receiver does before it answers DONE. Also time the anchor's file made durable.
  await runProcess('sync', [out]);
  const durableSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const size = (await stat(out)).size;
  await rm(out);
  return { seconds, durableSeconds, size };
}

async function startReceiver(dataDir) {
  const port = await freePort();
  const httpPort = await freePort();
  const child = spawn(process.execPath, [RECEIVER, 'serve', '--open', '--max-uploads', '64', '--data-dir', dataDir, '--tcp', `127.0.0.1:${port}`, '--http', `127.0.0.1:${httpPort}`],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const rss = watchPeakRss(child.pid);
  await new Promise((resolve, reject) => {
    let seen = '';
    child.stdout.on('data', (d) => {
      seen += d;
      if (seen.includes('kdump-receiver ready')) resolve();
    });
    child.on('close', () => reject(new Error('receiver exited before it was ready')));
  });
  child.stdout.resume();
  const url = TRANSPORT === 'ws' ? `ws://127.0.0.1:${httpPort}/upload` : `tcp://127.0.0.1:${port}`;
  return {
    url,
    stop: async () => {
      const peak = rss.stop();
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
      return peak;
    },
  };
}

async function oursRun(work, run, level) {
  const dataDir = path.join(work, `ours-${run}`);
  const receiver = await startReceiver(dataDir);
  const t0 = process.hrtime.bigint();
  const sent = await runProcess(process.execPath, [SENDER, '--quiet', '--dump-level', String(level), '--server', receiver.url, '--host-id', 'bench', VMCORE]);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const receiverRss = await receiver.stop();
  if (sent.code !== 0) throw new Error(`kdump-send exited ${sent.code}: ${sent.stderr}`);
  const done = JSON.parse(sent.stdout);
  const size = (await stat(path.join(dataDir, done.path))).size;
  await rm(dataDir, { recursive: true });
  return { seconds, size, senderRss: sent.peakRss, receiverRss };
}

async function concurrentRun(work, count, vmcore) {
  const dataDir = path.join(work, `concurrent-${count}`);
  const receiver = await startReceiver(dataDir);
  await runProcess('sync', []);
  const t0 = process.hrtime.bigint();
  const results = await Promise.all(Array.from({ length: count }, (_, i) =>
    runProcess(process.execPath, [SENDER, '--quiet', '--dump-level', '1', '--deadline', '600', '--server', receiver.url, '--host-id', `bench-${i}`, vmcore])));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const receiverRss = await receiver.stop();
  const failed = results.filter((r) => r.code !== 0);
  if (failed.length) throw new Error(`${failed.length} concurrent uploads failed: ${failed[0].stderr}`);
  const stored = results.map((r) => JSON.parse(r.stdout)).length;
  await rm(dataDir, { recursive: true, force: true });
  const inputBytes = count * (await stat(vmcore)).size;
  return { seconds, receiverRss, stored, throughput: inputBytes / seconds, senderRss: Math.max(...results.map((r) => r.peakRss)) };
}

const work = await mkdtemp(path.join(tmpdir(), 'netdump-bench-'));
try {
  const size = (await stat(VMCORE)).size;
  console.log(`bench: ${VMCORE} (${mb(size)}), ${RUNS} runs each, transport ${TRANSPORT}, alternating anchor and ours; sender ${path.relative(ROOT, SENDER)}`);
  for (const level of LEVELS) {
    const anchor = [];
    const ours = [];
    console.log(`\n-d ${level}:`);
    for (let run = 0; run < RUNS; run++) {
      await runProcess('sync', []); // start each measurement with no dirty pages from the last
      const a = await anchorRun(work, run, level);
      await runProcess('sync', []);
      const o = await oursRun(work, run, level);
      anchor.push(a);
      ours.push(o);
      console.log(`run ${run + 1}: anchor ${a.seconds.toFixed(2)} s (${a.durableSeconds.toFixed(2)} s with its file fsynced), ours ${o.seconds.toFixed(2)} s ` +
        `(sender RSS ${mb(o.senderRss)}, receiver RSS ${mb(o.receiverRss)})`);
    }
    const anchorSeconds = median(anchor.map((r) => r.seconds));
    const ourSeconds = median(ours.map((r) => r.seconds));
    const durableSeconds = median(anchor.map((r) => r.durableSeconds));
    console.log(`-d ${level} wall time, median: ours ${ourSeconds.toFixed(2)} s, anchor makedumpfile -F -l -d ${level} ${anchorSeconds.toFixed(2)} s, ratio ${(ourSeconds / anchorSeconds).toFixed(2)}x (target <= 1.00x)`);
    console.log(`  against the anchor with its output fsynced as ours is: ${durableSeconds.toFixed(2)} s, ratio ${(ourSeconds / durableSeconds).toFixed(2)}x`);
    console.log(`-d ${level} stored size: ours ${ours[0].size} bytes, makedumpfile -l -d ${level} ${anchor[0].size} bytes, ratio ${(ours[0].size / anchor[0].size).toFixed(4)} (target <= 1)`);
    console.log(`-d ${level} peak RSS: sender ${mb(Math.max(...ours.map((r) => r.senderRss)))} (target <= 80 MB), receiver ${mb(Math.max(...ours.map((r) => r.receiverRss)))}`);
  }
  if (CONCURRENT > 0) {
    const c = await concurrentRun(work, CONCURRENT, VMCORE);
    console.log(`${CONCURRENT} concurrent uploads of ${path.basename(VMCORE)}: ${c.seconds.toFixed(2)} s, ${c.stored} stored, ` +
      `${mb(c.throughput)}/s of vmcore aggregate, receiver peak RSS ${mb(c.receiverRss)}, largest sender RSS ${mb(c.senderRss)}`);
  }
  if (LOAD > 0 && existsSync(LOAD_VMCORE)) {
    const c = await concurrentRun(work, LOAD, LOAD_VMCORE);
    console.log(`load: ${LOAD} senders at once, ${path.basename(LOAD_VMCORE)}: ${c.seconds.toFixed(2)} s, ${c.stored} stored and verified (exit 0 = DONE after digest), ` +
      `${mb(c.throughput)}/s of vmcore aggregate, receiver peak RSS ${mb(c.receiverRss)}`);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
