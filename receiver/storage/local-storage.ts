/**
 * Dumps on the local filesystem, as the receiver has always kept them:
 * DATA_DIR/<key> complete, DATA_DIR/<key>.incomplete while it arrives (see
 * shared/dump-folders.ts). The front is written in place (descriptors as
 * pages arrive), page data right after it: no padding, so a stored dump is
 * byte for byte what makedumpfile writes. Durability is fdatasync at
 * checkpoint; finish() truncates, syncs and renames into place.
 */
import { createReadStream, writeSync } from 'node:fs';
import { lstat, mkdir, open, readFile, realpath, rename, rm, stat, statfs, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ErrorCode, NetdumpError, badInput, corrupt } from '../../shared/errors.js';
import { claimDumpFolder } from '../../shared/dump-folders.js';
import {
  checkFrontWrite, checkKey, checkPlan,
  type DumpObjectPlan, type DumpObjectReader, type DumpObjectWriter, type DumpStorage, type LocalWriterState, type WriterState,
} from './dump-storage.js';

function ioError(what: string, file: string, error: unknown, context: Record<string, number | string> = {}): NetdumpError {
  return new NetdumpError(ErrorCode.INTERNAL, `cannot ${what} ${file}: ${(error as Error).message}`, { path: file, ...context }, { cause: error });
}

function writeFully(fd: number, data: Buffer, position: number): void {
  for (let done = 0; done < data.length;) {
    done += writeSync(fd, data, done, data.length - done, position + done);
  }
}

class LocalObjectWriter implements DumpObjectWriter {
  private end: number;
  private closed = false;

  constructor(
    readonly key: string,
    private readonly file: FileHandle,
    private readonly finalPath: string,
    private readonly incompletePath: string,
    private readonly frontBytes: number,
    dataEnd: number,
  ) {
    this.end = dataEnd;
  }

  get dataStart(): number {
    return this.frontBytes;
  }

  get dataEnd(): number {
    return this.end;
  }

  writeFront(offset: number, bytes: Buffer): void {
    checkFrontWrite(this.key, this.frontBytes, offset, bytes.length);
    try {
      writeFully(this.file.fd, bytes, offset);
    } catch (error) {
      throw ioError('write the front of', this.incompletePath, error, { offset });
    }
  }

  /**
   * Synchronous write into the page cache, as KdumpFileWriter.writePages does
   * (measured: fs/promises costs more main-thread time than it saves).
   */
  append(bytes: Buffer): Promise<void> {
    try {
      writeFully(this.file.fd, bytes, this.end);
    } catch (error) {
      return Promise.reject(ioError('append to', this.incompletePath, error, { offset: this.end }));
    }
    this.end += bytes.length;
    return Promise.resolve();
  }

  async checkpoint(): Promise<LocalWriterState> {
    const dataEnd = this.end;
    await this.file.datasync().catch((error) => { throw ioError('sync', this.incompletePath, error); });
    return { backend: 'local', version: 1, key: this.key, dataStart: this.frontBytes, dataEnd };
  }

  async finish(): Promise<{ size: number }> {
    try {
      // A resumed file may hold bytes past dataEnd that the previous writer wrote after its last checkpoint.
      await this.file.truncate(this.end);
      await this.file.sync();
      await this.close();
      await rename(this.incompletePath, this.finalPath);
    } catch (error) {
      throw ioError('complete', this.incompletePath, error);
    }
    return { size: this.end };
  }

  async abort(): Promise<void> {
    await this.close();
    await rm(this.incompletePath, { force: true });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.file.close().catch(() => {});
  }
}

class LocalObjectReader implements DumpObjectReader {
  constructor(readonly key: string, private readonly file: FileHandle, private readonly filePath: string, readonly size: number) {}

  async read(offset: number, length: number): Promise<Buffer> {
    if (offset < 0 || offset + length > this.size) throw corrupt(`read [${offset}, ${offset + length}) past the end of ${this.key} (${this.size} bytes)`, { key: this.key, offset });
    const out = Buffer.alloc(length);
    for (let done = 0; done < length;) {
      const { bytesRead } = await this.file.read(out, done, length - done, offset + done);
      if (bytesRead === 0) throw corrupt(`${this.filePath} ended at ${offset + done}, expected ${this.size} bytes`, { key: this.key, offset: offset + done });
      done += bytesRead;
    }
    return out;
  }

  async createReadStream(range?: { start: number; end: number }): Promise<Readable> {
    return createReadStream(this.filePath, range ? { start: range.start, end: range.end } : {});
  }

  async close(): Promise<void> {
    await this.file.close().catch(() => {});
  }
}

/** Bytes an unprivileged user may still write on the filesystem holding `dir`. */
export async function filesystemFreeBytes(dir: string): Promise<number> {
  const stats = await statfs(dir);
  return stats.bavail * stats.bsize;
}

export class LocalDumpStorage implements DumpStorage {
  constructor(readonly dataDir: string) {}

  get description(): string {
    return `local ${path.resolve(this.dataDir)}`;
  }

  /** The file a key names (keys are checked: no absolute paths, no '..'). */
  pathOf(key: string): string {
    return path.join(this.dataDir, checkKey(key));
  }

  async ping(): Promise<void> {
    const info = await stat(this.dataDir).catch((error: Error) => { throw ioError('look at', this.dataDir, error); });
    if (!info.isDirectory()) throw new NetdumpError(ErrorCode.INTERNAL, `data directory ${this.dataDir} is not a directory`, { path: this.dataDir });
  }

  locationOf(key: string): string {
    return path.resolve(this.pathOf(key));
  }

  filePath(key: string, state: { finished: boolean }): string {
    return this.locationOf(key) + (state.finished ? '' : '.incomplete');
  }

  freeBytes(): Promise<number> {
    return filesystemFreeBytes(this.dataDir);
  }

  /** A dump's place is its folder, <host>/<stamp>/: made here, it is taken, even by a dump the catalog forgot. */
  async claim(key: string): Promise<boolean> {
    return claimDumpFolder(this.dataDir, checkKey(key));
  }

  async unfinishedActivity(key: string): Promise<{ bytes: number; lastWriteMs: number } | undefined> {
    const info = await stat(`${this.pathOf(key)}.incomplete`).catch(() => undefined);
    return info && { bytes: info.size, lastWriteMs: info.mtimeMs };
  }

  /**
   * Removes the dump's folder DATA_DIR/<host>/<stamp>/ with everything in it
   * (vmcore or vmcore.incomplete, vmcore.elf-headers, dmesg.txt, ...). A
   * recursive delete must never leave the data directory or take a host's
   * whole folder: a key not of the form <host>/<stamp>/<file>, and a host or
   * dump folder that is a symlink or resolves elsewhere, are refused. The
   * host folder stays: an upload may be claiming a new folder in it now.
   */
  async removeDump(key: string): Promise<void> {
    const folder = path.dirname(path.resolve(this.pathOf(key)));
    if (key.split('/').length !== 3) throw badInput(`refusing to delete ${folder}: ${JSON.stringify(key)} is not <host>/<folder>/<file>`, { path: key });
    for (const dir of [path.dirname(folder), folder]) {
      const info = await lstat(dir).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined; // gone already: a crashed earlier run, or deleted by hand
        throw ioError('look at', dir, error);
      });
      if (!info) return;
      if (!info.isDirectory()) throw badInput(`refusing to delete ${folder}: ${dir} is not a directory (symlink?)`, { path: folder });
    }
    const [real, realDataDir] = await Promise.all([realpath(folder), realpath(this.dataDir)]);
    if (path.dirname(path.dirname(real)) !== realDataDir) throw badInput(`refusing to delete ${folder}: it resolves to ${real}, outside ${realDataDir}`, { path: folder });
    await rm(folder, { recursive: true, force: true });
  }

  async createWriter(key: string, plan: DumpObjectPlan): Promise<DumpObjectWriter> {
    checkPlan(plan);
    const finalPath = this.pathOf(key);
    const incompletePath = `${finalPath}.incomplete`;
    await mkdir(path.dirname(finalPath), { recursive: true });
    const file = await open(incompletePath, 'w+').catch((error) => { throw ioError('create', incompletePath, error); });
    return new LocalObjectWriter(key, file, finalPath, incompletePath, plan.frontBytes, plan.frontBytes);
  }

  async resumeWriter(key: string, plan: DumpObjectPlan, state: WriterState): Promise<DumpObjectWriter> {
    checkPlan(plan);
    if (state.backend !== 'local' || state.version !== 1 || state.key !== key || state.dataStart !== plan.frontBytes || state.dataEnd < state.dataStart) {
      throw corrupt(`resume state for ${key} does not fit this store (backend ${state.backend}, key ${state.key}, data start ${state.dataStart} vs front ${plan.frontBytes})`, { key });
    }
    const finalPath = this.pathOf(key);
    const incompletePath = `${finalPath}.incomplete`;
    const file = await open(incompletePath, 'r+').catch((error: NodeJS.ErrnoException) => {
      // A state whose file is gone (aborted, discarded) is stale, as an S3 upload that is gone.
      if (error.code === 'ENOENT') throw corrupt(`resume state of ${key} names ${incompletePath}, which is gone`, { key });
      throw ioError('reopen to resume', incompletePath, error);
    });
    const { size } = await file.stat();
    if (size < state.dataEnd) {
      await file.close();
      throw corrupt(`${incompletePath} has ${size} bytes, its resume state says ${state.dataEnd} are durable`, { key, offset: size });
    }
    return new LocalObjectWriter(key, file, finalPath, incompletePath, plan.frontBytes, state.dataEnd);
  }

  async openReader(key: string): Promise<DumpObjectReader | undefined> {
    const filePath = this.pathOf(key);
    let file: FileHandle;
    try {
      file = await open(filePath, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw ioError('open', filePath, error);
    }
    const { size } = await file.stat();
    return new LocalObjectReader(key, file, filePath, size);
  }

  async exists(key: string): Promise<boolean> {
    return stat(this.pathOf(key)).then((s) => s.isFile(), () => false);
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async discard(key: string): Promise<void> {
    await rm(`${this.pathOf(key)}.incomplete`, { force: true });
  }

  async put(key: string, bytes: Buffer): Promise<void> {
    const filePath = this.pathOf(key);
    const tmp = `${filePath}.tmp-${process.pid}`;
    await mkdir(path.dirname(filePath), { recursive: true });
    await writeFile(tmp, bytes);
    await rename(tmp, filePath);
  }

  async get(key: string): Promise<Buffer | undefined> {
    return readFile(this.pathOf(key)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw ioError('read', this.pathOf(key), error);
    });
  }

  async close(): Promise<void> {}
}
