/**
 * The "newc" cpio archives an initramfs is made of (070701, and 070702 with
 * checksums), read only for what unpacking them costs: how many members and
 * how many bytes of file data. Pure: bytes in, sizes out.
 */
import { corrupt } from '../../shared/errors.js';

const HEADER = 110;
const TRAILER = 'TRAILER!!!';
const PAGE = 4096;

export const isCpioAt = (bytes: Uint8Array, offset: number) =>
  bytes.length - offset >= 6 && Buffer.from(bytes.buffer, bytes.byteOffset + offset, 6).toString('latin1').match(/^07070[12]$/) !== null;

export interface CpioSizes {
  /** Members with data (regular files, symlink targets). */
  files: number;
  /** Sum of the members' sizes. */
  bytes: number;
  /** The same, each rounded up to whole 4 KiB pages: what tmpfs holds for them. */
  pageBytes: number;
}

export const addSizes = (a: CpioSizes, b: CpioSizes): CpioSizes =>
  ({ files: a.files + b.files, bytes: a.bytes + b.bytes, pageBytes: a.pageBytes + b.pageBytes });

export const NO_SIZES: CpioSizes = { files: 0, bytes: 0, pageBytes: 0 };

const align4 = (n: number) => (n + 3) & ~3;

/**
 * One archive starting at `offset`, up to and including its TRAILER!!!
 * entry. Returns its sizes and the offset just past it. Throws CORRUPT on a
 * header that is not newc or an archive cut short.
 */
export function readCpioArchive(bytes: Uint8Array, offset: number): CpioSizes & { end: number } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = offset;
  const sizes = { ...NO_SIZES };
  for (;;) {
    if (buf.length - at < HEADER) throw corrupt(`cpio archive cut short at byte ${at} (no room for a header)`);
    if (!isCpioAt(buf, at)) throw corrupt(`no cpio header at byte ${at} (magic ${JSON.stringify(buf.toString('latin1', at, at + 6))})`);
    const field = (i: number) => {
      const text = buf.toString('latin1', at + 6 + i * 8, at + 14 + i * 8);
      if (!/^[0-9a-fA-F]{8}$/.test(text)) throw corrupt(`cpio header at byte ${at}: field ${i} is not hex`);
      return parseInt(text, 16);
    };
    const fileSize = field(6);
    const nameSize = field(11);
    const nameEnd = at + HEADER + nameSize;
    const dataStart = align4(nameEnd);
    const dataEnd = dataStart + fileSize;
    if (nameSize < 1 || dataEnd > buf.length) throw corrupt(`cpio member at byte ${at} runs past the end of the archive`);
    const name = buf.toString('latin1', at + HEADER, nameEnd - 1);
    at = align4(dataEnd);
    if (name === TRAILER) return { ...sizes, end: Math.min(at, buf.length) };
    if (fileSize > 0) {
      sizes.files++;
      sizes.bytes += fileSize;
      sizes.pageBytes += Math.ceil(fileSize / PAGE) * PAGE;
    }
  }
}

/** Skips the zero padding between concatenated archives (the kernel allows it in 4-byte steps). */
export function skipPadding(bytes: Uint8Array, offset: number): number {
  let at = offset;
  while (at < bytes.length && bytes[at] === 0) at++;
  return at;
}

/**
 * Every archive in `bytes`, back to back with zero padding between them, as
 * a decompressed initramfs holds them. Stops at the first thing that is not
 * a cpio header and says where (`end`), so a caller can look for a
 * compressed part there.
 */
export function readCpioArchives(bytes: Uint8Array, offset = 0): CpioSizes & { archives: number; end: number } {
  let at = skipPadding(bytes, offset);
  let sizes = { ...NO_SIZES };
  let archives = 0;
  while (at < bytes.length && isCpioAt(bytes, at)) {
    const archive = readCpioArchive(bytes, at);
    sizes = addSizes(sizes, archive);
    archives++;
    at = skipPadding(bytes, archive.end);
  }
  return { ...sizes, archives, end: at };
}
