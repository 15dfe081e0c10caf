/**
 * Turns one chunk's pages into a CHUNK frame: zero pages become bits in a
 * bitmap, the other pages are packed together and lz4-compressed straight
 * into the frame buffer. No allocation per chunk: the caller owns the page
 * buffer (which is compacted in place) and the frame buffer. encode() takes
 * pages already read; encodeFrom() reads them from the vmcore itself,
 * through a mapping of the file where it can (read() of /proc/vmcore copies
 * every page through a mapping of its own, made and unmade per page).
 *
 * Under xxh32 (every receiver of this version) the work is one native call
 * (native/chunk-encoder.c), with lz4 at the acceleration asked for; under
 * crc32, for older receivers, it is done here in JavaScript at lz4's default.
 * The receiver decodes either and re-encodes pages in its stored codec, so
 * the acceleration changes only the bytes on the wire. To a receiver that
 * takes pages as it stores them (ACCEPT storedPages 'lzo'), `storedPages`
 * sends them so (CHUNK_STORED_LZO): the compression the receiver would do
 * for every upload on its one thread is done here, as makedumpfile -F does.
 */
import { CHUNK_HEADER_SIZE, CHUNK_LZ4, writeChunkHeader, zeroBitmapLength } from '../shared/protocol/messages.js';
import { chunkChecksum, type ChunkChecksum } from '../shared/protocol/digest.js';
import { lz4Bound, lz4Compress } from '../shared/codec/lz4.js';
import { FRAME_PREFIX_SIZE } from '../shared/protocol/frame-decoder.js';
import type { ChunkSpan } from '../shared/protocol/chunk-plan.js';
import { DEFAULT_LZ4_ACCELERATION, encodeChunkNative, encodeMappedChunkNative, SLOT, SLOTS } from './chunk-encoder-native.js';
import type { VmcoreSource } from './vmcore-source.js';

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

/** Where a CHUNK frame of `pageCount` pages holds its zero bitmap and where its payload starts. */
function frameParts(frame: Buffer, pageCount: number): { bitmap: Buffer; payloadAt: number } {
  const bitmapAt = FRAME_PREFIX_SIZE + 1 + CHUNK_HEADER_SIZE;
  const bitmap = frame.subarray(bitmapAt, bitmapAt + zeroBitmapLength(pageCount));
  return { bitmap, payloadAt: bitmapAt + bitmap.length };
}

export class Chunker {
  private readonly zeroPage: Buffer;
  private readonly nativeResult = new Uint32Array(SLOTS);
  /** Why the vmcore is read with pread rather than mapped (its mmap failed once: an old kernel's /proc/vmcore). */
  mapFailure: string | undefined;

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
  encode(span: ChunkSpan, pages: Buffer, frame: Buffer, checksum: ChunkChecksum, storedPages = false): EncodedChunk {
    const { bitmap, payloadAt } = frameParts(frame, span.pageCount);
    if (checksum.kind === 'xxh32') {
      return this.encodeNative(span, frame, bitmap, payloadAt, () => encodeChunkNative(
        pages, span.pageCount, this.pageSize, bitmap, frame.subarray(payloadAt), this.lz4Acceleration, this.nativeResult, storedPages));
    }
    if (storedPages) throw new RangeError('stored pages travel only under xxh32');
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

  /**
   * The chunk `span` of `source`, encoded as encode() does; `pages` (room
   * for span.pageCount pages) is the scratch it may be read into.
   */
  encodeFrom(source: VmcoreSource, span: ChunkSpan, pages: Buffer, frame: Buffer, checksum: ChunkChecksum, storedPages = false): EncodedChunk {
    const file = checksum.kind === 'xxh32' && this.mapFailure === undefined ? source.fileRangeOf(span.startPfn, span.pageCount) : undefined;
    if (file) {
      const { bitmap, payloadAt } = frameParts(frame, span.pageCount);
      try {
        return this.encodeNative(span, frame, bitmap, payloadAt, () => encodeMappedChunkNative(
          file, span.pageCount, this.pageSize, pages, bitmap, frame.subarray(payloadAt), this.lz4Acceleration, this.nativeResult, storedPages));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ERR_MMAP') throw error;
        this.mapFailure = (error as Error).message;
      }
    }
    return this.encode(span, source.readPages(span.startPfn, span.pageCount, pages), frame, checksum, storedPages);
  }

  /** Under xxh32, whose chunk and payload hashes are both of the pages: one native call (`run`) does it all, either payload. */
  private encodeNative(span: ChunkSpan, frame: Buffer, bitmap: Buffer, payloadAt: number, run: () => void): EncodedChunk {
    const result = this.nativeResult;
    run();
    const payloadLength = result[SLOT.PAYLOAD_BYTES];
    const chunkCrc = result[SLOT.CHUNK_XXH32];
    writeChunkHeader(frame.subarray(FRAME_PREFIX_SIZE), {
      seq: span.seq,
      startPfn: span.startPfn,
      pageCount: span.pageCount,
      flags: result[SLOT.FLAGS],
      rawLength: result[SLOT.PACKED_BYTES],
      chunkCrc,
      payloadCrc: result[SLOT.PAYLOAD_XXH32],
    }, payloadLength);
    return this.framed(frame, payloadAt + payloadLength, chunkCrc, result[SLOT.ZERO_PAGES], result[SLOT.PACKED_BYTES]);
  }

  private framed(frame: Buffer, end: number, chunkCrc: number, zeroPages: number, rawBytes: number): EncodedChunk {
    frame.writeUInt32BE(end - FRAME_PREFIX_SIZE, 0);
    return { framed: frame.subarray(0, end), message: frame.subarray(FRAME_PREFIX_SIZE, end), chunkCrc, zeroPages, rawBytes };
  }
}
