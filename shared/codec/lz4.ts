/**
 * LZ4 block codec for the wire. Loads the npm `lz4` package's native addon
 * directly: its pure-JS fallback is several times slower and must never be
 * picked up silently (test/unit/lz4-native.test.ts fails if it were).
 */
import { createRequire } from 'node:module';
import { corrupt } from '../errors.js';

interface Lz4Native {
  compressBound(size: number): number;
  compress(input: Buffer, output: Buffer): number;
  uncompress(input: Buffer, output: Buffer): number;
}

const require = createRequire(import.meta.url);
export const lz4Native: Lz4Native = require('lz4/build/Release/lz4.node');

export function lz4Bound(size: number): number {
  return lz4Native.compressBound(size);
}

/** Compresses into `output` (reused by the caller); returns 0 when the data does not fit, i.e. is incompressible. */
export function lz4Compress(input: Buffer, output: Buffer): number {
  return lz4Native.compress(input, output);
}

/** Decodes a block that must expand to exactly `output.length` bytes. */
export function lz4DecompressExact(input: Buffer, output: Buffer, where: Record<string, number>): void {
  const n = lz4Native.uncompress(input, output);
  if (n !== output.length) {
    throw corrupt(
      n < 0
        ? `lz4 block is malformed at input offset ${-n}`
        : `lz4 block decoded to ${n} bytes, expected ${output.length}`,
      where,
    );
  }
}
