/**
 * A synthetic core file and an open VmcoreSource on it for a describe block:
 * made before its tests, closed and removed after them.
 */
import { afterAll, beforeAll } from 'vitest';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { writeElfCoreFile, type ElfCoreFile, type ElfCoreSpec } from './elf-core-builder.js';

export interface SyntheticCore {
  readonly core: ElfCoreFile;
  readonly source: VmcoreSource;
}

/** Call at describe level; read `.core` and `.source` inside tests. */
export function useSyntheticCore(spec: ElfCoreSpec): SyntheticCore {
  let core: ElfCoreFile | undefined;
  let source: VmcoreSource | undefined;
  beforeAll(async () => {
    core = await writeElfCoreFile(spec);
    source = VmcoreSource.open(core.path);
  });
  afterAll(async () => {
    source?.close();
    await core?.cleanup();
  });
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`useSyntheticCore: ${what} read outside a test of its describe block`);
    return value;
  };
  return {
    get core() { return ready(core, 'core'); },
    get source() { return ready(source, 'source'); },
  };
}
