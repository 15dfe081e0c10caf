#!/usr/bin/env node
// Aggregate ingest with 2 receivers against 1, same run (issue 7): N senders at once (default 8) upload the
// idle fixture at -d 1; the receivers share one PostgreSQL catalog (a throwaway cluster started here with
// scripts/postgres.sh) and one dump directory. With 2 receivers, sender i lists receiver i%2 first (as a
// balancer would spread them). Prints aggregate MB/s of vmcore, the ratio, and the CPU seconds each side
// used, which is what limits it on this machine.
// usage: node bench/multi-receiver-ingest.mjs [--senders 8] [--runs 3] [--vmcore FILE]   (after npm run build)
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const SENDERS = Number(opt('senders', '8'));
const RUNS = Number(opt('runs', '3'));
const VMCORE = path.resolve(opt('vmcore', path.join(ROOT, 'test/fixtures/cache/idle.vmcore')));
const RECEIVER = path.join(ROOT, 'dist/receiver/cli.js');
const SENDER = path.join(ROOT, 'dist/capture/kdump-send.mjs');
for (const file of [VMCORE, RECEIVER, SENDER]) if (!existsSync(file)) { console.error(`bench: missing ${file} (npm test makes the fixtures, npm run build the rest)`); process.exit(2); }

const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});
const ticks = 100; // USER_HZ
/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticks;
  } catch { return 0; }
}

function runProcess(command, argv) {
  return new Promise((resolve) => {
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = ''; let stderr = ''; let cpu = 0;
    const timer = setInterval(() => { cpu = Math.max(cpu, cpuSeconds(child.pid)); }, 50);
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => { clearInterval(timer); resolve({ code, stdout, stderr, cpu }); });
  });
}

async function startReceiver(dataDir, catalog, id) {
  const port = await freePort();
  const child = spawn(process.execPath, [RECEIVER, 'serve', '--open', '--max-uploads', '64', '--data-dir', dataDir, '--catalog', catalog,
    '--receiver-id', id, '--tcp', `127.0.0.1:${port}`, '--http', 'off'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    let seen = '';
    child.stdout.on('data', (d) => { seen += d; if (seen.includes('kdump-receiver ready')) resolve(); });
    child.on('close', () => reject(new Error(`receiver ${id} exited before it was ready`)));
  });
  child.stdout.resume();
  return {
    url: `tcp://127.0.0.1:${port}`,
    async stop() {
      const cpu = cpuSeconds(child.pid);
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
      return cpu;
    },
  };
}

async function ingest(work, adminUrl, receiverCount, run) {
  const database = `bench_${receiverCount}_${run}_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const dataDir = path.join(work, `dumps-${receiverCount}-${run}`);
  const receivers = [];
  for (let i = 0; i < receiverCount; i++) receivers.push(await startReceiver(dataDir, url.toString(), `rx-${i}`));
  execFileSync('sync');
  const t0 = process.hrtime.bigint();
  const results = await Promise.all(Array.from({ length: SENDERS }, (_, i) => {
    const servers = receivers.map((_, k) => receivers[(i + k) % receivers.length].url).flatMap((u) => ['--server', u]);
    return runProcess(process.execPath, [SENDER, '--quiet', '--dump-level', '1', '--deadline', '600', ...servers, '--host-id', `bench-${i}`, VMCORE]);
  }));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const receiverCpu = (await Promise.all(receivers.map((r) => r.stop()))).reduce((a, b) => a + b, 0);
  const failed = results.filter((r) => r.code !== 0);
  if (failed.length) throw new Error(`${failed.length} uploads failed: ${failed[0].stderr.slice(-500)}`);
  rmSync(dataDir, { recursive: true, force: true });
  return { seconds, mbps: (SENDERS * statSync(VMCORE).size) / 1e6 / seconds, receiverCpu, senderCpu: results.reduce((a, r) => a + r.cpu, 0) };
}

const work = mkdtempSync(path.join(tmpdir(), 'multi-ingest-'));
chmodSync(work, 0o755); // the cluster runs as the postgres user
const pgDir = path.join(work, 'pg');
let pgStarted = false;
try {
  execFileSync('bash', [path.join(ROOT, 'scripts/postgres.sh'), 'start', pgDir, String(await freePort())], { stdio: ['ignore', 'ignore', 'inherit'] });
  pgStarted = true;
  const adminUrl = /^PGURL=(.*)$/m.exec(readFileSync(path.join(pgDir, 'pg.env'), 'utf8'))[1].replace(/^['"]|['"]$/g, '');
  console.log(`bench: ${SENDERS} senders at once, ${path.basename(VMCORE)} (${(statSync(VMCORE).size / 1e6).toFixed(0)} MB) at -d 1, ` +
    `PostgreSQL catalog, ${RUNS} runs alternating; ${os.cpus().length} CPUs`);
  const by = { 1: [], 2: [] };
  for (let run = 0; run < RUNS; run++) {
    for (const count of [1, 2]) {
      const r = await ingest(work, adminUrl, count, run);
      by[count].push(r);
      console.log(`  run ${run + 1}, ${count} receiver${count > 1 ? 's' : ' '}: ${r.seconds.toFixed(2)} s, ${r.mbps.toFixed(0)} MB/s, ` +
        `CPU s: receivers ${r.receiverCpu.toFixed(1)}, senders ${r.senderCpu.toFixed(1)}`);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const [one, two] = [median(by[1].map((r) => r.mbps)), median(by[2].map((r) => r.mbps))];
  console.log(`median aggregate: 1 receiver ${one.toFixed(0)} MB/s, 2 receivers ${two.toFixed(0)} MB/s: ratio ${(two / one).toFixed(2)}x`);
} finally {
  if (pgStarted) execFileSync('bash', [path.join(ROOT, 'scripts/postgres.sh'), 'stop', pgDir], { stdio: 'ignore' });
  rmSync(work, { recursive: true, force: true });
}
