#!/usr/bin/env node
// Benchmark: reading /proc/vmcore with read() against reading it through mmap, where it matters: in
// a real capture kernel (Debian's kernel crashed in QEMU by test/vm/crash-and-send.sh), where read()
// copies each page out of the old kernel's memory through a mapping made and unmade per page. One
// boot sends the same dump several times, alternating `--mmap no` and `--mmap yes` after a warm-up
// send, each timed by busybox time in the guest, to a receiver on this machine's loopback. Prints
// each send, the medians of the sender's CPU-seconds and wall time for each mode, their ratio, and
// whether every stored dump is the same bytes. QEMU is TCG here, so the seconds are the emulated
// machine's; the ratio, measured in one boot, is the figure to read.
// usage: node bench/vmcore-reads-in-guest.mjs [--rounds 3] [--dump-level 1]   (after npm run build;
//        needs what test/vm/vm-e2e.test.ts needs: QEMU, Debian's kernel, busybox-static, kexec-tools)
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const ROUNDS = Number(opt('rounds', '3'));
const LEVEL = Number(opt('dump-level', '1'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function run(command, argv, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function sha256(file) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return hash.digest('hex');
}

const work = await mkdtemp(path.join(tmpdir(), 'netdump-reads-'));
const port = await freePort();
const httpPort = await freePort();
const receiver = spawn(process.execPath, [path.join(ROOT, 'dist/receiver/cli.js'), 'serve', '--open', '--storm-dumps', '0',
  '--data-dir', path.join(work, 'data'), '--tcp', `127.0.0.1:${port}`, '--http', `127.0.0.1:${httpPort}`], { stdio: 'ignore' });
try {
  await new Promise((r) => setTimeout(r, 1500));
  // The first send warms the guest's page cache of the sender's own files (squashfs); it is not counted.
  const variants = [`--mmap yes --dump-level ${LEVEL}`];
  for (let round = 0; round < ROUNDS; round++) variants.push(`--mmap no --dump-level ${LEVEL}`, `--mmap yes --dump-level ${LEVEL}`);
  console.log(`bench: ${variants.length} sends of /proc/vmcore in one capture kernel (1 warm-up), -d ${LEVEL}, to 127.0.0.1:${port}`);
  const result = await run('bash', [path.join(ROOT, 'test/vm/crash-and-send.sh')], {
    RECEIVER_PORT: String(port), HOST_ID: 'reads', SEND_VARIANTS: variants.join(';'), TIMEOUT: String(300 + 120 * variants.length),
  });
  if (result.code !== 0) throw new Error(`crash-and-send.sh exited ${result.code}: ${result.stderr.slice(-2000)}`);
  const sends = [...result.stdout.matchAll(/^SEND_VARIANT_(\d+)=exit (\d+) real ([\d.]+) user ([\d.]+) sys ([\d.]+) args (.*)$/gm)]
    .map(([, n, exit, real, user, sys, variant]) => ({ n: Number(n), exit: Number(exit), wall: Number(real), cpu: Number(user) + Number(sys), sys: Number(sys), variant }));
  if (sends.length !== variants.length || sends.some((s) => s.exit !== 0)) {
    throw new Error(`expected ${variants.length} sends stored (exit 0), got: ${JSON.stringify(sends)}\n${result.stdout}`);
  }
  for (const s of sends) {
    console.log(`send ${s.n}${s.n === 1 ? ' (warm-up)' : ''}: ${s.variant}: ${s.wall.toFixed(2)} s wall, ${s.cpu.toFixed(2)} CPU s (${s.sys.toFixed(2)} of it system)`);
  }
  const counted = sends.slice(1);
  const of = (mode) => counted.filter((s) => s.variant.includes(`--mmap ${mode}`));
  const read = { cpu: median(of('no').map((s) => s.cpu)), wall: median(of('no').map((s) => s.wall)) };
  const mapped = { cpu: median(of('yes').map((s) => s.cpu)), wall: median(of('yes').map((s) => s.wall)) };
  console.log(`median of ${ROUNDS}: read() ${read.cpu.toFixed(2)} CPU s, ${read.wall.toFixed(2)} s wall; ` +
    `mmap ${mapped.cpu.toFixed(2)} CPU s, ${mapped.wall.toFixed(2)} s wall; mmap / read(): CPU ${(mapped.cpu / read.cpu).toFixed(2)}x, wall ${(mapped.wall / read.wall).toFixed(2)}x`);
  const stored = (await run('find', [path.join(work, 'data'), '-name', 'vmcore', '-type', 'f'])).stdout.trim().split('\n').filter(Boolean);
  const hashes = new Set(await Promise.all(stored.map(sha256)));
  console.log(`stored dumps: ${stored.length}, ${hashes.size === 1 ? 'all the same bytes' : `${hashes.size} different contents`}`);
  if (stored.length !== variants.length || hashes.size !== 1) process.exitCode = 1;
} finally {
  receiver.kill();
  await rm(work, { recursive: true, force: true });
}
