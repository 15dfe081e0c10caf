/**
 * Hostile input, fuzzed: the frame decoder, the message decoder, the ELF /
 * VMCOREINFO parsers the receiver runs on a sender's HELLO, and lz4 payload
 * handling. Each case must end in a NetdumpError (a clean ERROR and close on
 * the wire) or a valid result: never another exception, a hang, or an
 * allocation past the limits. Seeded and bounded here; scripts/fuzz.sh runs
 * it longer (FUZZ_ITERATIONS, FUZZ_SEED). The corpus in test/fuzz/corpus is
 * replayed every time.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetdumpError } from '../../shared/errors.js';
import { describeCore } from '../../shared/elf/core-description.js';
import { parseVmcoreinfo } from '../../shared/elf/vmcoreinfo.js';
import { FrameDecoder, framePrefix } from '../../shared/protocol/frame-decoder.js';
import { decodeMessage, encodeControl, PROTOCOL_VERSION, type HelloMessage } from '../../shared/protocol/messages.js';
import { CHUNK_CHECKSUMS } from '../../shared/protocol/digest.js';
import { ChunkPlan } from '../../shared/protocol/chunk-plan.js';
import { pageCodecByName } from '../../shared/kdump/page-codec.js';
import { acceptHello } from '../../receiver/ingest/hello.js';
import { Chunker, frameCapacity } from '../../sender/chunker.js';
import { parseServerUrl } from '../../sender/transport.js';
import { dumpIdFor, upload } from '../../sender/upload.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { buildElfCoreDetailed, sampleX86Loads, writeElfCoreFile, type ElfCoreFile } from '../helpers/elf-core-builder.js';
import { RawClient } from '../helpers/raw-client.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 1500);
const SEED = Number(process.env.FUZZ_SEED ?? 20261126);
const CORPUS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'corpus');
const LIMITS = { maxDumpBytes: 2 ** 40, maxChunkBytes: 4 * 2 ** 20, maxUploads: 64, minFreeBytes: 0 };

/** xorshift32: reproducible from the seed. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
  return { next, below: (n: number) => next() % n, chance: (p: number) => next() / 2 ** 32 < p };
}
type Rng = ReturnType<typeof rng>;

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff];
const INTERESTING_U32 = [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 4096, 65536];

/** A mutated copy: bit flips, interesting bytes and u32s, truncation, extension, spliced runs. */
function mutate(input: Buffer, r: Rng): Buffer {
  let out = Buffer.from(input);
  const rounds = 1 + r.below(4);
  for (let i = 0; i < rounds && out.length > 0; i++) {
    switch (r.below(6)) {
      case 0: out[r.below(out.length)] ^= 1 << r.below(8); break;
      case 1: out[r.below(out.length)] = INTERESTING[r.below(INTERESTING.length)]; break;
      case 2: if (out.length >= 4) out.writeUInt32LE(INTERESTING_U32[r.below(INTERESTING_U32.length)], r.below(out.length - 3)); break;
      case 3: out = out.subarray(0, r.below(out.length)); break;
      case 4: out = Buffer.concat([out, Buffer.from(Array.from({ length: 1 + r.below(64) }, () => r.below(256)))]); break;
      case 5: {
        const from = r.below(out.length);
        const len = Math.min(out.length - from, 1 + r.below(32));
        out.copy(out, r.below(out.length), from, from + len);
        break;
      }
    }
  }
  return out;
}

/** Runs fn; anything thrown must be a NetdumpError. Returns what was thrown, for counting. */
function mustFailCleanly(what: string, input: Buffer, fn: () => unknown): NetdumpError | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    if (!(error instanceof NetdumpError)) {
      throw new Error(`${what}: ${(error as Error)?.constructor?.name} instead of NetdumpError on input ${input.toString('hex').slice(0, 400)}: ${(error as Error)?.message}`);
    }
    return error;
  }
}

function corpus(prefix: string): Buffer[] {
  return readdirSync(CORPUS).filter((f) => f.startsWith(prefix)).sort().map((f) => readFileSync(path.join(CORPUS, f)));
}

describe(`fuzz (seed ${SEED}, ${ITERATIONS} iterations per target)`, () => {
  let core: ElfCoreFile;
  let source: VmcoreSource;
  let hello: HelloMessage;
  let helloFrame: Buffer;

  beforeAll(async () => {
    core = await writeElfCoreFile({ cpus: 2, loads: sampleX86Loads() });
    source = VmcoreSource.open(core.path);
    hello = {
      type: 'hello', protocol: PROTOCOL_VERSION, hostId: 'fuzz', dumpId: dumpIdFor('fuzz', source), vmcoreSize: source.size,
      pageSize: 4096, dumpLevel: 1, chunkPages: 16, elfHeaders: source.headerBytes, notes: source.notes, senderVersion: 'fuzz',
    };
    helloFrame = encodeControl(hello);
  });
  afterAll(async () => {
    source.close();
    await core.cleanup();
  });

  it('the message decoder: mutated frames of every type and the corpus', () => {
    const r = rng(SEED);
    const chunk = new Chunker(4096).encode(new ChunkPlan(source.core.pageMap, 16).chunk(1),
      source.readPages(new ChunkPlan(source.core.pageMap, 16).chunk(1).startPfn, 16, Buffer.alloc(16 * 4096)), Buffer.alloc(frameCapacity(4096, 16)), CHUNK_CHECKSUMS.crc32).message;
    const seeds = [helloFrame, Buffer.from(chunk), encodeControl({ type: 'ack', nextSeq: 5 }),
      encodeControl({ type: 'end', totalChunks: 3, digest: 'ab'.repeat(32) }),
      encodeControl({ type: 'error', code: 'CORRUPT', message: 'x', retryable: true }), ...corpus('frame-')];
    let refused = 0;
    for (const seed of corpus('frame-')) if (mustFailCleanly('decodeMessage(corpus)', seed, () => decodeMessage(seed))) refused++;
    for (let i = 0; i < ITERATIONS; i++) {
      const input = mutate(seeds[r.below(seeds.length)], r);
      if (mustFailCleanly('decodeMessage', input, () => decodeMessage(input))) refused++;
    }
    expect(refused).toBeGreaterThan(ITERATIONS / 10); // the mutations do hit the error paths
  });

  it('the frame decoder: random streams never yield a frame over the limit, and errors are clean', () => {
    const r = rng(SEED + 1);
    const max = 64 * 1024;
    for (let i = 0; i < ITERATIONS; i++) {
      const decoder = new FrameDecoder(max, r.chance(0.5));
      const valid = Buffer.concat([framePrefix(helloFrame.length), helloFrame]);
      const stream = mutate(valid, r);
      let at = 0;
      const error = mustFailCleanly('FrameDecoder', stream, () => {
        while (at < stream.length) {
          const n = 1 + r.below(300);
          decoder.push(stream.subarray(at, at + n));
          at += n;
          for (let frame = decoder.next(); frame; frame = decoder.next()) expect(frame.length).toBeLessThanOrEqual(max);
        }
      });
      if (error) expect(['LIMIT', 'PROTOCOL']).toContain(error.code);
    }
  });

  it('the ELF and VMCOREINFO parsers on mutated HELLO headers and notes', () => {
    const r = rng(SEED + 2);
    const built = buildElfCoreDetailed({ cpus: 3, loads: sampleX86Loads() });
    let refused = 0;
    for (const seed of corpus('elf-')) if (mustFailCleanly('describeCore(corpus)', seed, () => describeCore(seed, built.notes, built.buffer.length))) refused++;
    for (let i = 0; i < ITERATIONS; i++) {
      const headers = r.chance(0.5) ? mutate(built.headers, r) : built.headers;
      const notes = headers === built.headers || r.chance(0.5) ? mutate(built.notes, r) : built.notes;
      if (mustFailCleanly('describeCore', Buffer.concat([headers, notes]), () => describeCore(headers, notes, built.buffer.length))) refused++;
      const text = mutate(Buffer.from(built.notes.subarray(built.vmcoreinfoOffsetInNotes, built.vmcoreinfoOffsetInNotes + built.vmcoreinfoSize)), r);
      mustFailCleanly('parseVmcoreinfo', text, () => parseVmcoreinfo(text));
    }
    expect(refused).toBeGreaterThan(0);
  });

  it('HELLO validation on mutated fields: only clean refusals', () => {
    const r = rng(SEED + 3);
    const codec = pageCodecByName('lzo');
    for (let i = 0; i < ITERATIONS; i++) {
      const input = mutate(helloFrame, r);
      const error = mustFailCleanly('decode+acceptHello', input, () => {
        const message = decodeMessage(input);
        if (message.type === 'hello') acceptHello(message, LIMITS, codec);
      });
      if (error) expect(error.message.length).toBeGreaterThan(0);
    }
  });

  describe('through a live receiver', () => {
    let receiver: TestReceiver;
    beforeAll(async () => {
      receiver = await startTestReceiver();
    });
    afterAll(async () => {
      await receiver.stop();
    });

    it('mutated chunk payloads (lz4 that decodes to the wrong size, garbage) end in ERROR and close, then a clean upload still lands', async () => {
      const r = rng(SEED + 4);
      const plan = new ChunkPlan(source.core.pageMap, 16);
      const chunker = new Chunker(4096);
      const cases = Math.max(20, Math.floor(ITERATIONS / 50));
      let errors = 0;
      for (let i = 0; i < cases; i++) {
        const client = await RawClient.connect(receiver.tcpAddress!.port);
        // A dump of its own per case: the last case's dump may still be being released.
        client.sendMessage(encodeControl({ ...hello, hostId: `fuzz-${i}`, dumpId: dumpIdFor(`fuzz-${i}`, source) }));
        const accept = await client.next('accept');
        const span = plan.chunk(accept.nextSeq);
        const message = Buffer.from(chunker.encode(span, source.readPages(span.startPfn, span.pageCount, Buffer.alloc(16 * 4096)),
          Buffer.alloc(frameCapacity(4096, 16)), CHUNK_CHECKSUMS.crc32).message);
        const bodyStart = 1 + 36 + Math.ceil(span.pageCount / 8);
        const payload = mutate(message.subarray(bodyStart), r);
        const mutated = Buffer.concat([message.subarray(0, bodyStart), payload]);
        mutated.writeUInt32LE(payload.length, 29);
        // A valid payload crc half the time, so the lz4 decoder itself sees the garbage.
        if (r.chance(0.5)) mutated.writeUInt32LE(CHUNK_CHECKSUMS.crc32.hash(payload), 33);
        client.sendMessage(mutated);
        const settled = await Promise.race([client.next('error', 5000).then(() => 'error'), client.next('ack', 5000).then(() => 'ack')])
          .catch(() => 'nothing');
        if (settled === 'error') {
          errors++;
          await client.closed;
        } else {
          client.close();
          await client.closed;
        }
      }
      expect(errors).toBeGreaterThan(cases / 2);
      // The receiver is still up and stores a whole, correct dump for the same dump id.
      const result = await upload(source, {
        servers: [parseServerUrl(receiver.tcpUrl)], hostId: 'fuzz', chunkPages: 16, connectTimeoutMs: 2000,
        replyTimeoutMs: 10_000, deadlineMs: 20_000, framesInFlight: 2,
      });
      expect((await receiver.catalog.get(result.dumpId))?.status).toBe('complete');
    });
  });
});
