/**
 * What the loopback upload tests share: the sender's options for one
 * receiver URL, and the check that a stored dump holds every page of a
 * synthetic core, byte for byte.
 */
import { expect } from 'vitest';
import { KdumpFileReader } from '../../shared/kdump/reader.js';
import { parseServerUrl } from '../../sender/transport.js';
import type { UploadOptions } from '../../sender/upload.js';
import type { VmcoreSource } from '../../sender/vmcore-source.js';
import { corePageBytes, type ElfCoreSpec } from './elf-core-builder.js';

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
