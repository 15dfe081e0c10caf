/**
 * What one HELLO makes the receiver commit on disk. A kdump file's bitmaps
 * span pfn 0 to the core's highest pfn, so a 2 KB HELLO describing a page at
 * 4 TiB would have the receiver write 256 MiB of them: refused at HELLO, with
 * nothing written. A real sparse machine still fits, and the free-space check
 * counts the bitmaps and descriptors with the pages. PT_LOADs that cover the
 * same memory many times over (which made the ELF export walk it as often)
 * are refused at HELLO too.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { KdumpFileReader } from '../../shared/kdump/reader.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { encodeControl } from '../../shared/protocol/messages.js';
import { pageCodecByName } from '../../shared/kdump/page-codec.js';
import { acceptHello } from '../../receiver/ingest/hello.js';
import { PROGRAM_HEADER_SIZE, PT_LOAD } from '../../shared/elf/core.js';
import { loadsOutOfBounds, MAX_PT_LOADS } from '../../shared/elf/page-map.js';
import { defaultVmcoreinfo, sampleX86Loads } from '../helpers/elf-core-builder.js';
import { upload } from '../../sender/upload.js';
import { parseServerUrl } from '../../sender/transport.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';
import { helloFor } from '../helpers/protocol-messages.js';
import { RawClient } from '../helpers/raw-client.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

const TiB = 2 ** 40;
const GiB = 2 ** 30;
const MiB = 2 ** 20;
const LIMITS = { maxDumpBytes: 16 * TiB, maxChunkBytes: 4 * MiB, maxUploads: 64, minFreeBytes: GiB };

describe('what a HELLO makes the receiver commit on disk', () => {
  // Two pages of memory 4 TiB apart: 2^30 pfns, 128 MiB per bitmap.
  const farApart = useSyntheticCore({ loads: [...sampleX86Loads(), { paddr: 4 * TiB, memsz: 4096 }] });
  // A machine whose second memory range sits at 512 GiB: 32 MiB of bitmaps for 4 MiB of memory, inside the 64 MiB floor.
  const sparse = useSyntheticCore({ loads: [...sampleX86Loads(), { paddr: 512 * GiB, memsz: 64 * 4096 }] });
  let receiver: TestReceiver;
  beforeAll(async () => { receiver = await startTestReceiver({}); });
  afterAll(async () => { await receiver.stop(); });

  it('a core with a page at 4 TiB is refused at HELLO (LIMIT, final) with the range and the bitmap bytes named, and nothing is written', async () => {
    const client = await RawClient.connect(receiver.tcpAddress!.port);
    client.sendMessage(encodeControl(helloFor(farApart.source, { hostId: 'far-host' })));
    const error = await client.next('error');
    expect(error).toMatchObject({ code: ErrorCode.LIMIT, retryable: false });
    expect(error.message).toMatch(/physical address range \(pfn 0 to 1073741825\) needs 256\.0 MiB of bitmaps for 4\.1 MiB of memory; at most 64\.0 MiB are accepted/);
    client.close();
    expect((await readdir(receiver.dataDir)).filter((f) => !f.startsWith('index.db'))).toEqual([]);
    expect(await receiver.catalog.list({ hostId: 'far-host' })).toEqual([]);
  });

  it('a sparse but real layout (memory at 0 and at 512 GiB) is accepted, and its worst case counts both bitmaps', () => {
    const accepted = acceptHello(helloFor(sparse.source), LIMITS, pageCodecByName('none'));
    const bitmaps = 2 * Math.ceil((512 * GiB + 64 * 4096) / 4096 / 8 / 4096) * 4096;
    expect(bitmaps).toBe(32 * MiB + 8192);
    expect(accepted.worstCaseBytes).toBeGreaterThan(bitmaps + accepted.plan.totalPages * 4096);
  });

  it('stored, its 32 MiB of bitmaps are holes where no pfn is set: the file takes little disk and reads back whole', async () => {
    const stored = await upload(sparse.source, {
      servers: [parseServerUrl(receiver.tcpUrl)], hostId: 'sparse-stored', chunkPages: 16,
      connectTimeoutMs: 2000, replyTimeoutMs: 5000, deadlineMs: 10_000, framesInFlight: 2,
    });
    const file = path.join(receiver.dataDir, stored.path);
    const { size, blocks } = await stat(file);
    expect(size).toBeGreaterThan(32 * MiB);
    expect(blocks * 512).toBeLessThan(4 * MiB);
    const reader = await KdumpFileReader.open(file);
    try {
      expect(reader.pfnsIn(reader.dumpableBitmap)).toHaveLength(sparse.source.core.pageMap.totalPages);
      expect(reader.isDumpable(Math.floor(512 * GiB / 4096))).toBe(true);
      expect(reader.isDumpable(Math.floor(512 * GiB / 4096) - 1)).toBe(false);
    } finally {
      await reader.close();
    }
  });

  it('the free-space check counts those bitmaps: a reserve the pages alone would fit is refused for them', async () => {
    const accepted = acceptHello(helloFor(sparse.source), LIMITS, pageCodecByName('none'));
    const pagesOnly = accepted.plan.totalPages * 4096;
    const { filesystemFreeBytes } = await import('../../receiver/storage/local-storage.js');
    const free = await filesystemFreeBytes(receiver.dataDir);
    // A reserve leaving room for the pages (and then some) but not for the 32 MiB of bitmaps.
    const tight = await startTestReceiver({ limits: { minFreeBytes: free - pagesOnly - 16 * MiB } });
    try {
      const client = await RawClient.connect(tight.tcpAddress!.port);
      client.sendMessage(encodeControl(helloFor(sparse.source, { hostId: 'sparse-host' })));
      const error = await client.next('error');
      expect(error.code).toBe(ErrorCode.LIMIT);
      expect(error.message).toMatch(/not enough disk for dump/);
      client.close();
    } finally {
      await tight.stop();
    }
  });
});

/** `headers` (ELF header and program headers) with `copies` more copies of its largest PT_LOAD, all over the same memory. */
function withOverlappingCopies(headers: Buffer, copies: number): Buffer {
  const phoff = Number(headers.readBigUInt64LE(32));
  const phnum = headers.readUInt16LE(56);
  let largest = -1;
  let largestSize = -1n;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * PROGRAM_HEADER_SIZE;
    const memsz = headers.readBigUInt64LE(at + 40);
    if (headers.readUInt32LE(at) === PT_LOAD && memsz > largestSize) [largest, largestSize] = [i, memsz];
  }
  const phdr = headers.subarray(phoff + largest * PROGRAM_HEADER_SIZE, phoff + (largest + 1) * PROGRAM_HEADER_SIZE);
  const out = Buffer.concat([headers.subarray(0, phoff + phnum * PROGRAM_HEADER_SIZE), ...Array.from({ length: copies }, () => phdr)]);
  out.writeUInt16LE(phnum + copies, 56);
  return out;
}

describe('PT_LOADs no kernel writes', () => {
  // 48 MiB of memory in one range: 60 more copies of it overlap by 2.8 GiB.
  const fixture = useSyntheticCore({ loads: [...sampleX86Loads(), { paddr: 0x100_0000, memsz: 48 * MiB }] });

  it('a HELLO whose PT_LOADs cover the same memory 61 times over is refused at HELLO (BAD_INPUT), before anything is planned', () => {
    const hello = helloFor(fixture.source, { elfHeaders: withOverlappingCopies(fixture.source.headerBytes, 60) });
    expect(() => acceptHello(hello, LIMITS, pageCodecByName('none'))).toThrow(/PT_LOAD segments covering \d+ bytes more than once \(at most 2147483648\): no kernel makes one/);
  });

  it('a few overlapping copies (the kernel maps its image twice) are accepted', () => {
    const hello = helloFor(fixture.source, { elfHeaders: withOverlappingCopies(fixture.source.headerBytes, 2) });
    expect(acceptHello(hello, LIMITS, pageCodecByName('none')).plan.totalPages).toBe(acceptHello(helloFor(fixture.source), LIMITS, pageCodecByName('none')).plan.totalPages);
  });

  it('more PT_LOADs than any kernel writes are refused', () => {
    expect(loadsOutOfBounds(Array.from({ length: MAX_PT_LOADS + 1 }, (_, i) => ({ paddr: i * 8192, memsz: 4096 })))).toMatch(/16385 PT_LOAD segments \(at most 16384\)/);
    expect(loadsOutOfBounds(Array.from({ length: MAX_PT_LOADS }, (_, i) => ({ paddr: i * 8192, memsz: 4096 })))).toBeUndefined();
  });
});

describe('a CRASHTIME no calendar shows', () => {
  // 10^14 s: past what a Date holds. It made the receiver answer a retryable INTERNAL (the sender retried to its deadline).
  const fixture = useSyntheticCore({ loads: sampleX86Loads(), vmcoreinfo: defaultVmcoreinfo({ crashTime: 100_000_000_000_000 }) });
  let receiver: TestReceiver;
  beforeAll(async () => { receiver = await startTestReceiver({}); });
  afterAll(async () => { await receiver.stop(); });

  it('the dump is stored under its receive time, the text is kept, and the receiver says so in its log', async () => {
    const before = Date.now();
    const stored = await upload(fixture.source, {
      servers: [parseServerUrl(receiver.tcpUrl)], hostId: 'clock-host', chunkPages: 16,
      connectTimeoutMs: 2000, replyTimeoutMs: 5000, deadlineMs: 10_000, framesInFlight: 2,
    });
    const record = (await receiver.catalog.get(stored.dumpId))!;
    expect(record).toMatchObject({ status: 'complete', crashTime: null });
    expect(record.path).toMatch(new RegExp(`^clock-host/${new Date(before).toISOString().slice(0, 10)}-`));
    expect(receiver.logLines.find((l) => l.msg === 'VMCOREINFO CRASHTIME is no calendar time: the dump is filed under its receive time'))
      .toMatchObject({ crashTime: '100000000000000', host: 'clock-host' });
  });
});
