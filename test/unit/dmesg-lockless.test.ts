/**
 * The lockless printk ringbuffer reader on hand-built rings: exact bytes
 * for every rule of vmcore-dmesg's walk (docs/research/dmesg-extraction.md
 * section 2.4), checked against /usr/sbin/vmcore-dmesg itself on the same
 * ring written as an ELF core when it is installed.
 */
import { EM_X86_64 } from '../../shared/elf/core.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVmcoreinfo } from '../../shared/elf/vmcoreinfo.js';
import { ErrorCode, NetdumpError } from '../../shared/errors.js';
import { extractKernelLog, extractKernelLogFromElfCore, kernelLogFormat } from '../../shared/dmesg/extract.js';
import { TranslatedKernelMemory } from '../../shared/dmesg/kernel-memory.js';
import { escapeLogText, MAX_RECORDS_WALKED, timestampPrefix } from '../../shared/dmesg/log-format.js';
import { DESC_ID_MASK } from '../../shared/dmesg/printk-lockless.js';
import { writeElfCoreFile, type ElfCoreFile } from '../helpers/elf-core-builder.js';
import {
  buildLocklessRing, imageCoreSpec, vmcoreinfoText, type BuiltRing, type LocklessRingSpec,
} from '../helpers/printk-ring.js';
import { VMCORE_DMESG, runVmcoreDmesg } from '../helpers/vmcore-dmesg.js';

const latin1 = (text: string) => Buffer.from(text, 'latin1');

function extract(built: BuiltRing, lines = built.vmcoreinfoLines, missing?: Set<number>): Promise<Buffer> {
  const info = parseVmcoreinfo(vmcoreinfoText(lines));
  return extractKernelLog(new TranslatedKernelMemory(built.image.pages(missing), { elf: { machine: EM_X86_64 }, vmcoreinfo: info, physBase: 0n }), info);
}

async function rejection(promise: Promise<unknown>): Promise<NetdumpError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(NetdumpError);
  return error as NetdumpError;
}

/** Every rule but the wraps, in one ring: 16 descriptors, 256 bytes of text. */
const MIXED: LocklessRingSpec = {
  countBits: 4,
  sizeBits: 8,
  tailId: 16n,
  headId: 26n,
  records: [
    { id: 16n, state: 'reusable', tsNsec: 0n, text: null, failed: true }, // like the boot-time tail
    { id: 17n, tsNsec: 0n, text: 'Linux version 6.1.0-test' },
    { id: 18n, tsNsec: 6_156_338_218n, text: Buffer.concat([latin1('esc:'), Buffer.from([0x00, 0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x1b, 0x5c, 0x7f, 0x80, 0xff]), latin1('end')]) },
    { id: 19n, state: 'committed', tsNsec: 6_200_000_000n, text: 'line one\n  line two\n' },
    { id: 20n, state: 'reserved', tsNsec: 6_300_000_000n, text: 'still being written' },
    { id: 21n, tsNsec: 7_000_000_000n, text: null },
    { id: 22n, tsNsec: 7_100_000_000n, text: null, failed: true },
    { id: 23n, state: 'reusable', tsNsec: 7_200_000_000n, text: 'old' },
    { id: 24n, tsNsec: 7_300_000_000n, text: 'stale', stateVarId: 8n },
    { id: 25n, tsNsec: 8_000_000_000n, text: 'short', textLen: 200 },
    { id: 26n, tsNsec: 2n ** 53n + 999n, text: 'late \t tab  ' },
  ],
};

const MIXED_EXPECTED = Buffer.concat([
  latin1('[    0.000000] Linux version 6.1.0-test\n'),
  latin1('[    6.156338] esc:\\x00\\x08\t\v\f\r\\x1b\\\\x7f\\x80\\xffend\n'),
  latin1('[    6.200000] line one\n  line two\n\n'),
  latin1('[    7.000000] \n'),
  latin1('[    7.100000] \n'),
  latin1('[    8.000000] short\\x00\\x00\\x00\n'),
  latin1('[9007199.254741] late \t tab  \n'),
]);

/** 64 bytes of text, 4 descriptors: id 6's block crosses the end and moves to the start. */
const CROSSING: LocklessRingSpec = {
  countBits: 2,
  sizeBits: 6,
  tailId: 6n,
  headId: 7n,
  records: [
    { id: 4n, tsNsec: 1_000n, text: 'AAAAAAAAAAAAAAAA' },
    { id: 5n, tsNsec: 2_000n, text: 'BBBBBBBBBBBBBBBB' },
    { id: 6n, tsNsec: 3_000_000n, text: 'CCCCCCCCCCCCCCCC' },
    { id: 7n, tsNsec: 4_000_000n, text: 'DDDDDDDD' },
  ],
};

/** id 7's block would end exactly at the end of the array: 6.1 moves it to the start too. */
const EXACT_END: LocklessRingSpec = {
  countBits: 2,
  sizeBits: 6,
  tailId: 6n,
  headId: 7n,
  records: [
    { id: 5n, tsNsec: 1_000n, text: 'BBBBBBBBBBBBBBBB' },
    { id: 6n, tsNsec: 3_000_000n, text: 'DDDDDDDD' },
    { id: 7n, tsNsec: 4_000_000n, text: 'EEEEEEEEEEEEEEEE' },
  ],
};

/** Descriptor IDs pass 2^62 - 1 back to 0 and lpos passes 2^64. */
const ID_WRAP: LocklessRingSpec = {
  countBits: 2,
  sizeBits: 7,
  tailId: DESC_ID_MASK - 1n,
  headId: 1n,
  firstLpos: 2n ** 64n - 32n,
  records: [
    { id: DESC_ID_MASK - 1n, tsNsec: 10_000_000_000n, text: 'before the wrap' },
    { id: DESC_ID_MASK, tsNsec: 11_000_000_000n, text: 'at 2^62-1' },
    { id: 0n, tsNsec: 12_000_000_000n, text: 'id zero' },
    { id: 1n, tsNsec: 13_000_000_000n, text: 'id one' },
  ],
};

/** A ring with only the boot-time tail: nothing logged. */
const EMPTY: LocklessRingSpec = {
  countBits: 4,
  sizeBits: 8,
  tailId: 15n,
  headId: 15n,
  records: [{ id: 15n, state: 'reusable', tsNsec: 0n, text: null, failed: true }],
};

const CASES = [
  { name: 'mixed states, escaping, data-less and truncated records', spec: MIXED, expected: MIXED_EXPECTED },
  { name: 'a block crossing the end of the data ring', spec: CROSSING, expected: latin1('[    0.003000] CCCCCCCCCCCCCCCC\n[    0.004000] DDDDDDDD\n') },
  { name: 'a block ending exactly at the end of the data ring', spec: EXACT_END, expected: latin1('[    0.003000] DDDDDDDD\n[    0.004000] EEEEEEEEEEEEEEEE\n') },
  {
    name: 'descriptor IDs wrapping at 2^62 and lpos at 2^64',
    spec: ID_WRAP,
    expected: latin1('[   10.000000] before the wrap\n[   11.000000] at 2^62-1\n[   12.000000] id zero\n[   13.000000] id one\n'),
  },
  { name: 'an empty ring', spec: EMPTY, expected: Buffer.alloc(0) },
];

describe('log formatting', () => {
  it('prints seconds padded to 5 and truncated microseconds, exactly for timestamps past 2^53 ns', () => {
    expect(timestampPrefix(0n)).toBe('[    0.000000] ');
    expect(timestampPrefix(6_156_338_218n)).toBe('[    6.156338] ');
    expect(timestampPrefix(999_999_999n)).toBe('[    0.999999] ');
    expect(timestampPrefix(123_456_000_000_000n)).toBe('[123456.000000] ');
    expect(timestampPrefix(2n ** 64n - 1n)).toBe('[18446744073.709551] ');
  });

  it('escapes what is neither printable nor C whitespace as lowercase \\xNN, and leaves the backslash alone', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const escaped = escapeLogText(all).toString('latin1');
    for (let byte = 0; byte < 256; byte++) {
      const raw = (byte >= 0x20 && byte <= 0x7e) || (byte >= 0x09 && byte <= 0x0d);
      const want = raw ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
      expect(escaped.includes(want), `byte ${byte}`).toBe(true);
    }
    expect(escaped.length).toBe(256 + 3 * (0x09 + (0x20 - 0x0e) + (0x100 - 0x7f)));
    const plain = latin1('no escapes \\ here');
    expect(escapeLogText(plain)).toBe(plain); // the fast path hands the same buffer back
  });
});

describe('lockless ringbuffer', () => {
  for (const { name, spec, expected } of CASES) {
    it(`${name}: exact bytes`, async () => {
      const log = await extract(buildLocklessRing(spec));
      expect(log.toString('latin1')).toBe(expected.toString('latin1'));
      expect(log.equals(expected)).toBe(true);
    });
  }

  it('the ring builder really wrapped the blocks the wrap cases are about', () => {
    const crossing = buildLocklessRing(CROSSING).blocks[2];
    expect([crossing.begin % 64n, crossing.next % 64n]).toEqual([48n, 24n]);
    const exact = buildLocklessRing(EXACT_END).blocks[2];
    expect([exact.begin % 64n, exact.next % 64n]).toEqual([40n, 24n]);
    const wrapped = buildLocklessRing(ID_WRAP).blocks;
    expect(wrapped[0].begin).toBe(2n ** 64n - 32n);
    expect(wrapped[1]).toEqual({ begin: 2n ** 64n - 8n, next: 24n }); // crosses 2^64 and the array end at once
  });

  it('chooses the lockless reader when VMCOREINFO has SYMBOL(prb)', () => {
    expect(kernelLogFormat(parseVmcoreinfo(vmcoreinfoText(buildLocklessRing(EMPTY).vmcoreinfoLines)))).toBe('lockless');
  });

  it('refuses a head_id more descriptors past tail_id than the ring has, instead of walking forever', async () => {
    const error = await rejection(extract(buildLocklessRing({ ...EMPTY, headId: 15n + 100n })));
    expect(error.code).toBe(ErrorCode.CORRUPT);
    expect(error.message).toMatch(/head_id 0x73 is 100 descriptors past tail_id 0xf, but the ring has 16/);
    const flagged = await rejection(extract(buildLocklessRing({ ...EMPTY, headId: 3n << 62n })));
    expect(flagged.message).toMatch(/is not a descriptor ID/);
  });

  it('refuses a count_bits or size_bits no kernel has', async () => {
    const built = buildLocklessRing(EMPTY);
    const ringAt = built.image.bytes.readBigUInt64LE(0) - built.image.vaddr(0);
    built.image.bytes.writeUInt32LE(40, Number(ringAt)); // count_bits
    const error = await rejection(extract(built));
    expect(error.code).toBe(ErrorCode.CORRUPT);
    expect(error.message).toMatch(/count_bits 40/);
  });

  it('names the VMCOREINFO entry it needs and does not have', async () => {
    const built = buildLocklessRing(MIXED);
    const error = await rejection(extract(built, built.vmcoreinfoLines.filter((l) => !l.startsWith('OFFSET(printk_info.ts_nsec)'))));
    expect(error.code).toBe(ErrorCode.BAD_INPUT);
    expect(error.message).toBe('VMCOREINFO has no OFFSET(printk_info.ts_nsec): cannot read the lockless printk ringbuffer');
  });

  it('says which record, address and pfn are missing when a text page is not in the dump', async () => {
    const built = buildLocklessRing(MIXED);
    const dataVaddr = built.image.bytes.readBigUInt64LE(Number(built.image.bytes.readBigUInt64LE(0) - built.image.vaddr(0)) + 56);
    const dataPfn = Number(dataVaddr - built.image.vaddr(0)) / 4096 + built.image.firstPfn;
    const error = await rejection(extract(built, undefined, new Set([dataPfn])));
    expect(error.code).toBe(ErrorCode.BAD_INPUT);
    expect(error.message).toBe(
      `text of record 0x11 at 0x${(dataVaddr + 8n).toString(16)} is not in the dump: byte 0x${(dataVaddr + 8n).toString(16)} is in pfn ${dataPfn}, which is excluded by the test`,
    );
    expect(error.context).toMatchObject({ pfn: dataPfn, what: 'text of record 0x11' });
  });

  it('never reads the unused part of the arrays (a dump level may have dropped those zero pages)', async () => {
    // 4096 descriptors: the descriptor, info and text arrays span many pages, of which three records touch the first only.
    const built = buildLocklessRing({
      countBits: 12, sizeBits: 17, tailId: 0n, headId: 2n,
      records: [0n, 1n, 2n].map((id) => ({ id, tsNsec: id * 1_000_000n, text: `record ${id}` })),
    });
    const touched = new Set<number>();
    const pages = built.image.pages();
    const info = parseVmcoreinfo(vmcoreinfoText(built.vmcoreinfoLines));
    const memory = new TranslatedKernelMemory({ pageSize: 4096, readPage: (pfn) => { touched.add(pfn); return pages.readPage(pfn); } }, { elf: { machine: EM_X86_64 }, vmcoreinfo: info, physBase: 0n });
    expect((await extractKernelLog(memory, info)).toString()).toBe('[    0.000000] record 0\n[    0.001000] record 1\n[    0.002000] record 2\n');
    expect(built.image.pageCount).toBeGreaterThan(140);
    expect(touched.size).toBe(4); // prb and the ring struct share a page; then descs, infos, text
  });
});

describe('a ring no kernel makes: 2^23 descriptors between tail and head', () => {
  it(`walks only the newest MAX_RECORDS_WALKED (${MAX_RECORDS_WALKED}) and still finds the last records (where the panic is)`, async () => {
    const headId = 2n ** 23n - 1n;
    const built = buildLocklessRing({
      countBits: 23, sizeBits: 24, tailId: 0n, headId,
      records: [headId - 1n, headId].map((id) => ({ id, tsNsec: 5_000_000_000n, text: `near the head ${id}` })),
    });
    const pages = built.image.pages();
    const info = parseVmcoreinfo(vmcoreinfoText(built.vmcoreinfoLines));
    // Pages the builder never wrote read as zero: descriptors in state reserved, skipped as the kernel's readers do.
    const zero = Buffer.alloc(4096);
    const memory = new TranslatedKernelMemory({ pageSize: 4096, readPage: (pfn) => pages.readPage(pfn) ?? zero }, { elf: { machine: EM_X86_64 }, vmcoreinfo: info, physBase: 0n });
    let descriptorReads = 0;
    const counting = Object.create(memory) as typeof memory;
    counting.read = (address, length, what) => {
      if (what.startsWith('descriptor ')) descriptorReads++;
      return memory.read(address, length, what);
    };
    const log = (await extractKernelLog(counting, info)).toString();
    expect(log).toBe(`[    5.000000] near the head ${headId - 1n}\n[    5.000000] near the head ${headId}\n`);
    expect(descriptorReads).toBe(MAX_RECORDS_WALKED);
  }, 120_000);
});

describe.runIf(VMCORE_DMESG !== undefined)('lockless ringbuffer against vmcore-dmesg (kexec-tools) on the same rings as ELF cores', () => {
  const cores: ElfCoreFile[] = [];
  beforeAll(async () => {
    for (const { spec } of CASES) {
      const built = buildLocklessRing(spec);
      cores.push(await writeElfCoreFile(imageCoreSpec(built.image, built.vmcoreinfoLines)));
    }
  });
  afterAll(async () => {
    await Promise.all(cores.map((core) => core.cleanup()));
  });

  CASES.forEach(({ name, expected }, i) => {
    it(`${name}: vmcore-dmesg prints the expected bytes, and so does our ELF reader`, async () => {
      expect((await runVmcoreDmesg(cores[i].path)).toString('latin1')).toBe(expected.toString('latin1'));
      expect((await extractKernelLogFromElfCore(cores[i].path)).equals(expected)).toBe(true);
    });
  });
});

