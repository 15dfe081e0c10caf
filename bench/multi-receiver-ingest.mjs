#!/usr/bin/env node
// Aggregate ingest with 2 receivers against 1, same run (issue 7): N senders at once (default 8) upload the
// idle fixture at -d 1; the receivers share one PostgreSQL catalog (a throwaway cluster started here with
// scripts/postgres.sh) and one dump directory. With 2 receivers, sender i lists receiver i%2 first (as a
// balancer would spread them). Prints aggregate MB/s of vmcore, the ratio, and the CPU seconds each side
// used, which is what limits it on this machine.
// --storage s3 keeps the dumps in S3 instead (OpenStack Swift's s3api, started here with scripts/object-store.sh;
// needs root and Swift: scripts/install-test-deps.sh); --storage both measures both in the same run and also
// prints S3 against local disk.
// usage: node bench/multi-receiver-ingest.mjs [--senders 8] [--runs 3] [--vmcore FILE] [--storage local|s3|both]   (after npm run build)
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
const STORAGE = opt('storage', 'local');
if (!['local', 's3', 'both'].includes(STORAGE)) { console.error(`bench: --storage ${STORAGE}: use local, s3 or both`); process.exit(2); }
const VMCORE = path.resolve(opt('vmcore', path.join((await import('../test/fixtures/paths.mjs')).FIXTURE_CACHE, 'idle.vmcore')));
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

async function startReceiver(dataDir, catalog, id, storage) {
  const port = await freePort();
  const child = spawn(process.execPath, [RECEIVER, 'serve', '--open', '--max-uploads', '64', '--data-dir', dataDir, '--catalog', catalog,
    '--receiver-id', id, '--tcp', `127.0.0.1:${port}`, '--http', 'off', ...(storage ? ['--storage', storage.url] : [])],
  { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...storage?.env } });
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

/** The --storage of one measurement: undefined for the data directory, or a fresh prefix of the bench's bucket. */
function storageFor(kind, s3, receiverCount, run) {
  if (kind === 'local') return undefined;
  return {
    url: `s3://${s3.S3_BUCKET}/bench-${receiverCount}-${run}-${process.pid}?endpoint=${encodeURIComponent(s3.S3_ENDPOINT)}`
      + `&region=${s3.S3_REGION}&forcePathStyle=true&maxParts=1000`,
    env: { AWS_ACCESS_KEY_ID: s3.S3_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: s3.S3_SECRET_KEY },
  };
}

async function ingest(work, adminUrl, receiverCount, run, storage) {
  const database = `bench_${storage ? 's3' : 'local'}_${receiverCount}_${run}_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const dataDir = path.join(work, `dumps-${receiverCount}-${run}`);
  const receivers = [];
  for (let i = 0; i < receiverCount; i++) receivers.push(await startReceiver(dataDir, url.toString(), `rx-${i}`, storage));
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
const s3Dir = path.join(work, 's3');
let pgStarted = false;
let s3Started = false;
const kinds = STORAGE === 'both' ? ['local', 's3'] : [STORAGE];
const envFile = (file) => Object.fromEntries([...readFileSync(file, 'utf8').matchAll(/^([A-Z0-9_]+)=(.*)$/gm)]
  .map(([, k, v]) => [k, v.replace(/^['"]|['"]$/g, '')]));
try {
  execFileSync('bash', [path.join(ROOT, 'scripts/postgres.sh'), 'start', pgDir, String(await freePort())], { stdio: ['ignore', 'ignore', 'inherit'] });
  pgStarted = true;
  const adminUrl = envFile(path.join(pgDir, 'pg.env')).PGURL;
  let s3;
  if (kinds.includes('s3')) {
    execFileSync('bash', [path.join(ROOT, 'scripts/object-store.sh'), 'start', s3Dir, String(await freePort())], { stdio: ['ignore', 'ignore', 'inherit'] });
    s3Started = true;
    s3 = envFile(path.join(s3Dir, 's3.env'));
  }
  console.log(`bench: ${SENDERS} senders at once, ${path.basename(VMCORE)} (${(statSync(VMCORE).size / 1e6).toFixed(0)} MB) at -d 1, ` +
    `PostgreSQL catalog, dumps in ${kinds.map((k) => (k === 's3' ? 'S3 (Swift s3api on loopback)' : 'the data directory')).join(' / ')}, `
    + `${RUNS} runs alternating; ${os.cpus().length} CPUs`);
  const by = {};
  for (let run = 0; run < RUNS; run++) {
    for (const kind of kinds) {
      for (const count of [1, 2]) {
        const r = await ingest(work, adminUrl, count, run, storageFor(kind, s3, count, run));
        (by[`${kind}-${count}`] ??= []).push(r);
        console.log(`  run ${run + 1}, ${kind.padEnd(5)} ${count} receiver${count > 1 ? 's' : ' '}: ${r.seconds.toFixed(2)} s, ${r.mbps.toFixed(0)} MB/s, ` +
          `CPU s: receivers ${r.receiverCpu.toFixed(1)}, senders ${r.senderCpu.toFixed(1)}`);
      }
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const mbps = (key) => median(by[key].map((r) => r.mbps));
  for (const kind of kinds) {
    const [one, two] = [mbps(`${kind}-1`), mbps(`${kind}-2`)];
    console.log(`median aggregate, ${kind}: 1 receiver ${one.toFixed(0)} MB/s, 2 receivers ${two.toFixed(0)} MB/s: ratio ${(two / one).toFixed(2)}x`);
  }
  if (kinds.length === 2) {
    console.log(`S3 against local disk: 1 receiver ${(mbps('s3-1') / mbps('local-1')).toFixed(2)}x, 2 receivers ${(mbps('s3-2') / mbps('local-2')).toFixed(2)}x`);
  }
} finally {
  if (s3Started) execFileSync('bash', [path.join(ROOT, 'scripts/object-store.sh'), 'stop', s3Dir], { stdio: 'ignore' });
  if (pgStarted) execFileSync('bash', [path.join(ROOT, 'scripts/postgres.sh'), 'stop', pgDir], { stdio: 'ignore' });
  rmSync(work, { recursive: true, force: true });
}
