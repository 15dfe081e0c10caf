import { describe, it, expect, vi, afterEach } from 'vitest';
import { NetdumpError } from '../../shared/errors.js';
import { FRAME_PREFIX_SIZE, FrameDecoder, framePrefix } from '../../shared/protocol/frame-decoder.js';

function frameOf(body: Buffer): Buffer {
  return Buffer.concat([framePrefix(body.length), body]);
}

function bodies(): Buffer[] {
  const out: Buffer[] = [];
  for (const len of [1, 2, 3, 4, 5, 7, 100, 4096, 10_000]) {
    const b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) b[i] = (i * 31 + len) & 0xff;
    out.push(b);
  }
  return out;
}

/** Compares frame lists as hex (deep equality over large Buffers is slow). */
function hex(frames: Buffer[]): string[] {
  return frames.map((f) => f.toString('hex'));
}

function drain(decoder: FrameDecoder, into: Buffer[]): void {
  for (let frame = decoder.next(); frame !== null; frame = decoder.next()) into.push(Buffer.from(frame));
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 0x1_0000_0000;
  };
}

function nextError(decoder: FrameDecoder): NetdumpError {
  try {
    decoder.next();
  } catch (error) {
    expect(error).toBeInstanceOf(NetdumpError);
    return error as NetdumpError;
  }
  throw new Error('expected next() to throw');
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('FrameDecoder', () => {
  const expected = bodies();
  const stream = Buffer.concat(expected.map(frameOf));

  it('framePrefix is a 4-byte big-endian length', () => {
    expect(FRAME_PREFIX_SIZE).toBe(4);
    expect([...framePrefix(0x01020304)]).toEqual([1, 2, 3, 4]);
  });

  it('returns frames pushed in one piece', () => {
    const d = new FrameDecoder(1 << 20);
    d.push(stream);
    const got: Buffer[] = [];
    drain(d, got);
    expect(hex(got)).toEqual(hex(expected));
    expect(d.bufferedBytes).toBe(0);
  });

  it('reassembles frames pushed byte by byte', () => {
    const d = new FrameDecoder(1 << 20);
    const got: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) {
      d.push(stream.subarray(i, i + 1));
      drain(d, got);
    }
    expect(hex(got)).toEqual(hex(expected));
    expect(d.bufferedBytes).toBe(0);
  });

  it('reassembles frames split at arbitrary boundaries', () => {
    const rand = lcg(7);
    for (let round = 0; round < 40; round++) {
      const d = new FrameDecoder(1 << 20);
      const got: Buffer[] = [];
      let at = 0;
      while (at < stream.length) {
        const n = 1 + Math.floor(rand() * (round % 2 ? 9 : 6000));
        d.push(Buffer.from(stream.subarray(at, at + n)));
        at += n;
        if (rand() < 0.7) drain(d, got);
      }
      drain(d, got);
      expect(hex(got)).toEqual(hex(expected));
    }
  });

  it('returns null until the whole frame is there and counts buffered bytes', () => {
    const d = new FrameDecoder(100);
    const frame = frameOf(Buffer.from('hello'));
    d.push(frame.subarray(0, 2));
    expect(d.next()).toBeNull();
    expect(d.bufferedBytes).toBe(2);
    d.push(frame.subarray(2, 6));
    expect(d.next()).toBeNull();
    d.push(Buffer.alloc(0));
    expect(d.next()).toBeNull();
    d.push(frame.subarray(6));
    expect(d.next()?.toString()).toBe('hello');
    expect(d.next()).toBeNull();
  });

  it('accepts a frame of exactly the limit', () => {
    const d = new FrameDecoder(16);
    d.push(frameOf(Buffer.alloc(16, 1)));
    expect(d.next()?.length).toBe(16);
  });

  it('an oversized frame -> LIMIT from its prefix alone, before allocating its body', () => {
    const d = new FrameDecoder(1 << 20);
    const allocUnsafe = vi.spyOn(Buffer, 'allocUnsafe');
    const alloc = vi.spyOn(Buffer, 'alloc');
    d.push(frameOf(Buffer.from('ok')));
    expect(d.next()?.toString()).toBe('ok');
    // Only the 4-byte prefix of a 3 GiB frame has arrived.
    d.push(framePrefix(0xc000_0000));
    const err = nextError(d);
    expect(err.code).toBe('LIMIT');
    expect(err.message).toContain(`${0xc000_0000}`);
    expect(err.message).toContain('stream offset 6');
    expect(err.context).toMatchObject({ offset: 6, length: 0xc000_0000 });
    const sizes = [...allocUnsafe.mock.calls, ...alloc.mock.calls].map((call) => Number(call[0]));
    expect(sizes.every((n) => n <= 1 << 20)).toBe(true);
  });

  it('a frame one byte over the limit -> LIMIT', () => {
    const d = new FrameDecoder(16);
    d.push(frameOf(Buffer.alloc(17)));
    expect(nextError(d).code).toBe('LIMIT');
  });

  it('a zero-length frame -> PROTOCOL naming its stream offset', () => {
    const d = new FrameDecoder(100);
    d.push(Buffer.concat([frameOf(Buffer.from('abc')), framePrefix(0)]));
    expect(d.next()?.toString()).toBe('abc');
    const err = nextError(d);
    expect(err.code).toBe('PROTOCOL');
    expect(err.message).toContain('stream offset 7');
    expect(err.context.offset).toBe(7);
  });

  it('a zero-length frame split across pushes -> PROTOCOL', () => {
    const d = new FrameDecoder(100);
    d.push(Buffer.from([0, 0]));
    expect(d.next()).toBeNull();
    d.push(Buffer.from([0, 0]));
    expect(nextError(d).code).toBe('PROTOCOL');
  });
});
