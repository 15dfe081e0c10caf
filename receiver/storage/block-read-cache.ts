/**
 * Small reads of a remote object served from whole aligned blocks, a few
 * kept. The readers of a stored dump (ELF export, triage) ask for one
 * descriptor run or one run of pages at a time, moving forward through the
 * descriptor table and the page data together; over S3 each of those was a
 * ranged GET (the busy fixture's ELF export: 127 s against 6 s from local
 * disk). Whole blocks make that one GET per block, and the next block is
 * fetched while the current one is read.
 *
 * Memory: at most maxBlocks x blockBytes per reader (6 x 4 MiB by default).
 */
const MiB = 1024 * 1024;

export type RangeFetch = (offset: number, length: number) => Promise<Buffer>;

export class BlockReadCache {
  /** Block index -> its bytes (in flight or fetched), oldest use first. */
  private readonly blocks = new Map<number, Promise<Buffer>>();

  constructor(
    private readonly size: number,
    private readonly fetchRange: RangeFetch,
    private readonly blockBytes = 4 * MiB,
    private readonly maxBlocks = 6,
  ) {}

  /** Exactly `length` bytes at `offset` (the caller has checked the bounds); a copy the caller may keep. */
  async read(offset: number, length: number): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0);
    // Big reads gain nothing from blocks and would push out the ones in use.
    if (length > this.blockBytes) return this.fetchRange(offset, length);
    const first = Math.floor(offset / this.blockBytes);
    const last = Math.floor((offset + length - 1) / this.blockBytes);
    const out = Buffer.allocUnsafe(length);
    for (let index = first; index <= last; index++) {
      const block = await this.block(index);
      const blockStart = index * this.blockBytes;
      const from = Math.max(offset, blockStart);
      const to = Math.min(offset + length, blockStart + block.length);
      block.copy(out, from - offset, from - blockStart, to - blockStart);
    }
    return out;
  }

  private block(index: number): Promise<Buffer> {
    const cached = this.blocks.get(index);
    if (cached) {
      this.blocks.delete(index);
      this.blocks.set(index, cached);
      return cached;
    }
    const bytes = this.fetch(index);
    // Reading forward: have the next block on its way while this one is used.
    if (!this.blocks.has(index + 1) && (index + 1) * this.blockBytes < this.size) this.fetch(index + 1).catch(() => {});
    return bytes;
  }

  private fetch(index: number): Promise<Buffer> {
    const start = index * this.blockBytes;
    const bytes = this.fetchRange(start, Math.min(this.blockBytes, this.size - start));
    // A failed fetch is not kept: the next read asks again.
    bytes.catch(() => { if (this.blocks.get(index) === bytes) this.blocks.delete(index); });
    this.blocks.set(index, bytes);
    while (this.blocks.size > this.maxBlocks) this.blocks.delete(this.blocks.keys().next().value as number);
    return bytes;
  }
}
