/**
 * Deleting one dump now (an operator's request, a host over its quota of
 * unfinished dumps): never one being received, and no sender can attach to
 * it while its data goes (the registry holds it). Says which happened; what
 * a refusal means to the asker (HTTP 409, try the next dump) is the asker's.
 */
import type { DumpRecord } from '../catalog/catalog.js';
import { deleteDumpData, type RetentionCatalog, type UploadGuard } from './apply.js';
import type { DumpStorage } from '../storage/dump-storage.js';

export type DeleteNowOutcome = 'deleted' | 'receiving';

export async function deleteDumpNow(
  record: DumpRecord,
  deps: { storage: DumpStorage; catalog: RetentionCatalog; uploads: Required<UploadGuard> },
): Promise<DeleteNowOutcome> {
  const release = await deps.uploads.hold(record.dumpId);
  if (!release) return 'receiving';
  try {
    await deleteDumpData(deps, record);
    await deps.catalog.delete(record.dumpId);
    return 'deleted';
  } finally {
    await release();
  }
}
