/**
 * Length-prefixed framing for stream transports (TCP, TLS): each frame is a
 * 4-byte big-endian length followed by that many bytes. A pull parser that
 * never touches a socket: the transport pushes bytes in and takes whole
 * frames out when it is ready for them, which is what lets it pause the
 * socket while a frame is being handled (backpressure).
 */
import { limitError, protocolError } from '../errors.js';

export const FRAME_PREFIX_SIZE = 4;

export function framePrefix(length: number): Buffer {
  const prefix = Buffer.allocUnsafe(FRAME_PREFIX_SIZE);
  prefix.writeUInt32BE(length, 0);
  return prefix;
}

export class FrameDecoder {
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private nextLength = -1;
  /** Total bytes consumed by whole frames so far (for error context). */
  private consumed = 0;
  /** Where frames that span several reads are assembled, when reuse is on. */
  private assembly?: Buffer;

  /**
   * With `reuseAssembly`, a frame that spans several pushes is assembled in
   * one buffer that the next call overwrites: the caller must be done with a
   * frame before asking for the next. It saves an allocation and the garbage
   * per large frame on the receiver's hot path.
   */
  constructor(private readonly maxFrameBytes: number, private readonly reuseAssembly = false) {}

  /** Bytes received but not yet returned as part of a frame. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  push(data: Buffer): void {
    if (data.length === 0) return;
    this.pending.push(data);
    this.pendingBytes += data.length;
  }

  /**
   * The length the next frame's prefix announces, as soon as its 4 bytes are
   * in, without taking anything; undefined before. Lets a caller budget a
   * frame before its bytes arrive.
   */
  announcedLength(): number | undefined {
    if (this.nextLength >= 0) return this.nextLength;
    if (this.pendingBytes < FRAME_PREFIX_SIZE) return undefined;
    const head = this.pending[0];
    if (head.length >= FRAME_PREFIX_SIZE) return head.readUInt32BE(0);
    const prefix = Buffer.alloc(FRAME_PREFIX_SIZE);
    let filled = 0;
    for (const part of this.pending) {
      filled += part.copy(prefix, filled, 0, Math.min(part.length, FRAME_PREFIX_SIZE - filled));
      if (filled === FRAME_PREFIX_SIZE) break;
    }
    return prefix.readUInt32BE(0);
  }

  /** The next whole frame, or null when more bytes are needed. Throws on an oversized or empty frame. */
  next(): Buffer | null {
    if (this.nextLength < 0) {
      if (this.pendingBytes < FRAME_PREFIX_SIZE) return null;
      const length = this.take(FRAME_PREFIX_SIZE).readUInt32BE(0);
      if (length === 0) throw protocolError(`empty frame at stream offset ${this.consumed}`, { offset: this.consumed });
      if (length > this.maxFrameBytes) {
        throw limitError(`frame of ${length} bytes at stream offset ${this.consumed} exceeds the limit of ${this.maxFrameBytes}`, {
          offset: this.consumed,
          length,
        });
      }
      this.consumed += FRAME_PREFIX_SIZE;
      this.nextLength = length;
    }
    if (this.pendingBytes < this.nextLength) return null;
    const frame = this.take(this.nextLength);
    this.consumed += this.nextLength;
    this.nextLength = -1;
    return frame;
  }

  /** Removes n buffered bytes; a slice without copying when they sit in one buffer. */
  private take(n: number): Buffer {
    const head = this.pending[0];
    if (head.length >= n) {
      this.pendingBytes -= n;
      if (head.length === n) this.pending.shift();
      else this.pending[0] = head.subarray(n);
      return head.subarray(0, n);
    }
    let out: Buffer;
    if (this.reuseAssembly) {
      if (!this.assembly || this.assembly.length < n) this.assembly = Buffer.allocUnsafe(Math.max(n, 2 * (this.assembly?.length ?? 0)));
      out = this.assembly.subarray(0, n);
    } else {
      out = Buffer.allocUnsafe(n);
    }
    let filled = 0;
    while (filled < n) {
      const part = this.pending[0];
      const want = Math.min(n - filled, part.length);
      part.copy(out, filled, 0, want);
      filled += want;
      if (want === part.length) this.pending.shift();
      else this.pending[0] = part.subarray(want);
    }
    this.pendingBytes -= n;
    return out;
  }
}
