/**
 * When no receiver takes the dump, the capture kernel saves it locally in the
 * receiver's format and layout (FALLBACK_DIR/<host>/<crash time>/vmcore,
 * kdump-compressed, zero pages shared, LZO pages), written under a temporary
 * name and renamed only when complete, so an operator can copy it to a
 * receiver's data directory or open it with crash directly.
 */
import { rename, rm } from 'node:fs/promises';
import { ChunkPlan } from '../shared/protocol/chunk-plan.js';
import { zeroBitmapLength } from '../shared/protocol/messages.js';
import { allocateDumpFolder } from '../shared/dump-folders.js';
import { pageCodecByName } from '../shared/kdump/page-codec.js';
import { kdumpSpecFor } from '../shared/kdump/spec.js';
import { KdumpFileWriter } from '../shared/kdump/writer.js';
import { Chunker } from './chunker.js';
import { readUtsname } from './utsname.js';
import type { VmcoreSource } from './vmcore-source.js';
import type { PfnRun } from '../shared/kdump/layout.js';

export interface LocalSaveResult {
  path: string;
  storedBytes: number;
  zeroPages: number;
}

export async function saveLocally(
  source: VmcoreSource, dir: string, hostId: string, chunkPages: number, exclusion?: { level: number; dumpable: readonly PfnRun[] },
): Promise<LocalSaveResult> {
  const { core } = source;
  const paths = await allocateDumpFolder(dir, hostId, core.vmcoreinfo.crashTime ?? Math.floor(Date.now() / 1000));
  const spec = kdumpSpecFor(core, {
    notes: source.notes, utsname: readUtsname(source), hostId, dumpLevel: exclusion?.level ?? 1, dumpable: exclusion?.dumpable,
    codec: pageCodecByName('lzo'), maxRunPages: chunkPages,
  });
  const writer = await KdumpFileWriter.create(paths.incomplete, spec);
  try {
    const plan = new ChunkPlan(exclusion ? { extents: exclusion.dumpable } : core.pageMap, chunkPages);
    const chunker = new Chunker(core.pageSize);
    const pages = Buffer.alloc(chunkPages * core.pageSize);
    const bitmap = Buffer.alloc(zeroBitmapLength(chunkPages));
    let zeroPages = 0;
    for (let seq = 0; seq < plan.totalChunks; seq++) {
      const span = plan.chunk(seq);
      source.readPages(span.startPfn, span.pageCount, pages);
      const packed = chunker.pack(span.pageCount, pages, bitmap);
      zeroPages += packed.zeroPages;
      writer.writePages(span.firstRank, span.pageCount, bitmap, pages.subarray(0, packed.packed));
    }
    const storedBytes = await writer.finish();
    await rename(paths.incomplete, paths.final);
    return { path: paths.final, storedBytes, zeroPages };
  } catch (error) {
    await writer.close();
    await rm(paths.incomplete, { force: true });
    throw error;
  }
}
