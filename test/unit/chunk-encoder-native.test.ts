import { describe, it, expect } from 'vitest';
import { encodeChunkNative, SLOT, SLOTS } from '../../sender/chunk-encoder-native.js';
import { Chunker, frameCapacity } from '../../sender/chunker.js';
import { CHUNK_CHECKSUMS } from '../../shared/protocol/digest.js';
import { CHUNK_LZ4, CHUNK_STORED_LZO, decodeMessage, zeroBitmapLength, type ChunkMessage } from '../../shared/protocol/messages.js';
import { lz4Bound, lz4Compress, lz4DecompressExact } from '../../shared/codec/lz4.js';
import { xxh32 } from '../../shared/codec/xxhash.js';
import { pageFromFill, writeElfCoreFile, type PageFill } from '../helpers/elf-core-builder.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { ChunkPlan } from '../../shared/protocol/chunk-plan.js';
import { closeSync, openSync } from 'node:fs';
import { decodeStoredPage, pageCodecByName } from '../../shared/kdump/page-codec.js';
import { DUMP_DH_COMPRESSED_LZO } from '../../shared/kdump/format.js';

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
  const decoded = result[SLOT.FLAGS] ? Buffer.alloc(packed) : payloadBytes;
  if (result[SLOT.FLAGS]) lz4DecompressExact(payloadBytes, decoded, {});
  return { bitmap, result, packed, payload: payloadBytes, decoded };
}

describe('the native chunk encoder (sender/native/chunk-encoder.c)', () => {
  it('stored pages: a size per kept page, each page LZO or raw as the receiver stores it, its own hash; the chunk checksum as lz4\'s', () => {
    for (const pageSize of [4096, 65536]) {
      const originals = [textPage(pageSize, 1), Buffer.alloc(pageSize), pageFromFill('random', 2, pageSize), textPage(pageSize, 3), Buffer.alloc(pageSize)];
      const count = originals.length;
      const bitmap = Buffer.alloc(zeroBitmapLength(count), 0xa5);
      const payload = Buffer.alloc(lz4Bound(count * pageSize));
      const result = new Uint32Array(SLOTS);
      encodeChunkNative(Buffer.concat(originals), count, pageSize, bitmap, payload, 1, result, true);
      expect(result[SLOT.FLAGS]).toBe(CHUNK_STORED_LZO);
      expect(result[SLOT.ZERO_PAGES]).toBe(2);
      expect(result[SLOT.PACKED_BYTES]).toBe(3 * pageSize);
      const stored = payload.subarray(0, result[SLOT.PAYLOAD_BYTES]);
      expect(result[SLOT.PAYLOAD_XXH32]).toBe(xxh32(stored));
      const kept = [originals[0], originals[2], originals[3]];
      const codec = pageCodecByName('lzo');
      let at = kept.length * 4;
      kept.forEach((page, k) => {
        const size = stored.readUInt32LE(k * 4);
        const expected = codec.compress(page);
        // As makedumpfile -l: LZO where it shrinks the page (the text pages), the page itself where not (the random one).
        expect(size).toBe(expected ? expected.length : pageSize);
        expect(stored.subarray(at, at + size).equals(expected ?? page)).toBe(true);
        expect(decodeStoredPage(stored.subarray(at, at + size), size < pageSize ? DUMP_DH_COMPRESSED_LZO : 0, pageSize).equals(page)).toBe(true);
        at += size;
      });
      expect(at).toBe(stored.length);
      const lz4 = run(Buffer.concat(originals), count, pageSize);
      expect(result[SLOT.CHUNK_XXH32]).toBe(lz4.result[SLOT.CHUNK_XXH32]);
      expect([...bitmap]).toEqual([...lz4.bitmap]);
    }
  });

  it('stored pages of an all-zero chunk: an empty raw payload', () => {
    const result = new Uint32Array(SLOTS);
    encodeChunkNative(Buffer.alloc(3 * 4096), 3, 4096, Buffer.alloc(1), Buffer.alloc(lz4Bound(3 * 4096)), 1, result, true);
    expect([result[SLOT.FLAGS], result[SLOT.PAYLOAD_BYTES], result[SLOT.ZERO_PAGES]]).toEqual([0, 0, 3]);
  });

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
      expect(result[SLOT.PAYLOAD_XXH32]).toBe(xxh32(js.subarray(0, packed)));
      expect(result[SLOT.CHUNK_XXH32]).toBe(xxh32(jsBitmap, xxh32(js.subarray(0, packed))));
    }
  });

  it('at acceleration 1 writes the very block the lz4 binding writes (the same lz4 sources)', () => {
    const pages = Buffer.concat([0, 1, 2, 3].map((i) => textPage(4096, i)));
    const expected = Buffer.alloc(lz4Bound(pages.length));
    const n = lz4Compress(pages, expected);
    const { payload, result } = run(Buffer.from(pages), 4, 4096, 1);
    expect(result[SLOT.FLAGS]).toBe(1);
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
    expect(raw.result[SLOT.FLAGS]).toBe(0);
    expect(raw.payload.equals(random)).toBe(true);
    const zeros = run(Buffer.alloc(9 * 4096), 9, 4096, 8);
    expect([...zeros.bitmap]).toEqual([0xff, 0x01]);
    expect(zeros.result[SLOT.PACKED_BYTES]).toBe(0);
    expect(zeros.result[SLOT.PAYLOAD_BYTES]).toBe(0);
    expect(zeros.result[SLOT.FLAGS]).toBe(0);
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

describe('the chunker reading the vmcore through a mapping (encodeFrom)', () => {
  const PAGE = 4096;
  // 2600 pages (past the 8 MiB window, so it moves), a hole, then a segment whose file offset is not page aligned.
  const fillOf = (pfn: number): PageFill => (['zero', 'pattern', 'random', { fill: pfn & 0xff }, 'pattern'] as PageFill[])[(pfn * 7 + (pfn >> 5)) % 5];
  const spec = {
    loads: [{ paddr: 0, memsz: 2600 * PAGE }, { paddr: 2700 * PAGE, memsz: 150 * PAGE }],
    segmentAlign: 8,
    page: fillOf,
  };
  const read = useSyntheticCore(spec);

  function framesOf(source: VmcoreSource, order: number[], plan: ChunkPlan, chunker = new Chunker(PAGE)): Buffer[] {
    const pages = Buffer.alloc(plan.chunkPages * PAGE);
    const frame = Buffer.alloc(frameCapacity(PAGE, plan.chunkPages));
    return order.map((seq) => Buffer.from(chunker.encodeFrom(source, plan.chunk(seq), pages, frame, CHUNK_CHECKSUMS.xxh32).framed));
  }

  it('sends the very frames read() gives, in pfn order and jumping back and forth, and maps what it can', () => {
    const mapped = VmcoreSource.open(read.core.path, { mapped: true });
    try {
      expect(read.source.mapped).toBe(false); // a file in the page cache is read, not mapped, by default
      const plan = new ChunkPlan(read.source.core.pageMap, 64);
      const mappedChunks = Array.from({ length: plan.totalChunks }, (_, seq) => seq)
        .filter((seq) => mapped.fileRangeOf(plan.chunk(seq).startPfn, plan.chunk(seq).pageCount) !== undefined);
      // The unaligned segment's chunks lie in one file range too: only the chunks across the hole's edges, if any, are not.
      expect(mappedChunks.length).toBeGreaterThanOrEqual(plan.totalChunks - 2);
      const inOrder = Array.from({ length: plan.totalChunks }, (_, seq) => seq);
      const jumping = inOrder.map((seq) => (seq % 2 ? plan.totalChunks - seq : seq)).filter((seq) => seq < plan.totalChunks);
      for (const order of [inOrder, jumping]) {
        const viaRead = framesOf(read.source, order, plan);
        const chunker = new Chunker(PAGE);
        const viaMap = framesOf(mapped, order, plan, chunker);
        expect(chunker.mapFailure).toBeUndefined();
        viaMap.forEach((frame, i) => expect(frame.equals(viaRead[i]), `chunk ${order[i]}`).toBe(true));
      }
    } finally {
      mapped.close();
    }
  });

  it('reads a file opened after another was closed, not the old one\'s window (fd numbers are reused)', async () => {
    const other = await writeElfCoreFile({ ...spec, page: (pfn: number) => ({ fill: (pfn + 1) & 0xff }) });
    try {
      const plan = new ChunkPlan(read.source.core.pageMap, 64);
      const first = VmcoreSource.open(read.core.path, { mapped: true });
      const fromFirst = framesOf(first, [3], plan);
      first.close();
      const second = VmcoreSource.open(other.path, { mapped: true });
      const fromSecond = framesOf(second, [3], plan);
      const secondRead = VmcoreSource.open(other.path);
      const expected = framesOf(secondRead, [3], plan);
      second.close();
      secondRead.close();
      expect(fromSecond[0].equals(expected[0])).toBe(true);
      expect(fromSecond[0].equals(fromFirst[0])).toBe(false);
    } finally {
      await other.cleanup();
    }
  });

  it('falls back to read() for good when the file cannot be mapped, and says why', () => {
    const devNull = openSync('/dev/null', 'r');
    try {
      const plan = new ChunkPlan(read.source.core.pageMap, 64);
      const unmappable = Object.assign(Object.create(read.source) as VmcoreSource, {
        fileRangeOf: () => ({ fd: devNull, offset: 0, fileSize: 1 << 30 }),
      });
      const chunker = new Chunker(PAGE);
      const frames = framesOf(unmappable, [0, 1, 2], plan, chunker);
      expect(chunker.mapFailure).toMatch(/cannot map the file at offset 0/);
      const expected = framesOf(read.source, [0, 1, 2], plan);
      frames.forEach((frame, i) => expect(frame.equals(expected[i])).toBe(true));
    } finally {
      closeSync(devNull);
    }
  });
});
