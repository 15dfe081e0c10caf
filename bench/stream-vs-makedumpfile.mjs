#!/usr/bin/env node
// Benchmark: kdump-send -> kdump-receiver over loopback against the anchor
// measured in the same run, `makedumpfile -F -l -d 1 VMCORE | nc` into
// `nc -l | makedumpfile -R`. Prints each run, the medians, the ratio (ours /
// anchor) of wall time and of the sending side's CPU-seconds (user + system,
// of the process and its children: makedumpfile and nc for the anchor), CPU
// per GiB of the core's memory and per GiB kept, the dump-level pass (in the
// sender, and alone: its first run in a process against compiled runs, which
// tells what is paid once from what grows with memory), both
// stored sizes and peak RSS of sender and receiver; then the receiver's
// ingest MB/s per receiver CPU-second with 1 and N concurrent uploads, of
// stored pages (the default) and of lz4 it transcodes (--stored-pages no).
//
// --pinned: each side on one CPU of its own, as in a capture kernel (nr_cpus=1)
// and a receiver host: the sender or `makedumpfile -F | nc` on CPU 0, the
// receiver or `nc -l | makedumpfile -R` on CPU 1 (taskset). From the per-GiB
// figures it projects a 64 GiB and a 1 TiB host, and says that it is a projection.
//
// usage: node bench/stream-vs-makedumpfile.mjs [--vmcore FILE] [--runs N] [--concurrent N] [--transport tcp|ws]
//        [--load N] [--load-vmcore FILE]   (N senders at once on the smaller idle fixture: aggregate MB/s, receiver RSS)
//        [--levels 1,31]   dump levels to compare (ours --dump-level N against makedumpfile -d N)
//        [--pinned]        one CPU per side (taskset), as described above
// needs: npm run build; makedumpfile, netcat-openbsd and time (scripts/install-test-deps.sh); a vmcore
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
const PINNED = args.includes('--pinned');
const LOAD_VMCORE = path.resolve(opt('load-vmcore', path.join((await import('../test/fixtures/paths.mjs')).FIXTURE_CACHE, 'idle.vmcore')));
// The sender as shipped to capture kernels (deploy/capture/bundle-sender.mjs); the unbundled build if there is none.
const BUNDLE = path.join(ROOT, 'dist/capture/kdump-send.mjs');
const SENDER = existsSync(BUNDLE) ? BUNDLE : path.join(ROOT, 'dist/sender/cli.js');
const RECEIVER = path.join(ROOT, 'dist/receiver/cli.js');

for (const [what, file] of [['vmcore', VMCORE], ['built sender (npm run build)', SENDER], ['GNU time (apt install time)', '/usr/bin/time']]) {
  if (!existsSync(file)) { console.error(`bench: missing ${what}: ${file}`); process.exit(2); }
}

/**
 * The sender runs with the environment a capture kernel gives it: no NODE_OPTIONS, no NODE_EXTRA_CA_CERTS.
 * A workstation or CI machine may set the latter to a CA bundle, which node parses at every start (90 ms
 * of CPU here, more than node's own start-up); a kdump initramfs sets neither.
 */
const CAPTURE_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && k !== 'NODE_EXTRA_CA_CERTS'));
const unsetForSender = ['NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS'].filter((k) => process.env[k] !== undefined);

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

/** The command line on one CPU when --pinned: 0 for the sending side, 1 for the receiving side. */
const onCpu = (cpu, argv) => (PINNED ? ['taskset', '-c', String(cpu), ...argv] : argv);

/** CPU-seconds (user + system) a process has used so far, from /proc; 0 once it is gone. */
async function cpuSecondsOf(pid) {
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}

/**
 * Runs argv under GNU time: wall and CPU-seconds of it and every child it
 * waited for (a shell pipeline counts whole), and the largest peak RSS among
 * them (time's own pid is not the one to watch).
 */
async function runTimed(work, argv, options = {}) {
  const timing = path.join(work, `time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const result = await runProcess('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timing, ...argv], options);
  const [wall, user, system, maxRssKiB] = (await readFile(timing, 'utf8')).trim().split('\n').pop().split(' ').map(Number);
  await rm(timing, { force: true });
  return { ...result, wall, cpuSeconds: user + system, peakRss: maxRssKiB * 1024 };
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
  const [receiveCommand, ...receiveArgs] = onCpu(1, ['sh', '-c', `nc -l 127.0.0.1 ${port} | makedumpfile -R ${out}`]);
  const receive = runProcess(receiveCommand, receiveArgs);
  await new Promise((r) => setTimeout(r, 300)); // nc listening
  const t0 = process.hrtime.bigint();
  const send = await runTimed(work, onCpu(0, ['sh', '-c', `makedumpfile -F -l -d ${level} ${VMCORE} | nc -N 127.0.0.1 ${port}`]));
  const received = await receive;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (send.code !== 0 || received.code !== 0) throw new Error(`anchor failed: ${send.stderr} ${received.stderr}`);
  // makedumpfile -R does not fsync; the receiver does before it answers DONE. Also time the anchor's file made durable.
  await runProcess('sync', [out]);
  const durableSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const size = (await stat(out)).size;
  await rm(out);
  return { seconds, durableSeconds, size, cpuSeconds: send.cpuSeconds };
}

async function startReceiver(dataDir) {
  const port = await freePort();
  const httpPort = await freePort();
  const [command, ...argv] = onCpu(1, [process.execPath, RECEIVER, 'serve', '--open', '--max-uploads', '64', '--data-dir', dataDir,
    '--tcp', `127.0.0.1:${port}`, '--http', `127.0.0.1:${httpPort}`]);
  // taskset execs node in its own place: the pid is the receiver's.
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
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
  const cpuAtStart = await cpuSecondsOf(child.pid);
  return {
    url,
    /** Peak RSS, and the CPU-seconds spent since it was ready. */
    stop: async () => {
      const peak = rss.stop();
      const cpuSeconds = (await cpuSecondsOf(child.pid)) - cpuAtStart;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
      return { peak, cpuSeconds };
    },
  };
}

async function oursRun(work, run, level) {
  const dataDir = path.join(work, `ours-${run}`);
  const receiver = await startReceiver(dataDir);
  const t0 = process.hrtime.bigint();
  const sent = await runTimed(work, onCpu(0, [process.execPath, SENDER, '--progress-interval', '3600', '--dump-level', String(level),
    '--server', receiver.url, '--host-id', 'bench', VMCORE]), { env: CAPTURE_ENV });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const { peak: receiverRss } = await receiver.stop();
  if (sent.code !== 0) throw new Error(`kdump-send exited ${sent.code}: ${sent.stderr}`);
  const done = JSON.parse(sent.stdout);
  const size = (await stat(path.join(dataDir, done.path))).size;
  await rm(dataDir, { recursive: true });
  // The sender's own line: "keeping K of N pages ..., decided in S s".
  const decided = /keeping (\d+) of (\d+) pages.*decided in ([\d.]+) s/.exec(sent.stderr);
  if (!decided) throw new Error(`kdump-send did not say how long the dump-level pass took: ${sent.stderr}`);
  return {
    seconds, size, senderRss: sent.peakRss, receiverRss, cpuSeconds: sent.cpuSeconds,
    keptPages: Number(decided[1]), totalPages: Number(decided[2]), passSeconds: Number(decided[3]),
  };
}

/**
 * The dump-level pass alone, six times in one fresh process on the sending side's CPU: the first
 * run is what the sender pays (V8 interprets and compiles the judge as it goes), the fastest later one runs
 * compiled code. Their difference is paid once per dump whatever the memory size; only the compiled
 * run's time grows with memory, and that is what the per-GiB target and the projections take.
 */
async function passRuns(level) {
  const script = `const { VmcoreSource } = await import(${JSON.stringify(path.join(ROOT, 'dist/sender/vmcore-source.js'))});
const { computeExclusion } = await import(${JSON.stringify(path.join(ROOT, 'dist/sender/dump-level/exclusion.js'))});
const source = VmcoreSource.open(${JSON.stringify(VMCORE)});
const times = [];
for (let i = 0; i < 6; i++) { const t0 = process.hrtime.bigint(); computeExclusion(source, ${level}); times.push(Number(process.hrtime.bigint() - t0) / 1e9); }
console.log(JSON.stringify(times));`;
  const [command, ...argv] = onCpu(0, [process.execPath, '--input-type=module', '-e', script]);
  const result = await runProcess(command, argv, { env: CAPTURE_ENV });
  if (result.code !== 0) throw new Error(`dump-level pass run failed: ${result.stderr}`);
  const [cold, ...warm] = JSON.parse(result.stdout);
  return { cold, warm: Math.min(...warm) };
}

/** `count` uploads of `vmcore` at once; `senderArgs` (e.g. --stored-pages no) added to each sender's. */
async function concurrentRun(work, count, vmcore, senderArgs = []) {
  const dataDir = path.join(work, `concurrent-${count}`);
  const receiver = await startReceiver(dataDir);
  await runProcess('sync', []);
  const t0 = process.hrtime.bigint();
  const results = await Promise.all(Array.from({ length: count }, (_, i) => {
    const [command, ...argv] = onCpu(0, [process.execPath, SENDER, '--quiet', '--dump-level', '1', '--deadline', '600', ...senderArgs,
      '--server', receiver.url, '--host-id', `bench-${i}`, vmcore]);
    return runProcess(command, argv, { env: CAPTURE_ENV });
  }));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const { peak: receiverRss, cpuSeconds: receiverCpu } = await receiver.stop();
  const failed = results.filter((r) => r.code !== 0);
  if (failed.length) throw new Error(`${failed.length} concurrent uploads failed: ${failed[0].stderr}`);
  const stored = results.map((r) => JSON.parse(r.stdout)).length;
  await rm(dataDir, { recursive: true, force: true });
  const inputBytes = count * (await stat(vmcore)).size;
  return {
    seconds, receiverRss, stored, throughput: inputBytes / seconds, senderRss: Math.max(...results.map((r) => r.peakRss)),
    receiverCpu, perReceiverCpu: inputBytes / receiverCpu,
  };
}

/** CPU-seconds a side spends before its first byte of work: `--help` of the same program, on the sending side's CPU (median of 3). */
async function startupCpu(work, argv, options = {}) {
  const runs = [];
  for (let i = 0; i < 3; i++) runs.push((await runTimed(work, onCpu(0, argv), options)).cpuSeconds);
  return median(runs);
}

const work = await mkdtemp(path.join(tmpdir(), 'netdump-bench-'));
try {
  const ourStartup = await startupCpu(work, [process.execPath, SENDER, '--help'], { env: CAPTURE_ENV });
  const anchorStartup = await startupCpu(work, ['makedumpfile', '-v']);
  console.log(`start-up CPU (--help / -v): ours ${ourStartup.toFixed(3)} s, makedumpfile ${anchorStartup.toFixed(3)} s` +
    (unsetForSender.length ? ` (the sender runs without ${unsetForSender.join(' and ')}, as in a capture kernel)` : ''));
  const size = (await stat(VMCORE)).size;
  console.log(`bench: ${VMCORE} (${mb(size)}), ${RUNS} runs each, transport ${TRANSPORT}, alternating anchor and ours; sender ${path.relative(ROOT, SENDER)}` +
    (PINNED ? '; pinned: sending side on CPU 0, receiving side on CPU 1' : '; not pinned'));
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
      console.log(`run ${run + 1}: anchor ${a.seconds.toFixed(2)} s (${a.durableSeconds.toFixed(2)} s with its file fsynced, ${a.cpuSeconds.toFixed(2)} CPU s), ` +
        `ours ${o.seconds.toFixed(2)} s (${o.cpuSeconds.toFixed(2)} CPU s, dump-level pass ${o.passSeconds.toFixed(2)} s; sender RSS ${mb(o.senderRss)}, receiver RSS ${mb(o.receiverRss)})`);
    }
    const { totalPages, keptPages } = ours[0];
    const memoryGiB = (totalPages * 4096) / 2 ** 30;
    const keptGiB = (keptPages * 4096) / 2 ** 30;
    const ourCpu = median(ours.map((r) => r.cpuSeconds));
    const anchorCpu = median(anchor.map((r) => r.cpuSeconds));
    const pass = median(ours.map((r) => r.passSeconds));
    const anchorSeconds = median(anchor.map((r) => r.seconds));
    const ourSeconds = median(ours.map((r) => r.seconds));
    const durableSeconds = median(anchor.map((r) => r.durableSeconds));
    console.log(`-d ${level} wall time, median: ours ${ourSeconds.toFixed(2)} s, anchor makedumpfile -F -l -d ${level} ${anchorSeconds.toFixed(2)} s, ratio ${(ourSeconds / anchorSeconds).toFixed(2)}x (target <= 1.00x)`);
    console.log(`  against the anchor with its output fsynced as ours is: ${durableSeconds.toFixed(2)} s, ratio ${(ourSeconds / durableSeconds).toFixed(2)}x`);
    console.log(`-d ${level} stored size: ours ${ours[0].size} bytes, makedumpfile -l -d ${level} ${anchor[0].size} bytes, ratio ${(ours[0].size / anchor[0].size).toFixed(4)} (target <= 1)`);
    console.log(`-d ${level} peak RSS: sender ${mb(Math.max(...ours.map((r) => r.senderRss)))} (target <= 80 MB), receiver ${mb(Math.max(...ours.map((r) => r.receiverRss)))}`);
    console.log(`-d ${level} sending side CPU, median: ours ${ourCpu.toFixed(2)} s, anchor ${anchorCpu.toFixed(2)} s, ratio ${(ourCpu / anchorCpu).toFixed(2)}x (target <= 1.00x)`);
    console.log(`  per GiB of memory (${memoryGiB.toFixed(2)} GiB): ours ${(ourCpu / memoryGiB).toFixed(3)} s, anchor ${(anchorCpu / memoryGiB).toFixed(3)} s;` +
      ` per GiB kept (${keptGiB.toFixed(2)} GiB): ours ${(ourCpu / keptGiB).toFixed(3)} s, anchor ${(anchorCpu / keptGiB).toFixed(3)} s`);
    const passes = [];
    for (let run = 0; run < RUNS; run++) passes.push(await passRuns(level));
    const passCold = median(passes.map((p) => p.cold));
    const passWarm = median(passes.map((p) => p.warm));
    const passOnce = Math.max(0, passCold - passWarm);
    console.log(`  dump-level pass: ${pass.toFixed(2)} s in the sender; alone, ${passCold.toFixed(3)} s the first time in a process and ` +
      `${passWarm.toFixed(3)} s compiled, so ${passOnce.toFixed(3)} s is paid once (V8 compiling it) and ` +
      `${(passWarm / memoryGiB).toFixed(3)} s per GiB of memory grows with it (target <= 0.050)`);
    // A projection, not a measurement: start-up and the pass's compile are paid once, the compiled pass grows
    // with memory, the rest with what is kept (the same share as here); the anchor's CPU past its start-up
    // grows with memory.
    const restPerKept = Math.max(0, ourCpu - ourStartup - pass) / keptGiB;
    const keptShare = keptGiB / memoryGiB;
    const anchorPerGiB = Math.max(0, anchorCpu - anchorStartup) / memoryGiB;
    for (const [name, gib] of [['64 GiB', 64], ['1 TiB', 1024]]) {
      const passProjected = passOnce + (passWarm / memoryGiB) * gib;
      const projected = ourStartup + passProjected + restPerKept * keptShare * gib;
      const anchorProjected = anchorStartup + anchorPerGiB * gib;
      console.log(`  projected for a ${name} host with this core's mix (a projection, not measured): ours ${projected.toFixed(1)} CPU s, ` +
        `of it the dump-level pass ${passProjected.toFixed(1)} s; anchor ${anchorProjected.toFixed(1)} CPU s; ratio ${(projected / anchorProjected).toFixed(2)}x`);
    }
  }
  // The receiver's side: pages sent as it stores them (the default), and as lz4 it compresses itself (a sender
  // with --stored-pages no, or one from before stored pages): the difference is the cost of that transcoding.
  for (const count of [1, CONCURRENT].filter((n, i, all) => n > 0 && all.indexOf(n) === i)) {
    const c = await concurrentRun(work, count, VMCORE);
    const lz4 = await concurrentRun(work, count, VMCORE, ['--stored-pages', 'no']);
    console.log(`receiver ingest, ${count} upload${count === 1 ? '' : 's'} at -d 1: ${mb(c.throughput)}/s of vmcore, ${c.receiverCpu.toFixed(2)} receiver CPU s, ` +
      `${mb(c.perReceiverCpu)} of vmcore per receiver CPU-second (stored pages in, written as they are); ` +
      `with lz4 in, transcoded to the stored codec: ${mb(lz4.throughput)}/s, ${lz4.receiverCpu.toFixed(2)} CPU s, ${mb(lz4.perReceiverCpu)} per CPU-second`);
    if (count > 1) {
      console.log(`${count} concurrent uploads of ${path.basename(VMCORE)}: ${c.seconds.toFixed(2)} s, ${c.stored} stored, ` +
        `${mb(c.throughput)}/s of vmcore aggregate, receiver peak RSS ${mb(c.receiverRss)}, largest sender RSS ${mb(c.senderRss)}`);
    }
  }
  if (LOAD > 0 && existsSync(LOAD_VMCORE)) {
    const c = await concurrentRun(work, LOAD, LOAD_VMCORE);
    console.log(`load: ${LOAD} senders at once, ${path.basename(LOAD_VMCORE)}: ${c.seconds.toFixed(2)} s, ${c.stored} stored and verified (exit 0 = DONE after digest), ` +
      `${mb(c.throughput)}/s of vmcore aggregate, receiver peak RSS ${mb(c.receiverRss)}`);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
