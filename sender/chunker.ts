/**
 * Turns one chunk's pages into a CHUNK frame: zero pages become bits in a
 * bitmap, the other pages are packed together and lz4-compressed straight
 * into the frame buffer. No I/O and no allocation per chunk: the caller owns
 * the page buffer (which is compacted in place) and the frame buffer.
 *
 * Under xxh32 (every receiver of this version) the work is one native call
 * (native/chunk-encoder.c), with lz4 at the acceleration asked for; under
 * crc32, for older receivers, it is done here in JavaScript at lz4's default.
 * The receiver decodes either and re-encodes pages in its stored codec, so
 * the acceleration changes only the bytes on the wire.
 */
import { CHUNK_HEADER_SIZE, CHUNK_LZ4, writeChunkHeader, zeroBitmapLength } from '../shared/protocol/messages.js';
import { chunkChecksum, type ChunkChecksum } from '../shared/protocol/digest.js';
import { lz4Bound, lz4Compress } from '../shared/codec/lz4.js';
import { FRAME_PREFIX_SIZE } from '../shared/protocol/frame-decoder.js';
import type { ChunkSpan } from '../shared/protocol/chunk-plan.js';
import { DEFAULT_LZ4_ACCELERATION, encodeChunkNative, SLOT, SLOTS } from './chunk-encoder-native.js';

export interface EncodedChunk {
  /** The frame including the 4-byte length prefix (stream transports). */
  framed: Buffer;
  /** The frame without the prefix (message transports). */
  message: Buffer;
  chunkCrc: number;
  zeroPages: number;
  rawBytes: number;
}

/** Bytes a frame buffer needs for chunks of up to `maxPages` pages. */
export function frameCapacity(pageSize: number, maxPages: number): number {
  return FRAME_PREFIX_SIZE + 1 + CHUNK_HEADER_SIZE + zeroBitmapLength(maxPages) + lz4Bound(maxPages * pageSize);
}

export class Chunker {
  private readonly zeroPage: Buffer;
  private readonly nativeResult = new Uint32Array(SLOTS);

  constructor(private readonly pageSize: number, private readonly lz4Acceleration = DEFAULT_LZ4_ACCELERATION) {
    this.zeroPage = Buffer.alloc(pageSize);
  }

  /**
   * Marks zero pages in `bitmap` and moves the other pages to the front of
   * `pages`, in order. Returns the packed length and the zero-page count.
   */
  pack(pageCount: number, pages: Buffer, bitmap: Buffer): { packed: number; zeroPages: number } {
    const { pageSize } = this;
    bitmap.fill(0);
    let packed = 0;
    let zeroPages = 0;
    for (let i = 0; i < pageCount; i++) {
      const at = i * pageSize;
      if (pages.compare(this.zeroPage, 0, pageSize, at, at + pageSize) === 0) {
        bitmap[i >>> 3] |= 1 << (i & 7);
        zeroPages++;
        continue;
      }
      if (packed !== at) pages.copyWithin(packed, at, at + pageSize);
      packed += pageSize;
    }
    return { packed, zeroPages };
  }

  /** The chunk checksum alone: for a restarted sender rebuilding the digest of chunks already stored. */
  checksum(pageCount: number, pages: Buffer, checksum: ChunkChecksum): number {
    const bitmap = Buffer.alloc(zeroBitmapLength(pageCount));
    const { packed } = this.pack(pageCount, pages, bitmap);
    return chunkChecksum(bitmap, pages.subarray(0, packed), checksum);
  }

  /**
   * `pages` holds span.pageCount pages and is overwritten; `frame` has
   * frameCapacity() bytes; `checksum` is the kind the receiver took (ACCEPT).
   */
  encode(span: ChunkSpan, pages: Buffer, frame: Buffer, checksum: ChunkChecksum): EncodedChunk {
    const bitmapAt = FRAME_PREFIX_SIZE + 1 + CHUNK_HEADER_SIZE;
    const bitmapLength = zeroBitmapLength(span.pageCount);
    const bitmap = frame.subarray(bitmapAt, bitmapAt + bitmapLength);
    const payloadAt = bitmapAt + bitmapLength;
    if (checksum.kind === 'xxh32') return this.encodeNative(span, pages, frame, bitmap, payloadAt);
    const { packed, zeroPages } = this.pack(span.pageCount, pages, bitmap);
    const raw = pages.subarray(0, packed);
    let payloadLength = packed > 0 ? lz4Compress(raw, frame.subarray(payloadAt)) : 0;
    let flags = CHUNK_LZ4;
    if (packed === 0 || payloadLength === 0 || payloadLength >= packed) {
      // Incompressible (or empty): ship the pages as they are.
      raw.copy(frame, payloadAt);
      payloadLength = packed;
      flags = 0;
    }
    const payload = frame.subarray(payloadAt, payloadAt + payloadLength);
    // The pages are hashed once; under crc32 an LZ4 payload is hashed too (older receivers check it before decoding).
    const pagesCrc = checksum.hash(raw);
    const chunkCrc = checksum.chunk(bitmap, pagesCrc);
    writeChunkHeader(frame.subarray(FRAME_PREFIX_SIZE), {
      seq: span.seq,
      startPfn: span.startPfn,
      pageCount: span.pageCount,
      flags,
      rawLength: packed,
      chunkCrc,
      payloadCrc: flags === 0 || checksum.lz4PayloadCrc === 'pages' ? pagesCrc : checksum.hash(payload),
    }, payloadLength);
    return this.framed(frame, payloadAt + payloadLength, chunkCrc, zeroPages, packed);
  }

  /** Under xxh32, whose chunk and payload hashes are both of the pages: one native call does it all. */
  private encodeNative(span: ChunkSpan, pages: Buffer, frame: Buffer, bitmap: Buffer, payloadAt: number): EncodedChunk {
    const result = this.nativeResult;
    encodeChunkNative(pages, span.pageCount, this.pageSize, bitmap, frame.subarray(payloadAt), this.lz4Acceleration, result);
    const payloadLength = result[SLOT.PAYLOAD_BYTES];
    const chunkCrc = result[SLOT.CHUNK_XXH32];
    writeChunkHeader(frame.subarray(FRAME_PREFIX_SIZE), {
      seq: span.seq,
      startPfn: span.startPfn,
      pageCount: span.pageCount,
      flags: result[SLOT.IS_LZ4] ? CHUNK_LZ4 : 0,
      rawLength: result[SLOT.PACKED_BYTES],
      chunkCrc,
      payloadCrc: result[SLOT.PAGES_XXH32],
    }, payloadLength);
    return this.framed(frame, payloadAt + payloadLength, chunkCrc, result[SLOT.ZERO_PAGES], result[SLOT.PACKED_BYTES]);
  }

  private framed(frame: Buffer, end: number, chunkCrc: number, zeroPages: number, rawBytes: number): EncodedChunk {
    frame.writeUInt32BE(end - FRAME_PREFIX_SIZE, 0);
    return { framed: frame.subarray(0, end), message: frame.subarray(FRAME_PREFIX_SIZE, end), chunkCrc, zeroPages, rawBytes };
  }
}
