#!/usr/bin/env node
// Cost of deciding a dump level's pages (reading mem_map and judging each struct page),
// per GiB of the crashed machine's RAM, on every kernel generation of the fixtures, and
// its projection to 1 TiB (it is linear in pfns). The anchor is the 6.1 busy core measured
// in the same run: each generation's cost per GiB is printed as a ratio to it, so a rule
// that made some kernel's pass superlinear or much slower shows on this noisy machine too.
// The arm64 cores of test/fixtures/ensure-arm64.sh are measured beside them (the pass
// on arm64 should cost no more per GiB than on x86_64). Per GiB means per GiB of memory the core
// holds: arm64's RAM starts at PHYS_OFFSET (1 GiB on QEMU virt), so the highest pfn would
// count a hole as memory.
// usage: node bench/dump-level-cost.mjs [VMCORE...] [--level 31] [--runs 5]   (after npm run build)
import path from 'node:path';
import { computeExclusion } from '../dist/sender/dump-level/exclusion.js';
import { VmcoreSource } from '../dist/sender/vmcore-source.js';
import { existsSync } from 'node:fs';
import { fixtureDir, fixtureVmcores, readManifest } from '../test/fixtures/paths.mjs';

const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const level = Number(flag('level', '31'));
const runs = Number(flag('runs', '5'));
const files = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
/** [label, path]: the named files, or the 6.1 idle core and every generation's busy core. */
const vmcores = files.length
  ? files.map((f) => [path.basename(f), f])
  : [
    ['6.1 idle', fixtureVmcores(['idle'])[0]],
    ...(readManifest()?.generations ?? []).filter((g) => g.vmcores.busy).map((g) => [`${g.generation} busy (${g.kver})`, g.vmcores.busy]),
    ...['idle', 'busy'].map((name) => [`arm64 ${name}`, path.join(fixtureDir('arm64'), `${name}.vmcore`)]).filter(([, file]) => existsSync(file)),
  ];
if (vmcores.length === 0) throw new Error('no fixtures: run bash test/fixtures/ensure-fixtures.sh, or name VMCORE files');

const rows = [];
for (const [label, file] of vmcores) {
  const source = VmcoreSource.open(file);
  const ramGiB = (source.core.pageMap.totalPages * source.core.pageSize) / 2 ** 30;
  const times = [];
  let result;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    result = computeExclusion(source, level);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  source.close();
  const median = times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
  rows.push({ label, ramGiB, median, perGiB: median / ramGiB, result, total: source.core.pageMap.totalPages, machine: source.core.machine });
}
const anchor = rows.find((r) => r.label.startsWith('6.1 busy')) ?? rows[0];
for (const r of rows) {
  console.log(`${r.label} [${r.machine}]: -d ${r.result.level} (rules ${r.result.generation || 'none'}), ${r.ramGiB.toFixed(2)} GiB of memory, ` +
    `kept ${r.result.dumpablePages} of ${r.total} pages; median ${r.median.toFixed(3)} s = ${r.perGiB.toFixed(3)} s/GiB ` +
    `(${(r.perGiB / anchor.perGiB).toFixed(2)}x the ${anchor.label.split(' (')[0]} anchor) -> ${((r.perGiB * 1024) / 60).toFixed(1)} min for 1 TiB (projection)`);
}
