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

/**
 * The dump digest built chunk by chunk, so neither end keeps a checksum per
 * chunk in memory (4 MiB of them for a 1 TiB dump at 64 pages per chunk).
 * Chunks must be added once each, in sequence order.
 */
export class DumpDigestBuilder {
  private readonly hash = createHash('sha256');
  private readonly word = Buffer.alloc(4);
  /** Chunks added so far. */
  count = 0;

  add(chunkCrc: number): void {
    // Fixed byte order, so a big-endian peer computes the same digest.
    this.word.writeUInt32LE(chunkCrc >>> 0, 0);
    this.hash.update(this.word);
    this.count++;
  }

  /** Adds a run of chunk crcs stored as little-endian u32s (the receiver's resume file). */
  addStored(littleEndianCrcs: Buffer): void {
    this.hash.update(littleEndianCrcs);
    this.count += littleEndianCrcs.length / 4;
  }

  hex(): string {
    return this.hash.copy().digest('hex');
  }
}

export function dumpDigest(chunkCrcs: Uint32Array): string {
  const builder = new DumpDigestBuilder();
  for (const crc of chunkCrcs) builder.add(crc);
  return builder.hex();
}

/** LOG's checksum: crc32 of the log text as sent. */
export function logChecksum(text: Buffer): number {
  return crc32(text);
}
