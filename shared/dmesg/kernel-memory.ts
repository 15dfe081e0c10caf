/**
 * Reading the crashed kernel's memory by virtual address, over any dump that
 * can hand out physical pages (an ELF vmcore, a stored kdump-compressed
 * file), on any architecture with a translator (shared/elf/translate.ts):
 *
 *   - on x86_64, kernel-image addresses, [__START_KERNEL_map, +
 *     KERNEL_IMAGE_SIZE), map linearly to vaddr - __START_KERNEL_map +
 *     phys_base, without a table read;
 *   - everything else (x86_64's KASLR-randomised direct map, where a dynamic
 *     log buffer lives; vmalloc; every arm64 address) goes through the
 *     crashed kernel's page tables.
 *
 * A byte the dump does not hold is an error that names what was being read,
 * the address and the pfn: a log extracted with silent zeros in it would be
 * worse than none.
 */
import { badInput, corrupt } from '../errors.js';
import { EM_X86_64 } from '../elf/core.js';
import { kernelTranslator, type KernelTranslator, type PhysicalMemory, type TranslatedCore } from '../elf/translate.js';
import { X86_64_START_KERNEL_MAP } from '../elf/x86-64-translate.js';

/** What printk parsers read through. */
export interface KernelMemory {
  /**
   * `length` bytes at kernel virtual address `vaddr`. `what` names the
   * object for error messages ("descriptor ring", "text of record 0x1f").
   * Throws a NetdumpError when any byte is not in the dump.
   */
  read(vaddr: bigint, length: number, what: string): Promise<Buffer>;
}

/** A page the dump holds, or why it does not hold it ("excluded by dump level 31"). */
export type PageRead = { page: Buffer } | { missing: string };

/** The physical pages of one dump, by pfn. */
export interface DumpPages {
  readonly pageSize: number;
  readPage(pfn: number): Promise<PageRead>;
}

/** Without NUMBER(KERNEL_IMAGE_SIZE): the smallest image span x86_64 has had (512 MiB, no KASLR). */
const DEFAULT_KERNEL_IMAGE_SIZE = 512n * 1024n * 1024n;
/** The printk buffers are at most a few tens of MiB; a longer read is a garbage length. */
const MAX_READ_BYTES = 256 * 1024 * 1024;
/** Pages kept decoded. Log walks read three arrays in order, so a small cache suffices. */
const PAGE_CACHE_PAGES = 256;
/** Virtual-to-physical page translations kept. */
const TRANSLATION_CACHE_ENTRIES = 4096;
/** A 5-level walk reads 5 tables; more rounds than that means the walk is not converging. */
const MAX_TABLE_LOADS = 6;

const hex = (value: bigint) => `0x${value.toString(16)}`;

export class TranslatedKernelMemory implements KernelMemory {
  private readonly pageCache = new Map<number, Buffer>();
  private readonly translations = new Map<bigint, bigint>();
  private readonly pageSizeBig: bigint;
  /** x86_64's kernel image, mapped linearly: [START_KERNEL_map, imageEnd); 0n elsewhere (no linear image). */
  private readonly imageEnd: bigint;
  private translator: KernelTranslator | undefined;
  /** The table page the translator last asked for and the cache did not have. */
  private wantedTablePfn: number | undefined;

  constructor(
    private readonly pages: DumpPages,
    private readonly core: TranslatedCore,
  ) {
    this.pageSizeBig = BigInt(pages.pageSize);
    const imageSize = core.vmcoreinfo.numbers.get('KERNEL_IMAGE_SIZE');
    this.imageEnd = core.elf.machine !== EM_X86_64 ? 0n
      : X86_64_START_KERNEL_MAP + (imageSize !== undefined && imageSize > 0n ? imageSize : DEFAULT_KERNEL_IMAGE_SIZE);
  }

  async read(vaddr: bigint, length: number, what: string): Promise<Buffer> {
    if (!Number.isSafeInteger(length) || length < 0 || length > MAX_READ_BYTES) {
      throw corrupt(`${what} at ${hex(vaddr)}: implausible length ${length}`, { vaddr, what });
    }
    const out = Buffer.alloc(length);
    const { pageSize } = this.pages;
    let done = 0;
    while (done < length) {
      const at = BigInt.asUintN(64, vaddr + BigInt(done));
      const phys = await this.physicalAddress(at, what);
      const pfn = Number(phys / this.pageSizeBig);
      const inPage = Number(phys % this.pageSizeBig);
      const page = await this.page(pfn, () => `${what} at ${hex(vaddr)} is not in the dump: byte ${hex(at)} is in pfn ${pfn}`, { vaddr: at, what });
      const n = Math.min(length - done, pageSize - inPage);
      page.copy(out, done, inPage, inPage + n);
      done += n;
    }
    return out;
  }

  /** The physical address of a kernel virtual address, by the rules in the header comment. */
  async physicalAddress(vaddr: bigint, what: string): Promise<bigint> {
    const va = BigInt.asUintN(64, vaddr);
    let phys: bigint;
    if (va >= X86_64_START_KERNEL_MAP && va < this.imageEnd) {
      phys = BigInt.asUintN(64, va - X86_64_START_KERNEL_MAP + this.core.physBase);
    } else {
      const offset = va % this.pageSizeBig;
      const virtualPage = va - offset;
      let physicalPage = this.translations.get(virtualPage);
      if (physicalPage === undefined) {
        physicalPage = await this.walk(virtualPage, what);
        if (this.translations.size >= TRANSLATION_CACHE_ENTRIES) this.translations.clear();
        this.translations.set(virtualPage, physicalPage);
      }
      phys = physicalPage + offset;
    }
    if (phys > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`${what} at ${hex(va)} translates to physical ${hex(phys)}, beyond any machine`, { vaddr: va, what });
    return phys;
  }

  /**
   * The translator reads page tables synchronously; pages come from the dump
   * asynchronously. So: walk with what is cached, and when the walk stops
   * at a table page not yet loaded, load it and walk again.
   */
  private async walk(vaddr: bigint, what: string): Promise<bigint> {
    const translator = this.translatorFor(vaddr, what);
    for (let round = 0; round <= MAX_TABLE_LOADS; round++) {
      this.wantedTablePfn = undefined;
      const phys = translator.vtop(vaddr);
      const wanted = this.wantedTablePfn as number | undefined;
      if (wanted === undefined) {
        if (phys === undefined) throw corrupt(`${what} at ${hex(vaddr)} is not mapped by the crashed kernel's page tables`, { vaddr, what });
        return phys;
      }
      await this.page(wanted, () => `${what} at ${hex(vaddr)} cannot be translated: its page table is in pfn ${wanted}`, { vaddr, what });
    }
    throw corrupt(`${what} at ${hex(vaddr)}: the page-table walk did not finish after ${MAX_TABLE_LOADS} table loads`, { vaddr, what });
  }

  private translatorFor(vaddr: bigint, what: string): KernelTranslator {
    if (this.translator) return this.translator;
    const tables: PhysicalMemory = {
      read: (phys, length) => {
        const pfn = Number(phys / this.pageSizeBig);
        const inPage = Number(phys % this.pageSizeBig);
        const page = this.pageCache.get(pfn);
        if (!page || inPage + length > page.length) {
          this.wantedTablePfn = pfn;
          return undefined;
        }
        return page.subarray(inPage, inPage + length);
      },
    };
    try {
      this.translator = kernelTranslator(this.core, tables);
    } catch (error) {
      const where = this.imageEnd === 0n ? 'needs the page tables' : 'is outside the kernel image';
      throw badInput(`${what} at ${hex(vaddr)} ${where}, and ${(error as Error).message}`, { vaddr, what });
    }
    return this.translator;
  }

  private async page(pfn: number, describe: () => string, context: { vaddr: bigint; what: string }): Promise<Buffer> {
    const cached = this.pageCache.get(pfn);
    if (cached) {
      // Map order is insertion order: re-inserting makes this the most recently used.
      this.pageCache.delete(pfn);
      this.pageCache.set(pfn, cached);
      return cached;
    }
    const result = await this.pages.readPage(pfn);
    if ('missing' in result) throw badInput(`${describe()}, which is ${result.missing}`, { ...context, pfn });
    if (this.pageCache.size >= PAGE_CACHE_PAGES) this.pageCache.delete(this.pageCache.keys().next().value!);
    this.pageCache.set(pfn, result.page);
    return result.page;
  }
}
