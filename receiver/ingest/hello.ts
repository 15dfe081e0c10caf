/**
 * Checks a HELLO and derives what storing the dump needs: the core's page
 * map and chunk plan, and the kdump-compressed file spec. Runs the shared
 * ELF/VMCOREINFO code on the bytes the sender shipped; any inconsistency is
 * refused before a byte touches the disk.
 */
import { badInput, limitError, protocolError } from '../../shared/errors.js';
import { describeCore, type CoreDescription } from '../../shared/elf/core-description.js';
import { ChunkPlan } from '../../shared/protocol/chunk-plan.js';
import { SendOrder } from '../../shared/protocol/send-order.js';
import { PROTOCOL_VERSION, type HelloMessage } from '../../shared/protocol/messages.js';
import { kdumpSpecFor } from '../../shared/kdump/spec.js';
import { decodePfnRuns } from '../../shared/protocol/pfn-runs.js';
import { loadsOutOfBounds, rankOfPfn } from '../../shared/elf/page-map.js';
import { PT_LOAD } from '../../shared/elf/core.js';
import type { PfnRun } from '../../shared/kdump/layout.js';
import { layoutOf, type KdumpFileSpec } from '../../shared/kdump/writer.js';
import type { PageCodec } from '../../shared/kdump/page-codec.js';
import { checkDumpId, checkHostId } from '../../shared/dump-folders.js';
import type { DumpLevelRecord } from '../catalog/catalog.js';

export interface ReceiverLimits {
  /** Largest vmcore a HELLO may announce. */
  maxDumpBytes: number;
  /** Largest chunk, in bytes of raw pages. */
  maxChunkBytes: number;
  /** Uploads received at once; more are told to come back later (UNAVAILABLE). */
  maxUploads: number;
  /** Free disk the receiver keeps: checked at HELLO against the dump's worst case, and at every checkpoint. */
  minFreeBytes: number;
  /** Uploads one host may have in flight at once (default 2): one host cannot hold every slot. */
  maxUploadsPerHost?: number;
  /** Unfinished dumps one host may keep (default 4): a new one replaces its oldest that no connection holds. */
  maxUnfinishedPerHost?: number;
}

export const DEFAULT_HOST_QUOTAS = { maxUploadsPerHost: 2, maxUnfinishedPerHost: 4 } as const;

export interface AcceptedHello {
  hello: HelloMessage;
  core: CoreDescription;
  plan: ChunkPlan;
  /** The order chunks arrive in: the first tier's first when HELLO named one. */
  order: SendOrder;
  spec: KdumpFileSpec;
  /** The first-tier file's spec (the same dump, holding only the first tier's chunks); undefined in pfn order. */
  firstTierSpec?: KdumpFileSpec;
  /** The most the stored file can take on disk: headers, both bitmaps, descriptors, every page stored raw. */
  worstCaseBytes: number;
  /** What the catalog records of the level: the sender's report, or what an older sender's dumpLevel implies. */
  dumpLevel: DumpLevelRecord;
}

/**
 * The report must describe the level this HELLO applies: `applied` is
 * dumpLevel, and only bits the operator asked for can be applied. A report
 * that says otherwise would show operators a level the file does not have.
 */
function checkedDumpLevel(hello: HelloMessage): DumpLevelRecord {
  const report = hello.dumpLevelReport;
  // Older senders: they applied what they were asked, and said nothing about rules.
  if (!report) return { asked: hello.dumpLevel, applied: hello.dumpLevel, rules: null, notes: [] };
  if (report.applied !== hello.dumpLevel) {
    throw protocolError(`HELLO: field dumpLevelReport.applied ${report.applied} is not the HELLO's dumpLevel ${hello.dumpLevel}`,
      { field: 'dumpLevelReport' });
  }
  if ((report.applied & ~report.asked) !== 0) {
    throw protocolError(`HELLO: field dumpLevelReport.applied ${report.applied} has bits that asked ${report.asked} does not`,
      { field: 'dumpLevelReport' });
  }
  return { asked: report.asked, applied: report.applied, rules: report.rules, notes: [...report.notes] };
}

/**
 * Bitmaps cover pfn 0 to the highest pfn, whatever the core holds between: a
 * HELLO of 2 KB describing one page at 0 and one at 4 TiB would have us write
 * 256 MiB of them. They may take an eighth of the memory the core holds, and
 * 64 MiB (a 1 TiB physical range) whatever it holds: a machine with its memory
 * spread that sparsely still fits (memory at high addresses on arm64 servers,
 * NUMA nodes far apart), a few pages at the ends of the address space do not.
 */
const MIN_BITMAP_ALLOWANCE = 64 * 2 ** 20;
const BITMAP_SHARE_OF_MEMORY = 8;

function checkedAddressRange(core: CoreDescription, bitmapBytes: number): void {
  const memory = core.pageMap.totalPages * core.pageSize;
  const allowance = Math.max(MIN_BITMAP_ALLOWANCE, memory / BITMAP_SHARE_OF_MEMORY);
  if (bitmapBytes > allowance) {
    throw limitError(`the core's physical address range (pfn 0 to ${core.pageMap.maxPfn}) needs ${mib(bitmapBytes)} of bitmaps for ${mib(memory)} of memory; ` +
      `at most ${mib(allowance)} are accepted`, { maxPfn: core.pageMap.maxPfn, totalPages: core.pageMap.totalPages });
  }
}
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** The sender's kept pfns, each run inside the pages the core holds. */
function checkedDumpable(encoded: Buffer, core: CoreDescription): PfnRun[] {
  const runs = decodePfnRuns(encoded, core.pageMap.maxPfn);
  runs.forEach((run, i) => {
    const first = rankOfPfn(core.pageMap, run.startPfn);
    if (first < 0 || rankOfPfn(core.pageMap, run.startPfn + run.pageCount - 1) !== first + run.pageCount - 1) {
      throw badInput(`dumpable run ${i} (pfn ${run.startPfn}+${run.pageCount}) is not inside the core's pages`);
    }
  });
  return runs;
}

/** The first tier's pfns: every run inside the pfns the plan holds. */
function checkedFirstTier(encoded: Buffer, core: CoreDescription, extents: readonly PfnRun[]): PfnRun[] {
  const runs = decodePfnRuns(encoded, core.pageMap.maxPfn);
  let at = 0;
  runs.forEach((run, i) => {
    while (at < extents.length && extents[at].startPfn + extents[at].pageCount <= run.startPfn) at++;
    const holder = extents[at];
    if (!holder || holder.startPfn > run.startPfn || holder.startPfn + holder.pageCount < run.startPfn + run.pageCount) {
      throw badInput(`firstTier run ${i} (pfn ${run.startPfn}+${run.pageCount}) is not inside the pages the dump holds`, { field: 'firstTier' });
    }
  });
  return runs;
}

export function acceptHello(received: HelloMessage, limits: ReceiverLimits, codec: PageCodec): AcceptedHello {
  // Own copies: the frame these bytes arrived in is reused for the next one.
  const hello: HelloMessage = {
    ...received,
    elfHeaders: Buffer.from(received.elfHeaders),
    notes: Buffer.from(received.notes),
    utsname: received.utsname && Buffer.from(received.utsname),
  };
  if (hello.protocol !== PROTOCOL_VERSION) {
    throw protocolError(`protocol version ${hello.protocol} not supported (this receiver speaks ${PROTOCOL_VERSION})`);
  }
  checkHostId(hello.hostId);
  checkDumpId(hello.dumpId);
  if (!Number.isSafeInteger(hello.vmcoreSize) || hello.vmcoreSize <= 0) throw badInput(`HELLO vmcoreSize ${hello.vmcoreSize} is not a positive integer`);
  if (hello.vmcoreSize > limits.maxDumpBytes) {
    throw limitError(`dump of ${hello.vmcoreSize} bytes exceeds this receiver's limit of ${limits.maxDumpBytes}`);
  }
  const core = describeCore(hello.elfHeaders, hello.notes, hello.vmcoreSize);
  const beyond = loadsOutOfBounds(core.programHeaders.filter((ph) => ph.type === PT_LOAD && ph.memsz > 0));
  if (beyond) throw badInput(`HELLO describes a core with ${beyond}: no kernel makes one`);
  if (core.pageSize !== hello.pageSize) {
    throw badInput(`HELLO page size ${hello.pageSize} disagrees with VMCOREINFO PAGESIZE ${core.pageSize}`);
  }
  if (!Number.isInteger(hello.chunkPages) || hello.chunkPages < 1 || hello.chunkPages * core.pageSize > limits.maxChunkBytes) {
    throw limitError(`chunk of ${hello.chunkPages} pages exceeds the limit of ${limits.maxChunkBytes} bytes`);
  }
  if (!Number.isInteger(hello.dumpLevel) || hello.dumpLevel < 0 || hello.dumpLevel > 31) {
    throw badInput(`dump level ${hello.dumpLevel} is not one of makedumpfile's (0 to 31)`);
  }
  const dumpLevel = checkedDumpLevel(hello);
  const dumpable = hello.dumpable ? checkedDumpable(hello.dumpable, core) : undefined;
  const plan = new ChunkPlan(dumpable ? { extents: dumpable } : core.pageMap, hello.chunkPages);
  const spec = kdumpSpecFor(core, {
    notes: hello.notes, utsname: hello.utsname, hostId: hello.hostId, dumpLevel: hello.dumpLevel, dumpable, codec, maxRunPages: hello.chunkPages,
    live: hello.live,
  });
  const layout = layoutOf(spec);
  checkedAddressRange(core, 2 * layout.bitmapBytes);
  // The shared zero page, then every stored page raw (a codec never stores more).
  let worstCaseBytes = layout.dataStart + spec.pageSize * (plan.totalPages + 1);
  const firstTier = hello.firstTier && checkedFirstTier(hello.firstTier, core, dumpable ?? core.pageMap.extents);
  const order = firstTier?.length ? SendOrder.firstTierFirst(plan, firstTier) : SendOrder.pfnOrder(plan);
  let firstTierSpec: KdumpFileSpec | undefined;
  if (order.firstTierChunks > 0) {
    firstTierSpec = { ...spec, dumpableRuns: order.firstTierRuns() };
    const tierLayout = layoutOf(firstTierSpec);
    const tierPages = firstTierSpec.dumpableRuns.reduce((n, r) => n + r.pageCount, 0);
    // The first-tier file is kept beside the dump until the dump completes: its worst case too.
    worstCaseBytes += tierLayout.dataStart + spec.pageSize * (tierPages + 1);
  }
  return { hello, core, plan, order, spec, firstTierSpec, worstCaseBytes, dumpLevel };
}
