/**
 * The parts of the capture side's memory that kdump-send --check cannot see
 * from the running host, as named constants. bench/crashkernel-min.mjs
 * measures them in a real capture kernel (the sender's peak RSS, and what
 * the capture kernel uses besides its image and the unpacked initramfs):
 * set them from its figures.
 */

const MiB = 2 ** 20;

/** kdump-send's peak RSS in the capture kernel: the project's target. */
export const SENDER_PEAK_RSS_BYTES = 80 * MiB;

/**
 * The capture kernel's own runtime beyond its image: page tables, slab,
 * per-CPU areas with nr_cpus=1, the network stack and driver buffers.
 */
export const CAPTURE_KERNEL_BASE_BYTES = 64 * MiB;
