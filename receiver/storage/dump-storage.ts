/**
 * Where the receiver keeps dumps: one interface, two backends (the local
 * filesystem, S3-compatible object storage), one conformance suite
 * (test/engines/object-storage.test.ts).
 *
 * A dump object is a kdump-compressed file seen as two regions:
 *
 *   [0, frontBytes)          the front: header, sub-header and notes, bitmaps,
 *                            descriptor table. Its size is known at HELLO
 *                            (shared/kdump/layout.ts computeLayout: dataStart).
 *                            Written in place, in any order, at any time.
 *   [frontBytes, dataStart)  padding (zeros) some backends need; none locally.
 *   [dataStart, dataEnd)     page data, appended in order as chunks arrive.
 *
 * Descriptors hold absolute offsets, so the writer says where page data
 * starts (`dataStart`) and the caller lays its pages out from there; crash
 * and makedumpfile never read the gap.
 *
 * Nothing is visible under the key until finish(). Between, checkpoint()
 * makes everything written so far durable and returns a WriterState: a plain,
 * JSON-serialisable object that lets another writer (another process, another
 * receiver) continue with resumeWriter() from exactly that point.
 */
import type { Readable } from 'node:stream';
import { badInput } from '../../shared/errors.js';

/** What a backend needs to know before the first byte. */
export interface DumpObjectPlan {
  /** Bytes before the page data in the natural layout (KdumpLayout.dataStart). */
  frontBytes: number;
  /** Most page-data bytes the dump can take: every dumpable page stored raw, plus the shared zero page. Sizes S3 parts. */
  maxDataBytes: number;
}

/** Where a writer stands after a checkpoint; JSON in, JSON out. The fields are the backend's own. */
export type WriterState = LocalWriterState | S3WriterState;

export interface LocalWriterState {
  backend: 'local';
  version: 1;
  key: string;
  dataStart: number;
  /** Everything below is on disk (fdatasync'd). */
  dataEnd: number;
}

export interface S3PartRecord {
  partNumber: number;
  etag: string;
  size: number;
}

/** A resume object (`<key>.resume/…`) holding a slice of the front. */
export interface S3FrontJournalEntry {
  name: string;
  offset: number;
  size: number;
}

export interface S3WriterState {
  backend: 's3';
  version: 1;
  key: string;
  /** 'single': small dump, one PutObject at finish; 'multipart': data parts 2..n, front as part 1 at finish. */
  mode: 'single' | 'multipart';
  uploadId?: string;
  frontBytes: number;
  dataStart: number;
  /** Everything below is in the store: data parts plus the tail object. */
  dataEnd: number;
  /** Data parts uploaded, in order (part 1, the front, comes at finish). */
  parts: S3PartRecord[];
  /** Data after the last part (what becomes part parts.length + 2), kept in object `tailName`. */
  tailBytes: number;
  tailName?: string;
  /** Slices of the front written so far, applied in order on resume. */
  frontJournal: S3FrontJournalEntry[];
}

export interface DumpObjectWriter {
  readonly key: string;
  /** First byte of page data: the plan's frontBytes, or more where the backend pads the front. */
  readonly dataStart: number;
  /** One past the last byte of page data appended. */
  readonly dataEnd: number;
  /**
   * Writes `bytes` at `offset` in the front ([0, frontBytes)). Any order, any
   * time before finish(); later writes win. Synchronous: the bytes are
   * written or copied when it returns.
   */
  writeFront(offset: number, bytes: Buffer): void;
  /**
   * Appends page data at dataEnd. `bytes` is written or copied before append
   * returns (the caller may reuse it at once); the promise is backpressure
   * (an upload in flight) and carries upload errors.
   */
  append(bytes: Buffer): Promise<void>;
  /**
   * Makes everything written before the call durable and returns the state to
   * resume from. One at a time; appends may continue while it runs (the state
   * describes the point where it started). The caller must have stored the
   * previous state before calling again: the backend may then delete what
   * only older states referenced.
   */
  checkpoint(): Promise<WriterState>;
  /** Makes the object visible under its key, complete; returns its size. No append or checkpoint may be running. */
  finish(): Promise<{ size: number }>;
  /** Drops everything this object has in the store (also what earlier writers of it left). */
  abort(): Promise<void>;
  /** Releases local resources; the store keeps the last checkpoint, to resume from. */
  close(): Promise<void>;
}

export interface DumpObjectReader {
  readonly key: string;
  readonly size: number;
  /** Exactly `length` bytes at `offset` (throws CORRUPT past the end). */
  read(offset: number, length: number): Promise<Buffer>;
  /** Bytes [start, end] (inclusive, as HTTP ranges and fs.createReadStream), the whole object by default. */
  createReadStream(range?: { start: number; end: number }): Promise<Readable>;
  close(): Promise<void>;
}

/**
 * Callers never ask which backend this is: what differs between stores
 * (free space, a dump's place, files crash can open) is asked of the store.
 */
export interface DumpStorage {
  /** What and where this store is, for logs: "local /var/lib/kdump-receiver", "s3://bucket/prefix/". */
  readonly description: string;
  /** Starts the object `key` (replacing any unfinished one under that key). */
  createWriter(key: string, plan: DumpObjectPlan): Promise<DumpObjectWriter>;
  /** Continues an unfinished object from a state checkpoint() returned (same key and plan). */
  resumeWriter(key: string, plan: DumpObjectPlan, state: WriterState): Promise<DumpObjectWriter>;
  /** A complete object, or undefined when there is none under `key`. */
  openReader(key: string): Promise<DumpObjectReader | undefined>;
  /** Whether a complete object exists under `key`. */
  exists(key: string): Promise<boolean>;
  /** Deletes the complete object under `key`; nothing there is not an error. */
  delete(key: string): Promise<void>;
  /** Drops an unfinished object (abandoned upload) without a writer: its state if known, and whatever resume data the store holds. */
  discard(key: string, state?: WriterState): Promise<void>;
  /** Small whole objects beside a dump (ELF headers, dmesg.txt): written atomically. */
  put(key: string, bytes: Buffer): Promise<void>;
  get(key: string): Promise<Buffer | undefined>;
  /** Throws (UNAVAILABLE when unreachable) unless the store answers and the dumps' place is there. */
  ping(): Promise<void>;
  /** Where `key` is, for people: a path, an s3:// URL. */
  locationOf(key: string): string;
  /**
   * The file on this machine that holds `key` now (while it arrives, its
   * unfinished file), for tools that open files, such as crash; undefined
   * where the store keeps no such file.
   */
  filePath(key: string, state: { finished: boolean }): string | undefined;
  /** Bytes free where dumps are written, for the free-space reserve; undefined where the store shows no such limit. */
  freeBytes(): Promise<number | undefined>;
  /**
   * Takes the place of a new dump's key before its catalog row is written:
   * false when something is there already, which the catalog does not know
   * of (a deleted row, a restored backup) and which is never written into.
   */
  claim(key: string): Promise<boolean>;
  /**
   * Removes everything a dump has in the store: its object, finished or
   * not, with its resume data (`state`, the catalog's writer state, names
   * it; without it the store finds it by key), and the small objects put()
   * beside it (ELF headers, kernel log). Nothing there is not an error; a
   * place that is not the dump's own (a link leading out) is refused
   * (BAD_INPUT) and left as it is.
   */
  removeDump(key: string, state?: WriterState): Promise<void>;
  /**
   * How big an unfinished object is and when it was last written, where the
   * store can see more than the last checkpoint (a live upload keeps
   * writing its file); undefined where it cannot, or there is none.
   */
  unfinishedActivity(key: string): Promise<{ bytes: number; lastWriteMs: number } | undefined>;
  /** Ends clients and connections. */
  close(): Promise<void>;
}

/** Keys are relative paths of simple names ("host/2026-11-26-14:05:09/vmcore"), the same in every backend. */
const KEY_SEGMENT = /^[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,127}$/;

export function checkKey(key: string): string {
  const segments = key.split('/');
  if (key.length > 512 || segments.some((s) => !KEY_SEGMENT.test(s) || s === '..' || s.endsWith('.resume'))) {
    throw badInput(`storage key ${JSON.stringify(key.slice(0, 80))} is not a relative path of names made of letters, digits, '.', '_', ':' or '-'`);
  }
  return key;
}

/** A writer state as the catalog keeps it (JSON); undefined when there is none or it is not JSON. */
export function parseWriterState(text: string | undefined): WriterState | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as WriterState;
  } catch {
    return undefined;
  }
}

/**
 * Drops a dump's object under `key`, finished or not, with an upload in
 * progress and its resume objects, so the same key can start over; the
 * dump's place and what is beside it stay (removeDump takes those too).
 */
export async function dropDumpObject(storage: DumpStorage, key: string, stateText: string | undefined): Promise<void> {
  await storage.discard(key, parseWriterState(stateText));
  await storage.delete(key);
}

/** The front's size check shared by backends: a writer never writes past it. */
export function checkFrontWrite(key: string, frontBytes: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > frontBytes) {
    throw new RangeError(`front write [${offset}, ${offset + length}) of ${key} outside the front [0, ${frontBytes})`);
  }
}

export function checkPlan(plan: DumpObjectPlan): void {
  if (!Number.isSafeInteger(plan.frontBytes) || plan.frontBytes < 1 || !Number.isSafeInteger(plan.maxDataBytes) || plan.maxDataBytes < 0) {
    throw new RangeError(`bad dump object plan: front ${plan.frontBytes}, max data ${plan.maxDataBytes}`);
  }
}
