/**
 * kdump-send's exit codes: what the calling kdump script needs to decide
 * between "reboot", "try another target" and "save locally".
 */
import { ErrorCode } from '../shared/errors.js';

export const ExitCode = {
  /** The dump is stored and verified by the receiver. */
  STORED: 0,
  /** A bug or unexpected failure in the sender. */
  INTERNAL: 1,
  /** Bad command line, or the vmcore is missing, truncated or not a kernel core. */
  BAD_INPUT: 2,
  /** The receiver could not be reached (or kept dropping) until the deadline. */
  UNREACHABLE: 3,
  /** The receiver refused the dump: auth, limits, protocol. */
  REJECTED: 4,
  /** Data kept failing verification: checksums or the final digest. */
  INTEGRITY: 5,
  /** No receiver took the dump; it was saved to the fallback directory instead. */
  SAVED_LOCALLY: 6,
} as const;

export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.BAD_INPUT: return ExitCode.BAD_INPUT;
    case ErrorCode.UNAVAILABLE: return ExitCode.UNREACHABLE;
    case ErrorCode.AUTH:
    case ErrorCode.LIMIT:
    case ErrorCode.PROTOCOL: return ExitCode.REJECTED;
    case ErrorCode.CORRUPT: return ExitCode.INTEGRITY;
    default: return ExitCode.INTERNAL;
  }
}
