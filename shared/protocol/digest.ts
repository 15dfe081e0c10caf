/**
 * Checksums both ends compute. Per chunk: a hash of the raw non-zero pages
 * continued over the zero bitmap (catches corruption anywhere between the
 * sender's read and the receiver's decode). Pages come first so that a chunk
 * shipped raw, whose payload hash is the pages' hash, needs one pass, not
 * two. Per dump: SHA-256 over all chunk hashes in order, so END proves the
 * receiver holds exactly the chunks the sender cut, each with the content
 * the sender read, however many reconnects it took.
 *
 * Two kinds (docs/protocol.md section 5): crc32, which every peer speaks and
 * where an LZ4 chunk also carries the crc of its compressed bytes; and
 * xxh32, offered in HELLO and taken in ACCEPT, where every chunk carries its
 * pages' hash, so each end hashes the pages once and nothing else.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { xxh32 } from '../codec/xxhash.js';
import { isChecksumKind, type ChecksumKind } from './checksum-kinds.js';

export type { ChecksumKind } from './checksum-kinds.js';

/** The kinds a sender offers in HELLO (checksums) besides crc32, best first. */
export const CHECKSUMS_OFFERED: readonly ChecksumKind[] = ['xxh32'];

export interface ChunkChecksum {
  readonly kind: ChecksumKind;
  /** The hash of `bytes` (a chunk's raw pages, or under crc32 an LZ4 payload). */
  hash(bytes: Buffer): number;
  /** The chunk's checksum (chunkCrc): the hash of its raw pages, continued over its zero bitmap. */
  chunk(zeroBitmap: Buffer, pagesHash: number): number;
  /**
   * What an LZ4 chunk's payloadCrc holds: 'payload', the hash of the
   * compressed bytes, checked before decoding (crc32); 'pages', the hash of
   * the raw pages, checked after decoding (xxh32). A raw chunk's payload is
   * its pages, so there the two are the same.
   */
  readonly lz4PayloadCrc: 'payload' | 'pages';
}

const CRC32: ChunkChecksum = {
  kind: 'crc32',
  hash: (bytes) => crc32(bytes),
  chunk: (zeroBitmap, pagesHash) => crc32(zeroBitmap, pagesHash),
  lz4PayloadCrc: 'payload',
};

const XXH32: ChunkChecksum = {
  kind: 'xxh32',
  hash: (bytes) => xxh32(bytes),
  // XXH32 has no continuation: the pages' hash seeds the bitmap's.
  chunk: (zeroBitmap, pagesHash) => xxh32(zeroBitmap, pagesHash),
  lz4PayloadCrc: 'pages',
};

export const CHUNK_CHECKSUMS: Record<ChecksumKind, ChunkChecksum> = { crc32: CRC32, xxh32: XXH32 };

/** The kind ACCEPT names (absent: crc32, what every receiver speaks). */
export function chunkChecksumOf(kind: ChecksumKind | undefined): ChunkChecksum {
  return CHUNK_CHECKSUMS[kind ?? 'crc32'];
}

/** The receiver's pick from a HELLO's checksums: the first it knows, else crc32. */
export function pickChunkChecksum(offered: readonly string[] | undefined): ChunkChecksum {
  const known = offered?.find(isChecksumKind);
  return CHUNK_CHECKSUMS[known ?? 'crc32'];
}

/** Whether a HELLO's checksums allow `kind` (crc32 always). */
export function offersChunkChecksum(offered: readonly string[] | undefined, kind: ChecksumKind): boolean {
  return kind === 'crc32' || (offered ?? []).includes(kind);
}

/** The chunk checksum of raw pages and their zero bitmap in one call. */
export function chunkChecksum(zeroBitmap: Buffer, rawPages: Buffer, checksum: ChunkChecksum = CRC32): number {
  return checksum.chunk(zeroBitmap, checksum.hash(rawPages));
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

/**
 * A stored dump's digest as the catalog keeps it, so that a sender asking
 * again (it lost DONE) is told the kind to say it in: the hex alone under
 * crc32 (as before kinds were named), else `kind:hex`.
 */
export function catalogDigest(kind: ChecksumKind, hex: string): string {
  return kind === 'crc32' ? hex : `${kind}:${hex}`;
}

/** catalogDigest's reverse; undefined for a kind this receiver does not know. */
export function parseCatalogDigest(text: string): { kind: ChecksumKind; hex: string } | undefined {
  const at = text.indexOf(':');
  if (at < 0) return { kind: 'crc32', hex: text };
  const kind = text.slice(0, at);
  return isChecksumKind(kind) ? { kind, hex: text.slice(at + 1) } : undefined;
}

/** LOG's checksum: crc32 of the log text as sent. */
export function logChecksum(text: Buffer): number {
  return crc32(text);
}
