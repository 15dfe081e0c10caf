/**
 * The VMCOREINFO entries a log reader cannot do without, looked up with an
 * error that names the missing key: "VMCOREINFO has no OFFSET(printk_info.ts_nsec)".
 */
import { badInput } from '../errors.js';
import type { Vmcoreinfo } from '../elf/vmcoreinfo.js';

export class VmcoreinfoFields {
  constructor(private readonly info: Vmcoreinfo, private readonly purpose: string) {}

  private missing(key: string): never {
    throw badInput(`VMCOREINFO has no ${key}: cannot read the ${this.purpose}`, { key });
  }

  symbol(name: string): bigint {
    return this.info.symbols.get(name) ?? this.missing(`SYMBOL(${name})`);
  }

  /** SIZE(name), or SIZE(fallback) for kernels that called the struct something else. */
  size(name: string, fallback?: string): number {
    const value = this.info.sizes.get(name) ?? (fallback === undefined ? undefined : this.info.sizes.get(fallback));
    if (value === undefined) this.missing(`SIZE(${name})`);
    if (value <= 0) throw badInput(`VMCOREINFO SIZE(${name})=${value} is not a size`, { key: `SIZE(${name})` });
    return value;
  }

  offset(name: string, fallback?: string): number {
    const value = this.info.offsets.get(name) ?? (fallback === undefined ? undefined : this.info.offsets.get(fallback));
    if (value === undefined) this.missing(`OFFSET(${name})`);
    if (value < 0) throw badInput(`VMCOREINFO OFFSET(${name})=${value} is negative`, { key: `OFFSET(${name})` });
    return value;
  }

  /** Checks that a field of `width` bytes at `offset` lies inside a struct of `structSize` bytes. */
  within(field: string, offset: number, width: number, struct: string, structSize: number): number {
    if (offset + width > structSize) {
      throw badInput(`VMCOREINFO puts ${field} (${width} bytes at ${offset}) outside SIZE(${struct})=${structSize}`, { key: field });
    }
    return offset;
  }
}
