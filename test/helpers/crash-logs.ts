/**
 * Synthetic cores whose printk ring holds a real-shaped crash report, for
 * tests of triage and of the log sent ahead of the pages.
 */
import { writeElfCoreFile, type ElfCoreFile } from './elf-core-builder.js';
import { buildLocklessRing, imageCoreSpec, PAGE } from './printk-ring.js';

/** Where coreWithLog's memory beyond the kernel image starts. */
const MEMORY_PHYS = 16 * 2 ** 20;

export interface Bug { func: string; module: string; comm: string }

export const FOO: Bug = { func: 'foo_write', module: 'foo', comm: 'foo-writer' };
export const BAR: Bug = { func: 'bar_read', module: 'bar', comm: 'bar-reader' };

/** The log of an Oops in a module: the same bug, told with another pid, CPU, address and uptime each time. */
export function oopsLog(bug: Bug, variant: number): string[] {
  return [
    'Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)',
    `BUG: kernel NULL pointer dereference, address: 00000000000000${(8 + variant * 16).toString(16)}`,
    '#PF: supervisor write access in kernel mode',
    `Oops: 0002 [#1] PREEMPT SMP NOPTI`,
    `CPU: ${variant} PID: ${4000 + variant * 37} Comm: ${bug.comm}${variant} Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.158-1`,
    `RIP: 0010:${bug.func}+0x1d/0x50 [${bug.module}]`,
    'Call Trace:',
    ' <TASK>',
    ` ? __die+0x${(0x20 + variant).toString(16)}/0x70`,
    ` ${bug.func}_locked+0x${(0x31 + variant).toString(16)}/0x90 [${bug.module}]`,
    ' vfs_write+0xb9/0x260',
    ' ksys_write+0x5f/0xe0',
    ' do_syscall_64+0x5b/0xc0',
    ' entry_SYSCALL_64_after_hwframe+0x63/0xcd',
    ' </TASK>',
    'Kernel panic - not syncing: Fatal exception',
  ];
}

/**
 * An ELF core whose lockless printk ring holds `lines`, crashed at
 * `crashTime` (seconds). The kernel image (where the ring lives) is mapped
 * as a vmcore maps it; `memoryPages` more pages of memory follow at 16 MiB
 * (zero, compressible and incompressible pages), as the rest of a machine.
 */
export async function coreWithLog(lines: string[], crashTime: number, memoryPages = 0): Promise<ElfCoreFile> {
  const ring = buildLocklessRing({
    countBits: 6,
    sizeBits: 13,
    tailId: 0n,
    headId: BigInt(lines.length - 1),
    records: lines.map((text, i) => ({ id: BigInt(i), tsNsec: BigInt(1_000_000 * (i + 1) + crashTime % 1000), text })),
  });
  const spec = imageCoreSpec(ring.image, ring.vmcoreinfoLines);
  spec.vmcoreinfo = spec.vmcoreinfo!.replace('CRASHTIME=1700000000', `CRASHTIME=${crashTime}`);
  if (memoryPages > 0) {
    const imagePage = spec.page!;
    const first = MEMORY_PHYS / PAGE;
    spec.loads.push({ paddr: MEMORY_PHYS, memsz: memoryPages * PAGE });
    spec.page = (pfn) => (pfn < first ? imagePage(pfn) : pfn % 5 === 0 ? 'zero' : pfn % 7 === 0 ? 'random' : 'pattern');
  }
  return writeElfCoreFile(spec);
}
