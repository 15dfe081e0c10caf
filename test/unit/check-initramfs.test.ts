/**
 * kdump-send --check's initramfs sizes: newc cpio archives summed member by
 * member, the early-cpio-then-compressed layout, gzip through zlib and zstd
 * through Debian's tool, and the stand-in when a part cannot be read.
 */
import { mkdtemp, mkdir, rm, symlink, writeFile, link } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { NetdumpError } from '../../shared/errors.js';
import { readCpioArchive, readCpioArchives } from '../../sender/check/cpio.js';
import { decompressWithTools } from '../../sender/check/decompress.js';
import { compressionAt, measureInitramfs, type Decompressor } from '../../sender/check/initramfs.js';
import { measureTree } from '../../sender/check/initrd-tree.js';
import { cpioArchive, compressWith, hasTool } from '../helpers/cpio-builder.js';

const early = cpioArchive([
  { name: 'kernel', dir: true },
  { name: 'kernel/x86/microcode/GenuineIntel.bin', data: Buffer.alloc(10_000, 1) },
]);
const main = cpioArchive([
  { name: 'bin', dir: true },
  { name: 'bin/busybox', data: Buffer.alloc(5000, 2) },
  { name: 'init', data: '#!/bin/sh\nexec kdump-send\n' },
  { name: 'sbin', symlink: 'bin' },
  { name: 'empty', data: '' },
]);
const INIT = '#!/bin/sh\nexec kdump-send\n'.length;
const MAIN_BYTES = 5000 + INIT + 3;
/** busybox 2 pages, init 1, the symlink 1; the microcode 3. */
const MAIN_PAGES = 4 * 4096;
const EARLY_PAGES = 3 * 4096;
const noTools: Decompressor = (format) => { throw new NetdumpError('BAD_INPUT', `no ${format} here`); };

describe('cpio (newc)', () => {
  it('sums the members that hold data and ends past the trailer', () => {
    const archive = readCpioArchive(main, 0);
    expect(archive).toMatchObject({ files: 3, bytes: MAIN_BYTES, pageBytes: MAIN_PAGES });
    expect(archive.end).toBe(main.length);
  });

  it('reads concatenated archives with zero padding between them', () => {
    const joined = Buffer.concat([early, Buffer.alloc(512), main, Buffer.alloc(4)]);
    expect(readCpioArchives(joined)).toMatchObject({ archives: 2, files: 4, bytes: 10_000 + MAIN_BYTES, end: joined.length });
  });

  it('a truncated archive or a bad header is CORRUPT, naming the byte', () => {
    expect(() => readCpioArchive(main.subarray(0, 300), 0)).toThrow(/cpio (archive cut short|member at byte \d+ runs past the end)/);
    const bad = Buffer.from(main);
    bad.write('zzzzzzzz', 6 + 6 * 8, 'latin1');
    expect(() => readCpioArchive(bad, 0)).toThrow(/field 6 is not hex/);
  });
});

describe('initramfs images', () => {
  it('knows the kernel\'s compressions by their magic', () => {
    expect(compressionAt(gzipSync(main), 0)).toBe('gzip');
    expect(compressionAt(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0]), 0)).toBe('zstd');
    expect(compressionAt(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), 0)).toBe('xz');
    expect(compressionAt(Buffer.from([0x02, 0x21, 0x4c, 0x18]), 0)).toBe('lz4');
    expect(compressionAt(main, 0)).toBeUndefined();
  });

  it('an uncompressed image: its archives', () => {
    const sizes = measureInitramfs(main, noTools);
    expect(sizes).toMatchObject({ compressedBytes: main.length, layout: ['cpio'], unreadable: undefined });
    expect(sizes.unpacked.bytes).toBe(MAIN_BYTES);
  });

  it('early microcode cpio, then the gzip main archive (zlib)', () => {
    const image = Buffer.concat([early, Buffer.alloc(8), gzipSync(main)]);
    const sizes = measureInitramfs(image, decompressWithTools);
    expect(sizes.layout).toEqual(['cpio', 'gzip']);
    expect(sizes.unreadable).toBeUndefined();
    expect(sizes.unpacked).toEqual({ files: 4, bytes: 10_000 + MAIN_BYTES, pageBytes: EARLY_PAGES + MAIN_PAGES });
    expect(sizes.compressedBytes).toBe(image.length);
  });

  it('gzip of two concatenated archives, with zero padding after the stream', () => {
    const image = Buffer.concat([gzipSync(Buffer.concat([main, main])), Buffer.alloc(16)]);
    expect(measureInitramfs(image, decompressWithTools)).toMatchObject({ layout: ['gzip'], unreadable: undefined, unpacked: { bytes: 2 * MAIN_BYTES } });
  });

  it.skipIf(!hasTool('zstd'))('early cpio, then zstd, through the zstd tool (padding after it too) (skipped without the zstd tool: scripts/install-test-deps.sh installs it)', () => {
    const compressed = compressWith('zstd', ['-q', '-c'], main)!;
    const image = Buffer.concat([early, compressed, Buffer.alloc(4)]);
    const sizes = measureInitramfs(image, decompressWithTools);
    expect(sizes).toMatchObject({ layout: ['cpio', 'zstd'], unreadable: undefined, unpacked: { files: 4, bytes: 10_000 + MAIN_BYTES } });
  });

  it.skipIf(!hasTool('xz'))('xz through the xz tool', () => {
    const image = compressWith('xz', ['-q', '-c', '--check=crc32'], main)!;
    expect(measureInitramfs(image, decompressWithTools)).toMatchObject({ layout: ['xz'], unreadable: undefined, unpacked: { bytes: MAIN_BYTES } });
  });

  it('a part it cannot unpack: says why, counts its compressed bytes again as the stand-in', () => {
    const zstdLike = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(4000, 7)]);
    const image = Buffer.concat([early, zstdLike]);
    const sizes = measureInitramfs(image, noTools);
    expect(sizes.layout).toEqual(['cpio', 'zstd']);
    expect(sizes.unreadable).toBe(`zstd part at byte ${early.length}: no zstd here`);
    expect(sizes.unpacked.bytes).toBe(10_000 + zstdLike.length);
  });

  it('a missing tool is named with its Debian package', () => {
    const image = Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0, 0, 0, 0]);
    const sizes = measureInitramfs(image, (format, bytes) => (format === 'lzo' && !hasTool('lzop')
      ? decompressWithTools(format, bytes) : noTools(format, bytes)));
    expect(sizes.unreadable).toMatch(/lzo part at byte 0: (lzop is not installed \(Debian package lzop\)|no lzo here)/);
  });

  it('bytes that are neither cpio nor a known compression', () => {
    const sizes = measureInitramfs(Buffer.concat([early, Buffer.from('GARBAGE!')]), noTools);
    expect(sizes.unreadable).toMatch(/byte \d+ starts neither a cpio archive nor a compressed stream/);
    expect(sizes.unpacked.bytes).toBe(10_000 + 8);
  });
});

describe('a staging tree (install hooks)', () => {
  it('sums files once per inode and symlinks, and estimates the image', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'netdump-tree-'));
    try {
      await mkdir(path.join(dir, 'usr/bin'), { recursive: true });
      await writeFile(path.join(dir, 'usr/bin/node'), Buffer.alloc(100_000, 3));
      await link(path.join(dir, 'usr/bin/node'), path.join(dir, 'usr/bin/node-again'));
      await writeFile(path.join(dir, 'init'), 'x'.repeat(10));
      await symlink('usr/bin', path.join(dir, 'bin'));
      const sizes = measureTree(dir);
      expect(sizes.unpacked).toEqual({ files: 3, bytes: 100_000 + 10 + 'usr/bin'.length, pageBytes: 25 * 4096 + 4096 + 4096 });
      expect(sizes.compressedBytes).toBeGreaterThan(0);
      expect(sizes.compressedBytes).toBeLessThan(10_000);
      expect(sizes.layout).toEqual(['directory']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
