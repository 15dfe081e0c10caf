/**
 * Where KdumpFileWriter puts its bytes. shared/ knows only this; the receiver
 * adapts its storage writer (receiver/storage/dump-storage.ts
 * DumpObjectWriter) to it, the sender's local fallback uses FileSink.
 *
 *   writeFront(offset, bytes)  [0, dataStart): header, notes, bitmaps,
 *                              descriptors. Synchronous; bytes are written or
 *                              copied on return (the caller reuses them). In a
 *                              new file, front bytes never written read as zero
 *                              (a file's hole, a zeroed buffer).
 *   append(bytes)              page data at the current end, in order; bytes
 *                              written or copied on return; a returned
 *                              promise is backpressure and carries errors.
 *
 * Durability (sync, checkpoint) and completion belong to the sink's owner.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { writeSync } from 'node:fs';
import { ErrorCode, NetdumpError } from '../errors.js';

export interface KdumpSink {
  /** First byte of page data; at least the layout's dataStart. */
  readonly dataStart: number;
  writeFront(offset: number, bytes: Buffer): void;
  append(bytes: Buffer): void | Promise<void>;
}

/** A local file written in place with synchronous writes into the page cache. */
export class FileSink implements KdumpSink {
  private constructor(private readonly file: FileHandle, readonly path: string, readonly dataStart: number, private end: number) {}

  /** Creates (truncating) the file. */
  static async create(path: string, dataStart: number): Promise<FileSink> {
    const file = await open(path, 'w+').catch((error: Error) => {
      throw new NetdumpError(ErrorCode.INTERNAL, `cannot create ${path}: ${error.message}`, { path });
    });
    return new FileSink(file, path, dataStart, dataStart);
  }

  /** Reopens a partly written file to append after `dataEnd` (resume). */
  static async reopen(path: string, dataStart: number, dataEnd: number): Promise<FileSink> {
    const file = await open(path, 'r+').catch((error: Error) => {
      throw new NetdumpError(ErrorCode.INTERNAL, `cannot reopen ${path} to resume: ${error.message}`, { path });
    });
    return new FileSink(file, path, dataStart, dataEnd);
  }

  get dataEnd(): number {
    return this.end;
  }

  writeFront(offset: number, bytes: Buffer): void {
    this.writeAt(bytes, offset);
  }

  append(bytes: Buffer): void {
    this.writeAt(bytes, this.end);
    this.end += bytes.length;
  }

  private writeAt(data: Buffer, position: number): void {
    try {
      for (let done = 0; done < data.length;) {
        done += writeSync(this.file.fd, data, done, data.length - done, position + done);
      }
    } catch (error) {
      throw new NetdumpError(ErrorCode.INTERNAL, `cannot write ${this.path} at ${position}: ${(error as Error).message}`, { offset: position });
    }
  }

  /** Makes every byte written so far durable. */
  async sync(): Promise<void> {
    await this.file.datasync();
  }

  /** Cuts the file at the end of page data, syncs and closes; returns the size. */
  async finish(): Promise<number> {
    await this.file.truncate(this.end);
    await this.file.sync();
    await this.file.close();
    return this.end;
  }

  async close(): Promise<void> {
    await this.file.close().catch(() => {});
  }
}
