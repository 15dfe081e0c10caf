/**
 * Addresses of named kernel symbols from the crashed kernel's own symbol
 * table (kallsyms), which VMCOREINFO points at since 6.0
 * (SYMBOL(kallsyms_names) and friends): for what VMCOREINFO does not export
 * itself, as arm64's node_data. No vmlinux needed, as drgn does it.
 *
 * The format (the kernel's scripts/kallsyms.c writes it, kernel/kallsyms.c
 * reads it), 64-bit little-endian kernels only (x86_64, arm64):
 *
 * - kallsyms_num_syms: u32, the number of symbols, sorted by address.
 * - kallsyms_names: per symbol a length in tokens, then that many token
 *   indexes. The length is one byte; since 6.1 (73bbb94466fd3 "kallsyms:
 *   support big kernel symbols") a length byte with bit 7 set takes a second
 *   byte: (b0 & 0x7f) | (b1 << 7).
 * - kallsyms_token_index: u16[256], where token i starts in
 *   kallsyms_token_table (NUL-terminated strings). A symbol's expanded
 *   tokens are its nm type character, then its name.
 * - kallsyms_markers: u32, the names offset of every 256th symbol, right
 *   after the names: it proves a walk of the names read them right, and
 *   finds a name by its index.
 * - kallsyms_offsets: s32 per symbol, read as OffsetConvention says.
 *
 * Finding a name means walking all of them (they are in address order, and
 * a name's place is only known from the one before it): one pass, each name
 * expanded only as far as needed to reject it. A damaged or hostile dump
 * must not make this loop, allocate without bound or answer wrong: every
 * count and length is capped, the names are read in large pieces within
 * their region, and a table whose walk does not land on its markers, or
 * whose addresses do not put _stext (or init_uts_ns) where VMCOREINFO says,
 * is refused with a sentence saying why.
 */
import type { Vmcoreinfo } from './vmcoreinfo.js';

/** Reads `length` bytes at a kernel virtual address, undefined when they are not in the dump. */
export type KernelMemoryRead = (vaddr: bigint, length: number) => Buffer | undefined;

/**
 * How kallsyms_offsets[i] becomes an address (kernel/kallsyms.c
 * kallsyms_sym_address, by version and config):
 * - base-relative: kallsyms_relative_base + (u32)offset (arm64; x86_64 since 6.15).
 * - absolute-percpu: CONFIG_KALLSYMS_ABSOLUTE_PERCPU (x86_64 SMP until 6.15):
 *   an offset >= 0 is the address itself (per-CPU symbols sit near 0), a
 *   negative one means kallsyms_relative_base - 1 - offset.
 * - place-relative: since 7.0 (no kallsyms_relative_base), the address of
 *   the offset itself + (s32)offset.
 * - absolute: before 6.11 without CONFIG_KALLSYMS_BASE_RELATIVE, a u64
 *   kallsyms_addresses[] instead.
 */
export type OffsetConvention = 'base-relative' | 'absolute-percpu' | 'place-relative' | 'absolute';

export interface KernelSymbol {
  address: bigint;
  /** The nm type character (T, t, D, d, B, ...). */
  type: string;
}

export interface KallsymsLookup {
  /** The names asked for that kallsyms holds at one address. */
  symbols: Map<string, KernelSymbol>;
  /** Names asked for that kallsyms holds at more than one address (static symbols of the same name): not answered. */
  ambiguous: string[];
  numSyms: number;
  convention: OffsetConvention;
  /** Whether the names were read with 6.1's two-byte lengths; undefined when they were not walked (see LookupOptions.dataOnly). */
  twoByteLengths?: boolean;
  /**
   * Whether kallsyms holds data symbols at all: init_uts_ns, which every
   * kernel has, is in it. A kernel built without CONFIG_KALLSYMS_ALL (Debian's
   * arm64 6.1) lists its functions only. Undefined when VMCOREINFO has no
   * SYMBOL(init_uts_ns) to tell.
   */
  holdsData?: boolean;
}

export interface LookupOptions {
  /**
   * The names are all data (variables, as node_data): when kallsyms lists
   * functions only (nothing at init_uts_ns's address), answer that it holds
   * none of them without walking the names. Debian's arm64 kernels are built
   * so, and the walk is most of a lookup's time.
   */
  dataOnly?: boolean;
}

export const KALLSYMS_LIMITS = {
  /** Debian's x86_64 6.12 kernel has 163237; an allyesconfig a few times that. */
  maxSymbols: 1 << 22,
  /** KSYM_NAME_LEN (512 since 6.1): no name, so no token of one, expands longer, and no name has more tokens. */
  maxNameLength: 512,
  /** The names region read at most: Debian's x86_64 6.12 needs 2.2 MiB. */
  maxNamesBytes: 64 << 20,
  /** Names are read this many bytes at a time: one piece for the kernels known (a name is at most 2 + 512 bytes). */
  namesChunk: 4 << 20,
  /** A name found more often than this is ambiguous anyway: no more matches are kept. */
  maxMatchesPerName: 8,
  /** Names looked up in one walk (a bit each in a mask). */
  maxNamesPerLookup: 30,
} as const;

/** Symbols VMCOREINFO and kallsyms both hold: where VMCOREINFO puts them proves how kallsyms_offsets reads. */
const ANCHORS = ['_stext', 'init_uts_ns'] as const;
/** Symbols sharing an anchor's address looked at for its name (_stext shares it with _text and a few more). */
const MAX_ALIASES = 64;
const TOKEN_INDEX_BYTES = 256 * 2;
/** No type character: what expandsTo answers for a name that is not the target. */
const NO_CHAR = -1;
/** In prefixMasks' atStart: the token is the type character alone (and so begins no target), the name's second token decides. */
const AFTER_TYPE_TOKEN = 1 << 30; // above every name's bit, and still a small integer

class KallsymsRefusal extends Error {}
const refuse = (why: string): never => { throw new KallsymsRefusal(why); };
const hex = (value: bigint) => `0x${BigInt.asUintN(64, value).toString(16)}`;

/**
 * Looks up `names` in the kallsyms tables VMCOREINFO points at. Returns the
 * lookup (names kallsyms does not hold are simply absent from it), or a
 * sentence saying why the tables cannot be trusted or read.
 */
export function lookupKernelSymbols(info: Vmcoreinfo, read: KernelMemoryRead, names: readonly string[], options: LookupOptions = {}): KallsymsLookup | string {
  if (names.length > KALLSYMS_LIMITS.maxNamesPerLookup) throw new RangeError(`kallsyms lookup of ${names.length} names: at most ${KALLSYMS_LIMITS.maxNamesPerLookup} at a time`);
  try {
    const tables = locateTables(info);
    const numSyms = readExactly(read, tables.numSyms, 4, 'kallsyms_num_syms').readUInt32LE(0);
    if (numSyms === 0 || numSyms > KALLSYMS_LIMITS.maxSymbols) {
      refuse(`implausible kallsyms_num_syms=${numSyms} at ${hex(tables.numSyms)} (at most ${KALLSYMS_LIMITS.maxSymbols})`);
    }
    const anchors = ANCHORS.filter((name) => info.symbols.has(name));
    if (anchors.length === 0) refuse('VMCOREINFO has no SYMBOL(_stext) or SYMBOL(init_uts_ns) to check the kallsyms addresses against');
    const addressOf = symbolAddresses(read, tables);
    if (options.dataOnly) {
      const functionsOnly = listsFunctionsOnly(info, tables, numSyms, addressOf);
      if (functionsOnly) return { symbols: new Map(), ambiguous: [], numSyms, convention: functionsOnly, holdsData: false };
    }
    const tokens = readTokens(read, tables);
    const walk = walkEitherEncoding(info, read, tables, tokens, numSyms, [...new Set(names)]);
    const { convention, found: anchorsFound } = pickConvention(info, read, tables, tokens, walk, numSyms, addressOf, anchors);
    const symbols = new Map<string, KernelSymbol>();
    const ambiguous: string[] = [];
    for (const [name, found] of walk.matches) {
      if (found.length === 0) continue;
      const addresses = new Set(found.map((m) => addressOf(convention, m.index)));
      if (addresses.size > 1) ambiguous.push(name);
      else symbols.set(name, { address: [...addresses][0], type: found[0].type });
    }
    const holdsData = anchors.includes('init_uts_ns') ? anchorsFound.includes('init_uts_ns') : undefined;
    return { symbols, ambiguous, numSyms, convention, twoByteLengths: walk.twoByteLengths, holdsData };
  } catch (error) {
    if (error instanceof KallsymsRefusal) return error.message;
    throw error;
  }
}

interface TableAddresses {
  names: bigint;
  numSyms: bigint;
  tokenTable: bigint;
  tokenIndex: bigint;
  offsets?: bigint;
  relativeBase?: bigint;
  addresses?: bigint;
}

function locateTables(info: Vmcoreinfo): TableAddresses {
  const at = (name: string) => info.symbols.get(name);
  const required = ['kallsyms_names', 'kallsyms_num_syms', 'kallsyms_token_table', 'kallsyms_token_index'];
  const missing = required.filter((name) => at(name) === undefined);
  if (at('kallsyms_offsets') === undefined && at('kallsyms_addresses') === undefined) missing.push('kallsyms_offsets');
  if (missing.length > 0) refuse(`VMCOREINFO has no ${missing.map((name) => `SYMBOL(${name})`).join(', ')}`);
  return {
    names: at('kallsyms_names')!, numSyms: at('kallsyms_num_syms')!, tokenTable: at('kallsyms_token_table')!,
    tokenIndex: at('kallsyms_token_index')!, offsets: at('kallsyms_offsets'), relativeBase: at('kallsyms_relative_base'),
    addresses: at('kallsyms_addresses'),
  };
}

function readExactly(read: KernelMemoryRead, vaddr: bigint, length: number, what: string): Buffer {
  const bytes = read(vaddr, length);
  if (!bytes || bytes.length < length) refuse(`${what} at ${hex(vaddr)} (${length} bytes) is not in the dump`);
  return bytes!;
}

/** The 256 tokens, as where each starts in the token table and how long it is. */
interface Tokens {
  table: Buffer;
  start: Uint32Array;
  length: Uint16Array;
}

function readTokens(read: KernelMemoryRead, tables: TableAddresses): Tokens {
  const index = readExactly(read, tables.tokenIndex, TOKEN_INDEX_BYTES, 'kallsyms_token_index');
  const start = new Uint32Array(256);
  let last = 0;
  for (let t = 0; t < 256; t++) {
    start[t] = index.readUInt16LE(2 * t);
    last = Math.max(last, start[t]);
  }
  // The table ends with the NUL of its last-placed token, at most a name's length past that token's start.
  let size = last + KALLSYMS_LIMITS.maxNameLength + 1;
  const gap = tables.tokenIndex - tables.tokenTable;
  if (gap > BigInt(last) && gap < BigInt(size)) size = Number(gap); // token_index follows the table: read no further
  const table = readExactly(read, tables.tokenTable, size, 'kallsyms_token_table');
  const length = new Uint16Array(256);
  for (let t = 0; t < 256; t++) {
    const end = table.indexOf(0, start[t]);
    if (end < 0 || end - start[t] > KALLSYMS_LIMITS.maxNameLength) {
      refuse(`kallsyms_token_table: token ${t} at offset ${start[t]} has no NUL within ${KALLSYMS_LIMITS.maxNameLength} bytes`);
    }
    length[t] = end - start[t];
  }
  return { table, start, length };
}

interface Match { index: number; type: string }

interface NamesWalk {
  /** Symbol indexes (and types) per name looked up, at most maxMatchesPerName each. */
  matches: Map<string, Match[]>;
  /** kallsyms_markers, as the walk found them (and checked them against the table). */
  markers: Uint32Array;
  /** Where the names end, from kallsyms_names. */
  end: number;
  twoByteLengths: boolean;
}

/**
 * The two-byte lengths came with 6.1 and changed nothing else: which one a
 * kernel uses is guessed by its release, as drgn does, and the markers check
 * tells; the other is tried when the guess walks wrong (a backport).
 */
function walkEitherEncoding(info: Vmcoreinfo, read: KernelMemoryRead, tables: TableAddresses, tokens: Tokens, numSyms: number, wanted: string[]): NamesWalk {
  const guess = releaseAtLeast(info.osRelease, 6, 1);
  let firstRefusal: KallsymsRefusal | undefined;
  for (const twoByteLengths of [guess, !guess]) {
    try {
      return walkNames(read, tables, tokens, numSyms, wanted, twoByteLengths);
    } catch (error) {
      if (!(error instanceof KallsymsRefusal)) throw error;
      firstRefusal ??= error;
    }
  }
  throw firstRefusal!;
}

/**
 * Walks all num_syms names once, each expanded only as far as needed to
 * reject it (most fail at their first token, without leaving the loop), and
 * checks the walk ends where kallsyms_markers says every 256th name starts.
 */
function walkNames(read: KernelMemoryRead, tables: TableAddresses, tokens: Tokens, numSyms: number, wanted: string[], twoByteLengths: boolean): NamesWalk {
  const limits = KALLSYMS_LIMITS;
  const bound = namesBound(tables);
  const targets = wanted.map((name) => Buffer.from(name, 'latin1'));
  const { atStart, plain } = prefixMasks(tokens, targets);
  const matches = new Map<string, Match[]>(wanted.map((name) => [name, []]));
  const markers = new Uint32Array(Math.ceil(numSyms / 256));
  /** Name i, whose first tokens can begin the targets in `mask`: expanded against each. */
  const consider = (names: Buffer, i: number, first: number, count: number, mask: number) => {
    for (let w = 0; mask !== 0; w++, mask >>>= 1) {
      if (!(mask & 1)) continue;
      const type = expandsTo(names, first, count, targets[w], tokens);
      if (type === NO_CHAR) continue;
      const found = matches.get(wanted[w])!;
      if (found.length < limits.maxMatchesPerName) found.push({ index: i, type: String.fromCharCode(type) });
    }
  };

  let chunk: Buffer = Buffer.alloc(0);
  let chunkAt = 0; // names offset of chunk[0]
  let pos = 0; // names offset of name i
  let i = 0;
  while (i < numSyms) {
    // Name i did not fit in the last chunk: the next one starts with it (a name is far shorter than a chunk).
    if (chunkAt + chunk.length >= bound) refuse(`kallsyms_names: name ${i} of ${numSyms} runs past the end of its region (${bound} bytes at ${hex(tables.names)})`);
    chunk = readExactly(read, tables.names + BigInt(pos), Math.min(limits.namesChunk, bound - pos), 'kallsyms_names');
    chunkAt = pos;
    const end = chunk.length;
    let p = 0;
    for (; i < numSyms; i++) {
      if ((i & 255) === 0) markers[i >> 8] = chunkAt + p;
      if (p >= end) break;
      let count = chunk[p];
      let first = p + 1;
      if (count & 0x80 && twoByteLengths) {
        if (first >= end) break;
        const high = chunk[first++];
        if (high & 0x80) refuse(`kallsyms_names: name ${i} at offset ${chunkAt + p} has a length of more than two bytes`);
        count = (count & 0x7f) | (high << 7);
        if (count > limits.maxNameLength) refuse(`kallsyms_names: name ${i} at offset ${chunkAt + p} has ${count} tokens (at most ${limits.maxNameLength})`);
      }
      const next = first + count;
      if (next > end) break;
      if (count !== 0) {
        let mask = atStart[chunk[first]];
        // Half the names start with a token that is their type alone: their second token decides, here in the loop.
        if (mask === AFTER_TYPE_TOKEN) mask = count >= 2 ? plain[chunk[first + 1]] : 0;
        if (mask !== 0) consider(chunk, i, first, count, mask);
      }
      p = next;
    }
    pos = chunkAt + p;
  }
  checkMarkers(read, tables, markers, pos, bound);
  return { matches, markers, end: pos, twoByteLengths };
}

/** Where the names region ends at the latest: the nearest other table after it, within maxNamesBytes. */
function namesBound(tables: TableAddresses): number {
  let bound = BigInt(KALLSYMS_LIMITS.maxNamesBytes);
  for (const other of [tables.numSyms, tables.tokenTable, tables.tokenIndex, tables.offsets, tables.relativeBase, tables.addresses]) {
    if (other !== undefined && other > tables.names && other - tables.names < bound) bound = other - tables.names;
  }
  return Number(bound);
}

/**
 * Per token, a bit per target it can begin. atStart, as a name's first
 * token: its text after the type character is a prefix of the target
 * (AFTER_TYPE_TOKEN when it is the type alone). plain, as the token after
 * that: its whole text is. An empty token filters nothing.
 */
function prefixMasks(tokens: Tokens, targets: Buffer[]): { atStart: Uint32Array; plain: Uint32Array } {
  const { table, start, length } = tokens;
  const every = 2 ** targets.length - 1;
  const atStart = new Uint32Array(256);
  const plain = new Uint32Array(256);
  const isPrefix = (from: number, to: number, target: Buffer) => {
    if (to - from > target.length) return false;
    for (let k = 0; k < to - from; k++) if (table[from + k] !== target[k]) return false;
    return true;
  };
  for (let t = 0; t < 256; t++) {
    const from = start[t];
    const to = from + length[t];
    if (length[t] === 0) {
      atStart[t] = every;
      plain[t] = every;
      continue;
    }
    if (length[t] === 1) atStart[t] = AFTER_TYPE_TOKEN;
    for (let w = 0; w < targets.length; w++) {
      if (length[t] >= 2 && isPrefix(from + 1, to, targets[w])) atStart[t] |= 1 << w;
      if (isPrefix(from, to, targets[w])) plain[t] |= 1 << w;
    }
  }
  return { atStart, plain };
}

/**
 * The type character when the `count` tokens at names[p] expand to a type
 * character followed by exactly `target`, else NO_CHAR. Stops at the first
 * byte that differs.
 */
function expandsTo(names: Buffer, p: number, count: number, target: Buffer, tokens: Tokens): number {
  const { table, start, length } = tokens;
  let type = NO_CHAR;
  let k = 0; // bytes of target matched
  for (let n = 0; n < count; n++) {
    const t = names[p + n];
    for (let c = start[t], end = c + length[t]; c < end; c++) {
      if (type === NO_CHAR) { type = table[c]; continue; }
      if (k >= target.length || table[c] !== target[k]) return NO_CHAR;
      k++;
    }
  }
  return k === target.length ? type : NO_CHAR;
}

/**
 * kallsyms_markers follows the names in every layout (aligned to 4 or 8
 * bytes; u32 on the 6.1 and 6.12 kernels read here, unsigned long on older
 * ones): its entries must be where the walk found every 256th name. A walk
 * with the wrong length encoding, or through damaged names, lands elsewhere.
 */
function checkMarkers(read: KernelMemoryRead, tables: TableAddresses, markers: Uint32Array, end: number, bound: number): void {
  const layouts = [{ align: 8, width: 4 }, { align: 4, width: 4 }, { align: 8, width: 8 }];
  for (const { align, width } of layouts) {
    const at = Math.ceil(end / align) * align;
    const bytes = markers.length * width;
    if (at + bytes > bound) continue;
    const found = read(tables.names + BigInt(at), bytes);
    if (!found || found.length < bytes) continue;
    let same = true;
    for (let m = 0; m < markers.length && same; m++) {
      same = (width === 4 ? found.readUInt32LE(m * 4) : Number(found.readBigUInt64LE(m * 8))) === markers[m];
    }
    if (same) return;
  }
  refuse(`kallsyms_names: the walk of its names ends at offset ${end}, where no kallsyms_markers agrees with it`);
}

/**
 * How this kernel's kallsyms_offsets read, decided as drgn does: the
 * convention under which an anchor (_stext, else init_uts_ns) has its
 * VMCOREINFO address and its name. Not by machine: x86_64 changed convention
 * in 6.15 and everyone again in 7.0, and the check also proves the offsets
 * belong to the names just walked. Kallsyms is in address order, so the
 * anchor's index is found by a binary search of the offsets, not in the
 * walk: that keeps the walk's one pass to the names asked for.
 */
function pickConvention(
  info: Vmcoreinfo, read: KernelMemoryRead, tables: TableAddresses, tokens: Tokens, walk: NamesWalk, numSyms: number, addressOf: SymbolAddress,
  anchors: string[],
): { convention: OffsetConvention; found: string[] } {
  const candidates = conventionsOf(tables);
  for (const convention of candidates) {
    const found = anchors.filter((name) => holdsAt(read, tables, tokens, walk, numSyms, (i) => addressOf(convention, i), name, info.symbols.get(name)!));
    if (found.length > 0) return { convention, found };
  }
  const where = anchors.map((name) => `${name} at ${hex(info.symbols.get(name)!)}`).join(' or ');
  return refuse(`kallsyms holds no ${where} (VMCOREINFO's addresses) under any known reading of kallsyms_offsets (${candidates.join(', ')})`);
}

/** The first index whose address is not below `address`: kallsyms is in address order. */
function lowerBound(numSyms: number, addressOf: (index: number) => bigint, address: bigint): number {
  let low = 0;
  let high = numSyms;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (addressOf(middle) < address) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Whether some symbol at `address` is named `name`. */
function holdsAt(read: KernelMemoryRead, tables: TableAddresses, tokens: Tokens, walk: NamesWalk, numSyms: number, addressOf: (index: number) => bigint, name: string, address: bigint): boolean {
  const first = lowerBound(numSyms, addressOf, address);
  for (let i = first; i < numSyms && i < first + MAX_ALIASES && addressOf(i) === address; i++) {
    if (nameAt(read, tables, tokens, walk, i) === name) return true;
  }
  return false;
}

/**
 * The convention, when kallsyms has a symbol at _stext's address but none
 * at init_uts_ns's: a table of functions only (CONFIG_KALLSYMS_ALL unset).
 * By addresses alone, so without a walk; a table it cannot tell of is
 * walked as any other.
 */
function listsFunctionsOnly(info: Vmcoreinfo, tables: TableAddresses, numSyms: number, addressOf: SymbolAddress): OffsetConvention | undefined {
  const text = info.symbols.get('_stext');
  const data = info.symbols.get('init_uts_ns');
  if (text === undefined || data === undefined) return undefined;
  const hasSymbolAt = (convention: OffsetConvention, address: bigint) => {
    const at = lowerBound(numSyms, (i) => addressOf(convention, i), address);
    return at < numSyms && addressOf(convention, at) === address;
  };
  const convention = conventionsOf(tables).find((c) => hasSymbolAt(c, text));
  return convention !== undefined && !hasSymbolAt(convention, data) ? convention : undefined;
}

/** The conventions the tables VMCOREINFO names allow. */
function conventionsOf(tables: TableAddresses): OffsetConvention[] {
  if (tables.addresses !== undefined && tables.offsets === undefined) return ['absolute'];
  return tables.relativeBase !== undefined ? ['base-relative', 'absolute-percpu'] : ['place-relative'];
}

/** Symbol i's name (after its type character), from the marker of its block of 256 on: the walk checked the markers. */
function nameAt(read: KernelMemoryRead, tables: TableAddresses, tokens: Tokens, walk: NamesWalk, index: number): string {
  const block = index >> 8;
  const from = walk.markers[block];
  const to = block + 1 < walk.markers.length ? walk.markers[block + 1] : walk.end;
  const names = readExactly(read, tables.names + BigInt(from), to - from, 'kallsyms_names');
  let p = 0;
  for (let i = block << 8; i < index; i++) p += lengthAt(names, p, walk.twoByteLengths).next - p;
  const { count, next } = lengthAt(names, p, walk.twoByteLengths);
  const out = Buffer.alloc(KALLSYMS_LIMITS.maxNameLength);
  let n = 0;
  for (let k = next - count; k < next; k++) {
    const t = names[k];
    for (let c = tokens.start[t]; c < tokens.start[t] + tokens.length[t]; c++) {
      if (n === out.length) return ''; // longer than any name: no anchor's
      out[n++] = tokens.table[c];
    }
  }
  return out.toString('latin1', 1, n);
}

/** The token count of the name at names[p], and where the name after it starts. */
function lengthAt(names: Buffer, p: number, twoByteLengths: boolean): { count: number; next: number } {
  let count = names[p] ?? 0;
  let header = 1;
  if (twoByteLengths && count & 0x80) {
    count = (count & 0x7f) | ((names[p + 1] ?? 0) << 7);
    header = 2;
  }
  return { count, next: Math.min(p + header + count, names.length) };
}

type SymbolAddress = (convention: OffsetConvention, index: number) => bigint;

/** Symbol i's address under a convention; kallsyms_relative_base is read once, when first needed. */
function symbolAddresses(read: KernelMemoryRead, tables: TableAddresses): SymbolAddress {
  let base: bigint | undefined;
  return (convention, index) => {
    if (convention === 'absolute') return readExactly(read, tables.addresses! + BigInt(8 * index), 8, 'kallsyms_addresses').readBigUInt64LE(0);
    const offsetAt = tables.offsets! + BigInt(4 * index);
    const offset = readExactly(read, offsetAt, 4, 'kallsyms_offsets').readInt32LE(0);
    if (convention === 'place-relative') return BigInt.asUintN(64, offsetAt + BigInt(offset));
    base ??= readExactly(read, tables.relativeBase!, 8, 'kallsyms_relative_base').readBigUInt64LE(0);
    if (convention === 'base-relative') return BigInt.asUintN(64, base + BigInt(offset >>> 0));
    return offset >= 0 ? BigInt(offset) : BigInt.asUintN(64, base - 1n - BigInt(offset));
  };
}

/** Whether a release string (6.1.0-57-arm64) is at least major.minor; false when it does not say. */
function releaseAtLeast(release: string | undefined, major: number, minor: number): boolean {
  const version = /^(\d+)\.(\d+)/.exec(release ?? '');
  if (!version) return false;
  const [have, haveMinor] = [Number(version[1]), Number(version[2])];
  return have > major || (have === major && haveMinor >= minor);
}
