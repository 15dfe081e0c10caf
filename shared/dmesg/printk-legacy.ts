/**
 * The plain character log_buf of kernels before 3.5: the kernel wrote
 * "<level>[ts] text\n" lines into a circular buffer; log_end counts every
 * byte ever written. vmcore-dmesg prints the last min(log_end, log_buf_len)
 * bytes in order, raw (no escaping, no added prefix), and ignores
 * logged_chars so that text cleared by `dmesg -c` still shows.
 */
import type { Vmcoreinfo } from '../elf/vmcoreinfo.js';
import type { KernelMemory } from './kernel-memory.js';
import { readLogBufLen } from './printk-structured.js';
import { VmcoreinfoFields } from './vmcoreinfo-fields.js';

export async function readLegacyLog(memory: KernelMemory, info: Vmcoreinfo): Promise<Buffer> {
  const f = new VmcoreinfoFields(info, 'legacy printk log_buf');
  const buffer = (await memory.read(f.symbol('log_buf'), 8, 'log_buf pointer')).readBigUInt64LE(0);
  const length = await readLogBufLen(memory, f.symbol('log_buf_len'));
  const end = (await memory.read(f.symbol('log_end'), 4, 'log_end')).readUInt32LE(0);
  if (end < length) return memory.read(buffer, end, 'log_buf');
  // Full: the oldest byte is the one log_end is about to overwrite.
  const start = end % length;
  const older = await memory.read(buffer + BigInt(start), length - start, 'log_buf');
  const newer = await memory.read(buffer, start, 'log_buf');
  return Buffer.concat([older, newer]);
}
