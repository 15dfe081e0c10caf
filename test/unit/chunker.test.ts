import { describe, it, expect } from 'vitest';
import { Chunker, frameCapacity } from '../../sender/chunker.js';
import { CHUNK_LZ4, decodeMessage, zeroBitmapLength, type ChunkMessage } from '../../shared/protocol/messages.js';
import { CHUNK_CHECKSUMS, chunkChecksum, type ChunkChecksum } from '../../shared/protocol/digest.js';
import { xxh32 } from '../../shared/codec/xxhash.js';
import { crc32 } from 'node:zlib';
import { lz4DecompressExact } from '../../shared/codec/lz4.js';
import { FRAME_PREFIX_SIZE, FrameDecoder } from '../../shared/protocol/frame-decoder.js';
import type { ChunkSpan } from '../../shared/protocol/chunk-plan.js';
import { pageFromFill, type PageFill } from '../helpers/elf-core-builder.js';

const PAGE = 4096;

function pagesOf(fills: PageFill[], firstPfn = 0): Buffer[] {
  return fills.map((fill, i) => pageFromFill(fill, firstPfn + i, PAGE));
}

const CRC32 = CHUNK_CHECKSUMS.crc32;

function encode(fills: PageFill[], span: Partial<ChunkSpan> = {}, checksum: ChunkChecksum = CRC32) {
  const originals = pagesOf(fills, span.startPfn ?? 0);
  const full: ChunkSpan = { seq: 7, startPfn: 0x1000, firstRank: 3, pageCount: fills.length, ...span };
  const pages = Buffer.concat(originals);
  const frame = Buffer.alloc(frameCapacity(PAGE, fills.length));
  const encoded = new Chunker(PAGE).encode(full, pages, frame, checksum);
  const message = decodeMessage(encoded.message);
  expect(message.type).toBe('chunk');
  return { originals, span: full, encoded, chunk: message as ChunkMessage };
}

function expectedBitmap(fills: PageFill[]): Buffer {
  const bitmap = Buffer.alloc(zeroBitmapLength(fills.length));
  fills.forEach((fill, i) => {
    if (fill === 'zero') bitmap[i >>> 3] |= 1 << (i & 7);
  });
  return bitmap;
}

function rawPagesOf(fills: PageFill[], originals: Buffer[]): Buffer {
  return Buffer.concat(originals.filter((_, i) => fills[i] !== 'zero'));
}

/** The raw non-zero pages the chunk's payload stands for. */
function payloadPages(chunk: ChunkMessage): Buffer {
  if (chunk.flags & CHUNK_LZ4) {
    const out = Buffer.alloc(chunk.rawLength);
    lz4DecompressExact(chunk.payload, out, { seq: chunk.seq });
    return out;
  }
  return chunk.payload;
}

describe('Chunker.encode', () => {
  it('sets zero pages in the bitmap and leaves them out of the payload', () => {
    const fills: PageFill[] = ['zero', 'pattern', 'zero', 'zero', 'pattern', 'pattern', 'zero', 'pattern', 'zero', 'pattern', 'zero'];
    const { originals, encoded, chunk } = encode(fills);
    expect([...chunk.zeroBitmap]).toEqual([...expectedBitmap(fills)]);
    expect([...chunk.zeroBitmap]).toEqual([0b0100_1101, 0b0000_0101]);
    expect(encoded.zeroPages).toBe(6);
    expect(chunk.rawLength).toBe(5 * PAGE);
    expect(encoded.rawBytes).toBe(5 * PAGE);
    expect(chunk.flags).toBe(CHUNK_LZ4);
    expect(chunk.payload.length).toBeLessThan(chunk.rawLength);
    expect(payloadPages(chunk).equals(rawPagesOf(fills, originals))).toBe(true);
  });

  it('ships incompressible (random) pages raw with flags 0', () => {
    const fills: PageFill[] = ['random', 'zero', 'random', 'random'];
    const { originals, chunk } = encode(fills);
    expect(chunk.flags).toBe(0);
    expect(chunk.rawLength).toBe(3 * PAGE);
    expect(chunk.payload.length).toBe(3 * PAGE);
    expect(chunk.payload.equals(rawPagesOf(fills, originals))).toBe(true);
  });

  it('crc32: chunkCrc is chunkChecksum(bitmap, raw pages) and payloadCrc covers the payload', () => {
    for (const fills of [
      ['zero', 'pattern', 'random', 'zero', 'pattern'] as PageFill[],
      ['random', 'random'] as PageFill[],
      ['pattern', { fill: 0x11 }, 'zero', 'zero', 'zero', 'zero', 'zero', 'zero', 'zero', 'pattern'] as PageFill[],
    ]) {
      const { originals, encoded, chunk } = encode(fills);
      const want = chunkChecksum(expectedBitmap(fills), rawPagesOf(fills, originals));
      expect(chunk.chunkCrc).toBe(want);
      expect(encoded.chunkCrc).toBe(want);
      expect(chunk.payloadCrc).toBe(crc32(chunk.payload));
      expect(payloadPages(chunk).equals(rawPagesOf(fills, originals))).toBe(true);
    }
  });

  it('xxh32: chunkCrc is XXH32 of the bitmap seeded with XXH32 of the raw pages, and payloadCrc is the pages\' hash, LZ4 or raw', () => {
    let sawLz4 = false;
    let sawRaw = false;
    for (const fills of [
      ['zero', 'pattern', 'random', 'zero', 'pattern'] as PageFill[],
      ['random', 'random'] as PageFill[],
      ['pattern', { fill: 0x11 }, 'zero', 'zero', 'zero', 'zero', 'zero', 'zero', 'zero', 'pattern'] as PageFill[],
    ]) {
      const { originals, encoded, chunk } = encode(fills, {}, CHUNK_CHECKSUMS.xxh32);
      const raw = rawPagesOf(fills, originals);
      const want = xxh32(expectedBitmap(fills), xxh32(raw));
      expect(chunk.chunkCrc).toBe(want);
      expect(encoded.chunkCrc).toBe(want);
      expect(chunk.chunkCrc).not.toBe(chunkChecksum(expectedBitmap(fills), raw));
      expect(chunk.payloadCrc).toBe(xxh32(raw));
      if (chunk.flags & CHUNK_LZ4) sawLz4 = true;
      else sawRaw = true;
      expect(payloadPages(chunk).equals(raw)).toBe(true);
    }
    expect(sawLz4 && sawRaw).toBe(true);
  });

  it('xxh32 is XXH32 (the reference vectors)', () => {
    expect(xxh32(Buffer.alloc(0))).toBe(0x02cc5d05);
    expect(xxh32(Buffer.from('abc'))).toBe(0x32d153ff);
    expect(xxh32(Buffer.from('abc'), 1)).not.toBe(0x32d153ff);
  });

  it('a chunk of only zero pages has an empty raw payload', () => {
    const fills: PageFill[] = Array(9).fill('zero');
    const { encoded, chunk } = encode(fills);
    expect(chunk.flags).toBe(0);
    expect(chunk.rawLength).toBe(0);
    expect(chunk.payload.length).toBe(0);
    expect([...chunk.zeroBitmap]).toEqual([0xff, 0x01]);
    expect(encoded.zeroPages).toBe(9);
    expect(chunk.chunkCrc).toBe(chunkChecksum(Buffer.from([0xff, 0x01]), Buffer.alloc(0)));
  });

  it('carries the span in the header and frames the message with its length', () => {
    const fills: PageFill[] = ['pattern', 'zero', 'pattern'];
    const { span, encoded, chunk } = encode(fills, { seq: 41, startPfn: 2 ** 32 + 5 });
    expect(chunk).toMatchObject({ seq: 41, startPfn: 2 ** 32 + 5, pageCount: 3 });
    expect(encoded.framed.readUInt32BE(0)).toBe(encoded.message.length);
    expect(encoded.framed.length).toBe(FRAME_PREFIX_SIZE + encoded.message.length);
    expect(encoded.framed.subarray(FRAME_PREFIX_SIZE).equals(encoded.message)).toBe(true);
    const decoder = new FrameDecoder(1 << 20);
    decoder.push(Buffer.from(encoded.framed));
    const frame = decoder.next();
    expect(frame && decodeMessage(frame)).toMatchObject({ type: 'chunk', seq: span.seq });
  });

  it('the frame buffer can be reused for the next chunk', () => {
    const chunker = new Chunker(PAGE);
    const frame = Buffer.alloc(frameCapacity(PAGE, 4));
    const a = pagesOf(['random', 'random', 'random', 'random']);
    const first = chunker.encode({ seq: 0, startPfn: 0, pageCount: 4, firstRank: 0 }, Buffer.concat(a), frame, CRC32);
    const firstCrc = first.chunkCrc;
    const b = pagesOf(['zero', 'pattern'], 10);
    const second = chunker.encode({ seq: 1, startPfn: 10, pageCount: 2, firstRank: 4 }, Buffer.concat(b), frame, CRC32);
    const chunk = decodeMessage(second.message) as ChunkMessage;
    expect(chunk.seq).toBe(1);
    expect([...chunk.zeroBitmap]).toEqual([0b01]);
    expect(payloadPages(chunk).equals(b[1])).toBe(true);
    expect(chunk.chunkCrc).toBe(chunkChecksum(Buffer.from([0b01]), b[1]));
    expect(chunk.chunkCrc).not.toBe(firstCrc);
  });

  it('Chunker.checksum agrees with encode, for each kind', () => {
    const fills: PageFill[] = ['zero', 'random', 'pattern', 'zero', 'pattern'];
    for (const checksum of Object.values(CHUNK_CHECKSUMS)) {
      const { encoded } = encode(fills, {}, checksum);
      expect(new Chunker(PAGE).checksum(fills.length, Buffer.concat(pagesOf(fills)), checksum)).toBe(encoded.chunkCrc);
    }
  });

  it('pack compacts non-zero pages to the front in order', () => {
    const fills: PageFill[] = ['zero', 'random', 'zero', 'pattern'];
    const originals = pagesOf(fills);
    const pages = Buffer.concat(originals);
    const bitmap = Buffer.alloc(1, 0xee); // stale bits must be cleared
    const { packed, zeroPages } = new Chunker(PAGE).pack(4, pages, bitmap);
    expect(packed).toBe(2 * PAGE);
    expect(zeroPages).toBe(2);
    expect(bitmap[0]).toBe(0b0101);
    expect(pages.subarray(0, PAGE).equals(originals[1])).toBe(true);
    expect(pages.subarray(PAGE, 2 * PAGE).equals(originals[3])).toBe(true);
  });
});
