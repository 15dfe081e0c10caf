/**
 * kdump-send --check's reservation part on synthetic inputs: /proc/iomem
 * text, crashkernel= values, and the findings they add up to.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { ExitCode } from '../../sender/exit-codes.js';
import { CAPTURE_KERNEL_BASE_BYTES, CAPTURE_KERNEL_EARLY_BYTES, SENDER_PEAK_RSS_BYTES } from '../../sender/check/capture-budget.js';
import {
  crashkernelArgs, distroDefaultsFor, parseCrashkernel, parseMemSize, reservationFor, suggestedCrashkernel,
} from '../../sender/check/crashkernel.js';
import { checkExitCode, fail, formatFinding, note, ok, peerText, summaryLine, warn } from '../../sender/check/findings.js';
import { kernelImage, parseIomem, systemRamBytes } from '../../sender/check/iomem.js';
import { payloadFindings, type PayloadFacts } from '../../sender/check/reservation.js';
import { IOMEM, IOMEM_KERNEL_BYTES } from '../helpers/check-root.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

const KERNEL_BYTES = IOMEM_KERNEL_BYTES;
const RAM = (0x9fbff - 0x1000 + 1) + (0xbffdffff - 0x100000 + 1) + GiB;

describe('/proc/iomem', () => {
  it('the kernel image is its code, rodata, data and bss ranges', () => {
    const image = kernelImage(parseIomem(IOMEM));
    expect(image).toEqual({
      bytes: KERNEL_BYTES, hidden: false, missing: [],
      parts: { 'Kernel code': 16 * MiB, 'Kernel rodata': 8 * MiB, 'Kernel data': 2 * MiB, 'Kernel bss': MiB },
    });
  });

  it('system RAM is the top-level System RAM ranges only', () => {
    expect(systemRamBytes(parseIomem(IOMEM))).toBe(RAM);
  });

  it('non-root sees zeros: hidden, nothing counted', () => {
    const hidden = IOMEM.replace(/[0-9a-f]+-[0-9a-f]+ :/g, '00000000-00000000 :');
    expect(kernelImage(parseIomem(hidden))).toMatchObject({ hidden: true, bytes: 0 });
  });

  it('an older kernel without a rodata range: the parts it has, and which are missing', () => {
    const image = kernelImage(parseIomem(IOMEM.replace(/.*Kernel rodata\n/, '')));
    expect(image.bytes).toBe(KERNEL_BYTES - 8 * MiB);
    expect(image.missing).toEqual(['Kernel rodata']);
  });
});

describe('crashkernel=', () => {
  it('reads sizes with memparse suffixes', () => {
    expect(parseMemSize('128M')).toBe(128 * MiB);
    expect(parseMemSize('1G')).toBe(GiB);
    expect(parseMemSize('0x1000')).toBe(4096);
    expect(parseMemSize('12X')).toBeUndefined();
  });

  it('reads plain sizes, ranges, offsets and ,high', () => {
    expect(parseCrashkernel('256M')).toEqual([{ start: 0, size: 256 * MiB }]);
    expect(parseCrashkernel('256M@16M')).toEqual([{ start: 0, size: 256 * MiB }]);
    expect(parseCrashkernel('512M,high')).toEqual([{ start: 0, size: 512 * MiB }]);
    expect(parseCrashkernel('384M-:128M')).toEqual([{ start: 384 * MiB, end: undefined, size: 128 * MiB }]);
    expect(parseCrashkernel('1G-4G:192M,4G-64G:256M,64G-:512M')).toEqual([
      { start: GiB, end: 4 * GiB, size: 192 * MiB }, { start: 4 * GiB, end: 64 * GiB, size: 256 * MiB }, { start: 64 * GiB, end: undefined, size: 512 * MiB },
    ]);
    expect(parseCrashkernel('auto')).toBeUndefined();
    expect(parseCrashkernel('4G-1G:128M')).toBeUndefined();
  });

  it('picks the range of the host\'s RAM (start inclusive, end exclusive)', () => {
    const rhel = parseCrashkernel('1G-4G:192M,4G-64G:256M,64G-:512M')!;
    expect(reservationFor(rhel, 512 * MiB)).toBe(0);
    expect(reservationFor(rhel, GiB)).toBe(192 * MiB);
    expect(reservationFor(rhel, 4 * GiB)).toBe(256 * MiB);
    expect(reservationFor(rhel, 100 * GiB)).toBe(512 * MiB);
    // Rounded up to 128 MiB first, as the kernel does: firmware holes do not move a 4 GiB host down a range.
    expect(reservationFor(rhel, 4 * GiB - 5 * MiB)).toBe(256 * MiB);
  });

  it('finds crashkernel= on a command line, not after --', () => {
    expect(crashkernelArgs('BOOT_IMAGE=/vmlinuz root=/dev/sda1 crashkernel=384M-:128M quiet -- crashkernel=1G')).toEqual(['384M-:128M']);
    expect(crashkernelArgs('root=/dev/sda1 crashkernel=512M,high crashkernel=72M,low')).toEqual(['512M,high', '72M,low']);
  });

  it('suggests the need rounded up to the next 32 MiB', () => {
    expect(suggestedCrashkernel(300 * MiB)).toEqual({ bytes: 320 * MiB, value: '320M' });
    expect(suggestedCrashkernel(320 * MiB).value).toBe('320M');
    expect(suggestedCrashkernel(320 * MiB + 1).value).toBe('352M');
  });

  it('the distro defaults on a host', () => {
    expect(distroDefaultsFor(8 * GiB).map((d) => d.bytes / MiB)).toEqual([128, 192, 256]);
    expect(distroDefaultsFor(256 * MiB).map((d) => d.bytes)).toEqual([0, 0, 0]);
  });
});

describe('findings', () => {
  it('exit code: the first failure\'s, in order; warnings and notes pass', () => {
    expect(checkExitCode([ok('a', 'x'), warn('b', 'y'), note('c', 'z')])).toBe(0);
    expect(checkExitCode([ok('a', 'x'), fail('b', ErrorCode.UNAVAILABLE, 'y'), fail('c', ErrorCode.BAD_INPUT, 'z')])).toBe(ExitCode.UNREACHABLE);
    expect(checkExitCode([fail('b', ErrorCode.AUTH, 'y')])).toBe(ExitCode.REJECTED);
  });

  it('one line each, and a summary', () => {
    expect(formatFinding(fail('reservation', ErrorCode.BAD_INPUT, 'too small'))).toBe('FAIL  reservation: too small');
    expect(formatFinding(ok('initramfs', 'fine'))).toBe('ok    initramfs: fine');
    expect(summaryLine([ok('a', 'x'), warn('b', 'y')], 0)).toBe('kdump-send --check: every check passed, 1 warning (exit 0)');
    expect(summaryLine([ok('a', 'x'), fail('b', ErrorCode.AUTH, 'y'), note('c', 'z')], 4)).toBe('kdump-send --check: 1 of 2 checks failed (exit 4)');
  });

  it('text from a receiver is shown with its control characters escaped', () => {
    expect(peerText('wrong\u001b[31m token\n')).toBe('wrong\\x1b[31m token\\x0a');
  });
});

describe('reservation against the payload', () => {
  const initramfs: PayloadFacts['initramfs'] = {
    kind: 'image', path: '/var/lib/kdump/initrd.img-6.1.0-57-amd64',
    sizes: { compressedBytes: 30 * MiB, layout: ['cpio', 'zstd'], unpacked: { files: 900, bytes: 99 * MiB, pageBytes: 100 * MiB } },
  };
  const facts = (overrides: Partial<PayloadFacts> = {}): PayloadFacts => ({
    crashSize: 256 * MiB, crashLoaded: true, cmdline: 'root=/dev/vda1 crashkernel=256M', ramBytes: RAM,
    kernelImage: kernelImage(parseIomem(IOMEM)), initramfs, ...overrides,
  });
  // While unpacking, the files count twice (measured: bench/crashkernel-min.mjs).
  const UNPACKING = KERNEL_BYTES + CAPTURE_KERNEL_EARLY_BYTES + 30 * MiB + 2 * 100 * MiB;
  const SENDING = KERNEL_BYTES + CAPTURE_KERNEL_BASE_BYTES + 100 * MiB + SENDER_PEAK_RSS_BYTES;
  const NEED = Math.max(UNPACKING, SENDING);
  const SUGGESTED = `${Math.ceil(NEED / (32 * MiB)) * 32}M`;
  const line = (f: PayloadFacts, topic: string) => payloadFindings(f).findings.filter((x) => x.topic === topic).map(formatFinding).join('\n');

  it('adds up the parts it sees and the two it cannot', () => {
    const { estimate, findings } = payloadFindings(facts({ crashSize: 512 * MiB }));
    expect(estimate).toEqual({
      reservedBytes: 512 * MiB, neededBytes: NEED, complete: true, suggestedCrashkernel: SUGGESTED,
      parts: { kernelImage: KERNEL_BYTES, initramfsCompressed: 30 * MiB, initramfsUnpacked: 100 * MiB,
        senderPeakRss: SENDER_PEAK_RSS_BYTES, captureKernelBase: CAPTURE_KERNEL_BASE_BYTES, captureKernelEarly: CAPTURE_KERNEL_EARLY_BYTES },
      phases: { unpacking: UNPACKING, sending: SENDING },
    });
    expect(findings.map((f) => f.topic)).toEqual(['kernel image', 'initramfs', 'initramfs unpacked', 'sender', 'capture kernel runtime', 'moments', 'reservation', 'capture kernel']);
    expect(checkExitCode(findings)).toBe(0);
    expect(line(facts({ crashSize: 512 * MiB }), 'reservation'))
      .toBe(`ok    reservation: 512 MiB reserved (crashkernel=256M), the capture side needs ${Math.round(NEED / MiB)} MiB: ${Math.round((512 * MiB - NEED) / MiB)} MiB to spare`);
  });

  it('too small: by how much, what to set, and the distro defaults on this host', () => {
    const f = facts({ crashSize: 160 * MiB, cmdline: 'root=/dev/vda1 crashkernel=160M' });
    const { findings } = payloadFindings(f);
    expect(checkExitCode(findings)).toBe(ExitCode.BAD_INPUT);
    const need = Math.round(NEED / MiB);
    expect(line(f, 'reservation')).toMatch(new RegExp(`^FAIL  reservation: 160 MiB reserved \\(crashkernel=160M\\), the capture side needs ${need} MiB: `
      + `${need - 160} MiB short; set crashkernel=${SUGGESTED} on the kernel command line \\(Debian: .*grubby --update-kernel=ALL --args=crashkernel=${SUGGESTED}.*\\), then reboot$`));
    expect(line(f, 'distro defaults')).toBe('note  distro defaults: on this host\'s 4.0 GiB of RAM, Debian 12 kdump-tools crashkernel=384M-:128M reserves 128 MiB; '
      + 'Debian 13 kdump-tools crashkernel=512M-:192M reserves 192 MiB; RHEL kdump-utils crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M reserves 256 MiB: '
      + 'none is enough here');
    expect(payloadFindings(facts({ crashSize: 160 * MiB, ramBytes: 100 * GiB })).findings.find((x) => x.topic === 'distro defaults')?.message)
      .toMatch(/reserves 512 MiB: enough here: RHEL kdump-utils$/);
  });

  it('no crashkernel= at all, and one whose ranges miss this host', () => {
    expect(line(facts({ crashSize: 0, cmdline: 'root=/dev/vda1 quiet' }), 'reservation'))
      .toMatch(new RegExp(`^FAIL  reservation: no memory is reserved for a capture kernel: the kernel command line has no crashkernel=; the capture side needs ${Math.round(NEED / MiB)} MiB: set crashkernel=${SUGGESTED}`));
    expect(line(facts({ crashSize: 0, cmdline: 'crashkernel=8G-:512M' }), 'reservation'))
      .toMatch(/crashkernel=8G-:512M is on the kernel command line but reserved nothing \(no range of it covers this host's 4\.0 GiB of RAM\)/);
  });

  it('a kernel without kexec crash support', () => {
    const { findings } = payloadFindings(facts({ crashSize: undefined, crashLoaded: undefined }));
    expect(findings.find((f) => f.topic === 'reservation')?.message).toMatch(/no \/sys\/kernel\/kexec_crash_size: it was built without kexec crash dump support/);
    expect(findings.some((f) => f.topic === 'capture kernel')).toBe(false);
  });

  it('no capture kernel loaded is a warning, not a failure', () => {
    const { findings } = payloadFindings(facts({ crashSize: 512 * MiB, crashLoaded: false }));
    expect(line(facts({ crashSize: 512 * MiB, crashLoaded: false }), 'capture kernel')).toMatch(/^warn  capture kernel: none is loaded now .*kdump-config load/);
    expect(checkExitCode(findings)).toBe(0);
  });

  it('no initramfs found: names where it looked; the estimate is a lower bound', () => {
    const f = facts({ crashSize: 512 * MiB, initramfs: { kind: 'missing', lookedIn: ['/var/lib/kdump/initrd.img-X', '/boot/initramfs-Xkdump.img'] } });
    const { findings, estimate } = payloadFindings(f);
    expect(estimate.complete).toBe(false);
    expect(line(f, 'initramfs')).toMatch(/^FAIL  initramfs: no capture initramfs found \(looked for \/var\/lib\/kdump\/initrd\.img-X, \/boot\/initramfs-Xkdump\.img\): build it/);
    expect(line(f, 'reservation')).toMatch(/needs at least \d+ MiB/);
    expect(checkExitCode(findings)).toBe(ExitCode.BAD_INPUT);
  });

  it('an initramfs part it could not read: a warning, and the stand-in counted', () => {
    const f = facts({ crashSize: 512 * MiB, initramfs: { ...initramfs, sizes: { ...initramfs.sizes, unreadable: 'zstd part at byte 0: zstd is not installed (Debian package zstd)' } } });
    expect(line(f, 'initramfs unpacked')).toMatch(/^warn  initramfs unpacked: 100\.0 MiB, partly a stand-in: zstd part at byte 0: zstd is not installed \(Debian package zstd\)/);
  });

  it('/proc/iomem hidden from non-root: run as root', () => {
    const hidden = IOMEM.replace(/[0-9a-f]+-[0-9a-f]+ :/g, '00000000-00000000 :');
    expect(line(facts({ kernelImage: kernelImage(parseIomem(hidden)) }), 'kernel image')).toMatch(/^FAIL  kernel image: .*only to root: run kdump-send --check as root/);
  });
});
