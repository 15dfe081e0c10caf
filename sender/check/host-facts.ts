/**
 * The I/O edge of the reservation check: reads sysfs, procfs and the
 * capture initramfs of the running host and hands the pure parts
 * (iomem.ts, initramfs.ts, reservation.ts) their text and bytes. Every path
 * is under `root` ("/" in real use; a fake sysfs/procfs tree in tests, from
 * KDUMP_SEND_CHECK_ROOT), except an --initrd given on the command line.
 */
import { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toNetdumpError } from '../../shared/errors.js';
import { decompressWithTools } from './decompress.js';
import { measureInitramfs } from './initramfs.js';
import { measureTree, TREE_COMPRESSED_ESTIMATE } from './initrd-tree.js';
import { kernelImage, parseIomem, systemRamBytes } from './iomem.js';
import type { InitramfsFacts, PayloadFacts } from './reservation.js';

export interface HostFacts extends Omit<PayloadFacts, 'initramfs'> {
  kernelRelease: string;
}

/** Where the distributions' kdump tools keep the capture initramfs of kernel `release`. */
export function initrdCandidates(release: string): string[] {
  return [
    `/var/lib/kdump/initrd.img-${release}`, // Debian, Ubuntu: kdump-tools
    `/boot/initramfs-${release}kdump.img`, // RHEL, Fedora: kdump-utils (kdumpctl)
    `/boot/initrd-${release}-kdump`, // SUSE: kdump (mkdumprd)
  ];
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function readNumber(file: string): number | undefined {
  const text = readText(file)?.trim();
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  return Number(text);
}

/** MemTotal, for when /proc/iomem hides its addresses. */
function memTotal(meminfo: string | undefined): number | undefined {
  const match = /^MemTotal:\s+(\d+) kB/m.exec(meminfo ?? '');
  return match ? Number(match[1]) * 1024 : undefined;
}

export function measureInitrd(file: string): InitramfsFacts {
  try {
    if (statSync(file).isDirectory()) return { kind: 'tree', path: file, sizes: measureTree(file), compressedEstimate: TREE_COMPRESSED_ESTIMATE };
    return { kind: 'image', path: file, sizes: measureInitramfs(readFileSync(file), decompressWithTools) };
  } catch (error) {
    return { kind: 'unreadable', path: file, reason: toNetdumpError(error).message };
  }
}

/** --initrd when given, else the first of the distributions' places that holds a file. */
export function findInitramfs(root: string, kernelRelease: string, initrd: string | undefined): InitramfsFacts {
  if (initrd !== undefined) return measureInitrd(initrd);
  const at = (p: string) => path.join(root, p);
  const candidates = initrdCandidates(kernelRelease);
  const found = candidates.find((c) => {
    try {
      return statSync(at(c)).isFile();
    } catch {
      return false;
    }
  });
  return found ? measureInitrd(at(found)) : { kind: 'missing', lookedIn: candidates.map(at) };
}

export function readHostFacts(root: string): HostFacts {
  const at = (p: string) => path.join(root, p);
  const kernelRelease = readText(at('/proc/sys/kernel/osrelease'))?.trim() || os.release();
  const iomemText = readText(at('/proc/iomem'));
  const ranges = iomemText === undefined ? undefined : parseIomem(iomemText);
  const image = ranges && kernelImage(ranges);
  const ramBytes = ranges && !image?.hidden ? systemRamBytes(ranges) || undefined : memTotal(readText(at('/proc/meminfo')));
  const loaded = readNumber(at('/sys/kernel/kexec_crash_loaded'));
  return {
    kernelRelease,
    crashSize: readNumber(at('/sys/kernel/kexec_crash_size')),
    crashLoaded: loaded === undefined ? undefined : loaded !== 0,
    cmdline: readText(at('/proc/cmdline')),
    ramBytes,
    kernelImage: image,
  };
}
