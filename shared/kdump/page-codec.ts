/**
 * Per-page compression in the stored dump. The wire's lz4 blocks are
 * re-encoded page by page on arrival, in a codec both judges read: Debian's
 * crash 8.0.2 reads zlib, lzo, snappy and zstd (no lz4); Debian's
 * makedumpfile 1.7.2 reads only zlib and lzo. LZO1X-1 is the default: on the
 * non-zero pages of a real vmcore it ran at ~765 MB/s against snappy's ~210
 * and zlib-1's ~44, with the same ratio as snappy (bench/page-codecs.mjs,
 * docs/page-codec.md). It is also what `makedumpfile -l` writes.
 */
import { createRequire } from 'node:module';
import { deflateSync, inflateSync, constants as zlibConstants } from 'node:zlib';
import { corrupt, badInput } from '../errors.js';
import { DUMP_DH_COMPRESSED_LZO, DUMP_DH_COMPRESSED_SNAPPY, DUMP_DH_COMPRESSED_ZLIB, DUMP_DH_COMPRESSED_ZSTD } from './format.js';

interface LzoNative {
  compress(input: Buffer, output: Buffer): { err: number; len: number };
  decompress(input: Buffer, output: Buffer): { err: number; len: number };
}

interface StoredPagesNative {
  encodeRun(pageCount: number, pageSize: number, zeroBitmap: Buffer, pages: Buffer, data: Buffer, descriptors: Buffer,
    runStart: number, zeroPageOffset: number, result: Uint32Array): void;
}

const require = createRequire(import.meta.url);
/** The npm `lzo` package's addon (minilzo's lzo1x_1_compress), called directly to reuse output buffers. */
export const lzoNative: LzoNative = require('lzo/build/Release/node_lzo.node');
/**
 * A run of pages stored in one call (native/stored-pages.c, the file:
 * dependency kdump-stored-pages): the same lzo1x_1_compress, without a
 * boundary crossing, an object and a copy per page. No JavaScript stand-in is
 * picked up silently: a missing addon fails here, at load.
 */
const storedPagesNative: StoredPagesNative = require('kdump-stored-pages/build/Release/stored_pages.node');

/**
 * What is wrong with a run stored as pages behind a size table (a u32 LE
 * size per non-zero page, then the pages; a size of pageSize is a raw page),
 * or null: every size from 1 to pageSize, and together the rest of `stored`.
 * Checked before such a run is written, so its descriptors stay in the file.
 */
export function storedRunProblem(pageCount: number, pageSize: number, zeroBitmap: Buffer, stored: Buffer): { message: string; offset: number } | null {
  let kept = 0;
  for (let i = 0; i < pageCount; i++) if (!(zeroBitmap[i >>> 3] & (1 << (i & 7)))) kept++;
  if (stored.length < kept * 4) return { message: `stored run of ${stored.length} bytes is shorter than its size table of ${kept} pages`, offset: stored.length };
  let total = kept * 4;
  for (let k = 0; k < kept; k++) {
    const size = stored.readUInt32LE(k * 4);
    if (size === 0 || size > pageSize) return { message: `stored page ${k} has size ${size}, outside 1..${pageSize}`, offset: k * 4 };
    total += size;
  }
  if (total !== stored.length) return { message: `stored run of ${stored.length} bytes, its size table says ${total}`, offset: Math.min(total, stored.length) };
  return null;
}

/** A run of pages to store: which are zero, and the others back to back. */
export interface PageRun {
  pageCount: number;
  pageSize: number;
  /** Bit i set: page i is zero and stored as the shared zero page. */
  zeroBitmap: Buffer;
  /** The non-zero pages, in order, back to back. */
  pages: Buffer;
  /** File offsets of the run's first stored byte and of the shared zero page. */
  runStart: number;
  zeroPageOffset: number;
}

/** What encodeRun left in `data` and `descriptors`. */
export interface RunEncoding {
  dataBytes: number;
  zeroPages: number;
}

export type PageCodecName = 'lzo' | 'zlib' | 'none';

export interface PageCodec {
  readonly name: PageCodecName;
  /** page_desc_t.flags and header status bit; 0 for pages stored raw. */
  readonly flag: number;
  /**
   * The compressed page, or null when compression does not make it smaller
   * (stored raw). The result may be a view of a buffer the codec reuses:
   * copy it before the next call.
   */
  compress(page: Buffer): Buffer | null;
  /**
   * The whole run at once, where the codec has a native path: the stored
   * pages into `data` (room for every non-zero page raw), their descriptors
   * into `descriptors` (PAGE_DESC_SIZE each). The bytes are those compress()
   * page by page would give. Codecs without it are driven page by page.
   */
  encodeRun?(run: PageRun, data: Buffer, descriptors: Buffer): RunEncoding;
}

/** LZO1X worst case for n input bytes (lzo docs: n + n/16 + 64 + 3). */
const lzoBound = (n: number) => n + Math.ceil(n / 16) + 64 + 3;

function createLzoCodec(): PageCodec {
  let out = Buffer.alloc(lzoBound(4096));
  const result = new Uint32Array(2);
  return {
    name: 'lzo',
    flag: DUMP_DH_COMPRESSED_LZO,
    encodeRun(run, data, descriptors) {
      storedPagesNative.encodeRun(run.pageCount, run.pageSize, run.zeroBitmap, run.pages, data, descriptors, run.runStart, run.zeroPageOffset, result);
      return { dataBytes: result[0], zeroPages: result[1] };
    },
    compress(page) {
      if (out.length < lzoBound(page.length)) out = Buffer.alloc(lzoBound(page.length));
      const { err, len } = lzoNative.compress(page, out);
      if (err !== 0) throw corrupt(`lzo compression failed with code ${err}`);
      return len < page.length ? out.subarray(0, len) : null;
    },
  };
}

const zlibCodec: PageCodec = {
  name: 'zlib',
  flag: DUMP_DH_COMPRESSED_ZLIB,
  compress(page) {
    const out = deflateSync(page, { level: zlibConstants.Z_BEST_SPEED });
    return out.length < page.length ? out : null;
  },
};

const noCodec: PageCodec = { name: 'none', flag: 0, compress: () => null };

/** A codec by name; callers copy what compress() returns before calling it again. */
export function pageCodecByName(name: string): PageCodec {
  switch (name) {
    case 'lzo': return createLzoCodec();
    case 'zlib': return zlibCodec;
    case 'none': return noCodec;
    default: throw badInput(`unknown page codec ${JSON.stringify(name)} (choose lzo, zlib or none)`);
  }
}

/** Decodes one stored page given its descriptor flags; for readers and tests. */
/** decodeStoredPage into `target` (one page long): bulk readers decode straight into their output. */
export function decodeStoredPageInto(data: Buffer, flags: number, target: Buffer): void {
  if (flags & DUMP_DH_COMPRESSED_LZO) {
    const { err, len } = lzoNative.decompress(data, target);
    if (err !== 0 || len !== target.length) throw corrupt(`lzo page does not decode to ${target.length} bytes (code ${err}, ${len} bytes)`);
    return;
  }
  decodeStoredPage(data, flags, target.length).copy(target);
}

export function decodeStoredPage(data: Buffer, flags: number, pageSize: number): Buffer {
  let page: Buffer;
  if (flags & DUMP_DH_COMPRESSED_LZO) {
    page = Buffer.alloc(pageSize);
    const { err, len } = lzoNative.decompress(data, page);
    if (err !== 0 || len !== pageSize) throw corrupt(`lzo page does not decode to ${pageSize} bytes (code ${err}, ${len} bytes)`);
  } else if (flags & DUMP_DH_COMPRESSED_ZLIB) {
    page = inflateSync(data);
  } else if (flags & (DUMP_DH_COMPRESSED_SNAPPY | DUMP_DH_COMPRESSED_ZSTD)) {
    throw corrupt(`page compressed with a codec this reader lacks (flags 0x${flags.toString(16)})`);
  } else {
    page = data;
  }
  if (page.length !== pageSize) throw corrupt(`stored page decodes to ${page.length} bytes, expected ${pageSize}`);
  return page;
}
