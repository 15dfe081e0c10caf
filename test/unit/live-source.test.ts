/**
 * A live snapshot's source: /proc/kcore read as the vmcore of its physical
 * segments (sender/live/kcore-layout.ts), against the vmcore of the same
 * memory; the read-rate bucket behind --max-rate.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { kcoreOffsetOf, vmcoreLayoutOfKcore } from '../../sender/live/kcore-layout.js';
import { parseRate, ReadRate } from '../../sender/live/read-rate.js';
import { sampleX86Loads, type ElfCoreSpec } from '../helpers/elf-core-builder.js';
import { writeKcoreFile, type KcoreFile } from '../helpers/kcore-file.js';

const SPEC: ElfCoreSpec = { loads: sampleX86Loads(), cpus: 1, page: (pfn) => (pfn % 5 === 0 ? 'zero' : 'random') };

describe('live snapshot source: /proc/kcore as a vmcore', () => {
  let dir: string;
  let kcore: KcoreFile;
  let vmcorePath: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'netdump-kcore-'));
    kcore = await writeKcoreFile(dir, SPEC);
    vmcorePath = path.join(dir, 'vmcore');
    await writeFile(vmcorePath, kcore.vmcore.buffer);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the segments with a physical address, laid out one after another, each mapped back to its place in kcore', async () => {
    const { headers } = kcore;
    const layout = vmcoreLayoutOfKcore(headers);
    expect(layout.virtualOnly).toBe(2);
    expect(layout.windows).toHaveLength(1 + kcore.vmcore.loads.length);
    const dataBytes = kcore.vmcore.loads.reduce((n, l) => n + l.filesz, 0);
    expect(layout.size).toBe(layout.headerBytes.length + kcore.vmcore.notes.length + dataBytes);
    for (let i = 1; i < layout.windows.length; i++) expect(layout.windows[i].start).toBe(layout.windows[i - 1].end);
    const second = layout.windows[2];
    expect(kcoreOffsetOf(layout, second.start + 100, 10)).toBe(second.kcoreOffset + 100);
    expect(kcoreOffsetOf(layout, second.end - 4, 8)).toBeUndefined(); // straddles into the next window
    expect(kcoreOffsetOf(layout, 0, 64)).toBeUndefined(); // the headers were made, not read
  });

  it('reads the same pages, notes and page map as the vmcore of the same memory, and nothing of the virtual-only segments', () => {
    const live = VmcoreSource.openLive(kcore.path);
    const crash = VmcoreSource.open(vmcorePath);
    try {
      expect(live.live).toBeDefined();
      expect(live.mapped).toBe(false);
      expect(live.notes.equals(crash.notes)).toBe(true);
      expect(live.core.pageMap.extents).toEqual(crash.core.pageMap.extents);
      expect(live.core.physBase).toBe(crash.core.physBase);
      const pageSize = crash.core.pageSize;
      const a = Buffer.alloc(64 * pageSize);
      const b = Buffer.alloc(64 * pageSize);
      let pages = 0;
      for (const extent of crash.core.pageMap.extents) {
        for (let pfn = extent.startPfn; pfn < extent.startPfn + extent.pageCount; pfn += 64) {
          const count = Math.min(64, extent.startPfn + extent.pageCount - pfn);
          const got = live.readPages(pfn, count, a);
          expect(got.equals(crash.readPages(pfn, count, b)), `pfn ${pfn}+${count}`).toBe(true);
          expect(got.includes(Buffer.alloc(16, 0xee))).toBe(false);
          pages += count;
        }
      }
      expect(pages).toBe(crash.core.pageMap.totalPages);
    } finally {
      live.close();
      crash.close();
    }
  });

  it('refuses, saying why: no such file, no VMCOREINFO, no segment with a physical address', async () => {
    expect(() => VmcoreSource.openLive(path.join(dir, 'absent'))).toThrow(/cannot open .*absent for a live snapshot: no such file: the kernel is built without CONFIG_PROC_KCORE/);
    const bare = await writeKcoreFile(dir, { ...SPEC, vmcoreinfo: null }, 'kcore-no-vmcoreinfo');
    expect(() => VmcoreSource.openLive(bare.path)).toThrow(/kcore-no-vmcoreinfo: its notes hold no VMCOREINFO \(a kernel before 4\.19/);
    const { headers } = kcore;
    const virtualOnly = Buffer.from(headers);
    for (let i = 1; i < 1 + kcore.vmcore.loads.length + 2; i++) virtualOnly.writeBigUInt64LE(0xffff_ffff_ffff_ffffn, 64 + i * 56 + 24);
    expect(() => vmcoreLayoutOfKcore(virtualOnly)).toThrow(/has no segment with a physical address \(p_paddr\)/);
  });
});

describe('--max-rate', () => {
  it('reads --max-rate values as bytes per second, K/M/G in powers of 1024; refuses what is not one or is under a page', () => {
    expect(parseRate('50M')).toBe(50 * 2 ** 20);
    expect(parseRate('1.5G')).toBe(1.5 * 2 ** 30);
    expect(parseRate('800k')).toBe(800 * 1024);
    expect(parseRate('1000000')).toBe(1_000_000);
    expect(parseRate('20MiB/s')).toBe(20 * 2 ** 20);
    for (const bad of ['', 'fast', '-5M', '10T', '100', '5 M B']) expect(parseRate(bad), bad).toBeUndefined();
  });

  it('lets a second\'s worth through at once, then holds reads to the rate', async () => {
    let now = 0;
    const slept: number[] = [];
    const rate = new ReadRate(1000, () => now, async (ms) => { slept.push(ms); now += ms; });
    await rate.take(1000); // the bucket starts full
    expect(slept).toEqual([]);
    await rate.take(500);
    expect(slept).toEqual([500]);
    now += 2000; // idle: the bucket refills to one second's worth, no more
    await rate.take(1000);
    await rate.take(250);
    expect(slept).toEqual([500, 250]);
    const total = 1000 + 500 + 1000 + 250;
    expect(total / (now / 1000)).toBeLessThanOrEqual(1000 * (1 + (1000 + 1000) / total)); // within the two bursts allowed
  });
});
