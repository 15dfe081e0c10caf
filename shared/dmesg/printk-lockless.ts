/**
 * The lockless printk ringbuffer (Linux 5.10+), read the way vmcore-dmesg
 * reads it (docs/research/dmesg-extraction.md sections 1 and 2):
 *
 *   *SYMBOL(prb) -> struct printk_ringbuffer
 *     desc_ring:      count_bits, descs[], infos[], head_id, tail_id
 *     text_data_ring: size_bits, data[]
 *
 * Descriptor IDs from tail_id to head_id, both included; a record is printed
 * when its descriptor is committed or finalized under the expected ID. Its
 * text is the data block at blk_lpos, after the block's leading ID word.
 * Sequence numbers, the ID word and tail/head lpos are not checked: checks
 * vmcore-dmesg does not make would change the output.
 *
 * Arrays are read one record at a time, not whole: a dump level that leaves
 * out zero pages drops the never-used end of each array, and only a page a
 * printed record needs should make the extraction fail.
 *
 * 64-bit kernels only: 8-byte words, state in the top 2 bits of state_var.
 */
import { badInput, corrupt } from '../errors.js';
import type { Vmcoreinfo } from '../elf/vmcoreinfo.js';
import type { KernelMemory } from './kernel-memory.js';
import { MAX_RECORDS_WALKED, type LogRecord } from './log-format.js';
import { VmcoreinfoFields } from './vmcoreinfo-fields.js';

const WORD = 8;
/** state_var: the top 2 bits are the state, the other 62 the descriptor ID. */
const STATE_SHIFT = 62n;
export const DESC_ID_MASK = (1n << STATE_SHIFT) - 1n;
export const DescState = { reserved: 0, committed: 1, finalized: 2, reusable: 3 } as const;
/** log_buf_len is capped at 2 GiB (LOG_BUF_LEN_MAX), so size_bits <= 31 and count_bits below that. */
const MAX_SIZE_BITS = 31;
/** Blocks are 8-byte aligned and hold an 8-byte ID: a smaller ring could hold nothing. */
const MIN_SIZE_BITS = 4;

/** Where every field is, from VMCOREINFO. */
export interface LocklessLayout {
  ringSize: number;
  countBits: number;
  descs: number;
  infos: number;
  headId: number;
  tailId: number;
  sizeBits: number;
  data: number;
  descSize: number;
  stateVar: number;
  lposBegin: number;
  lposNext: number;
  infoSize: number;
  tsNsec: number;
  textLen: number;
}

export function locklessLayout(info: Vmcoreinfo): LocklessLayout {
  const f = new VmcoreinfoFields(info, 'lockless printk ringbuffer');
  const wordSize = info.sizes.get('atomic_long_t');
  if (wordSize !== undefined && wordSize !== WORD) throw badInput(`SIZE(atomic_long_t)=${wordSize}: only 64-bit kernels are supported`);
  const ringSize = f.size('printk_ringbuffer');
  const descRing = f.offset('printk_ringbuffer.desc_ring');
  const textRing = f.offset('printk_ringbuffer.text_data_ring');
  const counter = f.offset('atomic_long_t.counter');
  const inRing = (field: string, offset: number, width: number) => f.within(field, offset, width, 'printk_ringbuffer', ringSize);
  const descSize = f.size('prb_desc');
  const textBlkLpos = f.offset('prb_desc.text_blk_lpos');
  const infoSize = f.size('printk_info');
  return {
    ringSize,
    countBits: inRing('prb_desc_ring.count_bits', descRing + f.offset('prb_desc_ring.count_bits'), 4),
    descs: inRing('prb_desc_ring.descs', descRing + f.offset('prb_desc_ring.descs'), WORD),
    infos: inRing('prb_desc_ring.infos', descRing + f.offset('prb_desc_ring.infos'), WORD),
    headId: inRing('prb_desc_ring.head_id', descRing + f.offset('prb_desc_ring.head_id') + counter, WORD),
    tailId: inRing('prb_desc_ring.tail_id', descRing + f.offset('prb_desc_ring.tail_id') + counter, WORD),
    sizeBits: inRing('prb_data_ring.size_bits', textRing + f.offset('prb_data_ring.size_bits'), 4),
    data: inRing('prb_data_ring.data', textRing + f.offset('prb_data_ring.data'), WORD),
    descSize,
    stateVar: f.within('prb_desc.state_var', f.offset('prb_desc.state_var') + counter, WORD, 'prb_desc', descSize),
    lposBegin: f.within('prb_data_blk_lpos.begin', textBlkLpos + f.offset('prb_data_blk_lpos.begin'), WORD, 'prb_desc', descSize),
    lposNext: f.within('prb_data_blk_lpos.next', textBlkLpos + f.offset('prb_data_blk_lpos.next'), WORD, 'prb_desc', descSize),
    infoSize,
    tsNsec: f.within('printk_info.ts_nsec', f.offset('printk_info.ts_nsec'), 8, 'printk_info', infoSize),
    textLen: f.within('printk_info.text_len', f.offset('printk_info.text_len'), 2, 'printk_info', infoSize),
  };
}

const hex = (value: bigint) => `0x${value.toString(16)}`;

/** The state of descriptor `id` given its state_var: a state, or 'miss' when the slot holds another ID. */
export function descriptorState(id: bigint, stateVar: bigint): number | 'miss' {
  if ((stateVar & DESC_ID_MASK) !== id) return 'miss';
  return Number(stateVar >> STATE_SHIFT);
}

export async function readLocklessRecords(memory: KernelMemory, info: Vmcoreinfo): Promise<LogRecord[]> {
  const layout = locklessLayout(info);
  const prbSymbol = new VmcoreinfoFields(info, 'lockless printk ringbuffer').symbol('prb');
  const ringAddress = (await memory.read(prbSymbol, WORD, 'prb pointer')).readBigUInt64LE(0);
  const ring = await memory.read(ringAddress, layout.ringSize, 'printk ringbuffer');

  const countBits = ring.readUInt32LE(layout.countBits);
  const sizeBits = ring.readUInt32LE(layout.sizeBits);
  const where = { ring: ringAddress };
  if (countBits > MAX_SIZE_BITS) throw corrupt(`printk ringbuffer at ${hex(ringAddress)} has count_bits ${countBits} (at most ${MAX_SIZE_BITS})`, where);
  if (sizeBits < MIN_SIZE_BITS || sizeBits > MAX_SIZE_BITS) {
    throw corrupt(`printk ringbuffer at ${hex(ringAddress)} has size_bits ${sizeBits} (want ${MIN_SIZE_BITS} to ${MAX_SIZE_BITS})`, where);
  }
  const count = 1n << BigInt(countBits);
  const size = 2 ** sizeBits;
  const sizeBig = BigInt(size);
  const descs = ring.readBigUInt64LE(layout.descs);
  const infos = ring.readBigUInt64LE(layout.infos);
  const data = ring.readBigUInt64LE(layout.data);
  const tailId = ring.readBigUInt64LE(layout.tailId);
  const headId = ring.readBigUInt64LE(layout.headId);

  // vmcore-dmesg walks until it meets head_id, which a corrupt ring may never
  // give; a healthy ring has head - tail < count.
  if (tailId > DESC_ID_MASK || headId > DESC_ID_MASK) {
    throw corrupt(`printk ringbuffer at ${hex(ringAddress)}: tail_id ${hex(tailId)} or head_id ${hex(headId)} is not a descriptor ID`, where);
  }
  const span = (headId - tailId) & DESC_ID_MASK;
  if (span > count) {
    throw corrupt(`printk ringbuffer at ${hex(ringAddress)}: head_id ${hex(headId)} is ${span} descriptors past tail_id ${hex(tailId)}, but the ring has ${count}`, where);
  }

  // The newest descriptors only, up to a bound no kernel's log reaches: the panic is at the head end.
  const walked = span >= MAX_RECORDS_WALKED ? BigInt(MAX_RECORDS_WALKED - 1) : span;
  const firstId = (headId - walked) & DESC_ID_MASK;
  const records: LogRecord[] = [];
  for (let step = 0n, id = firstId; step <= walked; step++, id = (id + 1n) & DESC_ID_MASK) {
    const index = id % count;
    const desc = await memory.read(descs + index * BigInt(layout.descSize), layout.descSize, `descriptor ${hex(id)}`);
    const state = descriptorState(id, desc.readBigUInt64LE(layout.stateVar));
    if (state !== DescState.committed && state !== DescState.finalized) continue;

    const info = await memory.read(infos + index * BigInt(layout.infoSize), layout.infoSize, `info of record ${hex(id)}`);
    const tsNsec = info.readBigUInt64LE(layout.tsNsec);
    let begin = Number(desc.readBigUInt64LE(layout.lposBegin) % sizeBig);
    const next = Number(desc.readBigUInt64LE(layout.lposNext) % sizeBig);
    // begin == next: a data-less record (NO_LPOS, FAILED_LPOS), printed as its prefix alone.
    if (begin === next) {
      records.push({ tsNsec, text: Buffer.alloc(0) });
      continue;
    }
    // A block that would cross the end of the array was placed at its start.
    if (begin > next) begin = 0;
    begin += WORD;
    let length = info.readUInt16LE(layout.textLen);
    // vmcore-dmesg trusts text_len only up to the block's end (an unsigned
    // compare that a block shorter than its ID word disables); we also stop
    // at the array's end, where vmcore-dmesg would read past its buffer.
    if (next >= begin && next - begin < length) length = next - begin;
    length = Math.max(0, Math.min(length, size - begin));
    const text = length === 0 ? Buffer.alloc(0) : await memory.read(data + BigInt(begin), length, `text of record ${hex(id)}`);
    records.push({ tsNsec, text });
  }
  return records;
}
