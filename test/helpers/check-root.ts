/**
 * A fake sysfs/procfs root for kdump-send --check (KDUMP_SEND_CHECK_ROOT):
 * the files the reservation check reads, with the figures a test chooses,
 * and a small gzip capture initramfs where Debian's kdump-tools keeps it.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { cpioArchive } from './cpio-builder.js';

const MiB = 2 ** 20;

/** A root's view of a 4 GiB x86_64 guest: a 27 MiB kernel image, a reservation at 0xa4000000. */
export const IOMEM = `00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-0009ffff : Reserved
000f0000-000fffff : System ROM
00100000-bffdffff : System RAM
  01000000-01ffffff : Kernel code
  02000000-027fffff : Kernel rodata
  02800000-029fffff : Kernel data
  02c00000-02cfffff : Kernel bss
  a4000000-b3ffffff : Crash kernel
bffe0000-bfffffff : Reserved
feffc000-feffffff : Reserved
100000000-13fffffff : System RAM
`;
export const IOMEM_KERNEL_BYTES = 27 * MiB;
export const CHECK_KERNEL_RELEASE = '6.1.0-57-amd64';

export interface CheckRoot {
  dir: string;
  /** Where the capture initramfs is, and what it unpacks to. */
  initrd: string;
  initrdUnpackedBytes: number;
  cleanup(): Promise<void>;
}

export async function makeCheckRoot(options: { crashSize: number | undefined; crashLoaded?: boolean; cmdline?: string; initrd?: boolean }): Promise<CheckRoot> {
  const dir = await mkdtemp(path.join(tmpdir(), 'netdump-check-root-'));
  const put = async (file: string, content: string | Buffer) => {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content);
  };
  await put('proc/iomem', IOMEM);
  await put('proc/cmdline', `${options.cmdline ?? 'BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro quiet'}\n`);
  await put('proc/sys/kernel/osrelease', `${CHECK_KERNEL_RELEASE}\n`);
  await mkdir(path.join(dir, 'sys/kernel'), { recursive: true });
  if (options.crashSize !== undefined) {
    await put('sys/kernel/kexec_crash_size', `${options.crashSize}\n`);
    await put('sys/kernel/kexec_crash_loaded', options.crashLoaded === false ? '0\n' : '1\n');
  }
  const initrd = `var/lib/kdump/initrd.img-${CHECK_KERNEL_RELEASE}`;
  const unpacked = 20 * MiB;
  if (options.initrd !== false) {
    const early = cpioArchive([{ name: 'kernel/x86/microcode/AuthenticAMD.bin', data: Buffer.alloc(64 * 1024, 1) }]);
    const main = cpioArchive([{ name: 'usr/lib/kdump-send/runtime.squashfs', data: Buffer.alloc(unpacked - 64 * 1024, 7) }]);
    await put(initrd, Buffer.concat([early, gzipSync(main)]));
  }
  return { dir, initrd: path.join(dir, initrd), initrdUnpackedBytes: unpacked, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
