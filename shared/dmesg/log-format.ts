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

/** isprint() or isspace() in the C locale: 0x20-0x7e and TAB, LF, VT, FF, CR. */
function passesRaw(byte: number): boolean {
  return (byte >= 0x20 && byte <= 0x7e) || (byte >= 0x09 && byte <= 0x0d);
}

const HEX = '0123456789abcdef';

/** The text with non-printable bytes as \xNN (lowercase); a backslash itself is not escaped. */
export function escapeLogText(text: Buffer): Buffer {
  let escapes = 0;
  for (const byte of text) if (!passesRaw(byte)) escapes++;
  if (escapes === 0) return text;
  const out = Buffer.alloc(text.length + 3 * escapes);
  let at = 0;
  for (const byte of text) {
    if (passesRaw(byte)) {
      out[at++] = byte;
    } else {
      out[at++] = 0x5c; // backslash
      out[at++] = 0x78; // x
      out[at++] = HEX.charCodeAt(byte >> 4);
      out[at++] = HEX.charCodeAt(byte & 15);
    }
  }
  return out;
}

const NEWLINE = Buffer.from('\n');

export function formatKernelLog(records: Iterable<LogRecord>): Buffer {
  const parts: Buffer[] = [];
  for (const record of records) {
    parts.push(Buffer.from(timestampPrefix(record.tsNsec), 'latin1'), escapeLogText(record.text), NEWLINE);
  }
  return Buffer.concat(parts);
}

/**
 * Records walked at most, in either log format: a dump's memory is its
 * sender's to choose, and a ring of 2^31 descriptors would keep triage busy
 * for hours. The largest real logs (log_buf_len=2G aside, CONFIG_LOG_BUF_SHIFT
 * is at most 25: 32 MiB, about a million records) stay far inside.
 */
export const MAX_RECORDS_WALKED = 2 ** 22;
