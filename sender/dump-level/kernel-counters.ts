/**
 * The crashed kernel's own count of free pages: the sum over every zone of
 * every node of zone.vm_stat[NR_FREE_PAGES], found through VMCOREINFO alone
 * (SYMBOL(node_data) with LENGTH(node_data) on NUMA kernels, else
 * SYMBOL(contig_page_data); the pglist_data and zone offsets). guard.ts
 * holds the page rules' verdicts against it.
 *
 * NR_FREE_PAGES counts exactly the pages on the buddy free lists: pages
 * moved to the per-CPU lists leave it. Its per-CPU deltas not yet folded in
 * (at most 125 pages per CPU and zone, mm/vmstat.c) are the only slack.
 */
import type { Vmcoreinfo } from '../../shared/elf/vmcoreinfo.js';

/** Reads `length` bytes at a kernel virtual address, undefined when they are not in the dump. */
export type KernelRead = (vaddr: bigint, length: number) => Buffer | undefined;

export interface FreePageCount {
  /** Pages the kernel counted free. */
  free: number;
  /** Zones that count (spanned_pages > 0). */
  zones: number;
}

/** The kernel's free-page count, or a sentence saying why it cannot be read. */
export function readFreePageCount(info: Vmcoreinfo, read: KernelRead): FreePageCount | string {
  const need = (value: number | bigint | undefined, what: string) => {
    if (value === undefined) throw new Error(`VMCOREINFO has no ${what}`);
    return value;
  };
  try {
    const zonesAt = Number(need(info.offsets.get('pglist_data.node_zones'), 'OFFSET(pglist_data.node_zones)'));
    const nrZonesAt = Number(need(info.offsets.get('pglist_data.nr_zones'), 'OFFSET(pglist_data.nr_zones)'));
    const zoneSize = Number(need(info.sizes.get('zone'), 'SIZE(zone)'));
    const vmStatAt = Number(need(info.offsets.get('zone.vm_stat'), 'OFFSET(zone.vm_stat)'));
    const spannedAt = Number(need(info.offsets.get('zone.spanned_pages'), 'OFFSET(zone.spanned_pages)'));
    const nrFree = Number(need(info.numbers.get('NR_FREE_PAGES'), 'NUMBER(NR_FREE_PAGES)'));
    const word = (vaddr: bigint, what: string) => {
      const bytes = read(vaddr, 8);
      if (!bytes) throw new Error(`${what} at 0x${vaddr.toString(16)} is not in the dump`);
      return bytes.readBigInt64LE(0);
    };
    const nodes: bigint[] = [];
    const nodeData = info.symbols.get('node_data');
    if (nodeData !== undefined) {
      const length = Number(need(info.lengths.get('node_data'), 'LENGTH(node_data)'));
      if (length <= 0 || length > 1 << 16) throw new Error(`implausible LENGTH(node_data)=${length}`);
      for (let n = 0; n < length; n++) {
        const pgdat = BigInt.asUintN(64, word(nodeData + BigInt(n * 8), `node_data[${n}]`));
        if (pgdat !== 0n) nodes.push(pgdat);
      }
    } else {
      nodes.push(need(info.symbols.get('contig_page_data'), 'SYMBOL(node_data) or SYMBOL(contig_page_data)') as bigint);
    }
    if (nodes.length === 0) throw new Error('node_data holds no node');
    let free = 0;
    let zones = 0;
    for (const pgdat of nodes) {
      const nrZones = Number(BigInt.asIntN(32, word(pgdat + BigInt(nrZonesAt), 'pglist_data.nr_zones') & 0xffff_ffffn));
      if (nrZones < 0 || nrZones > 16) throw new Error(`implausible pglist_data.nr_zones=${nrZones}`);
      for (let z = 0; z < nrZones; z++) {
        const zone = pgdat + BigInt(zonesAt + z * zoneSize);
        if (word(zone + BigInt(spannedAt), 'zone.spanned_pages') <= 0n) continue;
        zones++;
        const count = word(zone + BigInt(vmStatAt + nrFree * 8), 'zone.vm_stat[NR_FREE_PAGES]');
        // Unfolded per-CPU deltas can leave a small zone's counter just below zero.
        if (count > 0n) free += Number(count);
      }
    }
    return { free, zones };
  } catch (error) {
    return (error as Error).message;
  }
}
