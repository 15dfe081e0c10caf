/**
 * The chunk checksum kinds the protocol names (HELLO checksums, ACCEPT
 * checksum); shared/protocol/digest.ts computes them. Apart, so decoding a
 * message needs no hashing code.
 */
export const CHECKSUM_KINDS = ['crc32', 'xxh32'] as const;
export type ChecksumKind = (typeof CHECKSUM_KINDS)[number];

export function isChecksumKind(name: unknown): name is ChecksumKind {
  return typeof name === 'string' && (CHECKSUM_KINDS as readonly string[]).includes(name);
}

/** At most this many names in a HELLO's checksums. */
export const MAX_CHECKSUMS_OFFERED = 8;
