#!/usr/bin/env node
// The smallest crashkernel= with which a real capture kernel completes a -d 31 dump over
// the network, found by bisection, for each guest size and sender layout
// (deploy/capture/install-sender.sh LAYOUT=squashfs|plain): each trial is a full
// test/vm/crash-and-send.sh run (Debian's kernel under QEMU TCG panics, the capture kernel
// streams /proc/vmcore to a receiver here). The anchor is the plain layout (the runtime
// unpacked in the initramfs, as before) measured in the same run.
//
// Prints, per guest and layout: the smallest crashkernel that completed and the largest that
// failed (and how it failed: initramfs unpacking, OOM kill, sender exit), the capture kernel's
// MemTotal and MemAvailable before the sender, the sender's peak RSS, the initramfs size
// compressed and unpacked, and the dump's wall time.
//
// Each layout is measured in the capture initramfs a builder makes (test/vm/crash-and-send.sh
// BUILDER): busybox (a hand-made minimal cpio) and initramfs-tools (Debian's mkinitramfs with
// deploy/debian/initramfs-hook, boot=kdump-send).
//
// usage: node bench/crashkernel-min.mjs [--mem 1024,4096] [--layouts squashfs,plain] [--builders busybox,initramfs-tools]
//          [--lo 96] [--hi 512] [--resolution 16] [--parallel 2]      (after npm run build; root; ~1-2 min a trial)
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const mems = flag('mem', '1024,4096').split(',').map(Number);
const layouts = flag('layouts', 'squashfs,plain').split(',');
const builders = flag('builders', 'busybox,initramfs-tools').split(',');
const lo = Number(flag('lo', '96'));
const hi = Number(flag('hi', '512'));
const resolution = Number(flag('resolution', '16'));
const parallel = Number(flag('parallel', '2'));

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function run(command, argv, env) {
  return new Promise((resolve) => {
    const child = spawn(command, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const data = await mkdtemp(path.join(os.tmpdir(), 'crashkernel-min-'));
const logs = path.join(root, 'bench/out/crashkernel-min');
const tcpPort = await freePort();
const receiver = spawn(process.execPath, [path.join(root, 'dist/receiver/cli.js'), 'serve', '--open', '--data-dir', data,
  '--tcp', `127.0.0.1:${tcpPort}`, '--http', `127.0.0.1:${await freePort()}`, '--min-free-bytes', String(256 * 2 ** 20)],
{ stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((resolve, reject) => {
  let out = '';
  receiver.stdout.on('data', (d) => { out += d; if (out.includes('kdump-receiver ready')) resolve(); });
  receiver.once('exit', (code) => reject(new Error(`receiver exited ${code}: ${out}`)));
});
receiver.stdout.resume();

let trialNo = 0;
/** One crash-and-send run; resolves with its KEY=VALUE facts and whether the dump arrived. */
async function trial(mem, builder, layout, crashkernel) {
  const id = `ck-${mem}-${builder}-${layout}-${crashkernel}-${++trialNo}`;
  const result = await run('bash', [path.join(root, 'test/vm/crash-and-send.sh')], {
    RECEIVER_PORT: String(tcpPort), HOST_ID: id, MEM: String(mem), CRASHKERNEL: `${crashkernel}M`, LAYOUT: layout, BUILDER: builder,
    SEND_ARGS: '--dump-level 31 --deadline 240', TIMEOUT: String(mem > 2048 ? 600 : 360),
  });
  const facts = Object.fromEntries(result.stdout.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const ok = facts.KDUMP_SEND_EXIT === '0';
  const how = ok ? 'stored' : facts.INITRAMFS_FAILED === '1' ? 'initramfs unpacking failed'
    : facts.OOM_KILL === '1' ? 'OOM kill' : facts.KDUMP_SEND_EXIT === 'none' ? 'sender never finished (capture kernel died or timed out)' : `sender exit ${facts.KDUMP_SEND_EXIT}`;
  let kept = '';
  if (!ok) {
    // What the guest printed last says why; keep it for a reader of the run.
    await mkdir(logs, { recursive: true });
    kept = path.join(logs, `${id}.log`);
    await writeFile(kept, `${result.stdout}\n---- stderr ----\n${result.stderr}`);
  }
  console.error(`  trial ${mem} MiB guest, ${builder} ${layout}, crashkernel=${crashkernel}M: ${how} (${facts.SECONDS ?? '?'} s)${kept ? `, log ${kept}` : ''}`);
  return { ok, how, crashkernel, facts };
}

/** Bisection on [lo, hi] in steps of `resolution` MiB: the smallest that completes. */
async function smallest(mem, builder, layout) {
  const top = await trial(mem, builder, layout, hi);
  if (!top.ok) return { mem, builder, layout, best: undefined, worst: top };
  let good = top;
  let bad;
  let [a, b] = [lo, hi];
  while (b - a > resolution) {
    const mid = Math.round((a + b) / 2 / resolution) * resolution;
    const t = await trial(mem, builder, layout, mid);
    if (t.ok) { good = t; b = mid; } else { bad = t; a = mid; }
  }
  return { mem, builder, layout, best: good, worst: bad };
}

const jobs = mems.flatMap((mem) => builders.flatMap((builder) => layouts.map((layout) => () => smallest(mem, builder, layout))));
const results = [];
const workers = Array.from({ length: Math.min(parallel, jobs.length) }, async () => {
  for (let job = jobs.shift(); job; job = jobs.shift()) results.push(await job());
});
await Promise.all(workers);
receiver.kill();
await rm(data, { recursive: true, force: true });

const mib = (bytes) => (Number(bytes) / 2 ** 20).toFixed(1);
const kib = (kb) => (Number(kb) / 1024).toFixed(0);
results.sort((x, y) => x.mem - y.mem || x.builder.localeCompare(y.builder) || x.layout.localeCompare(y.layout));
for (const r of results) {
  const f = r.best?.facts ?? r.worst.facts;
  const anchor = results.find((x) => x.mem === r.mem && x.builder === r.builder && x.layout === 'plain')
    ?? results.find((x) => x.mem === r.mem && x.layout === 'plain');
  const ratio = anchor?.best && r.best ? ` (${(r.best.crashkernel / anchor.best.crashkernel).toFixed(2)}x ${anchor.builder} plain)` : '';
  console.log(`${r.mem} MiB guest, ${r.builder} ${r.layout}: smallest crashkernel that completed ${r.best ? `${r.best.crashkernel}M${ratio}` : `none up to ${hi}M`}` +
    `${r.worst ? `; ${r.worst.crashkernel}M failed: ${r.worst.how}` : ''}; capture MemTotal ${kib(f.CAPTURE_MEMORY_KB)} MiB, ` +
    `MemAvailable ${kib(f.CAPTURE_AVAILABLE_KB)} MiB before the sender; sender peak RSS ${f.SENDER_PEAK_RSS_MB} MB; ` +
    `initramfs ${mib(f.INITRAMFS_BYTES)} MiB compressed, ${mib(f.INITRAMFS_UNPACKED_BYTES)} MiB unpacked; ${f.SECONDS} s`);
}
