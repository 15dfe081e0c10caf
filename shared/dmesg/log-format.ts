/**
 * The kernel log as vmcore-dmesg (kexec-tools 2.0.25) prints it, byte for
 * byte (docs/research/dmesg-extraction.md section 2.4): per record
 * "[%5u.%06u] ", the text with every byte that is neither printable ASCII
 * nor C whitespace written as \xNN, then one newline. Newlines inside a
 * record stay raw and unindented; level, facility, caller and dev_info are
 * never printed.
 */

export interface LogRecord {
  /** local_clock() at the printk, nanoseconds since boot. */
  tsNsec: bigint;
  /** The stored text, without the newline the kernel stripped. Empty for a data-less record. */
  text: Buffer;
}

const NSEC_PER_SEC = 1_000_000_000n;

/** "[    6.156338] ": seconds padded to at least 5, microseconds truncated, not rounded. */
export function timestampPrefix(tsNsec: bigint): string {
  const seconds = tsNsec / NSEC_PER_SEC;
  const micros = (tsNsec % NSEC_PER_SEC) / 1000n;
  return `[${seconds.toString().padStart(5, ' ')}.${micros.toString().padStart(6, '0')}] `;
}

/** A byte neither isprint() nor isspace() in the C locale (0x20-0x7e, TAB, LF, VT, FF, CR), as a latin1 character. */
const ESCAPED = /[^\t\n\v\f\r\x20-\x7e]/;
const ESCAPED_ALL = new RegExp(ESCAPED.source, 'g');

/**
 * The text with non-printable bytes as \xNN (lowercase); a backslash itself
 * is not escaped. Through latin1, where a byte is one character: the regular
 * expression runs natively, where a loop over the bytes ran mostly unoptimized
 * (the sender extracts the log once, before V8 has warmed up).
 */
export function escapeLogText(text: Buffer): Buffer {
  const chars = text.toString('latin1');
  if (!ESCAPED.test(chars)) return text;
  return Buffer.from(chars.replace(ESCAPED_ALL, escapeChar), 'latin1');
}

function escapeChar(c: string): string {
  return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
}

/** Characters formatted into one string before it becomes bytes: far below V8's longest string (2^29 - 24). */
const BLOCK_CHARS = 8 * 1024 * 1024;

export function formatKernelLog(records: Iterable<LogRecord>): Buffer {
  // Strings of latin1, escaped a block at a time: the prefixes and newlines are printable or whitespace, so
  // escaping them with the texts changes nothing, and one regular expression per block beats one per record.
  const blocks: Buffer[] = [];
  let lines: string[] = [];
  let chars = 0;
  const flush = () => {
    const block = lines.join('');
    blocks.push(Buffer.from(ESCAPED.test(block) ? block.replace(ESCAPED_ALL, escapeChar) : block, 'latin1'));
    lines = [];
    chars = 0;
  };
  for (const record of records) {
    const prefix = timestampPrefix(record.tsNsec);
    lines.push(prefix, record.text.toString('latin1'), '\n');
    chars += prefix.length + record.text.length + 1;
    if (chars >= BLOCK_CHARS) flush();
  }
  flush();
  return blocks.length === 1 ? blocks[0] : Buffer.concat(blocks);
}

/**
 * Records walked at most, in either log format: a dump's memory is its
 * sender's to choose, and a ring of 2^31 descriptors would keep triage busy
 * for hours. The largest real logs (log_buf_len=2G aside, CONFIG_LOG_BUF_SHIFT
 * is at most 25: 32 MiB, about a million records) stay far inside.
 */
export const MAX_RECORDS_WALKED = 2 ** 22;
