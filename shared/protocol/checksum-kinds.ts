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

/**
 * What ACCEPT's checksum field says for a kind: nothing for crc32, which a
 * sender that knows no kinds assumes, so such a sender still reads the ACCEPT.
 */
export function acceptedChecksum(kind: ChecksumKind): Exclude<ChecksumKind, 'crc32'> | undefined {
  return kind === 'crc32' ? undefined : kind;
}

/** At most this many names in a HELLO's checksums. */
export const MAX_CHECKSUMS_OFFERED = 8;
