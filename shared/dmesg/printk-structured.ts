/**
 * The structured log_buf of Linux 3.5 to 5.9 (docs/research/dmesg-extraction.md
 * section 3): a byte array of variable-length records, each a struct
 * printk_log header (ts_nsec, len, text_len, dict_len, facility, flags/level)
 * then the text, the dictionary and padding. Walked from log_first_idx to
 * log_next_idx by each record's len; len 0 marks the end of the used part,
 * and the walk continues at index 0. Before 3.11 the struct was named `log`,
 * hence the fallback keys. The dictionary is never printed.
 *
 * The end marker is printed like a record: the kernel zeroes its header, so
 * it comes out as "[    0.000000] " and a newline. That is what Debian 12's
 * vmcore-dmesg (kexec-tools 2.0.25) prints (test/unit/dmesg-structured.test.ts
 * runs it); later kexec-tools skip the marker.
 */
import { corrupt } from '../errors.js';
import type { Vmcoreinfo } from '../elf/vmcoreinfo.js';
import type { KernelMemory } from './kernel-memory.js';
import { MAX_RECORDS_WALKED, type LogRecord } from './log-format.js';
import { VmcoreinfoFields } from './vmcoreinfo-fields.js';

/** LOG_BUF_LEN_MAX: log_buf_len= is capped at 2 GiB. */
export const MAX_LOG_BUF_LEN = 2 ** 31;

export interface StructuredLayout {
  headerSize: number;
  tsNsec: number;
  len: number;
  textLen: number;
}

export function structuredLayout(info: Vmcoreinfo): StructuredLayout {
  const f = new VmcoreinfoFields(info, 'structured printk log_buf');
  const headerSize = f.size('printk_log', 'log');
  return {
    headerSize,
    tsNsec: f.within('printk_log.ts_nsec', f.offset('printk_log.ts_nsec', 'log.ts_nsec'), 8, 'printk_log', headerSize),
    len: f.within('printk_log.len', f.offset('printk_log.len', 'log.len'), 2, 'printk_log', headerSize),
    textLen: f.within('printk_log.text_len', f.offset('printk_log.text_len', 'log.text_len'), 2, 'printk_log', headerSize),
  };
}

const hex = (value: bigint) => `0x${value.toString(16)}`;

/** Reads the s32 log_buf_len and checks it is a buffer length. */
export async function readLogBufLen(memory: KernelMemory, symbol: bigint): Promise<number> {
  const length = (await memory.read(symbol, 4, 'log_buf_len')).readInt32LE(0);
  if (length <= 0 || length > MAX_LOG_BUF_LEN) throw corrupt(`log_buf_len at ${hex(symbol)} is ${length}, not a buffer length`, { vaddr: symbol });
  return length;
}

export async function readStructuredRecords(memory: KernelMemory, info: Vmcoreinfo): Promise<LogRecord[]> {
  const layout = structuredLayout(info);
  const f = new VmcoreinfoFields(info, 'structured printk log_buf');
  const buffer = (await memory.read(f.symbol('log_buf'), 8, 'log_buf pointer')).readBigUInt64LE(0);
  const bufferLength = await readLogBufLen(memory, f.symbol('log_buf_len'));
  const first = (await memory.read(f.symbol('log_first_idx'), 4, 'log_first_idx')).readUInt32LE(0);
  const next = (await memory.read(f.symbol('log_next_idx'), 4, 'log_next_idx')).readUInt32LE(0);
  const lastStart = bufferLength - layout.headerSize;

  const records: LogRecord[] = [];
  let wrapped = false;
  // Each step moves forward by at least a header, and only one wrap is
  // allowed, so the walk ends within 2 * log_buf_len / header steps.
  for (let index = first; index !== next;) {
    if (records.length >= MAX_RECORDS_WALKED) {
      throw corrupt(`log_buf at ${hex(buffer)} holds more than ${MAX_RECORDS_WALKED} records between log_first_idx ${first} and log_next_idx ${next}: no kernel's log does`, { vaddr: buffer });
    }
    if (index > lastStart) {
      throw corrupt(`log_buf record index ${index} is beyond log_buf_len ${bufferLength} (log_buf at ${hex(buffer)})`, { vaddr: buffer, index });
    }
    const header = await memory.read(buffer + BigInt(index), layout.headerSize, `log_buf record at index ${index}`);
    const recordLength = header.readUInt16LE(layout.len);
    if (recordLength !== 0 && recordLength < layout.headerSize) {
      throw corrupt(`log_buf record at index ${index} has len ${recordLength}, shorter than its ${layout.headerSize}-byte header`, { vaddr: buffer, index });
    }
    if (recordLength === 0 && wrapped) {
      throw corrupt(`log_buf at ${hex(buffer)} wraps twice between log_first_idx ${first} and log_next_idx ${next}: cycle`, { vaddr: buffer, index });
    }
    const textStart = index + layout.headerSize;
    // vmcore-dmesg reads text_len bytes wherever they end; we stop at the buffer's end.
    const textLength = Math.min(header.readUInt16LE(layout.textLen), bufferLength - textStart);
    const text = textLength === 0 ? Buffer.alloc(0) : await memory.read(buffer + BigInt(textStart), textLength, `text of the log_buf record at index ${index}`);
    records.push({ tsNsec: header.readBigUInt64LE(layout.tsNsec), text });
    if (recordLength === 0) {
      wrapped = true;
      index = 0;
    } else {
      index += recordLength;
    }
  }
  return records;
}
