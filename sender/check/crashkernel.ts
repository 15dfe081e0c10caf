/**
 * crashkernel= as the kernel reads it (Documentation/admin-guide/kdump/kdump.rst):
 * a size ("256M"), or size ranges by system RAM ("1G-4G:192M,4G-64G:256M,64G-:512M",
 * start inclusive, end exclusive), each optionally followed by @offset, and
 * the ",high" / ",low" forms. Also what to set: the estimate rounded up, and
 * what each distribution's default would reserve on this host. Pure.
 */

const MiB = 2 ** 20;

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: MiB, G: 2 ** 30, T: 2 ** 40, P: 2 ** 50, E: 2 ** 60 };

/** memparse(): a number with an optional K/M/G/T/P/E suffix. */
export function parseMemSize(text: string): number | undefined {
  const match = /^(0x[0-9a-fA-F]+|\d+)([KMGTPE]?)$/i.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * UNITS[match[2].toUpperCase()];
}

export interface CrashkernelRange {
  start: number;
  /** Exclusive; undefined: no upper bound. */
  end?: number;
  size: number;
}

/** The size ranges of a crashkernel= value (one unbounded range for a plain size); undefined when it cannot be read. */
export function parseCrashkernel(value: string): CrashkernelRange[] | undefined {
  const spec = value.replace(/@.*$/, '').replace(/,(high|low)$/i, '');
  if (!spec.includes(':')) {
    const size = parseMemSize(spec);
    return size === undefined ? undefined : [{ start: 0, size }];
  }
  const ranges: CrashkernelRange[] = [];
  for (const part of spec.split(',')) {
    const match = /^([^-:]+)-([^-:]*):(.+)$/.exec(part.trim());
    if (!match) return undefined;
    const start = parseMemSize(match[1]);
    const end = match[2] === '' ? undefined : parseMemSize(match[2]);
    const size = parseMemSize(match[3]);
    if (start === undefined || size === undefined || (match[2] !== '' && (end === undefined || end <= start))) return undefined;
    ranges.push({ start, end, size });
  }
  return ranges;
}

/**
 * What a crashkernel= value reserves on a host with `ramBytes` of system RAM
 * (0 when no range covers it). The kernel rounds the RAM up to 128 MiB first,
 * for the firmware's holes (parse_crashkernel_mem()), so a "4G" host is 4G.
 */
export function reservationFor(ranges: readonly CrashkernelRange[], ramBytes: number): number {
  const ram = Math.ceil(ramBytes / (128 * MiB)) * 128 * MiB;
  const range = ranges.find((r) => ram >= r.start && (r.end === undefined || ram < r.end));
  return range?.size ?? 0;
}

/** The crashkernel= values on a kernel command line (/proc/cmdline), in order. */
export function crashkernelArgs(cmdline: string): string[] {
  const args: string[] = [];
  for (const word of cmdline.split(/\s+/)) {
    if (word === '--') break; // the rest belongs to init
    const match = /^crashkernel=(.+)$/.exec(word);
    if (match) args.push(match[1]);
  }
  return args;
}

/** The reservation to ask for: `needBytes` rounded up to the next 32 MiB, as crashkernel= spells it. */
export function suggestedCrashkernel(needBytes: number): { bytes: number; value: string } {
  const mib = Math.ceil(needBytes / (32 * MiB)) * 32;
  return { bytes: mib * MiB, value: `${mib}M` };
}

/** The defaults distributions ship, for the operator to compare with. */
export const DISTRO_DEFAULTS = [
  { distro: 'Debian 12 kdump-tools', value: '384M-:128M' },
  { distro: 'Debian 13 kdump-tools', value: '512M-:192M' },
  { distro: 'RHEL kdump-utils', value: '1G-4G:192M,4G-64G:256M,64G-:512M' },
] as const;

export interface DistroDefaultOnHost {
  distro: string;
  value: string;
  /** What it reserves on this host's RAM. */
  bytes: number;
}

export function distroDefaultsFor(ramBytes: number): DistroDefaultOnHost[] {
  return DISTRO_DEFAULTS.map(({ distro, value }) => ({ distro, value, bytes: reservationFor(parseCrashkernel(value)!, ramBytes) }));
}
