#!/usr/bin/env node
// Catalog queries with 100,000 dumps (issue 7's target: each under 50 ms), on SQLite and on PostgreSQL
// (a throwaway cluster started here with scripts/postgres.sh on loopback), in the same run.
// Fills each catalog with synthetic rows (2,000 hosts, 300 crash signatures, 8 kernels, a year of
// crashes), then times the operators' queries: medians of --runs runs after one warm-up.
// usage: node bench/catalog-queries.mjs [--dumps 100000] [--runs 15]   (after npm run build)
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Catalog } from '../dist/receiver/catalog/catalog.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const DUMPS = option('--dumps', 100_000);
const RUNS = option('--runs', 15);
const TARGET_MS = 50;
const T0 = Date.UTC(2025, 11, 1);

const freePort = () => new Promise((resolve) => {
  const server = net.createServer().listen(0, '127.0.0.1', () => { const { port } = server.address(); server.close(() => resolve(port)); });
});

/** Row n, deterministic: which host, kernel and bug it is, and when. */
function row(n) {
  const signature = (n * 7919) % 300;
  const crashMs = T0 + Math.floor((n / DUMPS) * 365 * 86400_000);
  return [
    n.toString(16).padStart(16, '0'), `host-${(n * 31) % 2000}`, `6.1.0-${40 + (n % 8)}-amd64`, 'feedface', Math.floor(crashMs / 1000),
    crashMs + 60_000, crashMs + 90_000, 1e8, 4e7, 262144, 200000, 62144, 30_000, 'complete', null,
    `host-${(n * 31) % 2000}/s${n}/vmcore`, 1073741824, 'lzo', 4096, 4e7, 'digest', 64,
    `Kernel panic - not syncing: bug ${signature}`, null, `func_${signature}`, `Kernel panic - not syncing: bug ${signature}`,
    `sig${signature.toString().padStart(13, '0')}`, `text ${signature}`, '["a","b"]', null, crashMs + 95_000,
  ];
}
const COLUMNS = ['dump_id', 'host_id', 'os_release', 'build_id', 'crash_time', 'received_at', 'finished_at', 'bytes_in', 'bytes_stored',
  'pages_total', 'pages_zero', 'pages_stored', 'duration_ms', 'status', 'failure', 'path', 'vmcore_size', 'page_codec', 'next_seq',
  'data_end', 'digest', 'chunk_pages', 'panic_line', 'bug_line', 'rip_symbol', 'reason', 'signature', 'signature_text', 'call_trace',
  'triage_error', 'triaged_at'];

async function fill(catalog) {
  // Straight to the driver, 1,000 rows a statement: Catalog.insert row by row would take minutes for 100k.
  const db = catalog['db'];
  const batch = 1000;
  const t0 = performance.now();
  await db.exec('BEGIN');
  for (let start = 0; start < DUMPS; start += batch) {
    const rows = [];
    for (let n = start; n < Math.min(DUMPS, start + batch); n++) rows.push(row(n));
    const values = rows.map(() => `(${COLUMNS.map(() => '?').join(', ')})`).join(', ');
    await db.run(`INSERT INTO dumps (${COLUMNS.join(', ')}) VALUES ${values}`, rows.flat());
  }
  await db.exec('COMMIT');
  if (db.dialect === 'postgres') await db.exec('ANALYZE dumps'); else await db.exec('ANALYZE');
  return (performance.now() - t0) / 1000;
}

const QUERIES = [
  ['list newest 100', (c) => c.query({ limit: 100 })],
  ['list by host', (c) => c.query({ hostId: 'host-1234', limit: 100 })],
  ['list by signature', (c) => c.query({ signature: 'sig0000000000042', limit: 100 })],
  ['list by kernel, last 30 days', (c) => c.query({ osRelease: '6.1.0-43-amd64', sinceMs: T0 + 335 * 86400_000, limit: 100 })],
  ['groups (all 300)', (c) => c.groups()],
  ['groups of one host', (c) => c.groups({ hostId: 'host-1234' })],
  ['groups, last 30 days (unsummarised)', (c) => c.groups({ sinceMs: T0 + 335 * 86400_000 })],
  ['dump detail', (c) => c.getWithTriage((DUMPS >> 1).toString(16).padStart(16, '0'))],
];

async function measure(name, catalog) {
  const results = [];
  for (const [label, fn] of QUERIES) {
    await fn(catalog);
    const times = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      await fn(catalog);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    results.push([label, times[Math.floor(times.length / 2)], times[times.length - 1]]);
  }
  console.log(`\n${name}: ${DUMPS} dumps (median / worst of ${RUNS} runs; target ${TARGET_MS} ms)`);
  for (const [label, median, worst] of results) {
    console.log(`  ${label.padEnd(36)} ${median.toFixed(2).padStart(8)} ms  ${worst.toFixed(2).padStart(8)} ms  ${median < TARGET_MS ? 'ok' : 'OVER TARGET'}`);
  }
  return results;
}

const work = mkdtempSync(path.join(tmpdir(), 'catalog-bench-'));
chmodSync(work, 0o755); // scripts/postgres.sh runs the server as the postgres user, who must reach pgDir
const pgDir = path.join(work, 'pg');
let pgStarted = false;
try {
  let sqlite = await Catalog.open(path.join(work, 'index.db'));
  console.log(`SQLite filled in ${(await fill(sqlite)).toFixed(1)} s`);
  // Rows went in behind the catalog's back: reopening summarises the groups, as for a catalog from before dump_groups.
  await sqlite.close();
  let t0 = performance.now();
  sqlite = await Catalog.open(path.join(work, 'index.db'));
  console.log(`SQLite group summaries built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await measure('SQLite', sqlite);
  await sqlite.close();

  execFileSync('bash', [path.join(root, 'scripts/postgres.sh'), 'start', pgDir, String(await freePort())], { stdio: ['ignore', 'ignore', 'inherit'] });
  pgStarted = true;
  const url = /^PGURL=(.*)$/m.exec(readFileSync(path.join(pgDir, 'pg.env'), 'utf8'))[1].replace(/^['"]|['"]$/g, '');
  let postgres = await Catalog.open(url);
  console.log(`\nPostgreSQL filled in ${(await fill(postgres)).toFixed(1)} s`);
  await postgres.close();
  t0 = performance.now();
  postgres = await Catalog.open(url);
  console.log(`PostgreSQL group summaries built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await measure('PostgreSQL', postgres);
  await postgres.close();
} finally {
  if (pgStarted) execFileSync('bash', [path.join(root, 'scripts/postgres.sh'), 'stop', pgDir], { stdio: 'ignore' });
  rmSync(work, { recursive: true, force: true });
}
