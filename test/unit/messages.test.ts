import { describe, it, expect } from 'vitest';
import { Packr } from 'msgpackr';
import { NetdumpError } from '../../shared/errors.js';
import {
  CHUNK_HEADER_SIZE, CHUNK_LZ4, MessageType, PROTOCOL_VERSION, decodeMessage, encodeControl, writeChunkHeader, zeroBitmapLength,
  type ChunkHeader, type ControlMessage,
} from '../../shared/protocol/messages.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

function decodeError(frame: Buffer): NetdumpError {
  try {
    decodeMessage(frame);
  } catch (error) {
    expect(error).toBeInstanceOf(NetdumpError);
    return error as NetdumpError;
  }
  throw new Error('expected decodeMessage to throw');
}

/** A control frame with an arbitrary msgpack body. */
function rawControl(type: number, body: unknown): Buffer {
  return Buffer.concat([Buffer.from([type]), packr.pack(body)]);
}

function chunkFrame(header: ChunkHeader, bitmap: Buffer, payload: Buffer): Buffer {
  const out = Buffer.alloc(1 + CHUNK_HEADER_SIZE + bitmap.length + payload.length);
  const at = writeChunkHeader(out, header, payload.length);
  expect(at).toBe(1 + CHUNK_HEADER_SIZE);
  bitmap.copy(out, at);
  payload.copy(out, at + bitmap.length);
  return out;
}

const hello: ControlMessage = {
  type: 'hello',
  protocol: PROTOCOL_VERSION,
  hostId: 'host-01.example',
  dumpId: '2026-11-26T14:00:00Z-abc',
  token: 's3cret',
  vmcoreSize: 2 ** 40 + 5, // above 2^32: must survive msgpack's 64-bit integers as a number
  pageSize: 4096,
  dumpLevel: 1,
  chunkPages: 256,
  elfHeaders: Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]),
  notes: Buffer.alloc(600, 0xab),
  utsname: Buffer.alloc(390, 0x41),
  senderVersion: '0.1.0',
};

const controls: ControlMessage[] = [
  hello,
  { ...hello, token: undefined, utsname: undefined },
  { type: 'accept', dumpId: 'd1', nextSeq: 17, totalChunks: 4000 },
  { type: 'accept', dumpId: 'd1', nextSeq: 0, totalChunks: 0 },
  { type: 'accept', dumpId: 'd1', nextSeq: 0, totalChunks: 9, logWanted: true },
  { type: 'log', text: Buffer.from('[    1.000000] Kernel panic - not syncing: x\n'), crc: 0xdeadbeef, truncated: false },
  { type: 'ack', nextSeq: 123_456 },
  { type: 'end', totalChunks: 4000, digest: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
  { type: 'done', dumpId: 'd1', path: '/var/crash/host/d1/dump.kdump', storedBytes: 5 * 2 ** 32 + 1 },
  { type: 'error', code: 'LIMIT', message: 'too many uploads', retryable: true },
  { type: 'error', code: 'AUTH', message: 'bad token', retryable: false },
];

describe('control messages', () => {
  it.each(controls.map((m) => [m.type, m] as const))('%s round-trips through encodeControl/decodeMessage', (_type, message) => {
    const frame = encodeControl(message);
    const decoded = decodeMessage(frame);
    expect(decoded).toEqual(message);
    expect(decoded.type).toBe(message.type);
    if (decoded.type === 'hello') {
      expect(Buffer.isBuffer(decoded.elfHeaders)).toBe(true);
      expect(Buffer.isBuffer(decoded.notes)).toBe(true);
    }
  });

  it('tags each control message with its type byte', () => {
    const want: Record<string, number> = {
      hello: MessageType.HELLO, accept: MessageType.ACCEPT, ack: MessageType.ACK, end: MessageType.END,
      done: MessageType.DONE, error: MessageType.ERROR, log: MessageType.LOG,
    };
    for (const m of controls) expect(encodeControl(m)[0]).toBe(want[m.type]);
    expect(MessageType).toMatchObject({ HELLO: 1, ACCEPT: 2, CHUNK: 3, ACK: 4, END: 5, DONE: 6, ERROR: 7, LOG: 10 });
  });

  it('an ERROR with an unknown code decodes as INTERNAL', () => {
    const decoded = decodeMessage(rawControl(MessageType.ERROR, { code: 'WHATEVER', message: 'x', retryable: false }));
    expect(decoded).toEqual({ type: 'error', code: 'INTERNAL', message: 'x', retryable: false });
  });

  it.each([
    ['truncated map', Buffer.from([MessageType.ACK, 0x81])],
    ['truncated string', Buffer.from([MessageType.END, 0x82, 0xa6, 0x64])],
    ['empty body', Buffer.from([MessageType.DONE])],
  ])('malformed msgpack (%s) -> CORRUPT', (_what, frame) => {
    const err = decodeError(frame);
    expect(err.code).toBe('CORRUPT');
    expect(err.message).toMatch(/msgpack/);
  });

  it.each([
    ['HELLO without hostId', MessageType.HELLO, (() => { const { type: _t, hostId: _h, ...rest } = hello as Extract<ControlMessage, { type: 'hello' }>; return rest; })(), 'hostId'],
    ['HELLO with notes as a string', MessageType.HELLO, { ...hello, type: undefined, notes: 'abc' }, 'notes'],
    ['ACCEPT without totalChunks', MessageType.ACCEPT, { dumpId: 'd', nextSeq: 0 }, 'totalChunks'],
    ['ACK with nextSeq as a string', MessageType.ACK, { nextSeq: '5' }, 'nextSeq'],
    ['END without digest', MessageType.END, { totalChunks: 3 }, 'digest'],
    ['DONE without storedBytes', MessageType.DONE, { dumpId: 'd', path: '/x' }, 'storedBytes'],
    ['ERROR without retryable', MessageType.ERROR, { code: 'LIMIT', message: 'x' }, 'retryable'],
    ['LOG without crc', MessageType.LOG, { text: Buffer.from('x'), truncated: false }, 'crc'],
    ['LOG with its text as a string', MessageType.LOG, { text: 'x', crc: 1, truncated: false }, 'text'],
    ['ACCEPT with logWanted as a number', MessageType.ACCEPT, { dumpId: 'd', nextSeq: 0, totalChunks: 1, logWanted: 1 }, 'logWanted'],
  ])('%s -> PROTOCOL naming the field', (_what, type, body, field) => {
    const err = decodeError(rawControl(type, body));
    expect(err.code).toBe('PROTOCOL');
    expect(err.message).toContain(field);
    expect(err.context.field).toBe(field);
  });

  it('HELLO with a non-string token -> PROTOCOL', () => {
    const { type: _t, ...body } = hello as Extract<ControlMessage, { type: 'hello' }>;
    expect(decodeError(rawControl(MessageType.HELLO, { ...body, token: 42 })).code).toBe('PROTOCOL');
  });

  it('a body that is not a map -> PROTOCOL', () => {
    expect(decodeError(rawControl(MessageType.ACK, [1, 2, 3])).code).toBe('PROTOCOL');
    expect(decodeError(rawControl(MessageType.ACK, 5)).code).toBe('PROTOCOL');
    expect(decodeError(rawControl(MessageType.ACK, null)).code).toBe('PROTOCOL');
  });

  it.each([0, 42, 99, 255])('unknown message type %i -> PROTOCOL', (type) => {
    const err = decodeError(rawControl(type, { nextSeq: 1 }));
    expect(err.code).toBe('PROTOCOL');
    expect(err.message).toContain(`${type}`);
    expect(err.context.type).toBe(type);
  });

  it('an empty frame -> PROTOCOL', () => {
    expect(decodeError(Buffer.alloc(0)).code).toBe('PROTOCOL');
  });
});

describe('CHUNK messages', () => {
  const header: ChunkHeader = {
    seq: 0xfffe_fffd,
    startPfn: 2 ** 33 + 0x1234, // above 2^32: split into two 32-bit halves
    pageCount: 13,
    flags: CHUNK_LZ4,
    rawLength: 11 * 4096,
    chunkCrc: 0xdead_beef, // above 2^31
    payloadCrc: 0x8000_0001,
  };
  const bitmap = Buffer.from([0b0000_0101, 0b0001_0000]);
  const payload = Buffer.from('pretend lz4 block');

  it('the header round-trips through writeChunkHeader and decodeMessage', () => {
    expect(zeroBitmapLength(13)).toBe(2);
    const frame = chunkFrame(header, bitmap, payload);
    expect(frame[0]).toBe(MessageType.CHUNK);
    const decoded = decodeMessage(frame);
    expect(decoded).toEqual({ type: 'chunk', ...header, zeroBitmap: bitmap, payload });
  });

  it('writes the header at fixed little-endian offsets', () => {
    const frame = chunkFrame(header, bitmap, payload);
    expect(frame.readUInt32LE(1)).toBe(header.seq);
    expect(frame.readUInt32LE(5)).toBe(header.pageCount);
    expect(frame.readBigUInt64LE(9)).toBe(BigInt(header.startPfn));
    expect(frame.readUInt32LE(17)).toBe(header.flags);
    expect(frame.readUInt32LE(21)).toBe(header.rawLength);
    expect(frame.readUInt32LE(25)).toBe(header.chunkCrc);
    expect(frame.readUInt32LE(29)).toBe(payload.length);
    expect(frame.readUInt32LE(33)).toBe(header.payloadCrc);
  });

  it('a chunk of only zero pages has an empty payload', () => {
    const frame = chunkFrame({ ...header, pageCount: 8, flags: 0, rawLength: 0 }, Buffer.from([0xff]), Buffer.alloc(0));
    const decoded = decodeMessage(frame);
    expect(decoded.type).toBe('chunk');
    if (decoded.type === 'chunk') {
      expect(decoded.payload.length).toBe(0);
      expect([...decoded.zeroBitmap]).toEqual([0xff]);
    }
  });

  it('a CHUNK longer than its header promises -> PROTOCOL', () => {
    const frame = Buffer.concat([chunkFrame(header, bitmap, payload), Buffer.from([0])]);
    const err = decodeError(frame);
    expect(err.code).toBe('PROTOCOL');
    expect(err.context.seq).toBe(header.seq);
  });

  it('a CHUNK shorter than its header promises -> PROTOCOL', () => {
    const frame = chunkFrame(header, bitmap, payload);
    expect(decodeError(frame.subarray(0, frame.length - 1)).code).toBe('PROTOCOL');
  });

  it('a CHUNK whose page count needs a longer bitmap -> PROTOCOL', () => {
    const frame = chunkFrame(header, bitmap, payload);
    frame.writeUInt32LE(17, 5); // 17 pages need 3 bitmap bytes
    expect(decodeError(frame).code).toBe('PROTOCOL');
  });

  it('a CHUNK shorter than its fixed header -> PROTOCOL', () => {
    const frame = chunkFrame(header, bitmap, payload).subarray(0, 1 + CHUNK_HEADER_SIZE - 1);
    expect(decodeError(frame).code).toBe('PROTOCOL');
  });
});
