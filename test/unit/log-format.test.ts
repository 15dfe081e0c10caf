/**
 * formatKernelLog (shared/dmesg/log-format.ts) against the rule it
 * implements, written out byte by byte: per record "[%5u.%06u] ", the text
 * with every byte neither printable ASCII nor C whitespace as \xNN, a
 * newline. It formats in blocks of strings; a log of many blocks, with
 * escapes on both sides of every block edge, must come out the same.
 */
import { describe, expect, it } from 'vitest';
import { formatKernelLog, timestampPrefix, type LogRecord } from '../../shared/dmesg/log-format.js';

function reference(records: LogRecord[]): Buffer {
  const out: number[] = [];
  for (const { tsNsec, text } of records) {
    for (const c of Buffer.from(timestampPrefix(tsNsec), 'latin1')) out.push(c);
    for (const byte of text) {
      if ((byte >= 0x20 && byte <= 0x7e) || (byte >= 0x09 && byte <= 0x0d)) out.push(byte);
      else out.push(...Buffer.from(`\\x${byte.toString(16).padStart(2, '0')}`, 'latin1'));
    }
    out.push(0x0a);
  }
  return Buffer.from(out);
}

/** Deterministic bytes: mostly printable, every eighth one from the whole byte range. */
function text(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = i % 8 === 7 ? x >>> 24 : 0x20 + ((x >>> 24) % 95);
  }
  return out;
}

describe('formatKernelLog', () => {
  it('prints as vmcore-dmesg does, byte for byte, over many blocks', () => {
    // ~9.6 MiB of text in records of 1-2 KiB: more than one 8 Mi-character block.
    const records: LogRecord[] = [];
    for (let i = 0, total = 0; total < 9.6 * 2 ** 20; i++) {
      const t = text(i, 1024 + (i % 1024));
      records.push({ tsNsec: BigInt(i) * 1_234_567n, text: t });
      total += t.length;
    }
    const formatted = formatKernelLog(records);
    expect(formatted.length).toBeGreaterThan(8 * 2 ** 20);
    expect(formatted.equals(reference(records))).toBe(true);
  });

  it('keeps empty records and raw whitespace, escapes NUL and 0x7f and high bytes', () => {
    const records: LogRecord[] = [
      { tsNsec: 6_156_338_999n, text: Buffer.from('a\tb\nc\r') },
      { tsNsec: 0n, text: Buffer.alloc(0) },
      { tsNsec: 123_456_789_000_000n, text: Buffer.from([0x00, 0x7f, 0xff, 0x5c, 0x41]) },
    ];
    expect(formatKernelLog(records).toString('latin1')).toBe(
      '[    6.156338] a\tb\nc\r\n[    0.000000] \n[123456.789000] \\x00\\x7f\\xff\\A\n');
    expect(formatKernelLog(records).equals(reference(records))).toBe(true);
  });
});
