/**
 * shared/elf/kallsyms.ts on kallsyms tables built here in memory, laid out
 * as the kernel's scripts/kallsyms.c lays them out: the lookups under both
 * length encodings and every offset convention, and the refusals of tables
 * a damaged dump could hold. Then kernel-counters.ts finding the nodes
 * through them, as it must on arm64.
 */
import { describe, expect, it } from 'vitest';
import {
  KALLSYMS_LIMITS, lookupKernelSymbols, type KallsymsLookup, type KernelMemoryRead, type LookupOptions, type OffsetConvention,
} from '../../shared/elf/kallsyms.js';
import { parseVmcoreinfo, type Vmcoreinfo } from '../../shared/elf/vmcoreinfo.js';
import { readFreePageCount } from '../../sender/dump-level/kernel-counters.js';

interface SymbolSpec { name: string; type: string; address: bigint }

interface KallsymsSpec {
  symbols: SymbolSpec[];
  twoByteLengths: boolean;
  convention: OffsetConvention;
  osRelease?: string;
  /** Multi-character tokens, besides one per character the names use. */
  tokens?: string[];
  /** kallsyms_num_syms as written, if not the number of symbols. */
  numSyms?: number;
  /** VMCOREINFO lines besides the kallsyms ones (SYMBOL(_stext) and SYMBOL(init_uts_ns) are added from `symbols`). */
  vmcoreinfo?: string[];
  /** Leaves SYMBOL(_stext) and SYMBOL(init_uts_ns) out of VMCOREINFO. */
  noAnchors?: boolean;
}

interface BuiltKallsyms {
  region: Buffer;
  regionAt: bigint;
  /** Offsets in `region` of each table. */
  at: { names: number; markers: number; tokenTable: number; tokenIndex: number; numSyms: number };
  vmcoreinfoLines: string[];
}

const REGION = 0xffff_8000_0900_0000n;
const TEXT = 0xffff_8000_0801_0000n;
const DATA = 0xffff_8000_09cb_0000n;
const BASE = TEXT; // kallsyms_relative_base: the lowest non-absolute symbol, as scripts/kallsyms.c picks it
const align = (n: number, to: number) => Math.ceil(n / to) * to;
const hexOf = (value: bigint) => BigInt.asUintN(64, value).toString(16);

/** Greedy longest-token encoding: every character has a token of its own, so any name encodes. */
function encode(text: string, tokens: string[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length;) {
    let best = -1;
    tokens.forEach((token, index) => {
      if (token.length > 0 && text.startsWith(token, i) && (best < 0 || token.length > tokens[best].length)) best = index;
    });
    out.push(best);
    i += tokens[best].length;
  }
  return out;
}

function buildKallsyms(spec: KallsymsSpec): BuiltKallsyms {
  const n = spec.symbols.length;
  const multi = spec.tokens ?? [];
  const chars = [...new Set(spec.symbols.flatMap((s) => [...(s.type + s.name)]))].filter((c) => !multi.includes(c));
  const tokens = [...multi, ...chars];
  if (tokens.length > 256) throw new Error('buildKallsyms: more than 256 tokens');
  while (tokens.length < 256) tokens.push(''); // slots no name uses: empty, as scripts/kallsyms.c leaves them

  const names: number[] = [];
  const markers: number[] = [];
  spec.symbols.forEach((symbol, i) => {
    if (i % 256 === 0) markers.push(names.length);
    const encoded = encode(symbol.type + symbol.name, tokens);
    const count = encoded.length;
    if (spec.twoByteLengths && count >= 0x80) names.push(0x80 | (count & 0x7f), count >> 7);
    else if (count <= 0xff) names.push(count);
    else throw new Error(`buildKallsyms: ${symbol.name} needs two-byte lengths`);
    names.push(...encoded);
  });
  const tokenTable = Buffer.from(tokens.map((t) => `${t}\0`).join(''), 'latin1');
  const tokenStarts: number[] = [];
  tokens.reduce((offset, t) => { tokenStarts.push(offset); return offset + t.length + 1; }, 0);

  const absolute = spec.convention === 'absolute';
  const entry = absolute ? 8 : 4;
  const at = { addresses: 0, relativeBase: 0, numSyms: 0, names: 0, markers: 0, tokenTable: 0, tokenIndex: 0 };
  at.relativeBase = align(n * entry, 8);
  at.numSyms = at.relativeBase + 8;
  at.names = at.numSyms + 8;
  at.markers = align(at.names + names.length, 8);
  at.tokenTable = align(at.markers + 4 * markers.length, 8);
  at.tokenIndex = align(at.tokenTable + tokenTable.length, 8);
  const region = Buffer.alloc(at.tokenIndex + 512);

  spec.symbols.forEach((symbol, i) => {
    const where = entry * i;
    const place = REGION + BigInt(where);
    switch (spec.convention) {
      case 'absolute': region.writeBigUInt64LE(symbol.address, where); break;
      case 'base-relative': region.writeUInt32LE(Number(symbol.address - BASE), where); break;
      case 'place-relative': region.writeInt32LE(Number(symbol.address - place), where); break;
      case 'absolute-percpu':
        // Per-CPU symbols sit near 0 and are written as they are; the rest as base - 1 - address, negative.
        if (symbol.address < 0x8000_0000n) region.writeInt32LE(Number(symbol.address), where);
        else region.writeInt32LE(Number(BASE - 1n - symbol.address), where);
        break;
    }
  });
  region.writeBigUInt64LE(BASE, at.relativeBase);
  region.writeUInt32LE(spec.numSyms ?? n, at.numSyms);
  Buffer.from(names).copy(region, at.names);
  markers.forEach((marker, m) => region.writeUInt32LE(marker, at.markers + 4 * m));
  tokenTable.copy(region, at.tokenTable);
  tokenStarts.forEach((start, t) => region.writeUInt16LE(start, at.tokenIndex + 2 * t));

  const symbolLine = (name: string, offset: number) => `SYMBOL(${name})=${hexOf(REGION + BigInt(offset))}`;
  const lines = [
    `OSRELEASE=${spec.osRelease ?? (spec.twoByteLengths ? '6.1.0-57-arm64' : '6.0.0-1-arm64')}`,
    symbolLine('kallsyms_names', at.names), symbolLine('kallsyms_num_syms', at.numSyms),
    symbolLine('kallsyms_token_table', at.tokenTable), symbolLine('kallsyms_token_index', at.tokenIndex),
    absolute ? symbolLine('kallsyms_addresses', 0) : symbolLine('kallsyms_offsets', 0),
    ...(spec.convention === 'base-relative' || spec.convention === 'absolute-percpu' ? [symbolLine('kallsyms_relative_base', at.relativeBase)] : []),
  ];
  if (!spec.noAnchors) {
    for (const anchor of ['_stext', 'init_uts_ns']) {
      const found = spec.symbols.find((s) => s.name === anchor);
      if (found) lines.push(`SYMBOL(${anchor})=${hexOf(found.address)}`);
    }
  }
  lines.push(...(spec.vmcoreinfo ?? []));
  return { region, regionAt: REGION, at, vmcoreinfoLines: lines };
}

interface Memory { read: KernelMemoryRead; reads: { vaddr: bigint; length: number }[] }

/** Kernel memory of some regions: a read wholly inside one of them, else undefined. */
function memoryOf(regions: { at: bigint; bytes: Buffer }[]): Memory {
  const reads: Memory['reads'] = [];
  const read: KernelMemoryRead = (vaddr, length) => {
    reads.push({ vaddr, length });
    for (const { at, bytes } of regions) {
      if (vaddr >= at && vaddr + BigInt(length) <= at + BigInt(bytes.length)) {
        const from = Number(vaddr - at);
        return bytes.subarray(from, from + length);
      }
    }
    return undefined;
  };
  return { read, reads };
}

function lookUp(spec: KallsymsSpec, names: string[], damage?: (built: BuiltKallsyms) => void, options?: LookupOptions) {
  const built = buildKallsyms(spec);
  damage?.(built);
  const info = parseVmcoreinfo(built.vmcoreinfoLines.join('\n'));
  const memory = memoryOf([{ at: built.regionAt, bytes: built.region }]);
  return { result: lookupKernelSymbols(info, memory.read, names, options), memory, built, info };
}

const found = (result: KallsymsLookup | string): KallsymsLookup => {
  if (typeof result === 'string') throw new Error(`refused: ${result}`);
  return result;
};

/** A small kernel: more than 256 symbols (so the markers say something), and names that share prefixes with node_data. */
function kernelSymbols(withPercpu: boolean, withLongName: boolean): SymbolSpec[] {
  const symbols: SymbolSpec[] = [];
  if (withPercpu) symbols.push({ name: 'fixed_percpu_data', type: 'D', address: 0n }, { name: 'cpu_number', type: 'D', address: 0x20n });
  symbols.push(
    { name: '_stext', type: 'T', address: TEXT },
    { name: 'node_dat', type: 't', address: TEXT + 0x100n },
    { name: 'node_data_init', type: 't', address: TEXT + 0x200n },
    { name: 'schedule', type: 'T', address: TEXT + 0x1000n },
  );
  for (let i = 0; i < 300; i++) symbols.push({ name: `fn_${i}`, type: i % 2 ? 't' : 'T', address: TEXT + 0x2000n + BigInt(i * 0x40) });
  // 201 tokens: a length only 6.1's two-byte encoding tells from a literal 201.
  if (withLongName) symbols.push({ name: 'x'.repeat(200), type: 't', address: TEXT + 0x10_0000n });
  symbols.push(
    { name: 'init_uts_ns', type: 'D', address: DATA },
    { name: 'node_data', type: 'D', address: DATA + 0x3810n },
    { name: 'node_states', type: 'D', address: DATA + 0x4000n },
  );
  return symbols;
}
const TOKENS = ['T_', 'Tsch', 'node_', '_data', 'fn_', 'init_', 'st'];
const kernel = (over: Partial<KallsymsSpec> = {}): KallsymsSpec => ({
  symbols: kernelSymbols(over.convention === 'absolute-percpu', true), twoByteLengths: true, convention: 'base-relative', tokens: TOKENS, ...over,
});

describe('lookupKernelSymbols', () => {
  const conventions: OffsetConvention[] = ['base-relative', 'absolute-percpu', 'place-relative', 'absolute'];
  for (const convention of conventions) {
    for (const twoByteLengths of [true, false]) {
      it(`finds symbols, ${convention} offsets, ${twoByteLengths ? "6.1's two-byte" : 'one-byte'} lengths`, () => {
        const { result } = lookUp(kernel({ convention, twoByteLengths }), ['node_data', 'schedule', 'fn_299', 'xxx', 'no_such_symbol', 'node_data_init']);
        const lookup = found(result);
        expect(lookup.convention).toBe(convention);
        expect(lookup.twoByteLengths).toBe(twoByteLengths);
        expect(lookup.numSyms).toBe(kernel({ convention }).symbols.length);
        expect(lookup.symbols.get('node_data')).toEqual({ address: DATA + 0x3810n, type: 'D' });
        expect(lookup.symbols.get('schedule')).toEqual({ address: TEXT + 0x1000n, type: 'T' });
        expect(lookup.symbols.get('fn_299')).toEqual({ address: TEXT + 0x2000n + 299n * 0x40n, type: 't' });
        expect(lookup.symbols.get('node_data_init')?.address).toBe(TEXT + 0x200n);
        // Prefixes of a symbol, and names no symbol has, are not found.
        expect(lookup.symbols.has('xxx')).toBe(false);
        expect(lookup.symbols.has('no_such_symbol')).toBe(false);
        expect(lookup.holdsData).toBe(true);
      });
    }
  }

  it('reads per-CPU symbols as absolute addresses under absolute-percpu', () => {
    const lookup = found(lookUp(kernel({ convention: 'absolute-percpu' }), ['cpu_number', 'fixed_percpu_data']).result);
    expect(lookup.symbols.get('cpu_number')?.address).toBe(0x20n);
    expect(lookup.symbols.get('fixed_percpu_data')?.address).toBe(0n);
  });

  it('walks again with the other length encoding when the release guesses wrong', () => {
    // A 6.1 table on a kernel calling itself 6.0 (a backport), and a 6.0 table on one calling itself 6.1.
    const backported = found(lookUp(kernel({ twoByteLengths: true, osRelease: '6.0.19' }), ['node_data']).result);
    expect(backported.twoByteLengths).toBe(true);
    expect(backported.symbols.get('node_data')?.address).toBe(DATA + 0x3810n);
    const old = found(lookUp(kernel({ twoByteLengths: false, osRelease: '6.1.0-57-arm64' }), ['node_data']).result);
    expect(old.twoByteLengths).toBe(false);
    expect(old.symbols.get('node_data')?.address).toBe(DATA + 0x3810n);
  });

  it('answers no address for a name at two addresses, one for an alias at the same address', () => {
    const symbols = kernel().symbols;
    symbols.push({ name: 'dup_name', type: 't', address: TEXT + 0x20_0000n }, { name: 'dup_name', type: 't', address: TEXT + 0x20_0100n });
    symbols.push({ name: 'alias', type: 'T', address: TEXT + 0x30_0000n }, { name: 'alias', type: 'T', address: TEXT + 0x30_0000n });
    const lookup = found(lookUp(kernel({ symbols }), ['dup_name', 'alias']).result);
    expect(lookup.ambiguous).toEqual(['dup_name']);
    expect(lookup.symbols.has('dup_name')).toBe(false);
    expect(lookup.symbols.get('alias')?.address).toBe(TEXT + 0x30_0000n);
  });

  it('says when kallsyms lists functions only (no CONFIG_KALLSYMS_ALL)', () => {
    const text = kernel().symbols.filter((s) => s.type.toLowerCase() === 't');
    const spec = kernel({ symbols: text, vmcoreinfo: [`SYMBOL(init_uts_ns)=${hexOf(DATA)}`] });
    const lookup = found(lookUp(spec, ['node_data']).result);
    expect(lookup.symbols.has('node_data')).toBe(false);
    expect(lookup.holdsData).toBe(false);
    expect(lookup.twoByteLengths).toBe(true);
  });

  it('asked for data only, tells a table of functions by its addresses, without walking the names', () => {
    const text = kernel().symbols.filter((s) => s.type.toLowerCase() === 't');
    const { result, memory, built } = lookUp(kernel({ symbols: text, vmcoreinfo: [`SYMBOL(init_uts_ns)=${hexOf(DATA)}`] }), ['node_data'], undefined, { dataOnly: true });
    const lookup = found(result);
    expect(lookup).toMatchObject({ holdsData: false, convention: 'base-relative', numSyms: text.length });
    expect(lookup.twoByteLengths).toBeUndefined();
    expect(lookup.symbols.size).toBe(0);
    const namesAt = built.regionAt + BigInt(built.at.names);
    expect(memory.reads.filter((r) => r.vaddr >= namesAt && r.vaddr < built.regionAt + BigInt(built.at.tokenIndex))).toEqual([]);
    // A table with data is walked as ever.
    expect(found(lookUp(kernel(), ['node_data'], undefined, { dataOnly: true }).result).symbols.get('node_data')?.address).toBe(DATA + 0x3810n);
  });

  it('reads the names in large pieces, not a read per name', () => {
    const { result, memory, built } = lookUp(kernel(), ['node_data']);
    found(result);
    const namesAt = built.regionAt + BigInt(built.at.names);
    const inNames = memory.reads.filter((r) => r.vaddr >= namesAt && r.vaddr < built.regionAt + BigInt(built.at.markers));
    // The walk's one piece, and the block of 256 names of _stext and of init_uts_ns, to check their names.
    expect(inNames.length).toBeLessThanOrEqual(3);
    // The rest: a binary search of the offsets for _stext and init_uts_ns, per convention tried.
    expect(memory.reads.length).toBeLessThan(64);
  });
});

describe('lookupKernelSymbols refuses implausible tables', () => {
  const refusal = (result: KallsymsLookup | string) => {
    expect(typeof result).toBe('string');
    return result as string;
  };

  it('without the kallsyms entries in VMCOREINFO, naming them', () => {
    const info = parseVmcoreinfo('OSRELEASE=5.10.0-46-amd64\nSYMBOL(_stext)=ffffffff81000000\n');
    expect(lookupKernelSymbols(info, () => undefined, ['node_data'])).toBe(
      'VMCOREINFO has no SYMBOL(kallsyms_names), SYMBOL(kallsyms_num_syms), SYMBOL(kallsyms_token_table), SYMBOL(kallsyms_token_index), SYMBOL(kallsyms_offsets)');
  });

  it('with no symbol count, or an implausible one', () => {
    expect(refusal(lookUp(kernel({ numSyms: 0 }), ['node_data']).result)).toMatch(/^implausible kallsyms_num_syms=0 at 0x[0-9a-f]+ \(at most 4194304\)$/);
    expect(refusal(lookUp(kernel({ numSyms: 2 ** 22 + 1 }), ['node_data']).result)).toMatch(/^implausible kallsyms_num_syms=4194305/);
  });

  it('whose count runs the names past their region, reading no further than it', () => {
    // One-byte lengths (a 6.0 kernel) take any byte for a length: the walk goes on through the markers to the token table.
    const { result, memory, built } = lookUp(kernel({ numSyms: 2 ** 22, twoByteLengths: false }), ['node_data']);
    expect(refusal(result)).toMatch(/^kallsyms_names: name \d+ of 4194304 runs past the end of its region \(\d+ bytes at 0x[0-9a-f]+\)$/);
    const namesAt = built.regionAt + BigInt(built.at.names);
    const namesReads = memory.reads.filter((r) => r.vaddr >= namesAt && r.vaddr < built.regionAt + BigInt(built.at.tokenTable));
    for (const r of namesReads) expect(r.length).toBeLessThanOrEqual(KALLSYMS_LIMITS.namesChunk);
    // Both length encodings walk it once; each reads the region about once.
    const bytes = namesReads.reduce((sum, r) => sum + r.length, 0);
    expect(bytes).toBeLessThan(3 * (built.at.tokenTable - built.at.names));
  });

  it('whose names do not end where kallsyms_markers says (a damaged length)', () => {
    const { result } = lookUp(kernel(), ['node_data'], (built) => { built.region[built.at.names] += 1; });
    expect(refusal(result)).toMatch(/^kallsyms_names: /);
  });

  it('with a name longer than KSYM_NAME_LEN, or a length of three bytes', () => {
    const long = lookUp(kernel(), ['node_data'], (built) => { built.region.set([0x80 | (600 & 0x7f), 600 >> 7], built.at.names); });
    expect(refusal(long.result)).toMatch(/^kallsyms_names: name 0 at offset 0 has 600 tokens \(at most 512\)$/);
    const three = lookUp(kernel(), ['node_data'], (built) => { built.region.set([0x81, 0x81], built.at.names); });
    expect(refusal(three.result)).toBe('kallsyms_names: name 0 at offset 0 has a length of more than two bytes');
  });

  it('with a token that does not end', () => {
    const { result } = lookUp(kernel(), ['node_data'], (built) => { built.region.fill(0x41, built.at.tokenTable, built.at.tokenIndex); });
    expect(refusal(result)).toMatch(/^kallsyms_token_table: token \d+ at offset \d+ has no NUL within 512 bytes$/);
  });

  it('whose names are not in the dump', () => {
    const built = buildKallsyms(kernel());
    const memory = memoryOf([
      { at: built.regionAt, bytes: built.region.subarray(0, built.at.names) },
      { at: built.regionAt + BigInt(built.at.tokenTable), bytes: built.region.subarray(built.at.tokenTable) },
    ]);
    expect(lookupKernelSymbols(parseVmcoreinfo(built.vmcoreinfoLines.join('\n')), memory.read, ['node_data']))
      .toMatch(/^kallsyms_names at 0x[0-9a-f]+ \(\d+ bytes\) is not in the dump$/);
  });

  it('whose addresses do not put _stext where VMCOREINFO does', () => {
    // Where VMCOREINFO says, kallsyms has schedule.
    const { result } = lookUp(kernel({ noAnchors: true, vmcoreinfo: [`SYMBOL(_stext)=${hexOf(TEXT + 0x1000n)}`] }), ['node_data']);
    expect(refusal(result)).toBe(`kallsyms holds no _stext at 0x${hexOf(TEXT + 0x1000n)} (VMCOREINFO's addresses) `
      + 'under any known reading of kallsyms_offsets (base-relative, absolute-percpu)');
  });

  it('with nothing to check its addresses against', () => {
    expect(refusal(lookUp(kernel({ noAnchors: true }), ['node_data']).result))
      .toBe('VMCOREINFO has no SYMBOL(_stext) or SYMBOL(init_uts_ns) to check the kallsyms addresses against');
    const unanchored = kernel().symbols.filter((s) => s.name !== '_stext' && s.name !== 'init_uts_ns');
    expect(refusal(lookUp(kernel({ symbols: unanchored, noAnchors: true, vmcoreinfo: [`SYMBOL(_stext)=${hexOf(TEXT)}`] }), ['node_data']).result))
      .toMatch(/^kallsyms holds no _stext at 0x[0-9a-f]+ \(VMCOREINFO's addresses\) under any known reading/);
  });
});

describe('readFreePageCount finds the nodes through kallsyms', () => {
  // Memory of this kernel's data: node_online_map, node_data[] and two pglist_data of one zone each.
  const ONLINE_MAP = DATA + 0x4000n; // node_states[N_ONLINE]
  const NODE_DATA = DATA + 0x3810n;
  const CONTIG_PAGE_DATA = DATA + 0x1000n;
  const PGDAT = [0xffff_0000_4000_0000n, 0xffff_0000_8000_0000n];
  const ZONE_INFO = [
    'SIZE(zone)=256', 'OFFSET(pglist_data.node_zones)=0', 'OFFSET(pglist_data.nr_zones)=1024', 'OFFSET(zone.spanned_pages)=16',
    'OFFSET(zone.vm_stat)=64', 'NUMBER(NR_FREE_PAGES)=0', `SYMBOL(node_online_map)=${hexOf(ONLINE_MAP)}`, 'SIZE(nodemask_t)=8',
  ];
  const pgdat = (free: number) => {
    const bytes = Buffer.alloc(2048);
    bytes.writeUInt32LE(1, 1024); // nr_zones
    bytes.writeBigUInt64LE(0x40000n, 16); // spanned_pages of zone 0
    bytes.writeBigInt64LE(BigInt(free), 64); // vm_stat[NR_FREE_PAGES]
    return bytes;
  };
  /** Nodes 0 and 2 online; node_data[2] is `second` (the second pglist_data unless a test says otherwise). */
  function countWith(spec: KallsymsSpec, second = PGDAT[1]) {
    const built = buildKallsyms({ ...spec, vmcoreinfo: [...ZONE_INFO, ...(spec.vmcoreinfo ?? [])] });
    const data = Buffer.alloc(0x5000);
    data.writeBigUInt64LE(PGDAT[0], 0x3810);
    data.writeBigUInt64LE(second, 0x3810 + 16);
    data[0x4000] = 0b101;
    pgdat(4321).copy(data, 0x1000); // contig_page_data, for a kernel that has it
    const memory = memoryOf([
      { at: built.regionAt, bytes: built.region }, { at: DATA, bytes: data },
      { at: PGDAT[0], bytes: pgdat(1000) }, { at: PGDAT[1], bytes: pgdat(234) },
    ]);
    return readFreePageCount(parseVmcoreinfo(built.vmcoreinfoLines.join('\n')), memory.read);
  }

  it('sums NR_FREE_PAGES over the zones of the online nodes of node_data', () => {
    expect(countWith(kernel())).toEqual({ free: 1234, zones: 2 });
    expect(NODE_DATA).toBe(kernel().symbols.find((s) => s.name === 'node_data')!.address);
  });

  it('takes contig_page_data on a kernel without NUMA', () => {
    const symbols = kernel().symbols.map((s) => (s.name === 'node_data' ? { ...s, name: 'contig_page_data', address: CONTIG_PAGE_DATA } : s));
    expect(countWith(kernel({ symbols }))).toEqual({ free: 4321, zones: 1 });
  });

  it('refuses a node_data whose online node has no pglist_data', () => {
    expect(countWith(kernel(), 0n)).toBe(`node_data[2] (kallsyms: 0x${hexOf(NODE_DATA)}) is NULL though node 2 is online`);
  });

  it('says what is missing when kallsyms has neither, or cannot be read', () => {
    const text = kernel().symbols.filter((s) => s.type.toLowerCase() === 't');
    expect(countWith(kernel({ symbols: text, vmcoreinfo: [`SYMBOL(init_uts_ns)=${hexOf(DATA)}`] }))).toBe(
      `VMCOREINFO has no SYMBOL(node_data) or SYMBOL(contig_page_data), nor has kallsyms (${text.length} symbols, functions only: CONFIG_KALLSYMS_ALL is not set)`);
    const info: Vmcoreinfo = parseVmcoreinfo([...ZONE_INFO, 'SYMBOL(_stext)=ffffffff81000000'].join('\n'));
    expect(readFreePageCount(info, () => undefined)).toMatch(
      /^VMCOREINFO has no SYMBOL\(node_data\) or SYMBOL\(contig_page_data\), and kallsyms cannot be read: VMCOREINFO has no SYMBOL\(kallsyms_names\)/);
  });
});
