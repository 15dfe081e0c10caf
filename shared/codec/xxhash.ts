/**
 * XXH32 for the wire's chunk checksums: the xxhash addon the npm `lz4`
 * package builds beside its lz4 one (lz4's own xxhash.c), called directly.
 * It hashes ~2x faster than node:zlib's crc32 here (which has no SIMD path
 * when called on its own), and each chunk's pages are hashed at both ends.
 */
import { createRequire } from 'node:module';

interface XxhashNative {
  xxHash(input: Buffer, seed?: number): number;
}

const require = createRequire(import.meta.url);
export const xxhashNative: XxhashNative = require('lz4/build/Release/xxhash.node');

/** XXH32 of `input` with `seed` (a u32), as an unsigned 32-bit number. */
export function xxh32(input: Buffer, seed = 0): number {
  return xxhashNative.xxHash(input, seed >>> 0) >>> 0;
}
