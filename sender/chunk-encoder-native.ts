/**
 * The chunk encoder addon (native/chunk-encoder.c, built by npm as the file:
 * dependency kdump-chunk-encoder and shipped beside the sender's bundle):
 * zero pages, packing, XXH32 and lz4 with acceleration in one native call
 * per chunk. Loaded as lz4.node is, with no JavaScript stand-in to fall back
 * on silently: the chunker's own JavaScript path is for crc32 receivers.
 */
import { createRequire } from 'node:module';

interface ChunkEncoderNative {
  encode(pageCount: number, pageSize: number, pages: Buffer, bitmap: Buffer, payload: Buffer, acceleration: number, result: Uint32Array,
    storedPages: boolean): void;
  encodeMapped(fd: number, fileOffset: number, fileSize: number, pageCount: number, pageSize: number,
    scratch: Buffer, bitmap: Buffer, payload: Buffer, acceleration: number, result: Uint32Array, storedPages: boolean): void;
  releaseMapping(): void;
}

const require = createRequire(import.meta.url);
const native: ChunkEncoderNative = require('kdump-chunk-encoder/build/Release/chunk_encoder.node');

/**
 * What one encode() left in its result slots. FLAGS: the CHUNK flags of the payload (0 raw, CHUNK_LZ4,
 * CHUNK_STORED_LZO). PAYLOAD_XXH32: the CHUNK payloadCrc, the pages' hash, or a stored payload's own.
 */
export const SLOT = { PACKED_BYTES: 0, ZERO_PAGES: 1, PAYLOAD_BYTES: 2, FLAGS: 3, PAYLOAD_XXH32: 4, CHUNK_XXH32: 5 } as const;
export const SLOTS = 6;

/** lz4's acceleration for the wire: 1 is LZ4_compress_default; each step trades a little ratio for speed. */
export const DEFAULT_LZ4_ACCELERATION = 8;
/** Past this lz4 barely compresses at all (1.9's own clamp is 65537). */
export const MAX_LZ4_ACCELERATION = 64;

/**
 * Encodes `pageCount` pages of `pages` (compacted in place): the zero bitmap
 * into `bitmap`, the payload into `payload`; the sizes and hashes into
 * `result` (see SLOT). The payload is lz4 (or raw), or with `storedPages`
 * the pages as the receiver stores them (CHUNK_STORED_LZO); the chunk
 * checksum is the pages' either way. Throws a RangeError on buffers too small.
 */
export function encodeChunkNative(
  pages: Buffer, pageCount: number, pageSize: number, bitmap: Buffer, payload: Buffer, acceleration: number, result: Uint32Array,
  storedPages = false,
): void {
  native.encode(pageCount, pageSize, pages, bitmap, payload, acceleration, result, storedPages);
}

/** Pages that lie in one contiguous range of an open file (a vmcore): where, and how large the file is. */
export interface FileRange {
  fd: number;
  offset: number;
  fileSize: number;
}

/**
 * encodeChunkNative for pages read straight from the file through a
 * read-only mapping (mmap, as makedumpfile reads /proc/vmcore), without a
 * copy when no page of the chunk is zero; `scratch` (pageCount pages) takes
 * the kept pages otherwise. Throws an Error with code ERR_MMAP when the file
 * cannot be mapped (the caller reads it with pread instead).
 */
export function encodeMappedChunkNative(
  file: FileRange, pageCount: number, pageSize: number, scratch: Buffer, bitmap: Buffer, payload: Buffer, acceleration: number, result: Uint32Array,
  storedPages = false,
): void {
  native.encodeMapped(file.fd, file.offset, file.fileSize, pageCount, pageSize, scratch, bitmap, payload, acceleration, result, storedPages);
}

/** Unmaps the window encodeMappedChunkNative keeps: before its file is closed, whose fd number may be reused. */
export function releaseMappedWindow(): void {
  native.releaseMapping();
}
