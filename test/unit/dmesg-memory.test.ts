/**
 * Reading kernel memory by virtual address over a dump's physical pages:
 * the kernel-image linear map (negative phys_base included), the page-table
 * walk for the direct map (where a big machine's log buffer lives), and
 * errors that name what, where and which pfn.
 */
import { EM_X86_64 } from '../../shared/elf/core.js';
import { describe, expect, it } from 'vitest';
import { parseVmcoreinfo } from '../../shared/elf/vmcoreinfo.js';
import { ErrorCode, NetdumpError } from '../../shared/errors.js';
import { TranslatedKernelMemory, type DumpPages, type PageRead } from '../../shared/dmesg/kernel-memory.js';
import { extractKernelLog } from '../../shared/dmesg/extract.js';
import { X86_64_DIRECT_MAP_BASE, X86_64_START_KERNEL_MAP } from '../helpers/elf-core-builder.js';
import { buildLocklessRing, vmcoreinfoText, IMAGE_PHYS, PAGE } from '../helpers/printk-ring.js';

const PRESENT = 1n;
const PSE = 0x80n;
const idx = (va: bigint, shift: bigint) => Number((va >> shift) & 511n);

/** Physical pages by pfn; absent ones are reported missing. */
class Pages implements DumpPages {
  readonly pageSize = PAGE;
  readonly pages = new Map<number, Buffer>();
  readonly reads: number[] = [];

  page(pfn: number): Buffer {
    let page = this.pages.get(pfn);
    if (!page) this.pages.set(pfn, (page = Buffer.alloc(PAGE)));
    return page;
  }

  async readPage(pfn: number): Promise<PageRead> {
    this.reads.push(pfn);
    const page = this.pages.get(pfn);
    return page ? { page: Buffer.from(page) } : { missing: 'not in this test dump' };
  }
}

/** 4-level tables at pfns 0x100-0x102 (init_top_pgt at phys 0x100000), mapping 2 MiB of direct map at `phys` with one PMD leaf. */
function directMap(pages: Pages, phys: number): { info: string[]; vaddr: bigint } {
  const vaddr = X86_64_DIRECT_MAP_BASE + BigInt(phys);
  pages.page(0x100).writeBigUInt64LE(0x10_1000n | PRESENT, idx(vaddr, 39n) * 8);
  pages.page(0x101).writeBigUInt64LE(0x10_2000n | PRESENT, idx(vaddr, 30n) * 8);
  pages.page(0x102).writeBigUInt64LE(BigInt(phys) | PRESENT | PSE, idx(vaddr, 21n) * 8);
  return { info: [`SYMBOL(init_top_pgt)=${(X86_64_START_KERNEL_MAP + 0x10_0000n).toString(16)}`, 'NUMBER(pgtable_l5_enabled)=0'], vaddr };
}

async function rejection(promise: Promise<unknown>): Promise<NetdumpError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(NetdumpError);
  return error as NetdumpError;
}

describe('kernel memory by virtual address', () => {
  it('maps kernel-image addresses linearly with a negative phys_base, and reads across page boundaries', async () => {
    const pages = new Pages();
    pages.page(0x200).write('end of page 0x200', PAGE - 17, 'latin1');
    pages.page(0x201).write(' / start of 0x201', 0, 'latin1');
    const physBase = BigInt.asUintN(64, -0x10_0000n);
    const memory = new TranslatedKernelMemory(pages, { elf: { machine: EM_X86_64 }, vmcoreinfo: parseVmcoreinfo(vmcoreinfoText([])), physBase: physBase });
    const vaddr = X86_64_START_KERNEL_MAP + 0x30_0000n + BigInt(PAGE - 17); // phys 0x200000 + PAGE - 17
    expect(await memory.physicalAddress(vaddr, 'test')).toBe(0x20_0000n + BigInt(PAGE - 17));
    expect((await memory.read(vaddr, 34, 'test')).toString('latin1')).toBe('end of page 0x200 / start of 0x201');
    expect(pages.reads).toEqual([0x200, 0x201]);
    await memory.read(vaddr, 34, 'test');
    expect(pages.reads).toEqual([0x200, 0x201]); // cached
  });

  it('walks the page tables for a direct-map address, loading each table page from the dump once', async () => {
    const pages = new Pages();
    const { info, vaddr } = directMap(pages, 0x40_0000);
    pages.page(0x512).write('in the direct map', 0x34, 'latin1');
    const memory = new TranslatedKernelMemory(pages, { elf: { machine: EM_X86_64 }, vmcoreinfo: parseVmcoreinfo(vmcoreinfoText(info)), physBase: 0n });
    expect((await memory.read(vaddr + 0x11_2034n, 17, 'test')).toString('latin1')).toBe('in the direct map');
    expect(await memory.physicalAddress(vaddr + 0x11_2034n, 'test')).toBe(0x51_2034n);
    expect(pages.reads).toEqual([0x100, 0x101, 0x102, 0x512]);
  });

  it('names what, where and which pfn when a page or a page table is not in the dump', async () => {
    const pages = new Pages();
    const { info, vaddr } = directMap(pages, 0x40_0000);
    const memory = new TranslatedKernelMemory(pages, { elf: { machine: EM_X86_64 }, vmcoreinfo: parseVmcoreinfo(vmcoreinfoText(info)), physBase: 0n });
    const absent = await rejection(memory.read(vaddr + 0x1000n, 8, 'descriptor ring'));
    expect(absent.code).toBe(ErrorCode.BAD_INPUT);
    expect(absent.message).toBe(`descriptor ring at 0x${(vaddr + 0x1000n).toString(16)} is not in the dump: byte 0x${(vaddr + 0x1000n).toString(16)} is in pfn 1025, which is not in this test dump`);
    expect(absent.context).toMatchObject({ pfn: 1025, what: 'descriptor ring' });

    pages.pages.delete(0x102);
    const fresh = new TranslatedKernelMemory(pages, { elf: { machine: EM_X86_64 }, vmcoreinfo: parseVmcoreinfo(vmcoreinfoText(info)), physBase: 0n });
    const noTable = await rejection(fresh.read(vaddr, 8, 'text ring'));
    expect(noTable.message).toBe(`text ring at 0x${vaddr.toString(16)} cannot be translated: its page table is in pfn 258, which is not in this test dump`);

    const unmapped = await rejection(memory.read(X86_64_DIRECT_MAP_BASE + 0x4000_0000n, 8, 'infos'));
    expect(unmapped.code).toBe(ErrorCode.CORRUPT);
    expect(unmapped.message).toMatch(/^infos at 0xffff888040000000 is not mapped by the crashed kernel's page tables$/);
  });

  it('says a direct-map address needs SYMBOL(init_top_pgt) when VMCOREINFO lacks it', async () => {
    const memory = new TranslatedKernelMemory(new Pages(), { elf: { machine: EM_X86_64 }, vmcoreinfo: parseVmcoreinfo(vmcoreinfoText([])), physBase: 0n });
    const error = await rejection(memory.read(X86_64_DIRECT_MAP_BASE, 8, 'text ring'));
    expect(error.code).toBe(ErrorCode.BAD_INPUT);
    expect(error.message).toBe('text ring at 0xffff888000000000 is outside the kernel image, and VMCOREINFO has no SYMBOL(init_top_pgt): cannot walk the page tables');
  });

  it('refuses implausible lengths', async () => {
    const memory = new TranslatedKernelMemory(new Pages(), { elf: { machine: EM_X86_64 }, vmcoreinfo: parseVmcoreinfo(vmcoreinfoText([])), physBase: 0n });
    expect((await rejection(memory.read(X86_64_START_KERNEL_MAP, 2 ** 40, 'x'))).code).toBe(ErrorCode.CORRUPT);
  });

  it('extracts a log whose ring arrays live in the direct map (log_buf_len= or 18+ CPUs: printk_rb_dynamic)', async () => {
    const built = buildLocklessRing({
      countBits: 4, sizeBits: 8, tailId: 0n, headId: 2n,
      records: [0n, 1n, 2n].map((id) => ({ id, tsNsec: id * 1_500_000n, text: `dynamic record ${id}` })),
    });
    const pages = new Pages();
    const { info, vaddr: directBase } = directMap(pages, IMAGE_PHYS);
    // Point the ring's three arrays at their direct-map aliases, as setup_log_buf() leaves them.
    const bytes = built.image.bytes;
    const ring = Number(bytes.readBigUInt64LE(0) - built.image.vaddr(0));
    for (const field of [8, 16, 56]) {
      const imageAddress = bytes.readBigUInt64LE(ring + field);
      bytes.writeBigUInt64LE(directBase + (imageAddress - built.image.vaddr(0)), ring + field);
    }
    for (let i = 0; i < built.image.pageCount; i++) pages.pages.set(built.image.firstPfn + i, built.image.physicalPage(built.image.firstPfn + i));
    expect(bytes.readBigUInt64LE(ring + 56) >> 40n).toBe(X86_64_DIRECT_MAP_BASE >> 40n);
    const vmcoreinfo = parseVmcoreinfo(vmcoreinfoText([...built.vmcoreinfoLines, ...info]));
    const log = await extractKernelLog(new TranslatedKernelMemory(pages, { elf: { machine: EM_X86_64 }, vmcoreinfo: vmcoreinfo, physBase: 0n }), vmcoreinfo);
    expect(log.toString('latin1')).toBe('[    0.000000] dynamic record 0\n[    0.001500] dynamic record 1\n[    0.003000] dynamic record 2\n');
  });
});
