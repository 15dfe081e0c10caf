/**
 * An initramfs that is still a directory: the staging tree an install hook
 * sees ($initdir in dracut, $DESTDIR in initramfs-tools) before it is packed.
 * Its files are what the capture kernel unpacks; the image is not written
 * yet, so its size is estimated by compressing each file with gzip -1
 * (larger than the zstd or xz the tools pack with: on the safe side).
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import type { InitramfsSizes } from './initramfs.js';

/** cpio newc header, name and padding, plus gzip's framing of it: per member. */
const MEMBER_OVERHEAD = 128;
const PAGE = 4096;

export const TREE_COMPRESSED_ESTIMATE = 'gzip -1 of each file';

export function measureTree(root: string): InitramfsSizes {
  const seen = new Set<string>();
  const sizes = { files: 0, bytes: 0, pageBytes: 0 };
  let compressed = 0;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const at = path.join(dir, name);
      const stat = lstatSync(at);
      compressed += MEMBER_OVERHEAD;
      if (stat.isDirectory()) {
        walk(at);
        continue;
      }
      let bytes: number;
      if (stat.isSymbolicLink()) bytes = Buffer.byteLength(readlinkSync(at));
      else if (stat.isFile()) {
        // Hard links (dracut links identical files) are one file in the archive's data.
        const inode = `${stat.dev}:${stat.ino}`;
        if (seen.has(inode)) continue;
        seen.add(inode);
        bytes = stat.size;
        if (bytes > 0) compressed += deflateRawSync(readFileSync(at), { level: 1 }).length;
      } else continue;
      if (bytes === 0) continue;
      if (stat.isSymbolicLink()) compressed += bytes;
      sizes.files++;
      sizes.bytes += bytes;
      sizes.pageBytes += Math.ceil(bytes / PAGE) * PAGE;
    }
  };
  walk(root);
  return { compressedBytes: compressed, layout: ['directory'], unpacked: sizes };
}
