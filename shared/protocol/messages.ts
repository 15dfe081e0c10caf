/**
 * Protocol messages. A message is one byte of type followed by its body:
 * control messages carry a msgpack map; CHUNK carries a fixed little-endian
 * header and the page payload, so the bulk path never copies pages through
 * a serializer. See docs/protocol.md.
 */
// msgpackr/pack is the same Packr (it unpacks too) without the records (struct.js), streams and the probe for
// the optional msgpackr-extract addon that the package's main entry loads: a third of the sender's start-up.
import { Packr } from 'msgpackr/pack';
import { ErrorCode, isErrorCode, protocolError, corrupt } from '../errors.js';
import { isChecksumKind, MAX_CHECKSUMS_OFFERED, type ChecksumKind } from './checksum-kinds.js';

export const PROTOCOL_VERSION = 1;

export const MessageType = {
  HELLO: 1,
  ACCEPT: 2,
  CHUNK: 3,
  ACK: 4,
  END: 5,
  DONE: 6,
  ERROR: 7,
  PROBE: 8,
  PROBE_OK: 9,
  LOG: 10,
  LOG_READ: 11,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export interface HelloMessage {
  type: 'hello';
  protocol: number;
  hostId: string;
  dumpId: string;
  token?: string;
  vmcoreSize: number;
  pageSize: number;
  /** makedumpfile -d bits the sender applied (zero pages are always elided on the wire and stored as one shared page). */
  dumpLevel: number;
  chunkPages: number;
  /** ELF header and program header table of the core, as in the file. */
  elfHeaders: Buffer;
  /** The PT_NOTE segment of the core (NT_PRSTATUS per CPU, VMCOREINFO). */
  notes: Buffer;
  /** struct new_utsname as the sender read it from the crashed kernel's init_uts_ns, when it could. */
  utsname?: Buffer;
  /**
   * The pfns the dump holds when its level left some out (shared/protocol/pfn-runs.ts);
   * absent: every page of the core.
   */
  dumpable?: Buffer;
  /** How the sender arrived at dumpLevel; absent from senders before it was added. */
  dumpLevelReport?: DumpLevelReport;
  /**
   * The pfns crash needs first (pfn runs like `dumpable`, each inside the dump's
   * pages): a receiver that takes them first answers ACCEPT with
   * firstTierChunks, and the chunks holding them travel before the others
   * (shared/protocol/send-order.ts). Absent: pfn order.
   */
  firstTier?: Buffer;
  /**
   * Chunk checksum kinds the sender can use besides crc32, best first
   * (shared/protocol/digest.ts); the receiver names its pick in ACCEPT.
   * Absent, or none the receiver knows: crc32. Names it does not know are ignored.
   */
  checksums?: string[];
  /**
   * Present for a live snapshot of a running kernel (kdump-send --live), not
   * a crash: read while the kernel ran, so not atomic. Absent: a crash dump.
   */
  live?: LiveSnapshot;
  senderVersion: string;
}

/** What a live snapshot's HELLO says of it. */
export interface LiveSnapshot {
  /** Why the operator took it (--reason); '' when not given. At most LIVE_REASON_MAX_CHARS. */
  reason: string;
  /** When the sender began reading memory, ms since the epoch (the running kernel has no CRASHTIME). */
  startedAtMs: number;
}

/** The longest --reason a HELLO carries: a line for the catalog, not a report. */
export const LIVE_REASON_MAX_CHARS = 500;

/**
 * What the operator asked for, what the sender applied and why they differ,
 * so the catalog can say it (a lowered level means a bigger dump, never a
 * smaller one).
 */
export interface DumpLevelReport {
  /** The -d the sender was asked for. */
  asked: number;
  /** The -d applied: `asked` less the bits it could not apply safely; equals HELLO's dumpLevel. */
  applied: number;
  /** Which generation of page rules judged the struct pages (sender/dump-level/generations.ts), '' when none did. */
  rules: string;
  /** One line per bit dropped or page kind kept, saying why. */
  notes: string[];
}

/** Bounds on a DumpLevelReport a peer sends: it is stored and shown, not trusted. */
export const DUMP_LEVEL_REPORT_LIMITS = { rulesChars: 64, notes: 32, noteChars: 512 } as const;

export interface AcceptMessage {
  type: 'accept';
  dumpId: string;
  /** The first chunk the receiver wants; chunks before it are already stored. */
  nextSeq: number;
  totalChunks: number;
  /**
   * The receiver has no kernel log for this dump yet and takes LOG before the
   * first CHUNK. Absent from receivers that predate LOG: a sender then never
   * sends one (they would refuse the type).
   */
  logWanted?: boolean;
  /**
   * The receiver takes the chunks of HELLO's firstTier first: how many there
   * are (the sender checks it against its own count). Positions, not seqs,
   * are then what nextSeq, ACK and the digest count. Absent: pfn order.
   */
  firstTierChunks?: number;
  /** The chunk checksum kind, one HELLO offered; absent: crc32 (receivers before it was added, or none offered). */
  checksum?: ChecksumKind;
  /**
   * The receiver stores pages in this codec and takes chunks already in it
   * (CHUNK_STORED_LZO): it then verifies and writes them rather than
   * compressing every page itself. Only 'lzo' is defined; a sender that
   * does not know the value, or is told nothing (older receivers), sends lz4.
   * Only with checksum xxh32.
   */
  storedPages?: string;
}

/**
 * The crashed kernel's log as the sender extracted it from the core, sent
 * after ACCEPT and before any CHUNK when ACCEPT asked for it: the receiver
 * learns what panicked before the first page arrives.
 */
export interface LogMessage {
  type: 'log';
  /** The log as vmcore-dmesg prints it; when longer than MAX_LOG_BYTES, its newest part, from a line start. */
  text: Buffer;
  /** CRC-32 of text. */
  crc: number;
  /** The oldest lines were left out to stay within MAX_LOG_BYTES. */
  truncated: boolean;
}

/** Longest LOG text: the newest 2 MiB of a log holds its panic many times over. */
export const MAX_LOG_BYTES = 2 * 1024 * 1024;

export interface AckMessage {
  type: 'ack';
  /** Every chunk below this sequence number is written and will not be asked for again. */
  nextSeq: number;
}

export interface EndMessage {
  type: 'end';
  totalChunks: number;
  /** Hex SHA-256 over the chunk checksums of the whole dump (see dumpDigest); with stopAt, of positions [0, stopAt). */
  digest: string;
  /**
   * The sender stops here on purpose (--log-only, or asked by LOG_READ stopAfter): the
   * receiver keeps positions [0, stopAt) as a partial dump. Only after the
   * first tier, and only to a receiver that took it first (ACCEPT firstTierChunks).
   */
  stopAt?: number;
}

/**
 * Receiver to a sender that sends a first tier (ACCEPT firstTierChunks), in
 * answer to its LOG: the log is read and triaged. With stopAfter, the
 * receiver wants positions [0, stopAfter) only (at least the first tier),
 * then END with stopAt: a crash storm, the signature known from the log and
 * enough dumps of it stored already. The sender waits for this answer
 * before it sends past the first tier, so no page is sent in vain.
 */
export interface LogReadMessage {
  type: 'log_read';
  stopAfter?: number;
  reason?: 'storm';
  /** For the sender's console: what the receiver knows of this crash's group. */
  message?: string;
}

export interface DoneMessage {
  type: 'done';
  dumpId: string;
  path: string;
  storedBytes: number;
  /** Kept as a partial dump (END stopAt): only some of the pages. */
  partial?: boolean;
}

export interface ErrorMessage {
  type: 'error';
  code: ErrorCode;
  message: string;
  /** Whether the same upload may succeed if retried later (busy, transient I/O). */
  retryable: boolean;
}

/**
 * A preflight (kdump-send --check on the running host): would this receiver
 * take an upload from this host? It meets the refusals a HELLO meets before
 * anything is written (host id, token, protocol version, busy, catalog or
 * storage down, disk reserve) and is answered with PROBE_OK or ERROR; the
 * receiver writes nothing and closes the connection.
 */
export interface ProbeMessage {
  type: 'probe';
  protocol: number;
  hostId: string;
  token?: string;
  senderVersion: string;
}

/** The receiver would take an upload from the probing host now; what it can say of its bounds. */
export interface ProbeOkMessage {
  type: 'probe_ok';
  /** The protocol version the receiver speaks. */
  protocol: number;
  receiverVersion: string;
  /** Started with --open: it takes any host and does not check tokens. */
  open: boolean;
  /** Free bytes where dumps are stored (local storage only) and the reserve it keeps free. */
  freeBytes?: number;
  minFreeBytes?: number;
  /** Largest vmcore a HELLO may announce. */
  maxDumpBytes?: number;
  uploadsInFlight?: number;
  maxUploads?: number;
}

export interface ChunkHeader {
  seq: number;
  startPfn: number;
  pageCount: number;
  /** CHUNK_LZ4 when the payload is an lz4 block, CHUNK_STORED_LZO when it is the pages as stored, 0 when it is the raw pages. */
  flags: number;
  /** Bytes of the non-zero pages the payload decodes to. */
  rawLength: number;
  /** crc32 of the raw non-zero pages followed by the zero bitmap (shared/protocol/digest.ts). */
  chunkCrc: number;
  payloadCrc: number;
}

export interface ChunkMessage extends ChunkHeader {
  type: 'chunk';
  /** Bit i set: page i of the chunk is all zeroes and not in the payload. */
  zeroBitmap: Buffer;
  payload: Buffer;
}

export type ControlMessage = HelloMessage | AcceptMessage | AckMessage | EndMessage | DoneMessage | ErrorMessage | ProbeMessage | ProbeOkMessage | LogMessage | LogReadMessage;
export type Message = ControlMessage | ChunkMessage;

/** Largest HELLO either end handles: ELF headers plus notes of a machine with thousands of CPUs. */
export const MAX_HELLO_BYTES = 16 * 1024 * 1024;

export const CHUNK_LZ4 = 1;
/**
 * The payload is the non-zero pages as a receiver with ACCEPT storedPages
 * 'lzo' stores them: a u32 LE size per page, then each page in turn,
 * LZO1X-1-compressed as makedumpfile -l compresses it or raw where its size
 * is the page size. payloadCrc is the payload's hash, checked before it is
 * written as it is (decoding it to check the pages would cost the receiver
 * what compressing them does); chunkCrc is the pages', as in every form.
 */
export const CHUNK_STORED_LZO = 2;
export const CHUNK_HEADER_SIZE = 36;

const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

const TYPE_OF: Record<ControlMessage['type'], MessageType> = {
  hello: MessageType.HELLO,
  accept: MessageType.ACCEPT,
  ack: MessageType.ACK,
  end: MessageType.END,
  done: MessageType.DONE,
  error: MessageType.ERROR,
  probe: MessageType.PROBE,
  probe_ok: MessageType.PROBE_OK,
  log: MessageType.LOG,
  log_read: MessageType.LOG_READ,
};

export function encodeControl(message: ControlMessage): Buffer {
  const { type, ...fields } = message;
  // Absent optional fields are left out, not sent as msgpackr's private "undefined" extension.
  const body = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
  const packed = packr.pack(body);
  const out = Buffer.allocUnsafe(1 + packed.length);
  out[0] = TYPE_OF[type];
  packed.copy(out, 1);
  return out;
}

/** Writes the 1-byte type and CHUNK header into `out` (at least 1 + CHUNK_HEADER_SIZE bytes). */
export function writeChunkHeader(out: Buffer, header: ChunkHeader, payloadLength: number): number {
  out[0] = MessageType.CHUNK;
  out.writeUInt32LE(header.seq, 1);
  out.writeUInt32LE(header.pageCount, 5);
  out.writeUInt32LE(header.startPfn % 0x1_0000_0000, 9);
  out.writeUInt32LE(Math.floor(header.startPfn / 0x1_0000_0000), 13);
  out.writeUInt32LE(header.flags, 17);
  out.writeUInt32LE(header.rawLength, 21);
  out.writeUInt32LE(header.chunkCrc >>> 0, 25);
  out.writeUInt32LE(payloadLength, 29);
  out.writeUInt32LE(header.payloadCrc >>> 0, 33);
  return 1 + CHUNK_HEADER_SIZE;
}

export const zeroBitmapLength = (pageCount: number) => (pageCount + 7) >>> 3;

function requireFields(body: Record<string, unknown>, fields: Record<string, 'string' | 'number' | 'buffer' | 'boolean'>, what: string) {
  for (const [name, kind] of Object.entries(fields)) {
    const value = body[name];
    const ok = kind === 'buffer'
      ? Buffer.isBuffer(value) || value instanceof Uint8Array
      : kind === 'number' ? typeof value === 'number' && Number.isFinite(value) : typeof value === kind;
    if (!ok) throw protocolError(`${what}: field ${name} missing or not a ${kind}`, { field: name });
  }
}

const asBuffer = (v: unknown) => (Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array));

function decodeChunk(frame: Buffer): ChunkMessage {
  if (frame.length < 1 + CHUNK_HEADER_SIZE) throw protocolError(`CHUNK frame of ${frame.length} bytes is shorter than its header`);
  const pageCount = frame.readUInt32LE(5);
  const payloadLength = frame.readUInt32LE(29);
  const bitmapLength = zeroBitmapLength(pageCount);
  const bodyStart = 1 + CHUNK_HEADER_SIZE;
  if (bodyStart + bitmapLength + payloadLength !== frame.length) {
    throw protocolError(`CHUNK frame is ${frame.length} bytes but its header promises ${bodyStart + bitmapLength + payloadLength}`, {
      seq: frame.readUInt32LE(1),
    });
  }
  return {
    type: 'chunk',
    seq: frame.readUInt32LE(1),
    pageCount,
    startPfn: frame.readUInt32LE(9) + frame.readUInt32LE(13) * 0x1_0000_0000,
    flags: frame.readUInt32LE(17),
    rawLength: frame.readUInt32LE(21),
    chunkCrc: frame.readUInt32LE(25),
    payloadCrc: frame.readUInt32LE(33),
    zeroBitmap: frame.subarray(bodyStart, bodyStart + bitmapLength),
    payload: frame.subarray(bodyStart + bitmapLength),
  };
}

function unpackBody(frame: Buffer, what: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = packr.unpack(frame.subarray(1));
  } catch (error) {
    throw corrupt(`${what}: body is not valid msgpack (${(error as Error).message})`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw protocolError(`${what}: body is not a map`);
  return body as Record<string, unknown>;
}

function decodeDumpLevelReport(value: unknown): DumpLevelReport {
  const what = 'HELLO: field dumpLevelReport';
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw protocolError(`${what} is not a map`);
  const r = value as Record<string, unknown>;
  const level = (name: string) => {
    const n = r[name];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 31) throw protocolError(`${what}.${name} is not a dump level (0 to 31)`);
    return n;
  };
  const { rulesChars, notes: maxNotes, noteChars } = DUMP_LEVEL_REPORT_LIMITS;
  if (typeof r.rules !== 'string' || r.rules.length > rulesChars) throw protocolError(`${what}.rules is not a string of at most ${rulesChars} characters`);
  const notes = r.notes;
  if (!Array.isArray(notes) || notes.length > maxNotes || !notes.every((n) => typeof n === 'string' && n.length <= noteChars)) {
    throw protocolError(`${what}.notes is not a list of at most ${maxNotes} strings of at most ${noteChars} characters`);
  }
  return { asked: level('asked'), applied: level('applied'), rules: r.rules, notes: notes as string[] };
}

function decodeLiveSnapshot(value: unknown): LiveSnapshot {
  const what = 'HELLO: field live';
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw protocolError(`${what} is not a map`, { field: 'live' });
  const r = value as Record<string, unknown>;
  if (typeof r.reason !== 'string' || r.reason.length > LIVE_REASON_MAX_CHARS) {
    throw protocolError(`${what}.reason is not a string of at most ${LIVE_REASON_MAX_CHARS} characters`, { field: 'live' });
  }
  if (typeof r.startedAtMs !== 'number' || !Number.isSafeInteger(r.startedAtMs) || r.startedAtMs < 0) {
    throw protocolError(`${what}.startedAtMs is not a time in ms`, { field: 'live' });
  }
  return { reason: r.reason, startedAtMs: r.startedAtMs };
}

/** Optional fields of a body: absent is fine, present must be of the kind (PROTOCOL otherwise). */
function optionalFields(body: Record<string, unknown>, fields: Record<string, 'string' | 'number'>, what: string) {
  for (const [name, kind] of Object.entries(fields)) {
    const value = body[name];
    if (value === undefined) continue;
    const ok = kind === 'number' ? typeof value === 'number' && Number.isFinite(value) : typeof value === kind;
    if (!ok) throw protocolError(`${what}: field ${name} is not a ${kind}`, { field: name });
  }
}

/** Decodes one frame (type byte + body). Throws NetdumpError PROTOCOL/CORRUPT on anything malformed. */
export function decodeMessage(frame: Buffer): Message {
  if (frame.length === 0) throw protocolError('empty frame');
  const type = frame[0];
  switch (type) {
    case MessageType.CHUNK:
      return decodeChunk(frame);
    case MessageType.HELLO: {
      const b = unpackBody(frame, 'HELLO');
      requireFields(b, {
        protocol: 'number', hostId: 'string', dumpId: 'string', vmcoreSize: 'number', pageSize: 'number',
        dumpLevel: 'number', chunkPages: 'number', elfHeaders: 'buffer', notes: 'buffer', senderVersion: 'string',
      }, 'HELLO');
      if (b.token !== undefined && typeof b.token !== 'string') throw protocolError('HELLO: field token is not a string');
      if (b.utsname !== undefined && !(b.utsname instanceof Uint8Array)) throw protocolError('HELLO: field utsname is not bytes');
      if (b.dumpable !== undefined && !(b.dumpable instanceof Uint8Array)) throw protocolError('HELLO: field dumpable is not bytes');
      if (b.firstTier !== undefined && !(b.firstTier instanceof Uint8Array)) throw protocolError('HELLO: field firstTier is not bytes', { field: 'firstTier' });
      const dumpLevelReport = b.dumpLevelReport === undefined ? undefined : decodeDumpLevelReport(b.dumpLevelReport);
      const checksums = b.checksums;
      if (checksums !== undefined && (!Array.isArray(checksums) || checksums.length > MAX_CHECKSUMS_OFFERED
        || !checksums.every((c) => typeof c === 'string' && c.length <= 16))) {
        throw protocolError(`HELLO: field checksums is not a list of at most ${MAX_CHECKSUMS_OFFERED} names`, { field: 'checksums' });
      }
      const live = b.live === undefined ? undefined : decodeLiveSnapshot(b.live);
      return {
        type: 'hello', protocol: b.protocol as number, hostId: b.hostId as string, dumpId: b.dumpId as string,
        token: b.token as string | undefined, vmcoreSize: b.vmcoreSize as number, pageSize: b.pageSize as number,
        dumpLevel: b.dumpLevel as number, chunkPages: b.chunkPages as number, elfHeaders: asBuffer(b.elfHeaders),
        notes: asBuffer(b.notes), senderVersion: b.senderVersion as string,
        utsname: b.utsname === undefined ? undefined : asBuffer(b.utsname),
        dumpable: b.dumpable === undefined ? undefined : asBuffer(b.dumpable),
        ...(dumpLevelReport && { dumpLevelReport }),
        ...(b.firstTier !== undefined && { firstTier: asBuffer(b.firstTier) }),
        ...(checksums !== undefined && { checksums: checksums as string[] }),
        ...(live && { live }),
      };
    }
    case MessageType.ACCEPT: {
      const b = unpackBody(frame, 'ACCEPT');
      requireFields(b, { dumpId: 'string', nextSeq: 'number', totalChunks: 'number' }, 'ACCEPT');
      if (b.logWanted !== undefined && typeof b.logWanted !== 'boolean') throw protocolError('ACCEPT: field logWanted is not a boolean', { field: 'logWanted' });
      optionalFields(b, { firstTierChunks: 'number', checksum: 'string', storedPages: 'string' }, 'ACCEPT');
      if (b.checksum !== undefined && !isChecksumKind(b.checksum)) {
        throw protocolError(`ACCEPT: checksum ${JSON.stringify(b.checksum)} is not a kind this sender knows`, { field: 'checksum' });
      }
      return {
        type: 'accept', dumpId: b.dumpId as string, nextSeq: b.nextSeq as number, totalChunks: b.totalChunks as number,
        ...(b.logWanted !== undefined && { logWanted: b.logWanted as boolean }),
        ...(b.firstTierChunks !== undefined && { firstTierChunks: b.firstTierChunks as number }),
        ...(b.checksum !== undefined && { checksum: b.checksum as ChecksumKind }),
        ...(b.storedPages !== undefined && { storedPages: b.storedPages as string }),
      };
    }
    case MessageType.LOG_READ: {
      const b = unpackBody(frame, 'LOG_READ');
      optionalFields(b, { stopAfter: 'number', reason: 'string', message: 'string' }, 'LOG_READ');
      if (b.stopAfter === undefined) return { type: 'log_read' };
      if (b.reason !== 'storm') throw protocolError(`LOG_READ: reason ${JSON.stringify(b.reason)} is not one this sender knows`, { field: 'reason' });
      return { type: 'log_read', stopAfter: b.stopAfter as number, reason: 'storm', message: (b.message as string | undefined) ?? '' };
    }
    case MessageType.LOG: {
      const b = unpackBody(frame, 'LOG');
      requireFields(b, { text: 'buffer', crc: 'number', truncated: 'boolean' }, 'LOG');
      return { type: 'log', text: asBuffer(b.text), crc: b.crc as number, truncated: b.truncated as boolean };
    }
    case MessageType.ACK: {
      const b = unpackBody(frame, 'ACK');
      requireFields(b, { nextSeq: 'number' }, 'ACK');
      return { type: 'ack', nextSeq: b.nextSeq as number };
    }
    case MessageType.END: {
      const b = unpackBody(frame, 'END');
      requireFields(b, { totalChunks: 'number', digest: 'string' }, 'END');
      optionalFields(b, { stopAt: 'number' }, 'END');
      return {
        type: 'end', totalChunks: b.totalChunks as number, digest: b.digest as string,
        ...(b.stopAt !== undefined && { stopAt: b.stopAt as number }),
      };
    }
    case MessageType.DONE: {
      const b = unpackBody(frame, 'DONE');
      requireFields(b, { dumpId: 'string', path: 'string', storedBytes: 'number' }, 'DONE');
      if (b.partial !== undefined && typeof b.partial !== 'boolean') throw protocolError('DONE: field partial is not a boolean', { field: 'partial' });
      return {
        type: 'done', dumpId: b.dumpId as string, path: b.path as string, storedBytes: b.storedBytes as number,
        ...(b.partial !== undefined && { partial: b.partial as boolean }),
      };
    }
    case MessageType.ERROR: {
      const b = unpackBody(frame, 'ERROR');
      requireFields(b, { code: 'string', message: 'string', retryable: 'boolean' }, 'ERROR');
      return {
        type: 'error', code: isErrorCode(b.code) ? b.code : ErrorCode.INTERNAL,
        message: b.message as string, retryable: b.retryable as boolean,
      };
    }
    case MessageType.PROBE: {
      const b = unpackBody(frame, 'PROBE');
      requireFields(b, { protocol: 'number', hostId: 'string', senderVersion: 'string' }, 'PROBE');
      optionalFields(b, { token: 'string' }, 'PROBE');
      return {
        type: 'probe', protocol: b.protocol as number, hostId: b.hostId as string, senderVersion: b.senderVersion as string,
        ...(b.token !== undefined && { token: b.token as string }),
      };
    }
    case MessageType.PROBE_OK: {
      const b = unpackBody(frame, 'PROBE_OK');
      requireFields(b, { protocol: 'number', receiverVersion: 'string', open: 'boolean' }, 'PROBE_OK');
      const numbers = ['freeBytes', 'minFreeBytes', 'maxDumpBytes', 'uploadsInFlight', 'maxUploads'] as const;
      optionalFields(b, Object.fromEntries(numbers.map((n) => [n, 'number'])), 'PROBE_OK');
      const message: ProbeOkMessage = { type: 'probe_ok', protocol: b.protocol as number, receiverVersion: b.receiverVersion as string, open: b.open as boolean };
      for (const name of numbers) if (b[name] !== undefined) message[name] = b[name] as number;
      return message;
    }
    default:
      throw protocolError(`unknown message type ${type}`, { type });
  }
}
