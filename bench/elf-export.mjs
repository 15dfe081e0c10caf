#!/usr/bin/env node
// ELF export speed: a stored kdump-compressed dump (LZO, made here with makedumpfile -l -d LEVEL from the
// fixture) streamed out as an ELF core, against the anchor makedumpfile -E -d LEVEL writing an ELF core from
// the original, in the same run. Both write to a temporary file and are reported as a ratio.
// usage: node bench/elf-export.mjs [VMCORE] [--level 1] [--runs 3]   (after npm run build)
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { KdumpFileReader } from '../dist/shared/kdump/reader.js';
import { planStoredDumpExport, streamElfCore } from '../dist/shared/kdump/elf-export.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const runs = option('--runs', 3);
const level = option('--level', 1);
const vmcore = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--')) ?? path.join((await import('../test/fixtures/paths.mjs')).FIXTURE_CACHE, 'busy.vmcore');
if (!existsSync(vmcore)) throw new Error(`${vmcore} is missing (npm test makes the fixtures)`);

const work = mkdtempSync(path.join(tmpdir(), 'elf-export-bench-'));
const stored = path.join(work, 'stored.kdump');
execFileSync('makedumpfile', ['-f', '-l', '-d', String(level), vmcore, stored], { stdio: 'ignore' });

async function ours(out) {
  const reader = await KdumpFileReader.open(stored);
  try {
    const plan = await planStoredDumpExport(reader, undefined);
    await pipeline(Readable.from(streamElfCore(reader, plan)), createWriteStream(out));
  } finally {
    await reader.close();
  }
}
const anchor = async (out) => execFileSync('makedumpfile', ['-f', '-E', '-d', String(level), vmcore, out], { stdio: 'ignore' });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const times = { ours: [], anchor: [] };
const sizes = {};
try {
  for (let i = 0; i < runs; i++) {
    for (const [name, fn] of [['ours', ours], ['anchor', anchor]]) {
      const out = path.join(work, `${name}.elf`);
      const t0 = process.hrtime.bigint();
      await fn(out);
      times[name].push(Number(process.hrtime.bigint() - t0) / 1e9);
      sizes[name] = statSync(out).size;
      rmSync(out);
    }
  }
  const [o, a] = [median(times.ours), median(times.anchor)];
  console.log(`${path.basename(vmcore)} -d ${level}, ${runs} runs, medians:`);
  console.log(`  ours   kdump -> ELF        ${o.toFixed(2)} s  ${(sizes.ours / 1e6).toFixed(1)} MB  ${(sizes.ours / 1e6 / o).toFixed(0)} MB/s`);
  console.log(`  anchor makedumpfile -E     ${a.toFixed(2)} s  ${(sizes.anchor / 1e6).toFixed(1)} MB`);
  console.log(`  ratio ours/anchor          ${(o / a).toFixed(2)}x`);
  console.log(`  peak RSS of this process   ${(process.resourceUsage().maxRSS / 1024).toFixed(1)} MB`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
