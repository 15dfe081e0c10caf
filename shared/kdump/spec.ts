/**
 * What a kdump-compressed file for a given core looks like: one definition
 * for the receiver (from a HELLO) and the sender's local fallback (from the
 * file), so both write the same format and layout.
 */
import type { CoreDescription } from '../elf/core-description.js';
import { decodeUtsname, UTSNAME_SIZE, type Utsname } from './format.js';
import type { PageCodec } from './page-codec.js';
import type { KdumpFileSpec } from './writer.js';
import type { PfnRun } from './layout.js';
import type { LiveSnapshot } from '../protocol/messages.js';
import { encodeLiveNote } from './live-note.js';

export interface KdumpSpecOptions {
  /** The core's PT_NOTE segment. */
  notes: Buffer;
  /** struct new_utsname read from the crashed kernel, when there is one. */
  utsname?: Buffer;
  /** nodename to use when there is no plausible utsname. */
  hostId: string;
  dumpLevel: number;
  /** The pfns stored when a dump level left some out; default every page of the core. */
  dumpable?: readonly PfnRun[];
  codec: PageCodec;
  maxRunPages: number;
  /**
   * A live snapshot's HELLO `live`: the header is dated when it was taken (a
   * running kernel has no CRASHTIME) and its notes end with the NETDUMP note
   * saying what it is (live-note.ts).
   */
  live?: LiveSnapshot;
}

/** The utsname read from memory if it is plausible; else one made from VMCOREINFO. */
export function utsnameFor(core: CoreDescription, raw: Buffer | undefined, hostId: string): Utsname {
  const release = core.vmcoreinfo.osRelease ?? '';
  if (raw && raw.length === UTSNAME_SIZE) {
    const uts = decodeUtsname(raw);
    if (uts.sysname === 'Linux' && uts.release === release) return uts;
  }
  return { sysname: 'Linux', nodename: hostId, release, version: '', machine: core.machine, domainname: '' };
}

export function kdumpSpecFor(core: CoreDescription, options: KdumpSpecOptions): KdumpFileSpec {
  const runs = core.pageMap.extents.map(({ startPfn, pageCount }) => ({ startPfn, pageCount }));
  return {
    pageSize: core.pageSize,
    maxPfn: core.pageMap.maxPfn,
    presentRuns: runs,
    // Zero pages stay dumpable, pointing at one shared zero page, as makedumpfile does.
    dumpableRuns: options.dumpable ?? runs,
    // Appended: VMCOREINFO's offset in the notes stays as the core had it.
    notes: options.live ? Buffer.concat([options.notes, encodeLiveNote(options.live)]) : options.notes,
    vmcoreinfoOffsetInNotes: core.vmcoreinfoOffsetInNotes,
    vmcoreinfoSize: core.vmcoreinfoSize,
    physBase: core.physBase,
    dumpLevel: options.dumpLevel,
    utsname: utsnameFor(core, options.utsname, options.hostId),
    crashTimeSec: core.vmcoreinfo.crashTime ?? Math.floor((options.live?.startedAtMs ?? Date.now()) / 1000),
    nrCpus: core.nrCpus,
    codec: options.codec,
    maxRunPages: options.maxRunPages,
  };
}
