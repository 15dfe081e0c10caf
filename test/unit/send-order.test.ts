/**
 * The send order (shared/protocol/send-order.ts): the first tier's chunks
 * first, then the rest, each in seq order; every chunk exactly once, and
 * seqAt agrees with walking the order, however the tier falls.
 */
import { describe, expect, it } from 'vitest';
import { ChunkPlan } from '../../shared/protocol/chunk-plan.js';
import { SendOrder } from '../../shared/protocol/send-order.js';

const plan = new ChunkPlan({ extents: [{ startPfn: 0, pageCount: 100 }, { startPfn: 1000, pageCount: 37 }, { startPfn: 5000, pageCount: 64 }] }, 16);

describe('send order', () => {
  it('in pfn order, position is seq', () => {
    const order = SendOrder.pfnOrder(plan);
    expect(order.firstTierChunks).toBe(0);
    expect(Array.from({ length: plan.totalChunks }, (_, p) => order.seqAt(p))).toEqual(Array.from({ length: plan.totalChunks }, (_, s) => s));
  });

  it('sends the chunks holding first-tier pfns first, then the rest, each ascending and each once', () => {
    // pfn 20 (chunk 1), pfns 95..1005 (chunks 5, 6 and 7: the gap between runs holds no chunk), pfn 5063 (the last chunk).
    const tier = [{ startPfn: 20, pageCount: 1 }, { startPfn: 95, pageCount: 911 }, { startPfn: 5063, pageCount: 1 }];
    const order = SendOrder.firstTierFirst(plan, tier);
    const last = plan.totalChunks - 1;
    expect(plan.seqsCovering(tier)).toEqual([1, 5, 6, 7, last]);
    expect(order.firstTierChunks).toBe(5);
    const sent = Array.from({ length: plan.totalChunks }, (_, p) => order.seqAt(p));
    expect(sent.slice(0, 5)).toEqual([1, 5, 6, 7, last]);
    expect(sent.slice(4 + 1)).toEqual(Array.from({ length: plan.totalChunks }, (_, s) => s).filter((s) => ![1, 5, 6, 7, last].includes(s)));
    expect(new Set(sent).size).toBe(plan.totalChunks);
    expect(sent.map((s) => order.isFirstTier(s))).toEqual(sent.map((_, p) => p < 5));
    expect(order.firstTierRuns()).toEqual([
      { startPfn: 16, pageCount: 16 }, { startPfn: 80, pageCount: 20 }, { startPfn: 1000, pageCount: 16 }, { startPfn: 5048, pageCount: 16 },
    ]);
  });

  it('is a permutation for any tier (random tiers over a larger plan)', () => {
    const big = new ChunkPlan({ extents: [{ startPfn: 0, pageCount: 4000 }, { startPfn: 9000, pageCount: 3001 }] }, 64);
    let seed = 7;
    const random = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
    for (let round = 0; round < 20; round++) {
      const tier: Array<{ startPfn: number; pageCount: number }> = [];
      for (let pfn = Math.floor(random() * 50); pfn < 12_001; pfn += 1 + Math.floor(random() * 900)) tier.push({ startPfn: pfn, pageCount: 1 + Math.floor(random() * 40) });
      const merged = tier.filter((r, i) => i === 0 || r.startPfn > tier[i - 1].startPfn + tier[i - 1].pageCount);
      const order = SendOrder.firstTierFirst(big, merged);
      const sent = Array.from({ length: big.totalChunks }, (_, p) => order.seqAt(p));
      expect([...sent].sort((a, b) => a - b)).toEqual(Array.from({ length: big.totalChunks }, (_, s) => s));
      const t = order.firstTierChunks;
      expect(sent.slice(0, t)).toEqual([...sent.slice(0, t)].sort((a, b) => a - b));
      expect(sent.slice(t)).toEqual([...sent.slice(t)].sort((a, b) => a - b));
    }
  });
});
