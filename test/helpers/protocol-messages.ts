/**
 * Protocol messages built by hand from a core, as a correct sender would
 * build them, for tests that drive the receiver with RawClient: a HELLO, the
 * CHUNK for a sequence number, and an upload left hanging part-way.
 */
import { ChunkPlan } from '../../shared/protocol/chunk-plan.js';
import { encodeControl, PROTOCOL_VERSION, type HelloMessage } from '../../shared/protocol/messages.js';
import { Chunker, frameCapacity } from '../../sender/chunker.js';
import { dumpIdFor } from '../../sender/upload.js';
import { chunkChecksumOf, type ChecksumKind } from '../../shared/protocol/digest.js';
import type { VmcoreSource } from '../../sender/vmcore-source.js';
import { RawClient } from './raw-client.js';

export function helloFor(source: VmcoreSource, overrides: Partial<HelloMessage> = {}): HelloMessage {
  const hostId = overrides.hostId ?? 'node-1';
  return {
    type: 'hello', protocol: PROTOCOL_VERSION, hostId, dumpId: dumpIdFor(hostId, source), vmcoreSize: source.size,
    pageSize: source.core.pageSize, dumpLevel: 1, chunkPages: 16, elfHeaders: source.headerBytes, notes: source.notes,
    senderVersion: 'test', ...overrides,
  };
}

/**
 * The CHUNK message (without length prefix) for chunk `seq`, as a correct sender builds it (with the checksum ACCEPT
 * named; with `storedPages`, its pages as an ACCEPT storedPages receiver stores them).
 */
export function chunkMessage(source: VmcoreSource, seq: number, chunkPages = 16, checksum?: ChecksumKind, storedPages = false): Buffer {
  const plan = new ChunkPlan(source.core.pageMap, chunkPages);
  const span = plan.chunk(seq);
  const pages = source.readPages(span.startPfn, span.pageCount, Buffer.alloc(chunkPages * source.core.pageSize));
  const frame = Buffer.alloc(frameCapacity(source.core.pageSize, chunkPages));
  return Buffer.from(new Chunker(source.core.pageSize).encode(span, pages, frame, chunkChecksumOf(checksum), storedPages).message);
}

/**
 * An upload that sends HELLO and the first `chunks` chunks, then holds the
 * connection open: a dump "in flight" for as long as the test needs one.
 */
export async function startStalledUpload(
  port: number, source: VmcoreSource, options: { hostId: string; token?: string; chunks: number | ((totalChunks: number) => number) },
): Promise<{ client: RawClient; dumpId: string; totalChunks: number }> {
  const client = await RawClient.connect(port);
  const hello = helloFor(source, { hostId: options.hostId, token: options.token });
  client.sendMessage(encodeControl(hello));
  const accept = await client.next('accept');
  const chunks = typeof options.chunks === 'function' ? options.chunks(accept.totalChunks) : options.chunks;
  for (let seq = 0; seq < Math.min(chunks, accept.totalChunks - 1); seq++) client.sendMessage(chunkMessage(source, seq, hello.chunkPages));
  return { client, dumpId: hello.dumpId, totalChunks: accept.totalChunks };
}
