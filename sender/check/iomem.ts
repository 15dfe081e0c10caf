/**
 * /proc/iomem, parsed: the kernel image's ranges (what the capture kernel's
 * own image occupies; the capture kernel is the same build) and the system
 * RAM that crashkernel='s size ranges are chosen by. Pure: text in, numbers out.
 */

export interface IomemRange {
  start: number;
  /** Inclusive, as /proc/iomem prints it. */
  end: number;
  name: string;
  /** Nesting depth: two spaces of indent per level. */
  depth: number;
}

const LINE = /^( *)([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.*)$/;

export function parseIomem(text: string): IomemRange[] {
  const ranges: IomemRange[] = [];
  for (const line of text.split('\n')) {
    const match = LINE.exec(line);
    if (!match) continue;
    ranges.push({ depth: match[1].length / 2, start: parseInt(match[2], 16), end: parseInt(match[3], 16), name: match[4].trim() });
  }
  return ranges;
}

const size = (r: IomemRange) => r.end - r.start + 1;

/** The ranges that make up the kernel's image in memory. */
export const KERNEL_IMAGE_PARTS = ['Kernel code', 'Kernel rodata', 'Kernel data', 'Kernel bss'] as const;

export interface KernelImage {
  bytes: number;
  /** Bytes of each part found, by name. */
  parts: Partial<Record<(typeof KERNEL_IMAGE_PARTS)[number], number>>;
  /** Parts /proc/iomem does not list. */
  missing: string[];
  /** Addresses shown as zeros: only root sees them. */
  hidden: boolean;
}

export function kernelImage(ranges: readonly IomemRange[]): KernelImage {
  const parts: KernelImage['parts'] = {};
  let hidden = false;
  for (const range of ranges) {
    const part = KERNEL_IMAGE_PARTS.find((name) => name === range.name);
    if (!part) continue;
    if (range.start === 0 && range.end === 0) hidden = true;
    else parts[part] = (parts[part] ?? 0) + size(range);
  }
  const missing = KERNEL_IMAGE_PARTS.filter((name) => parts[name] === undefined);
  return { bytes: hidden ? 0 : Object.values(parts).reduce((a, b) => a + b, 0), parts: hidden ? {} : parts, missing: hidden ? [] : missing, hidden };
}

/** RAM as the kernel counts it when it picks a crashkernel= range: the top-level System RAM ranges. */
export function systemRamBytes(ranges: readonly IomemRange[]): number {
  return ranges.filter((r) => r.depth === 0 && r.name === 'System RAM').reduce((sum, r) => sum + size(r), 0);
}
