import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BlockReadCache } from '../../receiver/storage/block-read-cache.js';

function source(size: number) {
  const bytes = randomBytes(size);
  const fetches: Array<[number, number]> = [];
  let failNext = false;
  const fetchRange = async (offset: number, length: number) => {
    fetches.push([offset, length]);
    if (failNext) {
      failNext = false;
      throw new Error('store unreachable');
    }
    return Buffer.from(bytes.subarray(offset, offset + length));
  };
  return { bytes, fetches, fetchRange, failOnce: () => { failNext = true; } };
}

describe('BlockReadCache', () => {
  it('answers any read exactly, across block boundaries and at the end', async () => {
    const s = source(10_000);
    const cache = new BlockReadCache(s.bytes.length, s.fetchRange, 1024, 3);
    for (const [offset, length] of [[0, 1], [1000, 100], [1023, 2], [3000, 1024], [9990, 10], [0, 0], [5000, 3000]]) {
      expect((await cache.read(offset, length)).equals(s.bytes.subarray(offset, offset + length))).toBe(true);
    }
  });

  it('reading forward in small pieces costs one fetch per block (and one read-ahead past the last)', async () => {
    const s = source(64 * 1024);
    const cache = new BlockReadCache(s.bytes.length, s.fetchRange, 4096, 4);
    for (let offset = 0; offset < s.bytes.length; offset += 24) {
      await cache.read(offset, Math.min(24, s.bytes.length - offset));
    }
    expect(s.fetches).toHaveLength(16);
    expect(new Set(s.fetches.map(([offset]) => offset)).size).toBe(16);
  });

  it('keeps at most maxBlocks, refetches what it dropped, and does not keep a failed fetch', async () => {
    const s = source(8 * 1024);
    const cache = new BlockReadCache(s.bytes.length, s.fetchRange, 1024, 2);
    await cache.read(0, 10);
    await cache.read(4096, 10);
    const before = s.fetches.length;
    await cache.read(0, 10); // pushed out by blocks 4 and 5
    expect(s.fetches.length).toBeGreaterThan(before);

    const fresh = new BlockReadCache(s.bytes.length, s.fetchRange, 1024, 2);
    s.failOnce();
    await expect(fresh.read(7168, 10)).rejects.toThrow(/unreachable/);
    expect((await fresh.read(7168, 10)).equals(s.bytes.subarray(7168, 7178))).toBe(true);
  });

  it('passes reads bigger than a block straight through', async () => {
    const s = source(10_000);
    const cache = new BlockReadCache(s.bytes.length, s.fetchRange, 1024, 2);
    expect((await cache.read(100, 5000)).equals(s.bytes.subarray(100, 5100))).toBe(true);
    expect(s.fetches).toEqual([[100, 5000]]);
  });
});
