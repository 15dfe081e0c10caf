/**
 * The crashed kernel's own count of free pages: the sum over every zone of
 * every node of zone.vm_stat[NR_FREE_PAGES], found through VMCOREINFO alone
 * (SYMBOL(node_data) with LENGTH(node_data) on NUMA kernels, else
 * SYMBOL(contig_page_data); the pglist_data and zone offsets). guard.ts
 * holds the page rules' verdicts against it.
 *
 * Only x86_64's arch code exports node_data to VMCOREINFO: elsewhere (arm64)
 * node_data, else contig_page_data, is looked up in the kernel's own symbol
 * table (kallsyms.ts), and the nodes are those set in node_online_map.
 *
 * NR_FREE_PAGES counts exactly the pages on the buddy free lists: pages
 * moved to the per-CPU lists leave it. Its per-CPU deltas not yet folded in
 * (at most 125 pages per CPU and zone, mm/vmstat.c) are the only slack.
 */
import { lookupKernelSymbols } from '../../shared/elf/kallsyms.js';
import type { Vmcoreinfo } from '../../shared/elf/vmcoreinfo.js';

/** Reads `length` bytes at a kernel virtual address, undefined when they are not in the dump. */
export type KernelRead = (vaddr: bigint, length: number) => Buffer | undefined;

export interface FreePageCount {
  /** Pages the kernel counted free. */
  free: number;
  /** Zones that count (spanned_pages > 0). */
  zones: number;
}

/** The most nodes a damaged dump can make this read: MAX_NUMNODES is 2^10 on Debian's x86_64. */
const MAX_NODES = 1 << 16;

function need<T extends number | bigint>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`VMCOREINFO has no ${what}`);
  return value;
}

type ReadWord = (vaddr: bigint, what: string) => bigint;

/** The kernel's free-page count, or a sentence saying why it cannot be read. */
export function readFreePageCount(info: Vmcoreinfo, read: KernelRead): FreePageCount | string {
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
    const nodes = nodeTables(info, read, word);
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

/** The pglist_data of every node, from VMCOREINFO's node_data or contig_page_data, else from kallsyms'. */
function nodeTables(info: Vmcoreinfo, read: KernelRead, word: ReadWord): bigint[] {
  const nodeData = info.symbols.get('node_data');
  if (nodeData !== undefined) {
    const length = need(info.lengths.get('node_data'), 'LENGTH(node_data)');
    if (length <= 0 || length > MAX_NODES) throw new Error(`implausible LENGTH(node_data)=${length}`);
    const nodes: bigint[] = [];
    for (let n = 0; n < length; n++) {
      const pgdat = BigInt.asUintN(64, word(nodeData + BigInt(n * 8), `node_data[${n}]`));
      if (pgdat !== 0n) nodes.push(pgdat);
    }
    return nodes;
  }
  const contig = info.symbols.get('contig_page_data');
  if (contig !== undefined) return [contig];
  const missing = 'VMCOREINFO has no SYMBOL(node_data) or SYMBOL(contig_page_data)';
  const kallsyms = lookupKernelSymbols(info, read, ['node_data', 'contig_page_data'], { dataOnly: true });
  if (typeof kallsyms === 'string') throw new Error(`${missing}, and kallsyms cannot be read: ${kallsyms}`);
  const nodeDataAt = kallsyms.symbols.get('node_data')?.address;
  if (nodeDataAt !== undefined) return onlineNodes(info, read, word, nodeDataAt);
  const contigAt = kallsyms.symbols.get('contig_page_data')?.address;
  if (contigAt !== undefined) return [contigAt];
  const why = kallsyms.ambiguous.length > 0 ? `, ${kallsyms.ambiguous.join(' and ')} at more than one address`
    : kallsyms.holdsData === false ? ', functions only: CONFIG_KALLSYMS_ALL is not set' : '';
  throw new Error(`${missing}, nor has kallsyms (${kallsyms.numSyms} symbols${why})`);
}

/**
 * node_data[nid] for every nid set in node_online_map (SIZE(nodemask_t)
 * bytes, unsigned longs): node_data found in kallsyms has no LENGTH.
 */
function onlineNodes(info: Vmcoreinfo, read: KernelRead, word: ReadWord, nodeData: bigint): bigint[] {
  const mapAt = need(info.symbols.get('node_online_map'), 'SYMBOL(node_online_map)');
  const size = need(info.sizes.get('nodemask_t'), 'SIZE(nodemask_t)');
  if (size <= 0 || size % 8 !== 0 || size > MAX_NODES / 8) throw new Error(`implausible SIZE(nodemask_t)=${size}`);
  const mask = read(mapAt, size);
  if (!mask || mask.length < size) throw new Error(`node_online_map at 0x${mapAt.toString(16)} is not in the dump`);
  const nodes: bigint[] = [];
  for (let nid = 0; nid < size * 8; nid++) {
    if (!(mask[nid >> 3] & (1 << (nid & 7)))) continue;
    const pgdat = BigInt.asUintN(64, word(nodeData + BigInt(nid * 8), `node_data[${nid}]`));
    // An online node always has its pglist_data: a NULL one means this is not node_data.
    if (pgdat === 0n) throw new Error(`node_data[${nid}] (kallsyms: 0x${nodeData.toString(16)}) is NULL though node ${nid} is online`);
    nodes.push(pgdat);
  }
  return nodes;
}
