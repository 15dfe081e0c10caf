#!/usr/bin/env node
// Time to extract the kernel log natively: from the ELF vmcore and from kdump-compressed copies
// (makedumpfile -l -d 1 and -d 31, made in a temporary directory), against vmcore-dmesg on the ELF core.
// The first run of each is reported apart (cold caches of ours; the page cache is whatever it is).
// usage: node bench/dmesg-extract.mjs [VMCORE...] [--runs 5]   (after npm run build, or npx tsc -p tsconfig.json)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { extractKernelLogFromElfCore, extractKernelLogFromKdumpFile } from '../dist/shared/dmesg/extract.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const runs = args.includes('--runs') ? Number(args[args.indexOf('--runs') + 1]) : 5;
const files = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const vmcores = files.length ? files : (await import('../test/fixtures/paths.mjs')).fixtureVmcores(['busy', 'idle']);
const vmcoreDmesg = ['/usr/sbin/vmcore-dmesg', '/sbin/vmcore-dmesg'].find((p) => existsSync(p));

async function time(label, fn) {
  const times = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    bytes = (await fn()).length;
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const [first, ...rest] = times;
  const median = rest.sort((a, b) => a - b)[Math.floor(rest.length / 2)] ?? first;
  console.log(`  ${label.padEnd(34)} first ${first.toFixed(1).padStart(7)} ms, then median ${median.toFixed(1).padStart(7)} ms  (${bytes} bytes)`);
}

const work = mkdtempSync(path.join(tmpdir(), 'netdump-bench-dmesg-'));
try {
  for (const vmcore of vmcores) {
    console.log(`${path.basename(vmcore)} (${runs} runs each):`);
    await time('ELF core (native)', () => extractKernelLogFromElfCore(vmcore));
    for (const level of [1, 31]) {
      const stored = path.join(work, `d${level}.kdump`);
      execFileSync('makedumpfile', ['-f', '-l', '-d', String(level), vmcore, stored], { stdio: 'ignore' });
      await time(`kdump file -d ${level} (native)`, () => extractKernelLogFromKdumpFile(stored));
    }
    if (vmcoreDmesg) await time('vmcore-dmesg on the ELF core (exec)', async () => execFileSync(vmcoreDmesg, [vmcore], { maxBuffer: 1 << 28 }));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
