/**
 * What the loopback upload tests share: a synthetic core with every kind of
 * page, the sender's options for one receiver URL, and the check that a
 * stored dump holds every page of a synthetic core, byte for byte.
 */
import { expect } from 'vitest';
import { KdumpFileReader } from '../../shared/kdump/reader.js';
import { parseServerUrl } from '../../sender/transport.js';
import type { UploadOptions } from '../../sender/upload.js';
import type { VmcoreSource } from '../../sender/vmcore-source.js';
import { corePageBytes, sampleX86Loads, type ElfCoreSpec } from './elf-core-builder.js';

/** A core of ~1,400 pages: zero, compressible and incompressible pages, overlapping and unaligned PT_LOADs. */
export const MIXED_PAGES_CORE: ElfCoreSpec = {
  cpus: 2,
  loads: sampleX86Loads(),
  page: (pfn) => (pfn % 5 === 0 ? 'zero' : pfn % 7 === 0 ? 'random' : 'pattern'),
};

export const uploadOptions = (server: string, overrides: Partial<UploadOptions> = {}): UploadOptions => ({
  servers: [parseServerUrl(server)],
  hostId: 'node-1',
  chunkPages: 16,
  connectTimeoutMs: 2000,
  replyTimeoutMs: 10_000,
  deadlineMs: 20_000,
  framesInFlight: 4,
  ...overrides,
});

export async function expectStoredPagesMatch(file: string, source: VmcoreSource, spec: ElfCoreSpec): Promise<void> {
  const reader = await KdumpFileReader.open(file);
  try {
    expect(reader.incomplete).toBe(false);
    const pfns = reader.pfnsIn(reader.dumpableBitmap);
    expect(pfns.length).toBe(source.core.pageMap.totalPages);
    const descriptors = await reader.readDescriptors(0, pfns.length);
    for (let i = 0; i < pfns.length; i++) {
      expect((await reader.readPage(descriptors[i])).equals(corePageBytes(spec, pfns[i])), `pfn ${pfns[i]}`).toBe(true);
    }
  } finally {
    await reader.close();
  }
}
