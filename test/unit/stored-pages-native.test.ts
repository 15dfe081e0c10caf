// The native run encoder (shared/kdump/native) against the page-by-page path it replaces:
// the same stored bytes and descriptors for every kind of page, and clear errors for bad buffers.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { pageCodecByName, type PageRun } from '../../shared/kdump/page-codec.js';
import { PAGE_DESC_SIZE, writePageDescriptor, DUMP_DH_COMPRESSED_LZO } from '../../shared/kdump/format.js';

/** What writer.ts's page-by-page loop stores for the run: data and descriptors. */
function pageByPage(run: PageRun): { data: Buffer; descriptors: Buffer } {
  const codec = pageCodecByName('lzo');
  const parts: Buffer[] = [];
  const descriptors = Buffer.alloc(run.pageCount * PAGE_DESC_SIZE);
  let at = 0;
  let rawAt = 0;
  for (let i = 0; i < run.pageCount; i++) {
    if (run.zeroBitmap[i >>> 3] & (1 << (i & 7))) {
      writePageDescriptor(descriptors, i * PAGE_DESC_SIZE, { offset: run.zeroPageOffset, size: run.pageSize, flags: 0, pageFlags: 0n });
      continue;
    }
    const page = run.pages.subarray(rawAt, rawAt + run.pageSize);
    rawAt += run.pageSize;
    const packed = codec.compress(page);
    const stored = Buffer.from(packed ?? page);
    writePageDescriptor(descriptors, i * PAGE_DESC_SIZE, { offset: run.runStart + at, size: stored.length, flags: packed ? DUMP_DH_COMPRESSED_LZO : 0, pageFlags: 0n });
    parts.push(stored);
    at += stored.length;
  }
  return { data: Buffer.concat(parts), descriptors };
}

/** A run of `kinds`: z zero, r random (LZO cannot shrink it), t text-like, p a pattern. */
function runOf(kinds: string, pageSize: number, runStart = 8192 * 3, zeroPageOffset = 8192): PageRun {
  const zeroBitmap = Buffer.alloc(Math.ceil(kinds.length / 8));
  const pages: Buffer[] = [];
  [...kinds].forEach((k, i) => {
    if (k === 'z') { zeroBitmap[i >>> 3] |= 1 << (i & 7); return; }
    if (k === 'r') pages.push(randomBytes(pageSize));
    else if (k === 't') pages.push(Buffer.from('kernel: BUG: unable to handle page fault for address '.repeat(pageSize).slice(0, pageSize)));
    else pages.push(Buffer.alloc(pageSize, i * 7 + 1));
  });
  return { pageCount: kinds.length, pageSize, zeroBitmap, pages: Buffer.concat(pages), runStart, zeroPageOffset };
}

function encodeNative(run: PageRun, dataRoom = run.pages.length) {
  const codec = pageCodecByName('lzo');
  const data = Buffer.alloc(dataRoom);
  const descriptors = Buffer.alloc(run.pageCount * PAGE_DESC_SIZE);
  const { dataBytes, zeroPages } = codec.encodeRun!(run, data, descriptors);
  return { data: data.subarray(0, dataBytes), descriptors, zeroPages };
}

describe('native page run encoder', () => {
  for (const pageSize of [4096, 16384, 65536]) {
    it(`stores what the page-by-page path stores (${pageSize}-byte pages)`, () => {
      const run = runOf('tzrpztrrpzzt', pageSize);
      const native = encodeNative(run);
      const expected = pageByPage(run);
      expect(native.zeroPages).toBe(4);
      expect(native.data.equals(expected.data)).toBe(true);
      expect(native.descriptors.equals(expected.descriptors)).toBe(true);
    });
  }

  it('keeps random pages raw and writes offsets past 4 GiB whole', () => {
    const run = runOf('rtr', 4096, 5 * 2 ** 32 + 12345, 2 ** 33);
    const native = encodeNative(run);
    expect(native.descriptors.equals(pageByPage(run).descriptors)).toBe(true);
    expect(native.descriptors.readUInt32LE(8)).toBe(4096); // the first page: raw, a whole page
    expect(native.descriptors.readUInt32LE(12)).toBe(0);
    expect(native.descriptors.readUInt32LE(PAGE_DESC_SIZE + 12)).toBe(DUMP_DH_COMPRESSED_LZO);
    expect(native.descriptors.readBigUInt64LE(0)).toBe(BigInt(5 * 2 ** 32 + 12345));
  });

  it('fills data to its last byte when every page is raw (no room for LZO\'s worst case)', () => {
    const run = runOf('rrrr', 4096);
    const native = encodeNative(run, run.pages.length);
    expect(native.data.equals(run.pages)).toBe(true);
  });

  it('an all-zero run stores nothing', () => {
    const native = encodeNative(runOf('zzzzzzzzz', 4096));
    expect(native.data.length).toBe(0);
    expect(native.zeroPages).toBe(9);
  });

  it('refuses pages that disagree with the bitmap, short buffers and bad offsets, by name', () => {
    const codec = pageCodecByName('lzo');
    const run = runOf('tzt', 4096);
    const descriptors = Buffer.alloc(3 * PAGE_DESC_SIZE);
    expect(() => codec.encodeRun!({ ...run, pages: run.pages.subarray(4096) }, Buffer.alloc(8192), descriptors))
      .toThrow(/pages holds 4096 bytes, but the bitmap leaves 2 non-zero pages/);
    expect(() => codec.encodeRun!(run, Buffer.alloc(4096), descriptors)).toThrow(/data has less room/);
    expect(() => codec.encodeRun!(run, Buffer.alloc(8192), Buffer.alloc(PAGE_DESC_SIZE))).toThrow(/descriptors holds fewer/);
    expect(() => codec.encodeRun!({ ...run, pageSize: 3000 }, Buffer.alloc(8192), descriptors)).toThrow(/power of two/);
    expect(() => codec.encodeRun!({ ...run, runStart: -1 }, Buffer.alloc(8192), descriptors)).toThrow(/whole numbers/);
    expect(() => codec.encodeRun!({ ...run, zeroBitmap: Buffer.alloc(0) }, Buffer.alloc(8192), descriptors)).toThrow(/zeroBitmap is shorter/);
  });
});
