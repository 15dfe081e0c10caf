/**
 * A crash storm in miniature: 32 senders at once against one receiver over
 * loopback (bounded: small cores, one round), every dump stored and verified.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KdumpFileReader } from '../../shared/kdump/reader.js';
import { parseServerUrl } from '../../sender/transport.js';
import { upload } from '../../sender/upload.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { corePageBytes, sampleX86Loads, writeElfCoreFile, type ElfCoreFile, type ElfCoreSpec } from '../helpers/elf-core-builder.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

const SENDERS = 32;
const SPEC: ElfCoreSpec = { loads: sampleX86Loads(), page: (pfn) => (pfn % 4 === 0 ? 'zero' : pfn % 9 === 0 ? 'random' : 'pattern') };

describe('load', () => {
  let core: ElfCoreFile;
  let receiver: TestReceiver;

  beforeAll(async () => {
    core = await writeElfCoreFile(SPEC);
    receiver = await startTestReceiver({ limits: { maxUploads: SENDERS } });
  });
  afterAll(async () => {
    await receiver.stop();
    await core.cleanup();
  });

  it(`${SENDERS} concurrent senders (TCP and WebSocket): every dump stored complete and page-for-page right`, async () => {
    const sources = Array.from({ length: SENDERS }, () => VmcoreSource.open(core.path));
    try {
      const results = await Promise.all(sources.map((source, i) => upload(source, {
        servers: [parseServerUrl(i % 2 === 0 ? receiver.tcpUrl : receiver.wsUrl)],
        hostId: `storm-${i}`,
        chunkPages: 16,
        connectTimeoutMs: 5000,
        replyTimeoutMs: 30_000,
        deadlineMs: 60_000,
        framesInFlight: 4,
      })));
      expect(new Set(results.map((r) => r.dumpId)).size).toBe(SENDERS);
      const records = await receiver.catalog.list();
      expect(records).toHaveLength(SENDERS);
      expect(records.every((r) => r.status === 'complete')).toBe(true);
      for (const result of results) {
        const reader = await KdumpFileReader.open(path.join(receiver.dataDir, result.path));
        try {
          const pfns = reader.pfnsIn(reader.dumpableBitmap);
          const descriptors = await reader.readDescriptors(0, pfns.length);
          let wrong = 0;
          for (let i = 0; i < pfns.length; i++) if (!(await reader.readPage(descriptors[i])).equals(corePageBytes(SPEC, pfns[i]))) wrong++;
          expect(wrong, result.path).toBe(0);
        } finally {
          await reader.close();
        }
      }
    } finally {
      for (const source of sources) source.close();
    }
  });
});
