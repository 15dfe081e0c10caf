/**
 * The kernel log from a stored kdump-compressed file, on a hand-built ring
 * written the way the receiver writes dumps: the same bytes as from the ELF
 * core when the ring's pages are stored (zero pages as the shared zero page,
 * or left out like makedumpfile -d 31 leaves them), and an error naming the
 * record, address, pfn and dump level when a page the log needs was left out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeCore } from '../../shared/elf/core-description.js';
import { ErrorCode, NetdumpError } from '../../shared/errors.js';
import { extractKernelLogFromElfCore, extractKernelLogFromKdumpFile } from '../../shared/dmesg/extract.js';
import { kdumpSpecFor } from '../../shared/kdump/spec.js';
import { KdumpFileWriter } from '../../shared/kdump/writer.js';
import { pageCodecByName } from '../../shared/kdump/page-codec.js';
import type { PfnRun } from '../../shared/kdump/layout.js';
import { buildElfCoreDetailed, type BuiltElfCore } from '../helpers/elf-core-builder.js';
import { buildLocklessRing, imageCoreSpec, PAGE, type BuiltRing } from '../helpers/printk-ring.js';

/** The fixtures' ring geometry (4096 descriptors, 128 KiB of text) with a few records: most of its pages are zero. */
const built: BuiltRing = buildLocklessRing({
  countBits: 12,
  sizeBits: 17,
  tailId: 0xffff_efffn,
  headId: 0xffff_f002n,
  records: [
    { id: 0xffff_efffn, state: 'reusable', tsNsec: 0n, text: null, failed: true },
    { id: 0xffff_f000n, tsNsec: 0n, text: 'Linux version 6.1.0-test (debian-kernel@lists.debian.org)' },
    { id: 0xffff_f001n, tsNsec: 15_192_396_000n, text: 'sysrq: Trigger a crash' },
    { id: 0xffff_f002n, tsNsec: 15_192_802_000n, text: 'Kernel panic - not syncing: sysrq triggered crash' },
  ],
});
const EXPECTED = '[    0.000000] Linux version 6.1.0-test (debian-kernel@lists.debian.org)\n' +
  '[   15.192396] sysrq: Trigger a crash\n[   15.192802] Kernel panic - not syncing: sysrq triggered crash\n';

/** Writes the core's pages that `keep` accepts as a kdump file at `dumpLevel`, zero pages as the shared zero page. */
async function writeKdump(core: BuiltElfCore, file: string, dumpLevel: number, keep: (pfn: number, page: Buffer) => boolean): Promise<void> {
  const description = describeCore(core.headers, core.notes, core.buffer.length);
  const pageOf = (pfn: number) => {
    const load = core.loads[0];
    const at = load.offset + (pfn * PAGE - load.paddr);
    return core.buffer.subarray(at, at + PAGE);
  };
  const dumpable: PfnRun[] = [];
  for (const extent of description.pageMap.extents) {
    for (let pfn = extent.startPfn; pfn < extent.startPfn + extent.pageCount; pfn++) {
      if (!keep(pfn, pageOf(pfn))) continue;
      const last = dumpable.at(-1);
      if (last && last.startPfn + last.pageCount === pfn) last.pageCount++;
      else dumpable.push({ startPfn: pfn, pageCount: 1 });
    }
  }
  const writer = await KdumpFileWriter.create(file, kdumpSpecFor(description, {
    notes: core.notes, hostId: 'test-host', dumpLevel, dumpable, codec: pageCodecByName('lzo'), maxRunPages: 1,
  }));
  let rank = 0;
  for (const run of dumpable) {
    for (let pfn = run.startPfn; pfn < run.startPfn + run.pageCount; pfn++, rank++) {
      const page = pageOf(pfn);
      const zero = page.every((b) => b === 0);
      writer.writePages(rank, 1, Buffer.from([zero ? 1 : 0]), zero ? Buffer.alloc(0) : page);
    }
  }
  await writer.finish();
}

describe('kernel log from a kdump-compressed file', () => {
  let dir: string;
  let core: BuiltElfCore;
  const dataPfn = () => {
    const ring = Number(built.image.bytes.readBigUInt64LE(0) - built.image.vaddr(0));
    return Number(built.image.bytes.readBigUInt64LE(ring + 56) - built.image.vaddr(0)) / PAGE + built.image.firstPfn;
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'netdump-dmesg-'));
    core = buildElfCoreDetailed(imageCoreSpec(built.image, built.vmcoreinfoLines));
    await writeFile(path.join(dir, 'vmcore'), core.buffer);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the same bytes as the ELF core when every page is stored (dump level 1: zero pages shared)', async () => {
    const file = path.join(dir, 'd1.kdump');
    await writeKdump(core, file, 1, () => true);
    expect((await extractKernelLogFromElfCore(path.join(dir, 'vmcore'))).toString()).toBe(EXPECTED);
    expect((await extractKernelLogFromKdumpFile(file)).toString()).toBe(EXPECTED);
  });

  it('still reads it when the zero pages are left out (the unused end of each array)', async () => {
    const file = path.join(dir, 'no-zero.kdump');
    let excluded = 0;
    await writeKdump(core, file, 31, (_, page) => page.some((b) => b !== 0) || (excluded++, false));
    expect(excluded).toBeGreaterThan(100);
    expect((await extractKernelLogFromKdumpFile(file)).toString()).toBe(EXPECTED);
  });

  it('fails with BAD_INPUT naming the record, address, pfn and dump level when the text ring\'s page was left out', async () => {
    const file = path.join(dir, 'no-text.kdump');
    await writeKdump(core, file, 31, (pfn) => pfn !== dataPfn());
    const error = await extractKernelLogFromKdumpFile(file).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(NetdumpError);
    const { code, message, context } = error as NetdumpError;
    expect(code).toBe(ErrorCode.BAD_INPUT);
    expect(message).toMatch(new RegExp(`^text of record 0xfffff000 at 0x[0-9a-f]+ is not in the dump: byte 0x[0-9a-f]+ is in pfn ${dataPfn()}, which is excluded by dump level 31$`));
    expect(context).toMatchObject({ pfn: dataPfn() });
  });

  it('says so when the file is not there', async () => {
    const error = await extractKernelLogFromKdumpFile(path.join(dir, 'absent.kdump')).then(() => undefined, (e: unknown) => e);
    expect((error as NetdumpError).code).toBe(ErrorCode.BAD_INPUT);
    expect((error as NetdumpError).message).toMatch(/cannot open kdump file .*absent\.kdump: no such file/);
  });
});
