#!/usr/bin/env node
// Cost of deciding a dump level's pages (reading mem_map and judging each struct page),
// per GiB of the crashed machine's RAM, and its projection to 1 TiB (it is linear in pfns).
// usage: node bench/dump-level-cost.mjs [VMCORE...] [--level 31] [--runs 5]   (after npm run build)
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { computeExclusion } from '../dist/sender/dump-level/exclusion.js';
import { VmcoreSource } from '../dist/sender/vmcore-source.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const level = Number(flag('level', '31'));
const runs = Number(flag('runs', '5'));
const files = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const vmcores = files.length ? files : (await import('../test/fixtures/paths.mjs')).fixtureVmcores(['idle', 'busy']);

for (const file of vmcores) {
  const source = VmcoreSource.open(file);
  const ramGiB = (source.core.pageMap.maxPfn * source.core.pageSize) / 2 ** 30;
  const times = [];
  let result;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    result = computeExclusion(source, level);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  source.close();
  const median = times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
  console.log(`${path.basename(file)}: -d ${result.level}, ${ramGiB.toFixed(2)} GiB of pfns, kept ${result.dumpablePages} of ${source.core.pageMap.totalPages} pages; ` +
    `median ${median.toFixed(3)} s = ${(median / ramGiB).toFixed(3)} s/GiB -> ${((median / ramGiB) * 1024 / 60).toFixed(1)} min for 1 TiB`);
}
