/**
 * The log buffers before the lockless ring: the structured log_buf of 3.5-5.9
 * and the plain character buffer before 3.5, on hand-built buffers, checked
 * against /usr/sbin/vmcore-dmesg on the same buffers as ELF cores.
 */
import { EM_X86_64 } from '../../shared/elf/core.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVmcoreinfo } from '../../shared/elf/vmcoreinfo.js';
import { ErrorCode, NetdumpError } from '../../shared/errors.js';
import { extractKernelLog, extractKernelLogFromElfCore, kernelLogFormat } from '../../shared/dmesg/extract.js';
import { TranslatedKernelMemory } from '../../shared/dmesg/kernel-memory.js';
import { writeElfCoreFile, type ElfCoreFile } from '../helpers/elf-core-builder.js';
import {
  buildLegacyLog, buildStructuredLog, imageCoreSpec, vmcoreinfoText, type KernelImage, type StructuredLogSpec,
} from '../helpers/printk-ring.js';
import { VMCORE_DMESG, runVmcoreDmesg } from '../helpers/vmcore-dmesg.js';

const latin1 = (text: string) => Buffer.from(text, 'latin1');

function extract(built: { image: KernelImage; vmcoreinfoLines: string[] }, lines = built.vmcoreinfoLines): Promise<Buffer> {
  const info = parseVmcoreinfo(vmcoreinfoText(lines));
  return extractKernelLog(new TranslatedKernelMemory(built.image.pages(), { elf: { machine: EM_X86_64 }, vmcoreinfo: info, physBase: 0n }), info);
}

async function rejection(promise: Promise<unknown>): Promise<NetdumpError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(NetdumpError);
  return error as NetdumpError;
}

/** Starts late in a 256-byte buffer, wraps after the first record (zero-length marker), ends at 128. */
const WRAPPING: StructuredLogSpec = {
  bufferLength: 256,
  firstIndex: 160,
  records: [
    { tsNsec: 1_000_000_000n, text: 'first' },
    { tsNsec: 2_000_000_000n, text: 'second, with dict', dict: 'SUBSYSTEM=pci\0DEVICE=+pci:0000:00:01.0' },
    { tsNsec: 3_500_000_999n, text: '\x01bell\x07 and\nnewline' },
    { tsNsec: 4_000_000_000n, text: '' },
  ],
};
/** The wrap marker's zeroed header prints as an empty record at time 0, as Debian 12's vmcore-dmesg prints it. */
const WRAPPING_EXPECTED = latin1(
  '[    1.000000] first\n[    0.000000] \n[    2.000000] second, with dict\n[    3.500000] \\x01bell\\x07 and\nnewline\n[    4.000000] \n',
);

const HISTORY = latin1(Array.from({ length: 12 }, (_, i) => `<6>[    ${i}.000000] line ${i}\n`).join('') + '<4>[   12.000000] high \xff byte\n');
const LEGACY_CASES = [
  { name: 'not yet wrapped', length: 4096, expected: HISTORY },
  { name: 'wrapped: the last log_buf_len bytes, oldest first, raw', length: 128, expected: HISTORY.subarray(HISTORY.length - 128) },
];

describe('structured log_buf (3.5-5.9)', () => {
  it('walks first to next index across the wrap marker (printed, as vmcore-dmesg 2.0.25 does); no dictionary; same escaping and prefix as the lockless ring', async () => {
    const built = buildStructuredLog(WRAPPING);
    expect(built.nextIndex).toBe(128); // the builder wrapped
    expect(kernelLogFormat(parseVmcoreinfo(vmcoreinfoText(built.vmcoreinfoLines)))).toBe('structured');
    expect((await extract(built)).toString('latin1')).toBe(WRAPPING_EXPECTED.toString('latin1'));
  });

  it('reads the pre-3.11 names SIZE(log) and OFFSET(log.*)', async () => {
    const built = buildStructuredLog(WRAPPING);
    const renamed = built.vmcoreinfoLines.map((line) => line.replace('(printk_log', '(log'));
    expect(renamed.some((l) => l.startsWith('SIZE(log)='))).toBe(true);
    expect((await extract(built, renamed)).equals(WRAPPING_EXPECTED)).toBe(true);
  });

  it('an empty log (first == next) prints nothing', async () => {
    const built = buildStructuredLog({ bufferLength: 256, firstIndex: 40, records: [] });
    expect((await extract(built)).length).toBe(0);
  });

  it('stops with CORRUPT on a record shorter than its header, a second wrap, or an index past the buffer', async () => {
    const shortRecord = buildStructuredLog(WRAPPING);
    const bufferAt = (b: typeof shortRecord) => Number(b.image.bytes.readBigUInt64LE(0) - b.image.vaddr(0));
    shortRecord.image.bytes.writeUInt16LE(8, bufferAt(shortRecord) + 160 + 8);
    expect((await rejection(extract(shortRecord))).message).toMatch(/record at index 160 has len 8, shorter than its 16-byte header/);

    // A zero len at index 0 too: the walk would go round forever.
    const cycle = buildStructuredLog(WRAPPING);
    cycle.image.bytes.writeUInt16LE(0, bufferAt(cycle) + 8);
    const cycled = await rejection(extract(cycle));
    expect(cycled.code).toBe(ErrorCode.CORRUPT);
    expect(cycled.message).toMatch(/wraps twice between log_first_idx 160 and log_next_idx 128/);

    const beyond = buildStructuredLog(WRAPPING);
    beyond.image.bytes.writeUInt16LE(248, bufferAt(beyond) + 8); // jumps from 0 to 248 > 256 - 16
    expect((await rejection(extract(beyond))).message).toMatch(/record index 248 is beyond log_buf_len 256/);
  });

  it('names what VMCOREINFO lacks', async () => {
    const built = buildStructuredLog(WRAPPING);
    const error = await rejection(extract(built, built.vmcoreinfoLines.filter((l) => !l.startsWith('SIZE(printk_log)'))));
    expect(error.code).toBe(ErrorCode.BAD_INPUT);
    expect(error.message).toBe('VMCOREINFO has no SIZE(printk_log): cannot read the structured printk log_buf');
  });
});

describe('legacy log_buf (before 3.5)', () => {
  for (const { name, length, expected } of LEGACY_CASES) {
    it(name, async () => {
      const built = buildLegacyLog(length, HISTORY);
      expect(kernelLogFormat(parseVmcoreinfo(vmcoreinfoText(built.vmcoreinfoLines)))).toBe('legacy');
      expect((await extract(built)).equals(expected)).toBe(true);
    });
  }
});

describe('choosing the format', () => {
  it('says what it looked for when VMCOREINFO describes no log buffer', () => {
    let error: unknown;
    try {
      kernelLogFormat(parseVmcoreinfo(vmcoreinfoText(['SYMBOL(log_buf)=ffffffff82000000'])));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NetdumpError);
    expect((error as NetdumpError).code).toBe(ErrorCode.BAD_INPUT);
    expect((error as NetdumpError).message).toBe(
      'VMCOREINFO has no SYMBOL(prb), SYMBOL(log_first_idx) or SYMBOL(log_buf) with SYMBOL(log_end): cannot find the kernel log',
    );
  });
});

describe.runIf(VMCORE_DMESG !== undefined)('older log buffers against vmcore-dmesg (kexec-tools) on the same buffers as ELF cores', () => {
  const cases = [
    { name: 'structured, wrapping', build: () => buildStructuredLog(WRAPPING), expected: WRAPPING_EXPECTED },
    ...LEGACY_CASES.map((c) => ({ name: `legacy, ${c.name}`, build: () => buildLegacyLog(c.length, HISTORY), expected: c.expected })),
  ];
  const cores: ElfCoreFile[] = [];
  beforeAll(async () => {
    for (const c of cases) {
      const built = c.build();
      cores.push(await writeElfCoreFile(imageCoreSpec(built.image, built.vmcoreinfoLines)));
    }
  });
  afterAll(async () => {
    await Promise.all(cores.map((core) => core.cleanup()));
  });
  cases.forEach(({ name, expected }, i) => {
    it(`${name}: vmcore-dmesg prints the expected bytes, and so does our ELF reader`, async () => {
      expect((await runVmcoreDmesg(cores[i].path)).toString('latin1')).toBe(expected.toString('latin1'));
      expect((await extractKernelLogFromElfCore(cores[i].path)).equals(expected)).toBe(true);
    });
  });
});
