/**
 * The free-space reserve: a dump is refused when storing it could leave less
 * than the reserve free, and an upload stops when writing has eaten into it.
 * The estimate at HELLO is the worst case (every page stored uncompressed),
 * because refusing early is cheaper than a half-written dump on a full disk.
 * A store that shows no free-space limit (a bucket) always has room.
 */
import { limitError } from '../../shared/errors.js';
import type { DumpStorage } from '../storage/dump-storage.js';

const gb = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;

/** Throws LIMIT when `needBytes` more would leave less than `reserveBytes` free in `storage`; else returns what is free. */
export async function requireSpace(
  storage: Pick<DumpStorage, 'freeBytes'>, needBytes: number, reserveBytes: number, what: string,
): Promise<number | undefined> {
  const free = await storage.freeBytes();
  if (free !== undefined && free - needBytes < reserveBytes) {
    throw limitError(`not enough disk for ${what}: ${gb(free)} free, up to ${gb(needBytes)} needed, ${gb(reserveBytes)} kept in reserve`, {
      freeBytes: free,
      needBytes,
    });
  }
  return free;
}
