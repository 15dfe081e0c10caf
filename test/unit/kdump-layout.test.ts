import { describe, it, expect } from 'vitest';
import { computeLayout, fillBitmapWindow, isBitSet, type PfnRun } from '../../shared/kdump/layout.js';

/** Reference: one bit at a time. */
function naiveWindow(length: number, firstPfn: number, runs: readonly PfnRun[]): Buffer {
  const out = Buffer.alloc(length);
  for (const run of runs) {
    for (let pfn = run.startPfn; pfn < run.startPfn + run.pageCount; pfn++) {
      const rel = pfn - firstPfn;
      if (rel >= 0 && rel < length * 8) out[rel >>> 3] |= 1 << (rel & 7);
    }
  }
  return out;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 0x1_0000_0000;
  };
}

describe('fillBitmapWindow', () => {
  it('sets bit pfn%8 of byte pfn/8 for runs not aligned to 8', () => {
    const out = Buffer.alloc(4, 0xaa); // stale content must be cleared
    fillBitmapWindow(out, 0, [{ startPfn: 3, pageCount: 2 }, { startPfn: 7, pageCount: 11 }, { startPfn: 29, pageCount: 1 }]);
    // pfns 3,4 | 7..17 | 29
    expect([...out]).toEqual([0b1001_1000, 0xff, 0b0000_0011, 0b0010_0000]);
  });

  it('a run inside one byte', () => {
    const out = Buffer.alloc(2);
    fillBitmapWindow(out, 0, [{ startPfn: 9, pageCount: 3 }]);
    expect([...out]).toEqual([0, 0b0000_1110]);
  });

  it('clips runs to the window, which starts at a byte boundary', () => {
    const out = Buffer.alloc(2);
    // Window pfns 16..31.
    fillBitmapWindow(out, 16, [{ startPfn: 5, pageCount: 14 }, { startPfn: 29, pageCount: 100 }]);
    expect([...out]).toEqual([0b0000_0111, 0b1110_0000]);
    const none = Buffer.alloc(2, 0xff);
    fillBitmapWindow(none, 16, [{ startPfn: 0, pageCount: 16 }, { startPfn: 32, pageCount: 5 }]);
    expect([...none]).toEqual([0, 0]);
  });

  it('matches a bit-by-bit reference for random runs and windows', () => {
    const rand = lcg(1234);
    for (let round = 0; round < 200; round++) {
      const runs: PfnRun[] = [];
      let pfn = Math.floor(rand() * 20);
      for (let n = Math.floor(rand() * 6); n > 0; n--) {
        const count = 1 + Math.floor(rand() * 40);
        runs.push({ startPfn: pfn, pageCount: count });
        pfn += count + Math.floor(rand() * 13);
      }
      const length = 1 + Math.floor(rand() * 20);
      const firstPfn = 8 * Math.floor(rand() * 12);
      const out = Buffer.alloc(length, 0x5a);
      fillBitmapWindow(out, firstPfn, runs);
      expect([...out], JSON.stringify({ runs, firstPfn, length })).toEqual([...naiveWindow(length, firstPfn, runs)]);
    }
  });

  it('isBitSet reads what fillBitmapWindow writes', () => {
    const out = Buffer.alloc(8);
    const runs = [{ startPfn: 1, pageCount: 6 }, { startPfn: 13, pageCount: 20 }];
    fillBitmapWindow(out, 0, runs);
    for (let pfn = 0; pfn < 64; pfn++) {
      const inRun = runs.some((r) => pfn >= r.startPfn && pfn < r.startPfn + r.pageCount);
      expect(isBitSet(out, pfn)).toBe(inRun);
    }
  });
});

describe('computeLayout', () => {
  it('places sub-header, notes, bitmaps, descriptors and data in block order', () => {
    const layout = computeLayout(4096, 0x680, 1436, 1000);
    expect(layout.subHdrSize).toBe(1); // 104 + 1436 bytes fit one block
    expect(layout.notesOffset).toBe(4096 + 104);
    expect(layout.bitmapBytes).toBe(4096); // ceil(0x680 / 8) = 208 bytes, one block
    expect(layout.bitmapBlocks).toBe(2);
    expect(layout.bitmapOffset).toBe(2 * 4096);
    expect(layout.descTableOffset).toBe(4 * 4096);
    expect(layout.dataStart).toBe(4 * 4096 + 1000 * 24);
  });

  it('rounds notes and bitmaps up to whole blocks', () => {
    const layout = computeLayout(4096, 8 * 4096 * 2 + 1, 4096 - 104 + 1, 5);
    expect(layout.subHdrSize).toBe(2);
    expect(layout.bitmapBytes).toBe(3 * 4096);
    expect(layout.bitmapBlocks).toBe(6);
    expect(layout.bitmapOffset).toBe(3 * 4096);
    expect(layout.descTableOffset).toBe(9 * 4096);
  });
});
