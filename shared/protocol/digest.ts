/**
 * Checksums both ends compute. Per chunk: crc32 over the raw non-zero pages
 * and then the zero bitmap (catches corruption anywhere between the sender's
 * read and the receiver's decode). Pages come first so that a chunk shipped
 * raw, whose payload crc is the pages' crc, needs one pass, not two. Per dump: SHA-256 over all chunk crcs in order,
 * so END proves the receiver holds exactly the chunks the sender cut, each
 * with the content the sender read, however many reconnects it took.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

export function chunkChecksum(zeroBitmap: Buffer, rawPages: Buffer): number {
  return chunkChecksumFromPagesCrc(zeroBitmap, crc32(rawPages));
}

/** The chunk checksum when crc32 of the raw pages is known already. */
export function chunkChecksumFromPagesCrc(zeroBitmap: Buffer, pagesCrc: number): number {
  return crc32(zeroBitmap, pagesCrc);
}

export function payloadChecksum(payload: Buffer): number {
  return crc32(payload);
}

export function dumpDigest(chunkCrcs: Uint32Array): string {
  // Fixed byte order, so a big-endian peer computes the same digest.
  const le = Buffer.allocUnsafe(chunkCrcs.length * 4);
  for (let i = 0; i < chunkCrcs.length; i++) le.writeUInt32LE(chunkCrcs[i], i * 4);
  return createHash('sha256').update(le).digest('hex');
}
