/**
 * How much the sender may hold at once, from the memory the capture kernel
 * has left when it starts (MemAvailable in /proc/meminfo). The node runtime
 * itself (~40 MB, mostly file pages of the binary) is fixed; what scales is
 * the chunk buffers: each frame in flight holds one chunk raw and
 * compressed. With little memory the sender sends smaller chunks, fewer at a
 * time: slower, never an OOM kill that loses the dump. Pure: the meminfo
 * text in, a plan out.
 */

export interface MemoryPlan {
  /** MemAvailable in bytes, undefined when /proc/meminfo did not say. */
  availableBytes?: number;
  chunkPages: number;
  framesInFlight: number;
  /** One line for the console naming the memory found and the plan. */
  line: string;
}

const MiB = 2 ** 20;
/** Below these MemAvailable figures the sender steps down (the runtime needs ~40 MB of its own). */
export const MEMORY_STEPS = [
  { below: 64 * MiB, chunkPages: 16, framesInFlight: 1 },
  { below: 128 * MiB, chunkPages: 32, framesInFlight: 2 },
] as const;
/**
 * With memory to spare, chunks of 1 MiB: per chunk the sender pays a native
 * call, a header, a write and its callbacks, so 256 pages cost ~10% less CPU
 * than 64 at -d 1 (busy 6.1 core, 0.77 against 0.86 s), for ~4 MiB more of
 * frame buffers; the first tier sent ahead grows by 5% (chunks it shares with
 * other pages).
 */
export const DEFAULT_PLAN = { chunkPages: 256, framesInFlight: 4 } as const;

/** MemAvailable (or, on kernels before 3.14, MemFree) in bytes from /proc/meminfo's text. */
export function availableMemory(meminfo: string): number | undefined {
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(meminfo);
    return match ? Number(match[1]) * 1024 : undefined;
  };
  return field('MemAvailable') ?? field('MemFree');
}

/**
 * The plan for `availableBytes`. A chunk size the operator set (CHUNK_PAGES)
 * is kept; only the frames in flight then follow the memory.
 */
export function planMemory(availableBytes: number | undefined, chosenChunkPages?: number): MemoryPlan {
  const step = availableBytes === undefined ? undefined : MEMORY_STEPS.find((s) => availableBytes < s.below);
  const chunkPages = chosenChunkPages ?? step?.chunkPages ?? DEFAULT_PLAN.chunkPages;
  const framesInFlight = step?.framesInFlight ?? DEFAULT_PLAN.framesInFlight;
  const found = availableBytes === undefined ? 'no MemAvailable in /proc/meminfo' : `${(availableBytes / MiB).toFixed(0)} MiB available`;
  const low = step ? ' (low: smaller chunks, fewer in flight)' : '';
  return { availableBytes, chunkPages, framesInFlight, line: `memory: ${found}; ${framesInFlight} chunk${framesInFlight === 1 ? '' : 's'} of ${chunkPages} pages in flight${low}` };
}
