import { describe, it, expect } from 'vitest';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { lz4Bound, lz4Compress, lz4DecompressExact, lz4Native } from '../../shared/codec/lz4.js';
import { catchNetdump } from '../helpers/errors.js';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function page(pfn: number, kind: 'pattern' | 'random'): Buffer {
  const out = Buffer.alloc(4096);
  if (kind === 'pattern') {
    for (let i = 0; i < out.length; i += 16) out.write(`pfn ${pfn} line\n`.padEnd(16, '.'), i, 'latin1');
  } else {
    let x = pfn * 2654435761 + 1;
    for (let i = 0; i < out.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      out[i] = x >>> 24;
    }
  }
  return out;
}

describe('lz4 codec uses the native addon', () => {
  it('the addon file of the npm lz4 package exists', () => {
    expect(existsSync(join(root, 'node_modules', 'lz4', 'build', 'Release', 'lz4.node'))).toBe(true);
  });

  it('lz4Native is the very binding the lz4 package exports for block encode/decode', () => {
    const lz4 = require('lz4') as { encodeBlock: unknown; decodeBlock: unknown; encodeBound: unknown };
    expect(lz4.encodeBlock).toBe(lz4Native.compress);
    expect(lz4.decodeBlock).toBe(lz4Native.uncompress);
    expect(lz4.encodeBound).toBe(lz4Native.compressBound);
  });

  it('its functions are native code, not the pure-JS fallback', () => {
    for (const fn of [lz4Native.compress, lz4Native.uncompress, lz4Native.compressBound]) {
      expect(typeof fn).toBe('function');
      expect(Function.prototype.toString.call(fn)).toContain('[native code]');
    }
    // The package's JS implementation is a different function.
    const jsFallback = require('lz4/lib/binding.js') as { uncompress: unknown };
    expect(jsFallback.uncompress).not.toBe(lz4Native.uncompress);
  });
});

describe('lz4 block round trip', () => {
  it('compresses a compressible page and decodes it back exactly', () => {
    const input = Buffer.concat([page(1, 'pattern'), page(2, 'pattern')]);
    const out = Buffer.alloc(lz4Bound(input.length));
    const n = lz4Compress(input, out);
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(input.length / 4);
    const back = Buffer.alloc(input.length);
    lz4DecompressExact(out.subarray(0, n), back, { seq: 0 });
    expect(back.equals(input)).toBe(true);
  });

  it('reports incompressible data as 0 when the output is only input-sized', () => {
    const input = page(3, 'random');
    expect(lz4Bound(input.length)).toBeGreaterThan(input.length);
    expect(lz4Compress(input, Buffer.alloc(input.length))).toBe(0);
  });

  it('decompressing to a larger expected size -> CORRUPT with the context', () => {
    const input = page(4, 'pattern');
    const out = Buffer.alloc(lz4Bound(input.length));
    const n = lz4Compress(input, out);
    const err = catchNetdump(() => lz4DecompressExact(out.subarray(0, n), Buffer.alloc(8192), { seq: 9 }));
    expect(err.code).toBe('CORRUPT');
    expect(err.message).toContain('decoded to 4096 bytes, expected 8192');
    expect(err.context).toEqual({ seq: 9 });
  });

  it('decompressing into too small an output -> CORRUPT', () => {
    const input = page(5, 'pattern');
    const out = Buffer.alloc(lz4Bound(input.length));
    const n = lz4Compress(input, out);
    const err = catchNetdump(() => lz4DecompressExact(out.subarray(0, n), Buffer.alloc(1024), { seq: 1 }));
    expect(err.code).toBe('CORRUPT');
  });

  it('a garbage block -> CORRUPT', () => {
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01]);
    expect(catchNetdump(() => lz4DecompressExact(garbage, Buffer.alloc(4096), { seq: 2 })).code).toBe('CORRUPT');
  });
});
