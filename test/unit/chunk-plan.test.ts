import { describe, it, expect } from 'vitest';
import { ChunkPlan, type ChunkSpan } from '../../shared/protocol/chunk-plan.js';
import { rankOfPfn, type PageExtent, type PageMap } from '../../shared/elf/page-map.js';

/** A page map with the given extents (pieces are irrelevant to the plan). */
function mapOf(runs: Array<[startPfn: number, pageCount: number]>): PageMap {
  let rank = 0;
  const extents: PageExtent[] = runs.map(([startPfn, pageCount]) => {
    const e = { startPfn, pageCount, firstRank: rank };
    rank += pageCount;
    return e;
  });
  const tail = extents[extents.length - 1];
  return { pageSize: 4096, pieces: [], extents, totalPages: rank, maxPfn: tail.startPfn + tail.pageCount };
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 0x1_0000_0000;
  };
}

function checkPlan(map: PageMap, chunkPages: number): ChunkSpan[] {
  const plan = new ChunkPlan(map, chunkPages);
  const chunks = Array.from({ length: plan.totalChunks }, (_, seq) => plan.chunk(seq));
  const expectedPfns = map.extents.flatMap((e) => Array.from({ length: e.pageCount }, (_, i) => e.startPfn + i));
  const seenPfns: number[] = [];
  for (const c of chunks) {
    expect(c.pageCount).toBeGreaterThan(0);
    expect(c.pageCount).toBeLessThanOrEqual(chunkPages);
    // Inside exactly one extent.
    const extent = map.extents.find((e) => c.startPfn >= e.startPfn && c.startPfn < e.startPfn + e.pageCount);
    expect(extent, `chunk ${c.seq} starts outside every extent`).toBeDefined();
    expect(c.startPfn + c.pageCount).toBeLessThanOrEqual(extent!.startPfn + extent!.pageCount);
    expect(c.firstRank).toBe(rankOfPfn(map, c.startPfn));
    expect(c.firstRank).toBe(seenPfns.length);
    for (let i = 0; i < c.pageCount; i++) seenPfns.push(c.startPfn + i);
  }
  expect(seenPfns).toEqual(expectedPfns);
  // Each extent needs ceil(pages / chunkPages) chunks: none shared between extents.
  expect(plan.totalChunks).toBe(map.extents.reduce((n, e) => n + Math.ceil(e.pageCount / chunkPages), 0));
  return chunks;
}

describe('ChunkPlan', () => {
  it('cuts each extent separately; the last chunk of an extent is short', () => {
    const map = mapOf([[1, 0x9e], [0x100, 0x300], [0x600, 0x80]]);
    const chunks = checkPlan(map, 64);
    expect(chunks.slice(0, 4)).toEqual([
      { seq: 0, startPfn: 1, pageCount: 64, firstRank: 0 },
      { seq: 1, startPfn: 65, pageCount: 64, firstRank: 64 },
      { seq: 2, startPfn: 129, pageCount: 30, firstRank: 128 },
      { seq: 3, startPfn: 0x100, pageCount: 64, firstRank: 0x9e },
    ]);
    expect(chunks.at(-1)).toEqual({ seq: 2 + 12 + 2, startPfn: 0x640, pageCount: 64, firstRank: 0x9e + 0x300 + 64 });
  });

  it('covers every page exactly once, in order, for random maps and chunk sizes', () => {
    const rand = lcg(42);
    for (let round = 0; round < 60; round++) {
      const runs: Array<[number, number]> = [];
      let pfn = Math.floor(rand() * 10);
      const n = 1 + Math.floor(rand() * 8);
      for (let i = 0; i < n; i++) {
        const count = 1 + Math.floor(rand() * 300);
        runs.push([pfn, count]);
        pfn += count + 1 + Math.floor(rand() * 50); // always a gap: extents never touch
      }
      const chunkPages = 1 + Math.floor(rand() * 70);
      checkPlan(mapOf(runs), chunkPages);
    }
  });

  it('chunkPages of 1 gives one chunk per page; a huge chunkPages gives one chunk per extent', () => {
    const map = mapOf([[0, 3], [10, 2]]);
    expect(checkPlan(map, 1).map((c) => c.startPfn)).toEqual([0, 1, 2, 10, 11]);
    expect(checkPlan(map, 1_000_000)).toEqual([
      { seq: 0, startPfn: 0, pageCount: 3, firstRank: 0 },
      { seq: 1, startPfn: 10, pageCount: 2, firstRank: 3 },
    ]);
  });

  it('handles pfns above 2^32', () => {
    const base = 2 ** 33;
    const chunks = checkPlan(mapOf([[base, 10], [base + 100, 5]]), 4);
    expect(chunks.map((c) => c.startPfn)).toEqual([base, base + 4, base + 8, base + 100, base + 104]);
  });

  it('rejects sequence numbers outside the plan and bad chunk sizes', () => {
    const plan = new ChunkPlan(mapOf([[0, 10]]), 4);
    expect(plan.totalChunks).toBe(3);
    expect(() => plan.chunk(3)).toThrow(RangeError);
    expect(() => plan.chunk(-1)).toThrow(RangeError);
    expect(() => plan.chunk(1.5)).toThrow(RangeError);
    expect(() => new ChunkPlan(mapOf([[0, 10]]), 0)).toThrow(RangeError);
    expect(() => new ChunkPlan(mapOf([[0, 10]]), 2.5)).toThrow(RangeError);
  });
});
