/**
 * Deleting one dump on an operator's request: never one being received, and
 * no sender can attach to it while its files go (the registry holds it).
 */
import { conflict } from '../api/api-error.js';
import type { DumpRecord } from '../catalog/catalog.js';
import { deleteDumpData, type RetentionCatalog, type UploadGuard } from './apply.js';
import type { DumpStorage } from '../storage/dump-storage.js';

export async function deleteDumpNow(
  record: DumpRecord,
  deps: { dataDir: string; storage?: DumpStorage; catalog: RetentionCatalog; uploads: Required<UploadGuard> },
): Promise<void> {
  const release = await deps.uploads.hold(record.dumpId);
  if (!release) throw conflict(`dump ${record.dumpId} is being received now; delete it once its upload has ended`);
  try {
    await deleteDumpData(deps, record);
    await deps.catalog.delete(record.dumpId);
  } finally {
    await release();
  }
}
