/**
 * VMCOREINFO: the KEY=VALUE text the crashed kernel leaves in an ELF note so
 * that tools without vmlinux can find their way (see the kernel's
 * kernel/vmcore_info.c). Parsed into a typed map; the raw text is kept
 * because the stored dump must carry it byte for byte.
 */
import { corrupt } from '../errors.js';

export interface Vmcoreinfo {
  raw: string;
  osRelease?: string;
  buildId?: string;
  pageSize?: number;
  /** Seconds since the epoch, from CRASHTIME. */
  crashTime?: number;
  kernelOffset?: bigint;
  symbols: Map<string, bigint>;
  sizes: Map<string, number>;
  offsets: Map<string, number>;
  lengths: Map<string, number>;
  numbers: Map<string, bigint>;
  /** Every other KEY=VALUE line, as text. */
  other: Map<string, string>;
}

const GROUPED = /^(SYMBOL|SIZE|OFFSET|LENGTH|NUMBER)\((.+)\)$/;
/** 10000-01-01T00:00:00Z: dump folders and API times are YYYY-MM-DD. */
const LAST_CALENDAR_SECOND = 253_402_300_800;

function parseInteger(text: string, hex: boolean, line: number): bigint {
  const clean = text.trim();
  if (hex ? !/^(0x)?[0-9a-fA-F]+$/.test(clean) : !/^-?(0x[0-9a-fA-F]+|[0-9]+)$/.test(clean)) {
    throw corrupt(`VMCOREINFO line ${line}: not a number: ${JSON.stringify(text)}`, { line });
  }
  if (hex) return BigInt(clean.startsWith('0x') ? clean : `0x${clean}`);
  return clean.startsWith('-') ? -BigInt(clean.slice(1)) : BigInt(clean);
}

function toSafeNumber(value: bigint, key: string, line: number): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw corrupt(`VMCOREINFO line ${line}: ${key} out of range`, { line });
  }
  return Number(value);
}

export function parseVmcoreinfo(desc: Buffer | string): Vmcoreinfo {
  const raw = typeof desc === 'string' ? desc : desc.toString('latin1');
  const info: Vmcoreinfo = {
    raw,
    symbols: new Map(),
    sizes: new Map(),
    offsets: new Map(),
    lengths: new Map(),
    numbers: new Map(),
    other: new Map(),
  };
  const lines = raw.replace(/\0+$/, '').split('\n');
  lines.forEach((text, index) => {
    const line = index + 1;
    if (text === '') return;
    const eq = text.indexOf('=');
    if (eq <= 0) return; // not KEY=VALUE: ignored as the kernel's own readers do
    const key = text.slice(0, eq);
    const value = text.slice(eq + 1);
    const grouped = GROUPED.exec(key);
    if (grouped) {
      const [, kind, name] = grouped;
      // SYMBOL values are hex without 0x; the others are decimal (NUMBER may be negative).
      switch (kind) {
        case 'SYMBOL': info.symbols.set(name, parseInteger(value, true, line)); break;
        case 'SIZE': info.sizes.set(name, toSafeNumber(parseInteger(value, false, line), key, line)); break;
        case 'OFFSET': info.offsets.set(name, toSafeNumber(parseInteger(value, false, line), key, line)); break;
        case 'LENGTH': info.lengths.set(name, toSafeNumber(parseInteger(value, false, line), key, line)); break;
        case 'NUMBER': info.numbers.set(name, parseInteger(value, false, line)); break;
      }
      return;
    }
    switch (key) {
      case 'OSRELEASE': info.osRelease = value; break;
      case 'BUILD-ID': info.buildId = value; break;
      case 'PAGESIZE': info.pageSize = toSafeNumber(parseInteger(value, false, line), key, line); break;
      case 'CRASHTIME': {
        // A clock no calendar shows (before 1970, after year 9999) is not a crash time: readers use the
        // receive time instead, and the text stays in `other` for whoever wants to see it.
        const seconds = toSafeNumber(parseInteger(value, false, line), key, line);
        if (seconds >= 0 && seconds < LAST_CALENDAR_SECOND) info.crashTime = seconds;
        else info.other.set(key, value);
        break;
      }
      case 'KERNELOFFSET': info.kernelOffset = parseInteger(value, true, line); break;
      default: info.other.set(key, value);
    }
  });
  return info;
}

/** Valid page sizes: a power of two between 4 KiB and 64 KiB (x86_64, arm64, ppc64 kernels). */
export function isValidPageSize(size: number): boolean {
  return Number.isInteger(size) && size >= 4096 && size <= 65536 && (size & (size - 1)) === 0;
}
