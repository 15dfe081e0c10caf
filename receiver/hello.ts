/**
 * Checks a HELLO and derives what storing the dump needs: the core's page
 * map and chunk plan, and the kdump-compressed file spec. Runs the shared
 * ELF/VMCOREINFO code on the bytes the sender shipped; any inconsistency is
 * refused before a byte touches the disk.
 */
import { badInput, limitError, protocolError } from '../shared/errors.js';
import { describeCore, type CoreDescription } from '../shared/elf/core-description.js';
import { ChunkPlan } from '../shared/protocol/chunk-plan.js';
import { PROTOCOL_VERSION, type HelloMessage } from '../shared/protocol/messages.js';
import { decodeUtsname, UTSNAME_SIZE, type Utsname } from '../shared/kdump/format.js';
import type { KdumpFileSpec } from '../shared/kdump/writer.js';
import type { PageCodec } from '../shared/kdump/page-codec.js';
import { checkDumpId, checkHostId } from './storage.js';

export interface ReceiverLimits {
  /** Largest vmcore a HELLO may announce. */
  maxDumpBytes: number;
  /** Largest chunk, in bytes of raw pages. */
  maxChunkBytes: number;
  /** Uploads received at once; more are told to come back later (UNAVAILABLE). */
  maxUploads: number;
  /** Free disk the receiver keeps: checked at HELLO against the dump's worst case, and at every checkpoint. */
  minFreeBytes: number;
}

export interface AcceptedHello {
  hello: HelloMessage;
  core: CoreDescription;
  plan: ChunkPlan;
  spec: KdumpFileSpec;
}

/** The utsname the sender read from init_uts_ns, if it is plausible; else one made from VMCOREINFO. */
function utsnameFor(hello: HelloMessage, core: CoreDescription): Utsname {
  const release = core.vmcoreinfo.osRelease ?? '';
  if (hello.utsname && hello.utsname.length === UTSNAME_SIZE) {
    const uts = decodeUtsname(hello.utsname);
    if (uts.sysname === 'Linux' && uts.release === release) return uts;
  }
  return { sysname: 'Linux', nodename: hello.hostId, release, version: '', machine: core.machine, domainname: '' };
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
  if (core.pageSize !== hello.pageSize) {
    throw badInput(`HELLO page size ${hello.pageSize} disagrees with VMCOREINFO PAGESIZE ${core.pageSize}`);
  }
  if (!Number.isInteger(hello.chunkPages) || hello.chunkPages < 1 || hello.chunkPages * core.pageSize > limits.maxChunkBytes) {
    throw limitError(`chunk of ${hello.chunkPages} pages exceeds the limit of ${limits.maxChunkBytes} bytes`);
  }
  if (hello.dumpLevel !== 0 && hello.dumpLevel !== 1) {
    throw badInput(`dump level ${hello.dumpLevel} is not supported yet (0 or 1)`);
  }
  const plan = new ChunkPlan(core.pageMap, hello.chunkPages);
  const runs = core.pageMap.extents.map(({ startPfn, pageCount }) => ({ startPfn, pageCount }));
  const spec: KdumpFileSpec = {
    pageSize: core.pageSize,
    maxPfn: core.pageMap.maxPfn,
    presentRuns: runs,
    // Zero pages stay dumpable, pointing at one shared zero page, as makedumpfile does.
    dumpableRuns: runs,
    notes: hello.notes,
    vmcoreinfoOffsetInNotes: core.vmcoreinfoOffsetInNotes,
    vmcoreinfoSize: core.vmcoreinfoSize,
    physBase: core.physBase,
    dumpLevel: hello.dumpLevel,
    utsname: utsnameFor(hello, core),
    crashTimeSec: core.vmcoreinfo.crashTime ?? Math.floor(Date.now() / 1000),
    nrCpus: core.nrCpus,
    codec,
    maxRunPages: hello.chunkPages,
  };
  return { hello, core, plan, spec };
}
