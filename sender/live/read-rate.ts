/**
 * A ceiling on how fast a live snapshot reads the running kernel's memory
 * (--max-rate), so the host it runs on keeps its memory bandwidth and CPU
 * for its own work. A token bucket of one second's worth: reads may burst
 * that far ahead of the rate, never further, and a read waits (on a timer,
 * the event loop free) until the bucket holds its bytes.
 */
export class ReadRate {
  private available: number;
  private last: number;

  constructor(
    /** Bytes per second. */
    readonly bytesPerSecond: number,
    private readonly now: () => number = () => performance.now(),
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {
    if (!(bytesPerSecond > 0)) throw new RangeError(`read rate must be positive, not ${bytesPerSecond}`);
    this.available = bytesPerSecond;
    this.last = now();
  }

  /** Resolves once `bytes` may be read. A read larger than the bucket waits for its whole size at the rate. */
  async take(bytes: number): Promise<void> {
    this.refill();
    this.available -= bytes;
    if (this.available >= 0) return;
    await this.sleep((-this.available / this.bytesPerSecond) * 1000);
    this.refill();
  }

  private refill(): void {
    const t = this.now();
    this.available = Math.min(this.bytesPerSecond, this.available + ((t - this.last) / 1000) * this.bytesPerSecond);
    this.last = t;
  }
}

/** "50M", "1.5G", "800K", "1000000": bytes per second, with K/M/G as powers of 1024 (as dd and rsync --bwlimit read them). */
export function parseRate(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?(?:\/s)?$/i.exec(text.trim());
  if (!match) return undefined;
  const scale = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match[2].toUpperCase() as '' | 'K' | 'M' | 'G'];
  const bytes = Math.floor(Number(match[1]) * scale);
  return bytes >= 4096 ? bytes : undefined;
}
