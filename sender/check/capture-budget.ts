/**
 * The parts of the capture side's memory that kdump-send --check cannot see
 * from the running host, as named constants. bench/crashkernel-min.mjs
 * measures them in a real capture kernel (the sender's peak RSS, and what
 * the capture kernel uses besides its image and the unpacked initramfs):
 * set them from its figures.
 */

const MiB = 2 ** 20;

/*
 * Measured with bench/crashkernel-min.mjs (Debian 6.1 capture kernel, its
 * image 42 MiB by /proc/iomem's four ranges, busybox and initramfs-tools
 * capture initramfs, squashfs and plain sender layouts, 1 and 4 GiB guests).
 * With these figures the estimate lands within 16 MiB above each measured
 * minimum (see README "In the capture kernel").
 */

/** kdump-send's peak RSS in the capture kernel: 47-57 MB measured (its file pages shrink under pressure); the tests bound it at 80 MB. */
export const SENDER_PEAK_RSS_BYTES = 60 * MiB;

/**
 * While the initramfs is unpacked: what the capture kernel holds besides its
 * image, the compressed initramfs and the files unpacked so far (the kexec
 * segments, early allocations, the page allocator's reserves).
 */
export const CAPTURE_KERNEL_EARLY_BYTES = 22 * MiB;

/**
 * While the sender runs: the capture kernel's own runtime beyond its image
 * (page tables, slab, per-CPU areas with nr_cpus=1, the network stack and
 * driver buffers, the reserved areas outside MemTotal).
 */
export const CAPTURE_KERNEL_BASE_BYTES = 30 * MiB;
