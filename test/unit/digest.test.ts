import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { catalogDigest, CHUNK_CHECKSUMS, chunkChecksum, dumpDigest, offersChunkChecksum, parseCatalogDigest, pickChunkChecksum } from '../../shared/protocol/digest.js';

describe('checksums', () => {
  const bitmap = Buffer.from([0b101, 0]);
  const pages = Buffer.alloc(8192, 0x3c);

  it('chunkChecksum is the crc32 of the raw pages followed by the zero bitmap', () => {
    expect(chunkChecksum(bitmap, pages)).toBe(crc32(Buffer.concat([pages, bitmap])));
    // The bitmap counts: same pages, other zero pages -> other checksum.
    expect(chunkChecksum(Buffer.from([0b100, 0]), pages)).not.toBe(chunkChecksum(bitmap, pages));
    expect(chunkChecksum(Buffer.from([0xff]), Buffer.alloc(0))).toBe(crc32(Buffer.from([0xff])));
  });

  it('crc32 chunk() continues from the pages crc', () => {
    const { crc32: kind } = CHUNK_CHECKSUMS;
    expect(kind.chunk(bitmap, kind.hash(pages))).toBe(chunkChecksum(bitmap, pages));
    expect(kind.hash(pages)).toBe(crc32(pages));
    expect(kind.lz4PayloadCrc).toBe('payload');
  });

  it('the receiver picks the first kind it knows from HELLO checksums, else crc32', () => {
    expect(pickChunkChecksum(undefined).kind).toBe('crc32');
    expect(pickChunkChecksum([]).kind).toBe('crc32');
    expect(pickChunkChecksum(['xxh3', 'xxh32']).kind).toBe('xxh32');
    expect(pickChunkChecksum(['blake3', 'toString']).kind).toBe('crc32');
    expect(offersChunkChecksum(undefined, 'crc32')).toBe(true);
    expect(offersChunkChecksum(undefined, 'xxh32')).toBe(false);
    expect(offersChunkChecksum(['xxh32'], 'xxh32')).toBe(true);
  });

  it('the catalog keeps a crc32 digest as hex alone (as before kinds) and the others with their kind', () => {
    const hex = 'ab'.repeat(32);
    expect(catalogDigest('crc32', hex)).toBe(hex);
    expect(catalogDigest('xxh32', hex)).toBe(`xxh32:${hex}`);
    expect(parseCatalogDigest(hex)).toEqual({ kind: 'crc32', hex });
    expect(parseCatalogDigest(`xxh32:${hex}`)).toEqual({ kind: 'xxh32', hex });
    expect(parseCatalogDigest(`xxh9:${hex}`)).toBeUndefined();
    expect(parseCatalogDigest(`constructor:${hex}`)).toBeUndefined();
  });

  it('dumpDigest is SHA-256 over the chunk crcs as little-endian u32s, in order', () => {
    const crcs = Uint32Array.from([0xdeadbeef, 1, 0x8000_0000]);
    const le = Buffer.alloc(12);
    crcs.forEach((c, i) => le.writeUInt32LE(c, i * 4));
    expect(dumpDigest(crcs)).toBe(createHash('sha256').update(le).digest('hex'));
    expect(dumpDigest(Uint32Array.from([1, 0xdeadbeef, 0x8000_0000]))).not.toBe(dumpDigest(crcs));
    expect(dumpDigest(new Uint32Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});
