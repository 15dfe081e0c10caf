/**
 * Does the capture side fit in the crashkernel reservation? From the parts
 * the running host can see (the kernel image, the capture initramfs
 * compressed and unpacked) and those it cannot (capture-budget.ts), the
 * larger of two moments:
 * - unpacking: the image, the compressed initramfs (freed only once it is
 *   unpacked) and the files, which count twice: measured with
 *   bench/crashkernel-min.mjs, a capture kernel runs out ("Initramfs
 *   unpacking failed: write error" with a tmpfs rootfs, "System is
 *   deadlocked on memory" with rootfstype=ramfs) once the reservation is
 *   below that sum, for every layout and builder measured;
 * - sending: the image, the files, the kernel's runtime and the sender.
 * Compared with what the kernel reserved. Pure: facts in, findings out.
 */
import { ErrorCode } from '../../shared/errors.js';
import { CAPTURE_KERNEL_BASE_BYTES, CAPTURE_KERNEL_EARLY_BYTES, SENDER_PEAK_RSS_BYTES } from './capture-budget.js';
import { crashkernelArgs, distroDefaultsFor, parseCrashkernel, reservationFor, suggestedCrashkernel } from './crashkernel.js';
import { fail, formatBytes, note, ok, warn, type Finding } from './findings.js';
import type { InitramfsSizes } from './initramfs.js';
import type { KernelImage } from './iomem.js';

const MiB = 2 ** 20;
const mib = (bytes: number) => `${Math.round(bytes / MiB)} MiB`;

export type InitramfsFacts =
  | { kind: 'image'; path: string; sizes: InitramfsSizes }
  /** A staging tree an install hook is building: unpacked sizes exact, the compressed size estimated. */
  | { kind: 'tree'; path: string; sizes: InitramfsSizes; compressedEstimate: string }
  | { kind: 'missing'; lookedIn: string[] }
  | { kind: 'unreadable'; path: string; reason: string };

export interface PayloadFacts {
  /** /sys/kernel/kexec_crash_size; undefined when the kernel has none (no kexec crash support). */
  crashSize?: number;
  /** /sys/kernel/kexec_crash_loaded. */
  crashLoaded?: boolean;
  /** /proc/cmdline. */
  cmdline?: string;
  /** System RAM, as crashkernel= ranges are chosen by. */
  ramBytes?: number;
  /** From /proc/iomem; undefined when it could not be read. */
  kernelImage?: KernelImage;
  initramfs: InitramfsFacts;
  senderPeakRssBytes?: number;
  captureKernelBaseBytes?: number;
  captureKernelEarlyBytes?: number;
}

export interface PayloadEstimate {
  reservedBytes?: number;
  neededBytes: number;
  /** False when a part could not be measured: neededBytes is then a lower bound. */
  complete: boolean;
  parts: {
    kernelImage: number; initramfsCompressed: number; initramfsUnpacked: number; senderPeakRss: number; captureKernelBase: number;
    captureKernelEarly: number;
  };
  /** The two moments compared: the larger is neededBytes. */
  phases: { unpacking: number; sending: number };
  /** crashkernel= to set: neededBytes rounded up to the next 32 MiB. */
  suggestedCrashkernel: string;
}

const LOAD_HINT = 'load it (Debian: kdump-config load; RHEL, Fedora, SUSE: systemctl restart kdump)';
const SET_HINT = '(Debian: GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub.d/kdump-tools.cfg, then update-grub; '
  + 'RHEL, Fedora: grubby --update-kernel=ALL --args=crashkernel=VALUE; SUSE: yast kdump or /etc/default/grub), then reboot';
const BUILD_HINT = 'build it (Debian: kdump-config load; RHEL, Fedora: kdumpctl rebuild; SUSE: mkdumprd) or pass --initrd FILE';

export function payloadFindings(facts: PayloadFacts): { findings: Finding[]; estimate: PayloadEstimate } {
  const findings: Finding[] = [];
  let complete = true;

  // The kernel image.
  let kernelBytes = 0;
  const image = facts.kernelImage;
  if (!image) {
    complete = false;
    findings.push(fail('kernel image', ErrorCode.BAD_INPUT, 'cannot read /proc/iomem: the size of the kernel image is unknown'));
  } else if (image.hidden) {
    complete = false;
    findings.push(fail('kernel image', ErrorCode.BAD_INPUT, '/proc/iomem shows its addresses only to root: run kdump-send --check as root'));
  } else if (image.bytes === 0) {
    complete = false;
    findings.push(fail('kernel image', ErrorCode.BAD_INPUT, '/proc/iomem lists no Kernel code, rodata, data or bss range'));
  } else {
    kernelBytes = image.bytes;
    const parts = Object.entries(image.parts).map(([name, bytes]) => `${name.replace(/^Kernel /, '')} ${formatBytes(bytes)}`).join(', ');
    const missing = image.missing.length ? `; no ${image.missing.join(', ')} range, counted as 0` : '';
    findings.push((image.missing.length ? warn : ok)('kernel image', `${formatBytes(kernelBytes)} (${parts}; /proc/iomem of this kernel, `
      + `which the capture kernel is a copy of${missing})`, { bytes: kernelBytes, parts: image.parts }));
  }

  // The capture initramfs.
  let compressed = 0;
  let unpacked = 0;
  const initramfs = facts.initramfs;
  if (initramfs.kind === 'missing') {
    complete = false;
    findings.push(fail('initramfs', ErrorCode.BAD_INPUT, `no capture initramfs found (looked for ${initramfs.lookedIn.join(', ')}): ${BUILD_HINT}`,
      { lookedIn: initramfs.lookedIn }));
  } else if (initramfs.kind === 'unreadable') {
    complete = false;
    findings.push(fail('initramfs', ErrorCode.BAD_INPUT, `cannot read ${initramfs.path}: ${initramfs.reason}`, { path: initramfs.path }));
  } else {
    const { sizes } = initramfs;
    compressed = sizes.compressedBytes;
    unpacked = sizes.unpacked.pageBytes;
    const layout = sizes.layout.length ? sizes.layout.join(' + ') : 'empty';
    findings.push(initramfs.kind === 'tree'
      ? note('initramfs', `${initramfs.path} (a tree being built): ${formatBytes(compressed)} compressed, estimated (${initramfs.compressedEstimate}); `
        + 'held in memory while it is unpacked', { path: initramfs.path, compressedBytes: compressed, estimated: true })
      : ok('initramfs', `${initramfs.path}: ${formatBytes(compressed)} (${layout}), held in memory while it is unpacked`,
        { path: initramfs.path, compressedBytes: compressed, layout: sizes.layout }));
    const tally = `${sizes.unpacked.files} file${sizes.unpacked.files === 1 ? '' : 's'}, ${formatBytes(sizes.unpacked.bytes)} of data in 4 KiB pages`;
    findings.push(sizes.unreadable === undefined
      ? ok('initramfs unpacked', `${formatBytes(unpacked)} (${tally})`, { bytes: unpacked, dataBytes: sizes.unpacked.bytes, files: sizes.unpacked.files })
      : warn('initramfs unpacked', `${formatBytes(unpacked)}, partly a stand-in: ${sizes.unreadable}; the part not read is counted at its compressed size `
        + `(${tally} read)`, { bytes: unpacked, dataBytes: sizes.unpacked.bytes, files: sizes.unpacked.files, unreadable: sizes.unreadable }));
  }

  // What it cannot see.
  const sender = facts.senderPeakRssBytes ?? SENDER_PEAK_RSS_BYTES;
  const base = facts.captureKernelBaseBytes ?? CAPTURE_KERNEL_BASE_BYTES;
  const early = facts.captureKernelEarlyBytes ?? CAPTURE_KERNEL_EARLY_BYTES;
  findings.push(note('sender', `${formatBytes(sender)} peak RSS in the capture kernel (measured, SENDER_PEAK_RSS_BYTES)`, { bytes: sender }));
  findings.push(note('capture kernel runtime', `${formatBytes(early)} while unpacking, ${formatBytes(base)} while sending: page tables, slab, `
    + 'per-CPU areas with nr_cpus=1, the network, kexec\'s segments (CAPTURE_KERNEL_EARLY_BYTES, CAPTURE_KERNEL_BASE_BYTES)', { early, base }));

  const unpacking = kernelBytes + early + compressed + 2 * unpacked;
  const sending = kernelBytes + base + unpacked + sender;
  const needed = Math.max(unpacking, sending);
  findings.push(note('moments', `unpacking the initramfs needs ${mib(unpacking)} (the files count twice, as measured), sending ${mib(sending)}`,
    { unpacking, sending }));
  const suggestion = suggestedCrashkernel(needed);
  const atLeast = complete ? '' : 'at least ';
  const args = crashkernelArgs(facts.cmdline ?? '');
  const onCmdline = args.length ? `crashkernel=${args.join(' crashkernel=')}` : undefined;
  const set = `set crashkernel=${suggestion.value} on the kernel command line ${SET_HINT.replace('VALUE', suggestion.value)}`;
  const estimate: PayloadEstimate = {
    reservedBytes: facts.crashSize, neededBytes: needed, complete,
    parts: {
      kernelImage: kernelBytes, initramfsCompressed: compressed, initramfsUnpacked: unpacked, senderPeakRss: sender, captureKernelBase: base,
      captureKernelEarly: early,
    },
    phases: { unpacking, sending },
    suggestedCrashkernel: suggestion.value,
  };
  const data = { reservedBytes: facts.crashSize ?? null, neededBytes: needed, complete, suggestedCrashkernel: suggestion.value, cmdline: onCmdline ?? null };

  // The reservation.
  let short = true;
  if (facts.crashSize === undefined) {
    findings.push(fail('reservation', ErrorCode.BAD_INPUT, `this kernel has no /sys/kernel/kexec_crash_size: it was built without kexec crash dump support, `
      + `so no capture kernel can be loaded; the capture side needs ${atLeast}${mib(needed)}: boot a kernel with kdump support and `
      + `crashkernel=${suggestion.value}`, data));
  } else if (facts.crashSize === 0) {
    const why = !onCmdline
      ? 'the kernel command line has no crashkernel='
      : `${onCmdline} is on the kernel command line but reserved nothing (${whyNothing(args, facts.ramBytes)})`;
    findings.push(fail('reservation', ErrorCode.BAD_INPUT, `no memory is reserved for a capture kernel: ${why}; the capture side needs `
      + `${atLeast}${mib(needed)}: ${set}`, data));
  } else if (needed > facts.crashSize) {
    findings.push(fail('reservation', ErrorCode.BAD_INPUT, `${mib(facts.crashSize)} reserved${onCmdline ? ` (${onCmdline})` : ''}, `
      + `the capture side needs ${atLeast}${mib(needed)}: ${mib(needed - facts.crashSize)} short; ${set}`, data));
  } else {
    short = false;
    findings.push(ok('reservation', `${mib(facts.crashSize)} reserved${onCmdline ? ` (${onCmdline})` : ''}, the capture side needs `
      + `${atLeast}${mib(needed)}: ${mib(facts.crashSize - needed)} to spare`, data));
  }
  if (short && facts.ramBytes) {
    const defaults = distroDefaultsFor(facts.ramBytes);
    const enough = defaults.filter((d) => d.bytes >= needed).map((d) => d.distro);
    findings.push(note('distro defaults', `on this host's ${formatBytes(facts.ramBytes)} of RAM, `
      + defaults.map((d) => `${d.distro} crashkernel=${d.value} reserves ${mib(d.bytes)}`).join('; ')
      + `: ${enough.length ? `enough here: ${enough.join(', ')}` : 'none is enough here'}${complete ? '' : ' (for the parts measured)'}`,
    { ramBytes: facts.ramBytes, defaults }));
  }

  // Whether a capture kernel is loaded now.
  if (facts.crashSize !== undefined) {
    if (facts.crashLoaded === true) findings.push(ok('capture kernel', 'loaded (/sys/kernel/kexec_crash_loaded is 1)'));
    else if (facts.crashLoaded === false) findings.push(warn('capture kernel', `none is loaded now (/sys/kernel/kexec_crash_loaded is 0): ${LOAD_HINT}`));
    else findings.push(warn('capture kernel', 'cannot read /sys/kernel/kexec_crash_loaded: whether one is loaded is unknown'));
  }
  return { findings, estimate };
}

/** Why a crashkernel= that is there reserved nothing. */
function whyNothing(args: string[], ramBytes: number | undefined): string {
  const ranges = parseCrashkernel(args[0]);
  if (!ranges) return `the kernel cannot read crashkernel=${args[0]}`;
  if (ramBytes !== undefined && reservationFor(ranges, ramBytes) === 0) {
    return `no range of it covers this host's ${formatBytes(ramBytes)} of RAM`;
  }
  return 'the reservation failed at boot: see dmesg | grep -i crashkernel';
}
