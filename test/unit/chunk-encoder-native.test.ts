import { describe, it, expect } from 'vitest';
import { encodeChunkNative, SLOT, SLOTS } from '../../sender/chunk-encoder-native.js';
import { Chunker, frameCapacity } from '../../sender/chunker.js';
import { CHUNK_CHECKSUMS } from '../../shared/protocol/digest.js';
import { CHUNK_LZ4, decodeMessage, zeroBitmapLength, type ChunkMessage } from '../../shared/protocol/messages.js';
import { lz4Bound, lz4Compress, lz4DecompressExact } from '../../shared/codec/lz4.js';
import { xxh32 } from '../../shared/codec/xxhash.js';
import { pageFromFill, type PageFill } from '../helpers/elf-core-builder.js';

/** Pages of words from a small vocabulary: compressible, but not so trivially that lz4's acceleration cannot show. */
function textPage(pageSize: number, seed: number): Buffer {
  const words = ['task_struct', 'mm', 'vma', 'spin_lock', 'rcu', 'page', 'slab', 'kmalloc', 'sched', 'irq', 'dentry', 'inode'];
  let x = seed * 2654435761 >>> 0;
  const parts: string[] = [];
  let length = 0;
  while (length < pageSize) {
    x = (x * 1103515245 + 12345) >>> 0;
    const word = `${words[x % words.length]}${x % 97} `;
    parts.push(word);
    length += word.length;
  }
  return Buffer.from(parts.join('')).subarray(0, pageSize);
}

function run(pages: Buffer, pageCount: number, pageSize: number, acceleration = 1) {
  const bitmap = Buffer.alloc(zeroBitmapLength(pageCount), 0xa5); // stale bits must be cleared
  const payload = Buffer.alloc(lz4Bound(pageCount * pageSize));
  const result = new Uint32Array(SLOTS);
  encodeChunkNative(pages, pageCount, pageSize, bitmap, payload, acceleration, result);
  const packed = result[SLOT.PACKED_BYTES];
  const payloadBytes = payload.subarray(0, result[SLOT.PAYLOAD_BYTES]);
  const decoded = result[SLOT.IS_LZ4] ? Buffer.alloc(packed) : payloadBytes;
  if (result[SLOT.IS_LZ4]) lz4DecompressExact(payloadBytes, decoded, {});
  return { bitmap, result, packed, payload: payloadBytes, decoded };
}

describe('the native chunk encoder (sender/native/chunk-encoder.c)', () => {
  it('agrees with the JavaScript pack on which pages are zero, for 4, 16 and 64 KiB pages', () => {
    for (const pageSize of [4096, 16384, 65536]) {
      const fills: PageFill[] = ['zero', 'random', 'pattern', 'zero', 'zero', { fill: 0x11 }, 'random', 'zero', 'pattern'];
      const originals = fills.map((fill, i) => pageFromFill(fill, i, pageSize));
      // A page zero but for its very last byte, and one zero but for its second word, are kept.
      const lastByte = Buffer.alloc(pageSize);
      lastByte[pageSize - 1] = 1;
      const secondWord = Buffer.alloc(pageSize);
      secondWord[8] = 1;
      originals.push(lastByte, secondWord);
      const count = originals.length;
      const js = Buffer.concat(originals);
      const jsBitmap = Buffer.alloc(zeroBitmapLength(count));
      const { packed, zeroPages } = new Chunker(pageSize).pack(count, js, jsBitmap);

      const { bitmap, result, decoded } = run(Buffer.concat(originals), count, pageSize);
      expect([...bitmap]).toEqual([...jsBitmap]);
      expect(result[SLOT.ZERO_PAGES]).toBe(zeroPages);
      expect(zeroPages).toBe(4);
      expect(result[SLOT.PACKED_BYTES]).toBe(packed);
      expect(decoded.equals(js.subarray(0, packed))).toBe(true);
      expect(result[SLOT.PAGES_XXH32]).toBe(xxh32(js.subarray(0, packed)));
      expect(result[SLOT.CHUNK_XXH32]).toBe(xxh32(jsBitmap, xxh32(js.subarray(0, packed))));
    }
  });

  it('at acceleration 1 writes the very block the lz4 binding writes (the same lz4 sources)', () => {
    const pages = Buffer.concat([0, 1, 2, 3].map((i) => textPage(4096, i)));
    const expected = Buffer.alloc(lz4Bound(pages.length));
    const n = lz4Compress(pages, expected);
    const { payload, result } = run(Buffer.from(pages), 4, 4096, 1);
    expect(result[SLOT.IS_LZ4]).toBe(1);
    expect(payload.equals(expected.subarray(0, n))).toBe(true);
  });

  it('a higher acceleration sends more bytes for the same pages, and they decode to the same pages', () => {
    const pages = Buffer.concat(Array.from({ length: 16 }, (_, i) => textPage(4096, i)));
    const slow = run(Buffer.from(pages), 16, 4096, 1);
    const fast = run(Buffer.from(pages), 16, 4096, 64);
    expect(fast.payload.length).toBeGreaterThan(slow.payload.length);
    expect(fast.decoded.equals(pages)).toBe(true);
    expect(fast.result[SLOT.CHUNK_XXH32]).toBe(slow.result[SLOT.CHUNK_XXH32]);
  });

  it('ships incompressible pages raw, and an all-zero chunk as nothing', () => {
    const random = Buffer.concat([0, 1, 2].map((i) => pageFromFill('random', i, 4096)));
    const raw = run(Buffer.from(random), 3, 4096, 8);
    expect(raw.result[SLOT.IS_LZ4]).toBe(0);
    expect(raw.payload.equals(random)).toBe(true);
    const zeros = run(Buffer.alloc(9 * 4096), 9, 4096, 8);
    expect([...zeros.bitmap]).toEqual([0xff, 0x01]);
    expect(zeros.result[SLOT.PACKED_BYTES]).toBe(0);
    expect(zeros.result[SLOT.PAYLOAD_BYTES]).toBe(0);
    expect(zeros.result[SLOT.IS_LZ4]).toBe(0);
  });

  it('refuses buffers too small for what it is asked, naming which', () => {
    const result = new Uint32Array(SLOTS);
    const call = (pages: Buffer, count: number, pageSize: number, bitmap: Buffer, payload: Buffer) =>
      () => encodeChunkNative(pages, count, pageSize, bitmap, payload, 1, result);
    expect(call(Buffer.alloc(8192), 2, 3000, Buffer.alloc(1), Buffer.alloc(9000))).toThrow(/pageSize must be a power of two/);
    expect(call(Buffer.alloc(4096), 2, 4096, Buffer.alloc(1), Buffer.alloc(9000))).toThrow(/pages holds fewer than pageCount/);
    expect(call(Buffer.alloc(9 * 4096), 9, 4096, Buffer.alloc(1), Buffer.alloc(1 << 16))).toThrow(/bitmap is shorter/);
    expect(call(pageFromFill('random', 0, 4096), 1, 4096, Buffer.alloc(1), Buffer.alloc(100))).toThrow(/payload is too small/);
    expect(() => encodeChunkNative(Buffer.alloc(4096), 1, 4096, Buffer.alloc(1), Buffer.alloc(5000), 1, new Uint32Array(2))).toThrow(/Uint32Array of 6/);
    expect(() => (encodeChunkNative as (...a: unknown[]) => void)('4096 bytes', 1, 4096, Buffer.alloc(1), Buffer.alloc(5000), 1, result))
      .toThrow(/must be Buffers/);
  });

  it('the chunker sends xxh32 chunks at the acceleration it was given', () => {
    const pages = Buffer.concat(Array.from({ length: 16 }, (_, i) => textPage(4096, i)));
    const sizes = [1, 64].map((acceleration) => {
      const frame = Buffer.alloc(frameCapacity(4096, 16));
      const encoded = new Chunker(4096, acceleration).encode({ seq: 0, startPfn: 0, pageCount: 16, firstRank: 0 }, Buffer.from(pages), frame, CHUNK_CHECKSUMS.xxh32);
      const chunk = decodeMessage(encoded.message) as ChunkMessage;
      expect(chunk.flags).toBe(CHUNK_LZ4);
      expect(chunk.payloadCrc).toBe(xxh32(pages));
      return chunk.payload.length;
    });
    expect(sizes[1]).toBeGreaterThan(sizes[0]);
  });
});
