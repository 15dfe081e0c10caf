/**
 * What an initramfs image costs the capture kernel once unpacked: the file
 * is a sequence of parts, as the kernel's unpack_to_rootfs() reads it:
 * uncompressed cpio archives (the early microcode one first) and compressed
 * streams holding more cpio archives, with zero padding between them. The
 * decompression itself is handed in (sender/check/decompress.ts runs it), so
 * this stays pure.
 */
import { toNetdumpError } from '../../shared/errors.js';
import { addSizes, NO_SIZES, readCpioArchives, skipPadding, type CpioSizes } from './cpio.js';

export type Compression = 'gzip' | 'zstd' | 'xz' | 'lzma' | 'bzip2' | 'lz4' | 'lzo';

/** The kernel's own list (lib/decompress.c), by magic bytes. */
const MAGIC: Array<[Compression, number[]]> = [
  ['gzip', [0x1f, 0x8b]],
  ['gzip', [0x1f, 0x9e]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['lzma', [0x5d, 0x00, 0x00]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['lz4', [0x02, 0x21, 0x4c, 0x18]], // the legacy lz4 format the kernel unpacks
  ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
];

export function compressionAt(bytes: Uint8Array, offset: number): Compression | undefined {
  return MAGIC.find(([, magic]) => magic.every((b, i) => bytes[offset + i] === b))?.[0];
}

/** Decompresses a stream that starts at the first byte (and may run to the end of the image); throws when it cannot. */
export type Decompressor = (format: Compression, compressed: Uint8Array) => Buffer;

export interface InitramfsSizes {
  /** The image file's size: it is held in memory while it is unpacked. */
  compressedBytes: number;
  /** What the parts were, in order: "cpio" or a compression name. */
  layout: string[];
  /** Files in the unpacked tree and their bytes: exact when `unreadable` is undefined. */
  unpacked: CpioSizes;
  /**
   * Why some part could not be read. The bytes from there to the end are
   * then counted as unpacked bytes as they are (the compressed size twice,
   * as a stand-in).
   */
  unreadable?: string;
}

export function measureInitramfs(image: Uint8Array, decompress: Decompressor): InitramfsSizes {
  const layout: string[] = [];
  let unpacked = { ...NO_SIZES };
  let unreadable: string | undefined;
  let at = skipPadding(image, 0);
  while (at < image.length) {
    const archives = readCpioArchivesSafe(image, at);
    if (archives.archives > 0) {
      layout.push(archives.archives > 1 ? `cpio x${archives.archives}` : 'cpio');
      unpacked = addSizes(unpacked, archives);
    }
    if (archives.error) {
      unreadable = archives.error;
      at = archives.end;
      break;
    }
    at = archives.end;
    if (at >= image.length) break;
    const format = compressionAt(image, at);
    if (!format) {
      unreadable = `byte ${at} starts neither a cpio archive nor a compressed stream the kernel knows`;
      break;
    }
    layout.push(format);
    let inner: Buffer;
    try {
      inner = decompress(format, image.subarray(at));
    } catch (error) {
      unreadable = `${format} part at byte ${at}: ${toNetdumpError(error).message}`;
      break;
    }
    const contents = readCpioArchivesSafe(inner, 0);
    unpacked = addSizes(unpacked, contents);
    if (contents.error || contents.end < inner.length || contents.archives === 0) {
      unreadable = `${format} part at byte ${at}: ${contents.error ?? `holds no cpio archive at byte ${contents.end} of its ${inner.length} unpacked bytes`}`;
      break;
    }
    // The tools read to the end of the image: a compressed part is the last one they can tell apart.
    at = image.length;
  }
  if (unreadable !== undefined) {
    const rest = image.length - at;
    unpacked = addSizes(unpacked, { files: 0, bytes: rest, pageBytes: Math.ceil(rest / 4096) * 4096 });
  }
  return { compressedBytes: image.length, layout, unpacked, unreadable };
}

function readCpioArchivesSafe(bytes: Uint8Array, offset: number): ReturnType<typeof readCpioArchives> & { error?: string } {
  try {
    return readCpioArchives(bytes, offset);
  } catch (error) {
    // Sizes of the archives before the broken one are not kept: count from where it started.
    return { ...NO_SIZES, archives: 0, end: skipPadding(bytes, offset), error: toNetdumpError(error).message };
  }
}
