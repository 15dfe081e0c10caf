/**
 * The dump as the sender sees it: an ELF core file (normally /proc/vmcore)
 * read page range by page range with synchronous preads into a caller's
 * buffer, or, where it is mapped (/proc/vmcore), by the chunk encoder
 * through its mapping (fileRangeOf). Synchronous on purpose: the capture
 * kernel gives us one CPU, the socket's kernel buffer already overlaps
 * network with reading, and a thread-pool hop per read would only add
 * latency.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync, realpathSync } from 'node:fs';
import { badInput, corrupt, NetdumpError, ErrorCode } from '../shared/errors.js';
import { ELF_HEADER_SIZE, findVmcoreinfoNote, headersLength, parseElfHeader, parseNotes, parseProgramHeaders } from '../shared/elf/core.js';
import { describeCore, noteSegment, type CoreDescription } from '../shared/elf/core-description.js';
import { MAX_HELLO_BYTES } from '../shared/protocol/messages.js';
import { readSpansForPages, readSpansForRange, type ReadSpan } from '../shared/elf/page-map.js';
import { releaseMappedWindow, type FileRange } from './chunk-encoder-native.js';
import { kcoreOffsetOf, vmcoreLayoutOfKcore, type KcoreLayout } from './live/kcore-layout.js';

/** Notes larger than this are not a real core's (a few hundred bytes per CPU plus VMCOREINFO), and would not fit a HELLO. */
const MAX_NOTES_BYTES = MAX_HELLO_BYTES - 1024 * 1024;

export class VmcoreSource {
  private constructor(
    private readonly fd: number,
    readonly path: string,
    readonly size: number,
    readonly headerBytes: Buffer,
    readonly notes: Buffer,
    readonly core: CoreDescription,
    /** Whether the chunk encoder reads pages through a mapping of the file (fileRangeOf), rather than read(). */
    readonly mapped: boolean,
    /**
     * A live snapshot: the file is /proc/kcore, seen through a vmcore-shaped
     * layout (live/kcore-layout.ts); offsets, sizes and headers here are the
     * layout's, and reads go to where the layout says in kcore.
     */
    readonly live?: KcoreLayout,
  ) {}

  /**
   * `mapped`: read pages through a mapping of the file. The default is to
   * map /proc/vmcore alone: its read() copies each page out through an
   * ioremap made and unmade per page (fs/proc/vmcore.c, copy_oldmem_page),
   * its mmap maps a range once, which is why makedumpfile maps it. For a
   * file in the page cache it makes no difference worth its window of RSS
   * (busy 6.1 core at -d 1, six runs each: 0.855 s of sender CPU mapped,
   * 0.865 s read).
   */
  static open(path: string, options: { mapped?: boolean } = {}): VmcoreSource {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw badInput(`cannot open vmcore ${path}: ${code === 'ENOENT' ? 'no such file (is this the capture kernel?)' : (error as Error).message}`, { path });
    }
    try {
      const size = fstatSync(fd).size;
      const first = readExactly(fd, Buffer.alloc(ELF_HEADER_SIZE), 0, path);
      const elf = parseElfHeader(first);
      const headerBytes = readExactly(fd, Buffer.alloc(headersLength(elf)), 0, path);
      const noteSeg = noteSegment(parseProgramHeaders(headerBytes, elf));
      if (noteSeg.filesz > MAX_NOTES_BYTES) throw corrupt(`PT_NOTE segment of ${noteSeg.filesz} bytes is implausibly large`, { offset: noteSeg.offset });
      if (noteSeg.offset + noteSeg.filesz > size) {
        throw corrupt(`PT_NOTE segment ends at ${noteSeg.offset + noteSeg.filesz}, past the end of ${path} (${size} bytes): truncated vmcore`, { offset: noteSeg.offset });
      }
      const notes = readExactly(fd, Buffer.alloc(noteSeg.filesz), noteSeg.offset, path);
      const core = describeCore(headerBytes, notes, size);
      return new VmcoreSource(fd, path, size, headerBytes, notes, core, options.mapped ?? isProcVmcore(path));
    } catch (error) {
      closeSync(fd);
      // Whatever is wrong with the core is bad input to the sender, never worth a retry.
      if (error instanceof NetdumpError) throw new NetdumpError(ErrorCode.BAD_INPUT, `${path}: ${error.message}`, error.context);
      throw error;
    }
  }

  /**
   * The running kernel's memory, for a live snapshot: /proc/kcore (or
   * `path`) read as the vmcore-shaped file of live/kcore-layout.ts. Never
   * mapped (kcore's mmap serves only some of its segments), never written.
   * Refuses with BAD_INPUT, saying why, where kcore cannot be read (no root,
   * kernel lockdown, CONFIG_PROC_KCORE=n) or has no VMCOREINFO.
   */
  static openLive(path = '/proc/kcore'): VmcoreSource {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      throw badInput(`cannot open ${path} for a live snapshot: ${whyKcoreUnreadable(path, error as NodeJS.ErrnoException)}`, { path });
    }
    try {
      const first = readExactly(fd, Buffer.alloc(ELF_HEADER_SIZE), 0, path);
      const kcoreHeaders = readExactly(fd, Buffer.alloc(headersLength(parseElfHeader(first))), 0, path);
      const layout = vmcoreLayoutOfKcore(kcoreHeaders, path);
      const noteSeg = noteSegment(parseProgramHeaders(layout.headerBytes, parseElfHeader(layout.headerBytes)));
      if (noteSeg.filesz > MAX_NOTES_BYTES) throw corrupt(`PT_NOTE segment of ${noteSeg.filesz} bytes is implausibly large`, { offset: noteSeg.offset });
      const notes = readExactly(fd, Buffer.alloc(noteSeg.filesz), kcoreOffsetOf(layout, noteSeg.offset, noteSeg.filesz)!, path);
      if (!findVmcoreinfoNote(parseNotes(notes))) {
        throw badInput('its notes hold no VMCOREINFO (a kernel before 4.19, or built without CONFIG_CRASH_CORE / CONFIG_VMCORE_INFO): ' +
          'nothing says where the kernel keeps its structures, so no dump level or tool could read the snapshot');
      }
      const core = describeCore(layout.headerBytes, notes, layout.size);
      return new VmcoreSource(fd, path, layout.size, layout.headerBytes, notes, core, false, layout);
    } catch (error) {
      closeSync(fd);
      if (error instanceof NetdumpError) throw new NetdumpError(ErrorCode.BAD_INPUT, `${path}: ${error.message}`, error.context);
      throw error;
    }
  }

  /**
   * Fills `out` with pages [startPfn, startPfn + count). Bytes not backed by
   * the file (holes, unaligned edges) read as zero.
   */
  readPages(startPfn: number, count: number, out: Buffer): Buffer {
    const pageSize = this.core.pageSize;
    return this.fill(out.subarray(0, count * pageSize), readSpansForPages(this.core.pageMap, startPfn, count));
  }

  /**
   * Where pages [startPfn, startPfn + count) lie in the file, when they lie
   * in one contiguous range of it (no hole, no segment edge, the common
   * case) and the source is mapped: for the chunk encoder's mapped reads.
   * Undefined otherwise.
   */
  fileRangeOf(startPfn: number, count: number): FileRange | undefined {
    if (!this.mapped) return undefined;
    const length = count * this.core.pageSize;
    const spans = readSpansForPages(this.core.pageMap, startPfn, count);
    if (spans.length !== 1 || spans[0].bufferOffset !== 0 || spans[0].length !== length) return undefined;
    return { fd: this.fd, offset: spans[0].fileOffset, fileSize: this.size };
  }

  /** Reads physical memory [phys, phys + length); bytes outside the core read as zero. */
  readPhysical(phys: number, length: number): Buffer {
    return this.readPhysicalInto(phys, Buffer.alloc(length));
  }

  /** Fills `target` with physical memory from `phys` on, as readPhysical does: for callers that reuse one buffer. */
  readPhysicalInto(phys: number, target: Buffer): Buffer {
    return this.fill(target, readSpansForRange(this.core.pageMap, phys, target.length));
  }

  private fill(target: Buffer, spans: ReadSpan[]): Buffer {
    let covered = 0;
    for (const span of spans) covered += span.length;
    if (covered !== target.length) target.fill(0);
    for (const span of spans) {
      readExactly(this.fd, target.subarray(span.bufferOffset, span.bufferOffset + span.length), this.positionOf(span.fileOffset, span.length), this.path);
    }
    return target;
  }

  /** Where `length` bytes at `offset` of the core are in the open file: the same place, but for a live snapshot. */
  private positionOf(offset: number, length: number): number {
    if (!this.live) return offset;
    const at = kcoreOffsetOf(this.live, offset, length);
    if (at === undefined) throw corrupt(`offset ${offset}+${length} of the snapshot is outside every kcore segment`, { offset });
    return at;
  }

  close(): void {
    // The chunk encoder may still map this file: unmapped first, as the fd number can be reused.
    if (this.mapped) releaseMappedWindow();
    closeSync(this.fd);
  }
}

/** Why kcore would not open, in the operator's terms: the errno and what usually causes it. */
function whyKcoreUnreadable(path: string, error: NodeJS.ErrnoException): string {
  if (error.code === 'ENOENT') return 'no such file: the kernel is built without CONFIG_PROC_KCORE, or /proc is not mounted';
  if (error.code === 'EPERM' || error.code === 'EACCES') {
    const lockdown = /\[(\w+)\]/.exec(readTextOr('/sys/kernel/security/lockdown'))?.[1];
    if (lockdown && lockdown !== 'none') return `permission denied: the kernel is locked down (${lockdown}), which closes /proc/kcore to everyone`;
    return process.getuid?.() === 0
      ? 'permission denied, though running as root: CAP_SYS_RAWIO is missing (a container or a capability bounding set), or an LSM refuses it'
      : 'permission denied: a live snapshot reads kernel memory and needs root (CAP_SYS_RAWIO)';
  }
  return `${error.message} (${path})`;
}

function readTextOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function isProcVmcore(path: string): boolean {
  try {
    return realpathSync(path) === '/proc/vmcore';
  } catch {
    return false;
  }
}

function readExactly(fd: number, into: Buffer, position: number, path: string): Buffer {
  let done = 0;
  while (done < into.length) {
    let n: number;
    try {
      n = readSync(fd, into, done, into.length - done, position + done);
    } catch (error) {
      throw new NetdumpError(ErrorCode.BAD_INPUT, `read error in ${path} at offset ${position + done}: ${(error as Error).message}`, {
        offset: position + done,
      });
    }
    if (n === 0) {
      throw badInput(`${path} ends at offset ${position + done}, expected ${into.length - done} more bytes: truncated vmcore`, {
        offset: position + done,
      });
    }
    done += n;
  }
  return into;
}
