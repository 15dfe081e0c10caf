/**
 * The free-disk reserve: a dump is refused when storing it could leave less
 * than the reserve free, and an upload stops when writing has eaten into it.
 * The estimate at HELLO is the worst case (every page stored uncompressed),
 * because refusing early is cheaper than a half-written dump on a full disk.
 */
import { statfs } from 'node:fs/promises';
import { limitError } from '../../shared/errors.js';

export async function freeBytes(dir: string): Promise<number> {
  const stats = await statfs(dir);
  return stats.bavail * stats.bsize;
}

const gb = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;

/** Throws LIMIT when `needBytes` more would leave less than `reserveBytes` free in `dir`. */
export async function requireSpace(dir: string, needBytes: number, reserveBytes: number, what: string): Promise<void> {
  const free = await freeBytes(dir);
  if (free - needBytes < reserveBytes) {
    throw limitError(`not enough disk for ${what}: ${gb(free)} free, up to ${gb(needBytes)} needed, ${gb(reserveBytes)} kept in reserve`, {
      freeBytes: free,
      needBytes,
    });
  }
}
